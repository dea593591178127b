"""The production topology (devtools.production), started once per test session and shared.

Postgres and Redis come from Debian's packages, installed here when missing (as root with apt-get,
like the browser test's Chromium); without them the tests are skipped, and fail under CI=true.
The deployment takes its Airflow connections from AWS Secrets Manager (moto), through the amazon
provider's secrets backend; S3 is reached through a switchable proxy (production_testbed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from production_testbed import DAGS, REFERENCE_TRAIN_CONF, Deployment, SwitchableProxy

from devtools import production
from devtools.airflow_api import AirflowApi
from devtools.production import Topology


def _ensure_system_packages() -> None:
    missing = production.missing_system_packages()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        command = ["apt-get", "install", "-y", "-q", *missing]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(command, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(command, env=env, capture_output=True)
        missing = production.missing_system_packages()
    if missing:
        message = f"{' and '.join(missing)} not installed (make prod-deps installs them as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    _ensure_system_packages()
    # Not under pytest's tmp folder (mode 0700): the postgres user must reach its data folder inside.
    state_dir = Path(tempfile.mkdtemp(prefix="rnn-production-"))
    state_dir.chmod(0o755)
    proxy = SwitchableProxy()  # listening first, so the ports picked next differ from its own
    topology = Topology.prepare(
        state_dir,
        secrets_backend="aws",
        fast_fault_detection=True,
        scheduled_runs=False,
        static_dag_files=True,
        s3_port=proxy.port,
        log=lambda _: None,
    )
    proxy.target_port = topology.ports.moto
    try:
        topology.up()
        api = AirflowApi(topology.airflow_url, "admin", topology.secrets["AIRFLOW_ADMIN_PASSWORD"])
        api.wait_for_dags(DAGS)
        for dag_id in DAGS:
            api.unpause(dag_id)
        yield Deployment(topology=topology, api=api, s3_proxy=proxy)
    finally:
        kept = tmp_path_factory.mktemp("production-logs")
        with contextlib.suppress(Exception):  # a diagnosis, never a reason to fail the session
            times = Deployment(topology=topology, api=None, s3_proxy=proxy).task_times()  # type: ignore[arg-type]
            (kept / "task_times.txt").write_text(times + "\n")
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            reporter.write_line(f"\nproduction: where the time went (also in {kept / 'task_times.txt'}):")
            for line in times.splitlines():
                reporter.write_line(line)
        topology.down()
        proxy.down()
        # Keep the logs (components and tasks) with pytest's other temporary files; drop the rest.
        for logs in (topology.log_dir, topology.airflow_home / "logs"):
            if logs.exists():
                shutil.copytree(logs, kept / logs.parent.name / logs.name, dirs_exist_ok=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
        os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)


@pytest.fixture
def prod(deployment: Deployment) -> Iterator[Deployment]:
    """The shared deployment, made whole again after a test that broke part of it."""
    deployment.healthy()
    yield deployment
    deployment.healthy()


@pytest.fixture(scope="session")
def trained(deployment: Deployment) -> dict:
    """One uninterrupted rnn_retraining run of REFERENCE_TRAIN_CONF (the reference for the fault tests)."""
    run_id, state = deployment.run_and_wait("rnn_retraining", REFERENCE_TRAIN_CONF, timeout_seconds=600)
    return {"run_id": run_id, "state": state}
