"""docker-compose.yaml (production shape) is consistent with itself, the Dockerfile and the pins.

No Docker engine runs here, so these are static checks: every reference resolves, the deployment is
the production one (Postgres, CeleryExecutor + Redis, MLflow server with logins on Postgres with S3
artifacts, S3 data root, mail), and the image installs from the same pins as `make`. The same
topology runs for real as processes in tests/production/ (`make prod-up`).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from devtools.compose_settings import SECRET_NAMES, interpolate

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW = {name: svc for name, svc in SERVICES.items() if name.startswith("airflow-")}


def resolved(value: str) -> str:
    """A compose value with every secret filled in (a `${X:?...}` is no URL)."""
    return interpolate(value, dict.fromkeys(SECRET_NAMES, "generated"))


def test_every_dependency_and_volume_resolves() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name} uses undeclared volume {source}"


def test_airflow_is_celery_on_postgres_and_redis() -> None:
    assert {
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    } <= set(AIRFLOW)
    for name, service in AIRFLOW.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert urlsplit(resolved(env["AIRFLOW__CELERY__BROKER_URL"])).hostname == "redis", name
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert env["RNN_PIPELINE_DATA_ROOT"].startswith("s3://"), name
        assert urlsplit(env["AIRFLOW_CONN_SMTP_DEFAULT"]).hostname == "mailpit", name
        assert urlsplit(resolved(env["AIRFLOW_CONN_MLFLOW_DEFAULT"])).username == "airflow", name
    assert AIRFLOW["airflow-worker"]["command"] == "airflow celery worker"


def test_mlflow_server_uses_postgres_and_s3_artifacts() -> None:
    env = SERVICES["mlflow"]["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:${MLFLOW_DB_PASSWORD:?")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    script = (REPO / "include/compose/mlflow-server.sh").read_text()
    assert "mlflow server --app-name basic-auth --serve-artifacts" in script  # logins required
    assert SERVICES["mlflow"]["command"][1] == "/opt/project/include/compose/mlflow-server.sh"
    init = (REPO / "include/compose/postgres-init.sh").read_text()
    assert (
        "CREATE DATABASE mlflow OWNER mlflow" in init and "CREATE DATABASE mlflow_auth OWNER mlflow" in init
    )


def test_image_installs_the_pinned_project_with_the_prod_extra() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "-c constraints.txt -e '.[prod]'" in dockerfile
    assert "FROM python:3.11" in dockerfile
    pins = {
        line.split("==")[0].lower()
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert {
        "apache-airflow-providers-celery",
        "psycopg2-binary",
        "asyncpg",
        "torch",
        "apache-airflow",
    } <= pins


def test_image_copies_every_runtime_package_and_what_airflow_loads() -> None:
    """The DAGs import pipeline, the plugin registers pipeline.ui: a package left out breaks every import."""
    copied = {
        line.split()[1]
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and len(line.split()) == 3
    }
    runtime = {path.parent.name for path in REPO.glob("*/__init__.py")} - {"devtools"}
    assert runtime == {"toolkit", "rnn", "costing", "pipeline"}
    assert runtime | {"dags", "plugins", "include"} <= copied


def test_the_image_has_a_serving_target_and_airflow_stays_the_default() -> None:
    """`docker build --target serve` runs the inference server; compose's plain build gets Airflow."""
    from rnn.__main__ import build_parser
    from rnn.serving.server import HEALTH_PATH

    dockerfile = (REPO / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages == ["base", "serve", "airflow"]  # the last stage is what `build: .` builds
    serve = dockerfile.split("AS serve", 1)[1].split("FROM base AS airflow", 1)[0]
    lines = serve.splitlines()
    entrypoint = json.loads(next(line for line in lines if line.startswith("ENTRYPOINT ")).split(" ", 1)[1])
    command = json.loads(next(line for line in lines if line.startswith("CMD [")).split(" ", 1)[1])
    assert entrypoint[:4] == ["python", "-m", "rnn", "serve"]
    args = build_parser().parse_args(entrypoint[3:] + command)  # the flags are the CLI's own
    assert (args.host, args.port, args.model) == ("0.0.0.0", 8000, "/models/model.pt")
    assert "EXPOSE 8000" in serve and "STOPSIGNAL SIGTERM" in serve
    assert f"http://127.0.0.1:8000{HEALTH_PATH}" in serve


def test_the_inference_service_serves_the_champion_behind_the_generated_key() -> None:
    """Compose's `inference` (profile serve): the `serve` target, the champion, the key from the secrets file."""
    from rnn.__main__ import build_parser
    from rnn.serving.settings import API_KEY_ENV

    service = SERVICES["inference"]
    assert service["profiles"] == ["serve"] and service["build"]["target"] == "serve"
    env = service["environment"]
    assert env[API_KEY_ENV] == "${RNN_API_KEY:?see docs/deployment.md}" and API_KEY_ENV in SECRET_NAMES
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and env["MLFLOW_TRACKING_USERNAME"] == "airflow"
    args = build_parser().parse_args(["serve", *service["command"]])  # the flags are the CLI's own
    assert (args.model, args.protect_metrics, args.api_key, args.api_key_file) == (
        "models:/rnn-textgen@champion",
        True,
        None,
        None,
    )  # the key comes from the environment, never the command line
