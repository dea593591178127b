"""``python -m devtools.services {up,down,status}``: the local services behind ``make up``.

Airflow standalone (scheduler, DAG processor, triggerer, API server + UI), the MLflow tracking UI
and a local SMTP catcher (messages saved to ``.local/mail``), each bound to 127.0.0.1 and started
in the background with logs and pid files under ``$RNN_PIPELINE_HOME`` (``.local/``).
Ports: AIRFLOW_PORT (8080), MLFLOW_PORT (5000), SMTP_PORT (1025).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.compose_settings import compose_document
from pipeline import names, tracking
from pipeline.settings import REPO_ROOT, Settings, load_settings
from pipeline.ui.links import mlflow_experiment_url


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    port: int
    health_path: str | None  # HTTP path answering 200 when ready; None = accepting TCP connections
    url_path: str = "/"
    scheme: str = "http"
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_seconds: float = 180.0

    @property
    def url(self) -> str:
        if self.scheme == "smtp":
            return f"smtp://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}{self.url_path}"


def airflow_port() -> int:
    return load_settings().airflow_port


def mlflow_port() -> int:
    return load_settings().mlflow_port


def smtp_port() -> int:
    return load_settings().smtp_port


def mail_dir(settings: Settings) -> Path:
    return settings.home / "mail"


def local_smtp_connection(port: int) -> str:
    """The Airflow connection (AIRFLOW_CONN_SMTP_DEFAULT) for the local SMTP catcher: plain, no login."""
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 10, "retry_limit": 1},
        }
    )


def airflow_env(port: int) -> dict[str, str]:
    """Airflow settings for the embedded deployment (inherits AIRFLOW_HOME etc. from the caller).

    New DAGs start unpaused (``dags_paused_at_creation``, default False), so the schedules of
    rnn_retraining, pricing_refresh, cost_recompute and weekly_cost_report run without a click.
    """
    base = f"http://127.0.0.1:{port}"
    settings = load_settings()
    return {
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(settings.dags_paused_at_creation),
        "AIRFLOW_CONN_SMTP_DEFAULT": os.environ.get(
            "AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(smtp_port())
        ),
        "RNN_PIPELINE_MLFLOW_UI_URL": f"http://127.0.0.1:{mlflow_port()}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "GX_ANALYTICS_ENABLED": "False",
    }


def mlflow_switches() -> dict[str, str]:
    """MLflow server feature switches as production sets them (docker-compose.yaml's ``mlflow`` service).

    MLFLOW_SERVER_ENABLE_JOB_EXECUTION: MLflow 3 otherwise starts a job runner with seven Huey consumer
    processes (GenAI jobs: judges, trace rollups), ~40 s of CPU at every start; nothing here submits a job.
    """
    environment = compose_document()["services"]["mlflow"]["environment"]
    return {name: environment[name] for name in ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION",)}


def services(settings: Settings) -> list[Service]:
    bin_dir = Path(sys.executable).parent
    artifacts = Path(settings.artifact_root)
    return [
        Service(
            name="mlflow",
            command=[
                str(bin_dir / "mlflow"),
                "server",
                "--backend-store-uri",
                settings.tracking_uri,
                "--default-artifact-root",
                artifacts.resolve().as_uri(),
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port()),
                "--workers",
                "1",
            ],
            port=mlflow_port(),
            health_path="/health",
            env=mlflow_switches(),
        ),
        Service(
            name="smtp",
            command=[
                sys.executable,
                "-m",
                "devtools.mailcatcher",
                "--port",
                str(smtp_port()),
                "--dir",
                str(mail_dir(settings)),
            ],
            port=smtp_port(),
            health_path=None,
            scheme="smtp",
        ),
        Service(
            name="airflow",
            command=[str(bin_dir / "airflow"), "standalone"],
            port=airflow_port(),
            health_path="/api/v2/monitor/health",
            env=airflow_env(airflow_port()),
        ),
    ]


def _state_dir(settings: Settings) -> Path:
    path = settings.home / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid(settings: Settings, name: str) -> int | None:
    pid_file = _state_dir(settings) / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def healthy(service: Service, timeout_seconds: float = 2.0) -> bool:
    if service.health_path is None:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", service.port), timeout=timeout_seconds):
                return True
        except OSError:
            return False
    try:
        url = f"http://127.0.0.1:{service.port}{service.health_path}"
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(service: Service, settings: Settings, log: Callable[[str], None] = print) -> None:
    if _pid(settings, service.name):
        log(f"{service.name:8} already running: {service.url}")
        return
    log_path = settings.home / "logs" / f"{service.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # `airflow standalone` starts its components as `airflow ...`: the venv's bin must be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **service.env, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    with log_path.open("ab") as sink:
        proc = subprocess.Popen(
            service.command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=REPO_ROOT,
        )
    (_state_dir(settings) / f"{service.name}.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + service.startup_timeout_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited with code {proc.returncode} during startup; see {log_path}"
            )
        if healthy(service):
            log(f"{service.name:8} up: {service.url}   (log: {log_path})")
            return
        time.sleep(1)
    raise RuntimeError(
        f"{service.name} did not become healthy on port {service.port} within "
        f"{service.startup_timeout_seconds:.0f} s; see {log_path}"
    )


def stop(name: str, settings: Settings, log: Callable[[str], None] = print) -> None:
    pid = _pid(settings, name)
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            time.sleep(0.5)
            os.killpg(pid, 0)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    (_state_dir(settings) / f"{name}.pid").unlink(missing_ok=True)
    log(f"{name:8} stopped")


def airflow_login(settings: Settings) -> tuple[str, str] | None:
    """(user, password) that Airflow's simple auth manager generated for `airflow standalone`."""
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", settings.home / "airflow"))
    generated = airflow_home / "simple_auth_manager_passwords.json.generated"
    for _ in range(30):
        if generated.exists():
            users = json.loads(generated.read_text())
            if users:
                user, password = next(iter(users.items()))
                return user, password
        time.sleep(1)
    return None


def up(settings: Settings) -> int:
    for service in services(settings):
        start(service, settings)
    login = airflow_login(settings)
    print()
    print(
        f"Airflow UI   http://127.0.0.1:{airflow_port()}   login: "
        + (f"{login[0]} / {login[1]}" if login else "see the Airflow log")
    )
    print(f"MLflow UI    http://127.0.0.1:{mlflow_port()}")
    for name, url in experiment_urls(settings).items():
        print(f"  {name:17}  {url}")
    print(f"Mail         smtp://127.0.0.1:{smtp_port()} -> messages saved in {mail_dir(settings)}")
    print("Stop them with: make down")
    return 0


def experiment_urls(settings: Settings) -> dict[str, str]:
    """Both experiments (created, tagged, if new) as links that open MLflow on their runs."""
    tracking.configure(settings)
    return {
        name: mlflow_experiment_url(tracking.experiment_id(name, settings))
        for name in (names.TRAINING_EXPERIMENT, names.COST_EXPERIMENT)
    }


def down(settings: Settings) -> int:
    for service in reversed(services(settings)):
        stop(service.name, settings)
    return 0


def status(settings: Settings) -> int:
    for service in services(settings):
        running = _pid(settings, service.name) is not None
        print(
            f"{service.name:8} {'running' if running else 'stopped'}"
            + (f" {'healthy' if healthy(service) else 'unhealthy'} {service.url}" if running else "")
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    settings = load_settings()
    os.environ.setdefault("AIRFLOW_HOME", str(settings.home / "airflow"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.tracking_uri)
    return {"up": up, "down": down, "status": status}[args.action](settings)


if __name__ == "__main__":
    sys.exit(main())
