"""No way in without the generated credentials, and the secrets stay secret.

Airflow's REST API (and the plugin's Cost reports page), MLflow, Postgres and Redis each refuse a
caller without the right login; the pipeline logs to MLflow as its own user with the login of the
Airflow connection ``mlflow_default``, which the workers read from AWS Secrets Manager (moto)
through the amazon provider's secrets backend; the secret files are readable by their owner only.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from production_testbed import Deployment

from devtools.production import SECRETS_MANAGER_PREFIX, secrets_file
from pipeline import names

# Generous: the first test of a session also starts the deployment and trains the reference run.
pytestmark = [pytest.mark.production, pytest.mark.timeout(1800)]

# The defaults this deployment once shipped (docker-compose.yaml) or MLflow once had: refused now.
OLD_AIRFLOW_LOGIN = {"username": "admin", "password": "admin"}  # pragma: allowlist secret
OLD_MLFLOW_ADMIN = ("admin", "password1234")  # pragma: allowlist secret


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_airflow_refuses_requests_without_a_valid_login(deployment: Deployment) -> None:
    base = deployment.topology.airflow_url
    assert httpx.get(f"{base}/api/v2/monitor/health").status_code == 200  # the health check is public
    for path in ("/api/v2/dags", "/api/v2/connections", "/api/v2/config", "/cost-reports/api/reports"):
        assert httpx.get(base + path).status_code == 401, path
        assert httpx.get(base + path, headers={"Authorization": "Bearer forged"}).status_code in (401, 403), (
            path
        )
    refused = httpx.post(f"{base}/auth/token", json=OLD_AIRFLOW_LOGIN)
    assert refused.status_code == 401
    token = deployment.api.token()
    assert httpx.get(f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert isinstance(deployment.api.get_json("/cost-reports/api/reports"), list)


def test_mlflow_refuses_requests_without_a_valid_login(deployment: Deployment) -> None:
    base = deployment.topology.mlflow_url
    search = f"{base}/api/2.0/mlflow/experiments/search?max_results=5"
    assert httpx.get(f"{base}/health").status_code == 200
    assert httpx.get(search).status_code == 401
    assert httpx.get(search, headers=_basic(*OLD_MLFLOW_ADMIN)).status_code == 401
    assert httpx.get(search, headers=_basic("airflow", "airflow")).status_code == 401
    assert httpx.get(f"{base}/api/2.0/mlflow-artifacts/artifacts").status_code == 401
    secrets = deployment.secrets
    assert (
        httpx.get(search, headers=_basic("airflow", secrets["MLFLOW_PIPELINE_PASSWORD"])).status_code == 200
    )
    # The pipeline's user is no admin: it cannot create users.
    create = httpx.post(
        f"{base}/api/2.0/mlflow/users/create",
        json={"username": "intruder", "password": "x" * 16},
        headers=_basic("airflow", secrets["MLFLOW_PIPELINE_PASSWORD"]),
    )
    assert create.status_code == 403


def test_postgres_and_redis_refuse_a_caller_without_the_password(deployment: Deployment) -> None:
    import psycopg2
    import redis

    for role, password in (("airflow", "airflow"), ("mlflow", "mlflow"), ("postgres", "postgres")):
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(
                host="127.0.0.1",
                port=deployment.topology.ports.postgres,
                dbname="postgres",
                user=role,
                password=password,
                connect_timeout=5,
            )
    client = redis.Redis(host="127.0.0.1", port=deployment.topology.ports.redis, socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        client.ping()


def test_the_pipeline_logs_to_mlflow_with_the_connection_from_secrets_manager(
    deployment: Deployment, trained: dict
) -> None:
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    topology = deployment.topology
    worker_env = topology.airflow_env("airflow-worker")
    assert "AIRFLOW_CONN_MLFLOW_DEFAULT" not in worker_env  # not in the environment ...
    assert not any(key.startswith("MLFLOW_TRACKING_USERNAME") for key in worker_env)
    backend_kwargs = json.loads(worker_env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    backend = SecretsManagerBackend(**backend_kwargs)
    connection = backend.get_connection("mlflow_default")  # ... but in Secrets Manager
    assert backend_kwargs["connections_prefix"] == SECRETS_MANAGER_PREFIX
    assert (connection.login, connection.password) == (
        "airflow",
        deployment.secrets["MLFLOW_PIPELINE_PASSWORD"],
    )

    # The run was created by that user: it owns (MANAGE) the experiment it created.
    assert trained["state"] == "success"
    experiment = deployment.mlflow().get_experiment_by_name(names.TRAINING_EXPERIMENT)
    answer = httpx.get(
        f"{topology.mlflow_url}/api/3.0/mlflow/users/permissions/get",
        params={
            "username": "airflow",
            "resource_type": "experiment",
            "resource_id": experiment.experiment_id,
        },
        headers=_basic("admin", deployment.secrets["MLFLOW_ADMIN_PASSWORD"]),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["permission"] == "MANAGE"


def test_the_generated_secrets_are_readable_by_their_owner_only(deployment: Deployment) -> None:
    topology = deployment.topology
    private = [
        secrets_file(topology.state_dir),
        topology.airflow_home / "passwords.json",
        topology.airflow_home / "mlflow-auth.ini",
    ]
    for path in private:
        assert path.stat().st_mode & 0o777 == 0o600, path
    # a login that passed is remembered for a minute (a password hash check is ~0.15 s of CPU per request)
    assert "auth_cache_ttl_seconds = 60" in (topology.airflow_home / "mlflow-auth.ini").read_text()
    assert json.loads((topology.airflow_home / "passwords.json").read_text()) == {
        "admin": deployment.secrets["AIRFLOW_ADMIN_PASSWORD"]
    }
    values = set(deployment.secrets.values())
    assert len(values) == len(deployment.secrets)  # no secret shared between two uses
    for log in topology.log_dir.glob("*.log"):  # and none printed by a component
        text = log.read_text(errors="replace")
        assert not [name for name, value in deployment.secrets.items() if value in text], log
