"""`make prod-up` runs docker-compose.yaml's settings, key by key (nothing is started here).

Every process of the local topology gets exactly its compose service's environment (plus the
image's ENV), with container addresses and image paths pointed at this machine; nothing still
names a container; the commands are compose's commands; the few differences are listed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from devtools import compose_settings as compose
from devtools import production

# host:port of a container; not "user:password@" (a generated password may start with digits)
CONTAINER_NAMES = re.compile(
    r"\b(postgres|redis|minio|mlflow|mailpit|airflow-apiserver):\d+(?![\w@-])|/opt/(project|airflow)\b"
)


@pytest.fixture
def topology(tmp_path: Path) -> production.Topology:
    return production.Topology.prepare(tmp_path / "prod", log=lambda _: None)


def _expected(topology: production.Topology, service: str, *, image: bool = True) -> dict[str, str]:
    raw = {**(compose.image_environment() if image else {}), **compose.service_environment(service)}
    local = topology.localization()
    return {key: local.apply(compose.interpolate(value, topology.secrets)) for key, value in raw.items()}


@pytest.mark.parametrize(
    "service",
    ["airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"],
)
def test_each_airflow_process_has_its_compose_environment_key_by_key(
    topology: production.Topology, service: str
) -> None:
    assert topology.airflow_env(service) == _expected(topology, service)


def test_workers_differ_from_compose_only_in_their_log_server_port(topology: production.Topology) -> None:
    expected = _expected(topology, "airflow-worker")
    workers = [c for c in topology.components() if c.name.startswith("airflow-worker-")]
    assert len(workers) == production.WORKER_COUNT == 2
    ports = set()
    for worker in workers:
        mine = {key: worker.env[key] for key in expected}
        assert mine == expected
        ports.add(worker.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"])
        assert worker.env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "2"
        # the task libraries are imported once per worker (pipeline/celery_worker.py) ...
        assert worker.env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "pipeline.celery_worker.CELERY_CONFIG"
    assert len(ports) == 2
    # ... by the workers only: the scheduler reads the Celery settings too, and needs none of them
    for service in ("airflow-scheduler", "airflow-apiserver", "airflow-dag-processor", "airflow-triggerer"):
        assert "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS" not in topology.airflow_env(service), service


def test_mlflow_has_its_compose_environment_and_runs_the_same_script(topology: production.Topology) -> None:
    mlflow = topology.component("mlflow")
    expected = _expected(topology, "mlflow", image=False)
    assert {key: mlflow.env[key] for key in expected} == expected
    assert expected["MLFLOW_BACKEND_STORE_URI"] == (
        f"postgresql+psycopg2://mlflow:{topology.secrets['MLFLOW_DB_PASSWORD']}@127.0.0.1:{topology.ports.postgres}/mlflow"
    )
    script = Path(mlflow.argv[1]).relative_to(compose.REPO_ROOT)
    assert compose.service_command("mlflow")[1] == f"/opt/project/{script}"


def test_commands_are_the_compose_commands(topology: production.Topology) -> None:
    for service in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert topology.component(service).argv[1:] == compose.service_command(service)[1:]
    worker = topology.component("airflow-worker-1")
    assert worker.argv[1:3] == compose.service_command("airflow-worker")[1:]
    for service, component in (("mlflow", "mlflow"), ("airflow-apiserver", "airflow-apiserver")):
        theirs, ours = compose.service_command(service), topology.component(component).argv
        assert theirs[0] == ours[0] == "sh"
        assert theirs[1].replace("/opt/project", str(compose.REPO_ROOT)) == ours[1]
        assert theirs[2::2] == ours[2::2] == ["--host", "--port"]  # the same flags, local values
    redis = topology.component("redis")
    assert redis.argv[1:3] == ["--requirepass", topology.secrets["REDIS_PASSWORD"]]


def test_long_running_services_restart_as_compose_restarts_them(topology: production.Topology) -> None:
    restarted = {c.name for c in topology.components() if c.restart}
    assert restarted == {
        "mlflow",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker-1",
        "airflow-worker-2",
    }
    for name in ("airflow-dag-processor", "mlflow"):
        service = "airflow-dag-processor" if name.startswith("airflow") else name
        assert compose.service_restarts(service)
    assert not compose.service_restarts("airflow-init")  # a one-shot job is not brought back
    scheduler = topology.component("airflow-scheduler")
    loop = scheduler.command()
    assert loop[:2] == ["sh", "-c"] and loop[4:] == scheduler.argv  # the same command, inside the loop
    assert topology.component("postgres").command() == topology.component("postgres").argv


def test_a_restarting_component_comes_back_after_it_exits(tmp_path: Path) -> None:
    import subprocess
    import time

    marker = tmp_path / "starts"
    component = production.Component(
        "flaky",
        ["sh", "-c", f"echo start >> {marker}; exit 3"],
        {"PATH": "/usr/bin:/bin"},
        ready=lambda: True,
        restart=True,
    )
    proc = subprocess.Popen(component.command(), stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not marker.exists() or marker.read_text().count("start") < 2):
            time.sleep(0.2)
        assert marker.read_text().count("start") >= 2  # exited with 3, started again
        assert proc.poll() is None  # the loop itself keeps running
    finally:
        proc.kill()
        proc.wait()
    assert "flaky exited with status 3; restarting" in proc.stdout.read()


def test_nothing_still_names_a_container_or_an_image_path(topology: production.Topology) -> None:
    for component in topology.components():
        for key, value in component.env.items():
            assert not CONTAINER_NAMES.search(value), (component.name, key, value)
    every_value = " ".join(
        value
        for name in compose.compose_document()["services"]
        for value in compose.service_environment(name).values()
    )
    addresses = set(re.findall(r"\b[a-z][a-z0-9-]*:\d{2,5}\b", every_value))
    assert addresses <= set(production.CONTAINER_ADDRESSES.values()) | {"localhost:8080", "localhost:5000"}


def test_connections_move_to_secrets_manager_with_the_aws_backend(tmp_path: Path) -> None:
    topology = production.Topology.prepare(tmp_path / "prod", secrets_backend="aws", log=lambda _: None)
    env = topology.airflow_env("airflow-worker")
    assert "AIRFLOW_CONN_MLFLOW_DEFAULT" not in env
    assert env["AIRFLOW__SECRETS__BACKEND"].endswith("SecretsManagerBackend")
    assert '"connections_prefix": "airflow/connections"' in env["AIRFLOW__SECRETS__BACKEND_KWARGS"]


def test_ports_and_secrets_are_kept_between_starts(tmp_path: Path) -> None:
    first = production.Topology.prepare(tmp_path / "prod", log=lambda _: None)
    again = production.Topology.prepare(tmp_path / "prod", log=lambda _: None)
    assert (again.ports, again.secrets) == (first.ports, first.secrets)
    assert first.secrets_created and not again.secrets_created
    assert (
        len(
            {
                first.ports.airflow,
                first.ports.mlflow,
                first.ports.postgres,
                first.ports.redis,
                first.ports.moto,
            }
        )
        == 5
    )


def test_up_without_postgres_or_redis_says_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(production, "missing_system_packages", lambda: ["postgresql", "redis-server"])
    assert production.main(["up", "--state-dir", str(tmp_path / "prod")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: postgresql and redis-server not installed; run `make prod-deps`")
    assert error.count("\n") == 1


POLICY_PROBE = """
from datetime import timedelta
from airflow import settings
from airflow.providers.standard.operators.empty import EmptyOperator
slow = EmptyOperator(task_id="slow", retry_delay=timedelta(minutes=1))
quick = EmptyOperator(task_id="quick", retry_delay=timedelta(seconds=3))
for task in (slow, quick):
    settings.task_policy(task)
