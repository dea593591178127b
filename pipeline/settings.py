"""Where the pipeline keeps things, from the environment, with embedded defaults inside the repo.

| setting                 | environment variable       | embedded default                               |
|-------------------------|----------------------------|------------------------------------------------|
| home of local state     | RNN_PIPELINE_HOME          | <repo>/.local                                  |
| run outputs (fsspec)    | RNN_PIPELINE_DATA_ROOT     | <home>/data (set s3://bucket/prefix in prod)   |
| MLflow tracking         | MLFLOW_TRACKING_URI        | sqlite:///<home>/mlflow/mlflow.db              |
| MLflow artifacts        | RNN_PIPELINE_ARTIFACT_ROOT | <home>/mlflow/artifacts (for sqlite/file URIs) |
| pricing snapshots       | RNN_PIPELINE_PRICING_ROOT  | <home>/pricing/snapshots (s3:// in prod), seeded |
|                         |                            | from the shipped include/pricing/snapshots      |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from costing.paths import include_dir as costing_include_dir
from rnn.storage import join

# The checkout this code runs from (git sha, dags/ and plugins/ for the local services).
REPO_ROOT = Path(__file__).resolve().parents[1]
INCLUDE_DIR = costing_include_dir()  # RNN_PIPELINE_INCLUDE_DIR, else <repo>/include
SHIPPED_PRICING_ROOT = INCLUDE_DIR / "pricing" / "snapshots"  # read-only, versioned with the code


@dataclass(frozen=True)
class Settings:
    home: Path
    data_root: str
    tracking_uri: str
    artifact_root: str
    pricing_root: str

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


def load_settings() -> Settings:
    home = Path(os.environ.get("RNN_PIPELINE_HOME", REPO_ROOT / ".local")).resolve()
    return Settings(
        home=home,
        data_root=os.environ.get("RNN_PIPELINE_DATA_ROOT", str(home / "data")),
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"),
        artifact_root=os.environ.get("RNN_PIPELINE_ARTIFACT_ROOT", str(home / "mlflow" / "artifacts")),
        pricing_root=os.environ.get("RNN_PIPELINE_PRICING_ROOT", str(home / "pricing" / "snapshots")),
    )


def safe_path_part(value: str) -> str:
    """Airflow run ids hold ':' and '+'; keep paths and S3 keys portable."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("_") or "run"


def run_dir(settings: Settings, dag_id: str, run_id: str) -> str:
    return join(settings.data_root, safe_path_part(dag_id), safe_path_part(run_id))
