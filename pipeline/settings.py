"""Every setting the pipeline reads from the environment, in one place, with embedded defaults.

| setting                         | environment variable            | embedded default                          |
|---------------------------------|---------------------------------|-------------------------------------------|
| home of local state             | RNN_PIPELINE_HOME               | <repo>/.local                             |
| run outputs (fsspec)            | RNN_PIPELINE_DATA_ROOT          | <home>/data (s3://bucket/prefix in prod)  |
| MLflow tracking                 | MLFLOW_TRACKING_URI             | sqlite:///<home>/mlflow/mlflow.db         |
| MLflow artifacts                | RNN_PIPELINE_ARTIFACT_ROOT      | <home>/mlflow/artifacts (sqlite/file URIs)|
| pricing snapshots               | RNN_PIPELINE_PRICING_ROOT       | <home>/pricing/snapshots, seeded from     |
|                                 |                                 | include/pricing/snapshots (s3:// in prod) |
| shipped data files (include/)   | RNN_PIPELINE_INCLUDE_DIR        | <repo>/include (read by toolkit.paths)    |
| report email backend            | RNN_PIPELINE_EMAIL_BACKEND      | smtp (or ses)                             |
| SMTP connection id              | RNN_PIPELINE_SMTP_CONN_ID       | smtp_default                              |
| AWS connection id (SES)         | RNN_PIPELINE_AWS_CONN_ID        | aws_default                               |
| MLflow login (Airflow conn. id) | RNN_PIPELINE_MLFLOW_CONN_ID     | mlflow_default (used when it exists)      |
| MLflow UI in links and reports  | RNN_PIPELINE_MLFLOW_UI_URL      | http://127.0.0.1:$MLFLOW_PORT             |
| Airflow UI in links and reports | AIRFLOW__API__BASE_URL          | http://127.0.0.1:$AIRFLOW_PORT            |
| spot trigger poll interval (s)  | RNN_SPOT_POLL_SECONDS           | 30                                        |
| torch index on spot instances   | RNN_SPOT_TORCH_INDEX_URL        | auto: PyTorch's CPU index on CPU instance |
|                                 |                                 | types, PyPI on GPU ones; pypi; or a URL   |
| Price List bulk files (no acct) | RNN_PIPELINE_PRICE_LIST_URL     | https://pricing.us-east-1.amazonaws.com   |
| Spot Instance Advisor document  | RNN_PIPELINE_SPOT_ADVISOR_URL   | https://spot-bid-advisor.s3.amazonaws.com |
|                                 |                                 | /spot-advisor-data.json                   |
| timeout of those requests (s)   | RNN_PIPELINE_PRICING_TIMEOUT_SECONDS | 10 (connect, DNS and each read)      |
| sweep studies (Optuna storage)  | RNN_PIPELINE_SWEEP_STORAGE      | sqlite:///<home>/sweeps/optuna.db         |
|                                 |                                 | (postgresql://... in prod)                |
| new DAGs start paused (make up) | AIRFLOW__CORE__DAGS_ARE_PAUSED_ | False: the schedules run from the start   |
|                                 | AT_CREATION                     | (Airflow's own default is True)           |
| ports of `make up` (127.0.0.1)  | AIRFLOW_PORT, MLFLOW_PORT,      | 8080, 5000, 1025                          |
|                                 | SMTP_PORT                       |                                           |

:func:`load_settings` reads them when called (tasks call it when they run, never at DAG parse).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from costing.pricing import DEFAULT_PRICE_LIST_URL, DEFAULT_PRICING_TIMEOUT_SECONDS, SPOT_ADVISOR_DATA_URL
from toolkit.paths import INCLUDE_DIR
from toolkit.storage import join

# The checkout this code runs from (git sha, dags/ and plugins/ for the local services).
REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PRICING_ROOT = INCLUDE_DIR / "pricing" / "snapshots"  # read-only, versioned with the code

EMAIL_BACKENDS = ("smtp", "ses")
DEFAULT_AIRFLOW_PORT, DEFAULT_MLFLOW_PORT, DEFAULT_SMTP_PORT = 8080, 5000, 1025
DEFAULT_SPOT_POLL_SECONDS = 30.0
TORCH_INDEX_AUTO = "auto"


@dataclass(frozen=True)
class Settings:
    home: Path
    data_root: str
    tracking_uri: str
    artifact_root: str
    pricing_root: str
    email_backend: str = "smtp"
    smtp_conn_id: str = "smtp_default"
    aws_conn_id: str = "aws_default"
    mlflow_conn_id: str = "mlflow_default"
    airflow_port: int = DEFAULT_AIRFLOW_PORT
    mlflow_port: int = DEFAULT_MLFLOW_PORT
    smtp_port: int = DEFAULT_SMTP_PORT
    mlflow_ui_url: str = f"http://127.0.0.1:{DEFAULT_MLFLOW_PORT}"
    airflow_ui_url: str = f"http://127.0.0.1:{DEFAULT_AIRFLOW_PORT}"
    spot_poll_seconds: float = DEFAULT_SPOT_POLL_SECONDS
    spot_torch_index_url: str = TORCH_INDEX_AUTO
    price_list_url: str = (
        DEFAULT_PRICE_LIST_URL  # the public bulk offer files (refresh without an AWS account)
    )
    spot_advisor_url: str = SPOT_ADVISOR_DATA_URL
    pricing_timeout_seconds: float = DEFAULT_PRICING_TIMEOUT_SECONDS
    dags_paused_at_creation: bool = False  # False: `make up` starts the scheduled DAGs unpaused
    sweep_study_storage: str = ""  # "": sqlite:///<home>/sweeps/optuna.db

    @property
    def tracking_is_local(self) -> bool:
        return self.tracking_uri.startswith(("sqlite:", "file:")) or "://" not in self.tracking_uri


# Telemetry and analytics off wherever the pipeline runs (Airflow tasks, CLIs, services): nothing
# about a run leaves the machine except what the user configured (AWS, SMTP, S3).
for _name, _value in (
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("DO_NOT_TRACK", "true"),
    ("GX_ANALYTICS_ENABLED", "False"),
):
    os.environ.setdefault(_name, _value)


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(
            f"environment variable {name}={value!r} must be an integer (default {default})"
        ) from None


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"environment variable {name}={value!r} must be True or False (default {default})")


def _positive_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        number = float(value) if value else default
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise ValueError(
            f"environment variable {name}={value!r} must be a positive number (default {default:g})"
        )
    return number


def load_settings() -> Settings:
    home = Path(os.environ.get("RNN_PIPELINE_HOME", REPO_ROOT / ".local")).resolve()
    backend = os.environ.get("RNN_PIPELINE_EMAIL_BACKEND", "smtp").strip().lower()
    if backend not in EMAIL_BACKENDS:
        raise ValueError(f"RNN_PIPELINE_EMAIL_BACKEND={backend!r} must be one of {EMAIL_BACKENDS}")
    airflow_port = _int("AIRFLOW_PORT", DEFAULT_AIRFLOW_PORT)
    mlflow_port = _int("MLFLOW_PORT", DEFAULT_MLFLOW_PORT)
    return Settings(
        home=home,
        data_root=os.environ.get("RNN_PIPELINE_DATA_ROOT", str(home / "data")),
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"),
        artifact_root=os.environ.get("RNN_PIPELINE_ARTIFACT_ROOT", str(home / "mlflow" / "artifacts")),
        pricing_root=os.environ.get("RNN_PIPELINE_PRICING_ROOT", str(home / "pricing" / "snapshots")),
        email_backend=backend,
        smtp_conn_id=os.environ.get("RNN_PIPELINE_SMTP_CONN_ID", "smtp_default"),
        aws_conn_id=os.environ.get("RNN_PIPELINE_AWS_CONN_ID", "aws_default"),
        mlflow_conn_id=os.environ.get("RNN_PIPELINE_MLFLOW_CONN_ID", "mlflow_default"),
        airflow_port=airflow_port,
        mlflow_port=mlflow_port,
        smtp_port=_int("SMTP_PORT", DEFAULT_SMTP_PORT),
        mlflow_ui_url=os.environ.get("RNN_PIPELINE_MLFLOW_UI_URL", f"http://127.0.0.1:{mlflow_port}"),
        airflow_ui_url=os.environ.get("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{airflow_port}"),
        spot_poll_seconds=_positive_float("RNN_SPOT_POLL_SECONDS", DEFAULT_SPOT_POLL_SECONDS),
        spot_torch_index_url=os.environ.get("RNN_SPOT_TORCH_INDEX_URL", TORCH_INDEX_AUTO).strip()
        or TORCH_INDEX_AUTO,
        price_list_url=os.environ.get("RNN_PIPELINE_PRICE_LIST_URL", DEFAULT_PRICE_LIST_URL),
        spot_advisor_url=os.environ.get("RNN_PIPELINE_SPOT_ADVISOR_URL", SPOT_ADVISOR_DATA_URL),
        pricing_timeout_seconds=_positive_float(
            "RNN_PIPELINE_PRICING_TIMEOUT_SECONDS", DEFAULT_PRICING_TIMEOUT_SECONDS
        ),
        dags_paused_at_creation=_bool("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", False),
        sweep_study_storage=os.environ.get("RNN_PIPELINE_SWEEP_STORAGE", "").strip()
        or f"sqlite:///{home / 'sweeps' / 'optuna.db'}",
    )


def safe_path_part(value: str) -> str:
    """Airflow run ids hold ':' and '+'; keep paths and S3 keys portable."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("_") or "run"


def run_dir(settings: Settings, dag_id: str, run_id: str) -> str:
    return join(settings.data_root, safe_path_part(dag_id), safe_path_part(run_id))