print(slow.retry_delay.total_seconds(), quick.retry_delay.total_seconds())
"""


@pytest.mark.parametrize("fast", [True, False], ids=["fast fault detection", "as deployed"])
def test_fast_fault_detection_retries_after_seconds_through_a_cluster_policy(
    tmp_path: Path, fast: bool
) -> None:
    """The tests' deployment retries a failed try after FAST_RETRY_DELAY_SECONDS; a real one as the DAG says."""
    import subprocess
    import sys

    topology = production.Topology.prepare(tmp_path / "prod", fast_fault_detection=fast, log=lambda _: None)
    topology.airflow_home.mkdir(parents=True)
    topology._write_local_settings()
    assert topology.local_settings_file.exists() is fast
    env = {**topology.airflow_env("airflow-scheduler"), "PATH": "/usr/bin:/bin"}
    assert env["AIRFLOW_HOME"] == str(topology.airflow_home)  # Airflow imports $AIRFLOW_HOME/config/...
    probe = subprocess.run(
        [sys.executable, "-c", POLICY_PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    slow, quick = map(float, probe.stdout.split()[-2:])
    assert (slow, quick) == ((production.FAST_RETRY_DELAY_SECONDS, 3.0) if fast else (60.0, 3.0))


def test_static_dag_files_only_stops_the_periodic_reparse_and_is_kept_between_starts(tmp_path: Path) -> None:
    plain = production.Topology.prepare(tmp_path / "prod", log=lambda _: None)
    static = replace(plain, static_dag_files=True)
    for service in ("airflow-scheduler", "airflow-dag-processor"):
        before, after = plain.airflow_env(service), static.airflow_env(service)
        assert {key: value for key, value in after.items() if before.get(key) != value} == (
            production.STATIC_DAG_FILES
        )
    production.Topology.prepare(tmp_path / "again", static_dag_files=True, log=lambda _: None)
    assert production.Topology.prepare(tmp_path / "again", log=lambda _: None).static_dag_files
