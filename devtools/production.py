"""``python -m devtools.production {up,down,status,secrets}``: docker-compose.yaml's topology, without Docker.

What ``make prod-up`` / ``make prod-down`` run. Every service of ``docker-compose.yaml`` becomes a
process on 127.0.0.1, with the environment read from that file (:mod:`devtools.compose_settings`):

| compose service        | here                                                                  |
|------------------------|-----------------------------------------------------------------------|
| postgres               | Debian's Postgres (``initdb`` + ``postgres``, as the user postgres)   |
| redis                  | Debian's ``redis-server`` with the generated password                 |
| minio (+ minio-init)   | a moto server (S3, and Secrets Manager for ``--secrets-backend aws``) |
| mailpit                | the SMTP catcher (``devtools.mailcatcher``), ``.eml`` files on disk    |
| mlflow (+ mlflow-init) | ``include/compose/mlflow-server.sh`` and ``mlflow_users.py``          |
| airflow-init           | ``airflow db migrate``                                                |
| airflow-apiserver      | ``include/compose/airflow-api-server.sh``                             |
| airflow-scheduler, -dag-processor, -triggerer | the same commands                              |
| airflow-worker         | two Celery workers (``airflow celery worker``)                        |
| inference (profile serve) | not started (it serves the champion, once there is one): run      |
|                        | ``python -m rnn serve --model models:/rnn-textgen@champion`` with the |
|                        | generated ``RNN_API_KEY`` in its environment                          |

State (data, logs, pid files, the generated secrets) lives in one folder, ``.local/prod`` by default;
ports are picked free on the first start and kept in ``topology.json``. ``up`` prints the URLs and
where the credentials are.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from devtools import compose_settings as compose
from pipeline import hostname
from pipeline.settings import REPO_ROOT, load_settings

WORKER_COUNT = 2
# Hosts of docker-compose.yaml and the container port each is reached on.
CONTAINER_ADDRESSES = {
    "postgres": "postgres:5432",
    "redis": "redis:6379",
    "s3": "minio:9000",
    "mlflow": "mlflow:5000",
    "airflow": "airflow-apiserver:8080",
    "smtp": "mailpit:1025",
}
# Published ports of docker-compose.yaml ("localhost:8080" in URLs for people) -> component here.
PUBLISHED = {"airflow-apiserver": "airflow", "mlflow": "mlflow"}
AIRFLOW_SERVICES = ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
# What differs from docker-compose.yaml here, besides addresses and paths: each Celery worker gets its
# own log-server port (containers each have 8793); and two switches the tests and the benchmark use:
FAST_FAULT_DETECTION = {
    # a worker that died is noticed in 30 s instead of 5 min (tests kill workers on purpose)
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
}
# With fast fault detection a failed try is retried after this long, whatever the DAG's retry_delay (the
# tests break components on purpose, then wait for the retry). Applied as an Airflow cluster policy.
FAST_RETRY_DELAY_SECONDS = 10
LOCAL_SETTINGS = f'''"""Written by devtools.production: a fast-fault-detection deployment (the tests\' topology).

A cluster policy (Airflow applies it to every task when a DAG is parsed): a failed try is retried after
at most {FAST_RETRY_DELAY_SECONDS} s, so a test that breaks a component waits seconds, not minutes.
"""

from datetime import timedelta

RETRY_DELAY = timedelta(seconds={FAST_RETRY_DELAY_SECONDS})


def task_policy(task):
    if task.retry_delay > RETRY_DELAY:
        task.retry_delay = RETRY_DELAY
'''
NO_SCHEDULED_RUNS = {
    # every run is triggered through the REST API; no scheduled or asset-triggered run competes for the cores
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
}
STATIC_DAG_FILES = {
    # the DAG files never change while it runs (the tests): parsed at start, not again every 30 s (Airflow's
    # default re-parses all seven every 30 s, a few seconds of CPU each time); new files still found
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
}
SECRETS_MANAGER_PREFIX = "airflow/connections"
# The ad hoc analysis the load test and `make bench` run many of at once: two scenarios, one type.
# A fast retraining run through the topology: 2 x 60 steps of a small model, then a 15 s load test of the
# server on the worker (the full 90 s search is measured by the DAG test and `make bench`). The production
# tests' reference run and `make platform-footprint`'s measured run.
TRAIN_CONF: dict[str, int] = {
    "epochs": 2,
    "max_steps_per_epoch": 60,
    "hidden_size": 128,
    "num_layers": 1,
    "embedding_dim": 16,
    "seq_len": 64,
    "batch_size": 16,
    "checkpoint_every_steps": 10,
    "load_test_seconds": 15,
}
ADHOC_LOAD_CONF = {"requests_per_day": [1000, 1000000], "region": "us-east-1", "instance_types": ["t3.small"]}


class TopologyError(RuntimeError):
    """A component could not start; the message says which and where its log is."""


@dataclass(frozen=True)
class Ports:
    airflow: int
    mlflow: int
    postgres: int
    redis: int
    moto: int
    smtp: int
    worker_logs: tuple[int, ...]
    s3: int = 0  # where S3 clients connect; 0 = moto itself (a test may put a proxy in between)

    @property
    def s3_endpoint(self) -> int:
        return self.s3 or self.moto

    @classmethod
    def free(cls) -> Ports:
        count = 6 + WORKER_COUNT
        sockets = []
        try:
            for _ in range(count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                sockets.append(sock)
            numbers = [sock.getsockname()[1] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        return cls(*numbers[:6], worker_logs=tuple(numbers[6:]))

    @classmethod
    def from_dict(cls, values: dict) -> Ports:
        return cls(**{**values, "worker_logs": tuple(values["worker_logs"])})


RESTART_DELAY_SECONDS = 5


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready: Callable[[], bool]
    startup_timeout_seconds: float = 180.0
    user: str | None = None  # run as this OS user (Postgres refuses to run as root)
    stop_signal: int = signal.SIGTERM
    restart: bool = False  # compose's `restart: always`: started again when its process exits

    def command(self) -> list[str]:
        """What is spawned: ``argv``, inside a restart loop when compose restarts the service.

        The loop is the process group's leader (its pid is the component's pid); stopping the group
        stops both, so only an exit of the component itself is restarted, as Docker does.
        """
        if not self.restart:
            return self.argv
        loop = (
            'while :; do "$@"; code=$?; '
            f'echo "--- {self.name} exited with status $code; restarting in {RESTART_DELAY_SECONDS} s '
            f'(restart: always)"; sleep {RESTART_DELAY_SECONDS}; done'
        )
        return ["sh", "-c", loop, self.name, *self.argv]


@dataclass
class Topology:
    """One production deployment on this machine: its state folder, ports and secrets."""

    state_dir: Path
    ports: Ports
    secrets: dict[str, str]
    secrets_backend: str = "env"  # env: connections from the environment; aws: from Secrets Manager
    fast_fault_detection: bool = False
    scheduled_runs: bool = True
    static_dag_files: bool = False
    log: Callable[[str], None] = print
    secrets_created: bool = False
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def prepare(
        cls,
        state_dir: Path,
        *,
        secrets_backend: str = "env",
        fast_fault_detection: bool = False,
        scheduled_runs: bool = True,
        static_dag_files: bool = False,
        ports: Ports | None = None,
        s3_port: int | None = None,
        log: Callable[[str], None] = print,
    ) -> Topology:
        """Load the deployment kept in ``state_dir``, or create it: secrets, ports (free ones unless given)."""
        state_dir = state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        secrets_values, created = compose.load_or_create_secrets(secrets_file(state_dir))
        topology_file = state_dir / "topology.json"
        if topology_file.exists():
            saved = json.loads(topology_file.read_text())
            ports = Ports.from_dict(saved["ports"])
            secrets_backend = saved.get("secrets_backend", secrets_backend)
            fast_fault_detection = saved.get("fast_fault_detection", fast_fault_detection)
            scheduled_runs = saved.get("scheduled_runs", scheduled_runs)
            static_dag_files = saved.get("static_dag_files", static_dag_files)
        else:
            ports = ports or Ports.free()
        if s3_port is not None:
            ports = replace(ports, s3=s3_port)
        topology_file.write_text(
            json.dumps(
                {
                    "ports": asdict(ports),
                    "secrets_backend": secrets_backend,
                    "fast_fault_detection": fast_fault_detection,
                    "scheduled_runs": scheduled_runs,
                    "static_dag_files": static_dag_files,
                },
                indent=2,
            )
        )
        return cls(
            state_dir=state_dir,
            ports=ports,
            secrets=secrets_values,
            secrets_backend=secrets_backend,
            fast_fault_detection=fast_fault_detection,
            scheduled_runs=scheduled_runs,
            static_dag_files=static_dag_files,
            log=log,
            secrets_created=created,
        )

    # -- where things are --------------------------------------------------------------------------------------

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.airflow}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.moto}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3_endpoint}"

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def bucket(self) -> str:
        return self.airflow_env()["RNN_PIPELINE_DATA_ROOT"].removeprefix("s3://").split("/", 1)[0]

    def localization(self) -> compose.Localization:
        local = {
            "postgres": self.ports.postgres,
            "redis": self.ports.redis,
            "s3": self.ports.s3_endpoint,
            "mlflow": self.ports.mlflow,
            "airflow": self.ports.airflow,
            "smtp": self.ports.smtp,
        }
        addresses = {CONTAINER_ADDRESSES[key]: f"127.0.0.1:{port}" for key, port in local.items()}
        for host_port, service in compose.published_ports().items():
            if service in PUBLISHED:
                addresses[f"localhost:{host_port}"] = f"127.0.0.1:{local[PUBLISHED[service]]}"
        return compose.Localization(
            addresses=addresses,
            paths={
                compose.PROJECT_IN_IMAGE: str(REPO_ROOT),
                compose.AIRFLOW_HOME_IN_IMAGE: str(self.airflow_home),
            },
        )

    def service_env(self, service: str, *, with_image_env: bool = True) -> dict[str, str]:
        return compose.localized_environment(
            service,
            secrets_values=self.secrets,
            localization=self.localization(),
            with_image_env=with_image_env,
        )

    def _base_env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "MLFLOW_", "RNN_PIPELINE_", "AWS_"))
        }
        env["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update(
            {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "GX_ANALYTICS_ENABLED": "False"}
        )
        return env

    def airflow_env(self, service: str = "airflow-scheduler") -> dict[str, str]:
        env = self.service_env(service)
        if self.fast_fault_detection:
            env.update(FAST_FAULT_DETECTION)
        if not self.scheduled_runs:
            env.update(NO_SCHEDULED_RUNS)
        if self.static_dag_files:
            env.update(STATIC_DAG_FILES)
        if self.secrets_backend == "aws":
            env.pop("AIRFLOW_CONN_MLFLOW_DEFAULT", None)
            env["AIRFLOW__SECRETS__BACKEND"] = (
                "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
            )
            env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps(
                {
                    "connections_prefix": SECRETS_MANAGER_PREFIX,
                    "variables_prefix": None,
                    "config_prefix": None,
                    "endpoint_url": self.moto_url,
                    "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1"),
                }
            )
        return env

    # -- the components ----------------------------------------------------------------------------------------

    def components(self) -> list[Component]:
        base = self._base_env()
        airflow_bin = str(Path(sys.executable).with_name("airflow"))
        pg_bin = postgres_bin_dir()
        pg_user = "postgres" if os.geteuid() == 0 else None
        redis_command = compose.interpolate(" ".join(compose.service_command("redis")), self.secrets).split()
        redis_dir = self.state_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        result = [
            Component(
                "postgres",
                [
                    str(pg_bin / "postgres"),
                    "-D",
                    str(self.state_dir / "postgres" / "data"),
                    "-p",
                    str(self.ports.postgres),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.state_dir / 'postgres' / 'run'}",
                    "-c",
                    "max_connections=200",
                ],
                {"PATH": base["PATH"], "LANG": "C.UTF-8"},
                ready=lambda: _pg_ready(pg_bin, self.ports.postgres),
                user=pg_user,
                stop_signal=signal.SIGINT,  # "fast" shutdown: roll back open transactions, then stop
            ),
            Component(
                "redis",
                [
                    shutil.which("redis-server") or "redis-server",
                    *redis_command[1:],
                    "--port",
                    str(self.ports.redis),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(redis_dir),
                ],
                base,
                ready=lambda: _redis_ready(self.ports.redis, self.secrets["REDIS_PASSWORD"]),
            ),
            Component(
                "s3",
                [
                    str(Path(sys.executable).with_name("moto_server")),
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(self.ports.moto),
                ],
                base,
                ready=lambda: _http_ok(f"{self.moto_url}/moto-api/"),
            ),
            Component(
                "smtp",
                [
                    sys.executable,
                    "-m",
                    "devtools.mailcatcher",
                    "--port",
                    str(self.ports.smtp),
                    "--dir",
                    str(self.mail_dir),
                ],
                base,
                ready=lambda: _tcp_open(self.ports.smtp),
            ),
            Component(
                "mlflow",
                [
                    "sh",
                    str(compose.COMPOSE_INCLUDE / "mlflow-server.sh"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports.mlflow),
                ],
                {**base, **self.service_env("mlflow", with_image_env=False)},
                ready=lambda: _http_ok(f"{self.mlflow_url}/health"),
                restart=compose.service_restarts("mlflow"),
            ),
            Component(
                "airflow-apiserver",
                [
                    "sh",
                    str(compose.COMPOSE_INCLUDE / "airflow-api-server.sh"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports.airflow),
                ],
                {**base, **self.airflow_env("airflow-apiserver")},
                ready=lambda: _http_ok(f"{self.airflow_url}/api/v2/monitor/health"),
                restart=compose.service_restarts("airflow-apiserver"),
            ),
        ]
        health_keys = {
            "airflow-scheduler": "scheduler",
            "airflow-dag-processor": "dag_processor",
            "airflow-triggerer": "triggerer",
        }
        for service in AIRFLOW_SERVICES:
            result.append(
                Component(
                    service,
                    [airflow_bin, *compose.service_command(service)[1:]],
                    {**base, **self.airflow_env(service)},
                    ready=lambda key=health_keys[service]: _airflow_component_healthy(self.airflow_url, key),
                    restart=compose.service_restarts(service),
                )
            )
        for number in range(1, WORKER_COUNT + 1):
            env = {**base, **self.airflow_env("airflow-worker")}
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(self.ports.worker_logs[number - 1])
            name = worker_name(number)
            # one machine, several workers: each task instance's hostname names its worker
            env[hostname.WORKER_NAME_ENV] = name
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = hostname.HOSTNAME_CALLABLE
            result.append(
                Component(
                    name,
                    [
                        airflow_bin,
                        *compose.service_command("airflow-worker")[1:],
                        "--celery-hostname",
                        f"{name}@%h",
                    ],
                    env,
                    ready=lambda name=name: _log_contains(self.log_dir / f"{name}.log", f"{name}@", "ready."),
                    restart=compose.service_restarts("airflow-worker"),
                )
            )
        return result

    def component(self, name: str) -> Component:
        for component in self.components():
            if component.name == name:
                return component
        raise KeyError(f"no component {name!r}; components: {', '.join(c.name for c in self.components())}")

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def up(self) -> None:
        started = time.monotonic()
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self._write_local_settings()
        self._init_postgres_cluster()
        by_name = {c.name: c for c in self.components()}
        for name in ("postgres", "redis", "s3", "smtp"):
            self.start(by_name[name])
        self._init_postgres_roles()
        self._init_s3()
        self.start(by_name["mlflow"])
        self._init_mlflow_users()
        self._init_airflow_db()
        self.start(by_name["airflow-apiserver"])
        # The rest import Airflow for ~10 s of CPU each: start them together, then wait for each.
        rest = [
            c for c in by_name.values() if c.name in AIRFLOW_SERVICES or c.name.startswith("airflow-worker-")
        ]
        for component in rest:
            self.spawn(component)
        for component in rest:
            self.wait_ready(component)
        self.log(f"production topology up in {time.monotonic() - started:.0f} s")

    def down(self) -> None:
        """Stop everything, in the reverse of the start order's stages: Airflow (its components and workers
        at once), then MLflow, the mail catcher and S3, then Redis and Postgres. The components of a stage
        stop together: each gets its signal, then the stage waits for all of them (at most 30 s)."""
        names = [c.name for c in self.components()]
        stores = [n for n in names if n in ("postgres", "redis")]
        services = [n for n in names if n in ("s3", "smtp", "mlflow")]
        airflow = [n for n in names if n not in stores and n not in services]
        for stage in (airflow, services, stores):
            self.stop(*stage)

    def start(self, component: Component | str) -> None:
        component = self.component(component) if isinstance(component, str) else component
        self.spawn(component)
        self.wait_ready(component)

    def spawn(self, component: Component) -> subprocess.Popen | None:
        if self.pid(component.name):
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{component.name}.log"
        with log_path.open("ab") as sink:
            sink.write(f"\n--- starting {component.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            sink.flush()
            proc = subprocess.Popen(
                component.command(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=component.env,
                cwd=REPO_ROOT,
                start_new_session=True,
                user=component.user,
            )
        self._procs[component.name] = proc
        self._pid_file(component.name).write_text(str(proc.pid))
        return proc

    def wait_ready(self, component: Component) -> None:
        log_path = self.log_dir / f"{component.name}.log"
        deadline = time.monotonic() + component.startup_timeout_seconds
        proc = self._procs.get(component.name)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise TopologyError(
                    f"{component.name} exited with code {proc.returncode} while starting; see {log_path}:\n"
                    + _tail(log_path)
                )
            if component.ready():
                self.log(f"  {component.name:22} up   (log: {log_path})")
                return
            time.sleep(0.5)
        raise TopologyError(
            f"{component.name} was not ready within {component.startup_timeout_seconds:.0f} s; see {log_path}:\n"
            + _tail(log_path)
        )

    def stop(self, *names: str, timeout_seconds: float = 30.0) -> None:
        """Stop these components together: each gets its stop signal, then all of them have
        ``timeout_seconds`` to exit before whatever is left is killed."""
        signals = {c.name: c.stop_signal for c in self.components()}
        pids = {name: pid for name in names if (pid := self.pid(name)) is not None}
        for name, pid in pids.items():
            _signal_group(pid, signals.get(name, signal.SIGTERM))
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline and any(_group_alive(pid) for pid in pids.values()):
            for name in pids:
                self._reap(name)
            time.sleep(0.2)
        for name, pid in pids.items():
            if _group_alive(pid):
                _signal_group(pid, signal.SIGKILL)
                time.sleep(0.5)
            self._reap(name)
            self._pid_file(name).unlink(missing_ok=True)
            self.log(f"  {name:22} stopped")

    def kill(self, name: str) -> list[int]:
        """SIGKILL the component and every process it started (as when its machine dies); their pids."""
        pid = self.pid(name)
        if pid is None:
            return []
        import psutil

        try:
            tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        killed = []
        for proc in tree:
            try:
                proc.kill()
                killed.append(proc.pid)
            except psutil.NoSuchProcess:
                pass
        _signal_group(pid, signal.SIGKILL)
        psutil.wait_procs(tree, timeout=10)
        self._reap(name)
        self._pid_file(name).unlink(missing_ok=True)
        self.log(f"  {name:22} killed (SIGKILL to {len(killed)} processes)")
        return killed

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def pid(self, name: str) -> int | None:
        path = self._pid_file(name)
        if not path.exists():
            return None
        pid = int(path.read_text())
        self._reap(name)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            return None
        return pid

    def descendants(self, name: str) -> list[int]:
        """Pids of every process the component started (a worker's task runners and their children)."""
        import psutil

        pid = self.pid(name)
        if pid is None:
            return []
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _reap(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            self._procs.pop(name, None)

    def _pid_file(self, name: str) -> Path:
        path = self.state_dir / "run"
        path.mkdir(parents=True, exist_ok=True)
        return path / f"{name}.pid"

    # -- first-start initialisation (each step is what a compose init container does) -------------------------------

    def _init_postgres_cluster(self) -> None:
        data = self.state_dir / "postgres" / "data"
        run = self.state_dir / "postgres" / "run"
        run.mkdir(parents=True, exist_ok=True)
        if (data / "PG_VERSION").exists():
            _chown_for_postgres(run)
            return
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        password_file = self.state_dir / "postgres" / "superuser-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.secrets["POSTGRES_PASSWORD"] + "\n")
        for path in (data, run, password_file):
            _chown_for_postgres(path)
        if (
            os.geteuid() == 0
            and subprocess.run(["test", "-r", str(password_file)], user="postgres").returncode
        ):
            password_file.unlink()
            raise TopologyError(
                f"the OS user postgres cannot reach {data} (a parent folder is closed to other users); "
                "choose a state folder it can reach, e.g. --state-dir /srv/rnn-prod"
            )
        self.log("  postgres               initdb (first start)")
        result = subprocess.run(
            [
                str(postgres_bin_dir() / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            user="postgres" if os.geteuid() == 0 else None,
            cwd="/",
        )
        password_file.unlink()
        if result.returncode != 0:
            raise TopologyError(f"initdb failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def _init_postgres_roles(self) -> None:
        marker = self.state_dir / "postgres" / "roles-created"
        if marker.exists():
            return
        env = {
            **self._base_env(),
            **self.service_env("postgres", with_image_env=False),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.ports.postgres),
            "PGPASSWORD": self.secrets["POSTGRES_PASSWORD"],
        }
        env["PATH"] = f"{postgres_bin_dir()}{os.pathsep}{env['PATH']}"
        result = subprocess.run(
            ["sh", str(compose.COMPOSE_INCLUDE / "postgres-init.sh")], env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise TopologyError(f"postgres-init.sh failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        marker.write_text("done\n")

    def _init_s3(self) -> None:
        """minio-init's job: the bucket; with ``--secrets-backend aws`` also the connection secret."""
        import boto3

        env = self.airflow_env()
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        s3 = session.client("s3", endpoint_url=self.moto_url)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if self.bucket not in existing:
            s3.create_bucket(Bucket=self.bucket)
        if self.secrets_backend == "aws":
            connection = self.service_env("airflow-scheduler")["AIRFLOW_CONN_MLFLOW_DEFAULT"]
            client = session.client("secretsmanager", endpoint_url=self.moto_url)
            name = f"{SECRETS_MANAGER_PREFIX}/mlflow_default"
            try:
                client.create_secret(Name=name, SecretString=connection)
            except client.exceptions.ResourceExistsException:
                client.put_secret_value(SecretId=name, SecretString=connection)

    def _init_mlflow_users(self) -> None:
        env = {
            **self._base_env(),
            **self.service_env("mlflow-init", with_image_env=False),
        }
        result = subprocess.run(
            [sys.executable, str(compose.COMPOSE_INCLUDE / "mlflow_users.py")],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise TopologyError(f"mlflow_users.py failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    @property
    def local_settings_file(self) -> Path:
        """Where Airflow imports ``airflow_local_settings`` from (``$AIRFLOW_HOME/config``)."""
        return self.airflow_home / "config" / "airflow_local_settings.py"

    def _write_local_settings(self) -> None:
        """The fast-retry cluster policy for a fast-fault-detection deployment; none otherwise."""
        if self.fast_fault_detection:
            self.local_settings_file.parent.mkdir(parents=True, exist_ok=True)
            self.local_settings_file.write_text(LOCAL_SETTINGS)
        else:
            self.local_settings_file.unlink(missing_ok=True)

    def _init_airflow_db(self) -> None:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        env = {**self._base_env(), **self.airflow_env("airflow-init")}
        log_path = self.log_dir / "airflow-init.log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as sink:
            result = subprocess.run(
                [
                    str(Path(sys.executable).with_name("airflow")),
                    *compose.service_command("airflow-init")[1:],
                ],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                timeout=600,
            )
        if result.returncode != 0:
            raise TopologyError(f"airflow db migrate failed; see {log_path}:\n{_tail(log_path)}")

    # -- what people need -------------------------------------------------------------------------------------------

    def summary(self) -> str:
        file = secrets_file(self.state_dir)
        return "\n".join(
            [
                f"Airflow UI/API  {self.airflow_url}   user admin, password: AIRFLOW_ADMIN_PASSWORD in {file.name}",
                f"MLflow          {self.mlflow_url}   user admin, password: MLFLOW_ADMIN_PASSWORD in {file.name}",
                f"S3 (moto)       {self.s3_url}   bucket {self.bucket}",
                f"Mail            smtp://127.0.0.1:{self.ports.smtp} -> .eml files in {self.mail_dir}",
                f"Credentials     {file} (mode 0600{', generated now' if self.secrets_created else ''})",
                f"Logs            {self.log_dir}",
                "Stop it with:   make prod-down",
            ]
        )

    def status_lines(self) -> list[str]:
        lines = []
        for component in self.components():
            pid = self.pid(component.name)
            state = "stopped" if pid is None else ("ready" if component.ready() else "not ready")
            lines.append(f"  {component.name:22} {state}{'' if pid is None else f' (pid {pid})'}")
        return lines


def worker_name(number: int) -> str:
    return f"airflow-worker-{number}"


def secrets_file(state_dir: Path) -> Path:
    return state_dir / "secrets.env"


def default_state_dir() -> Path:
    return load_settings().home / "prod"


def postgres_bin_dir() -> Path:
    """The folder with initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/<newest>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True
    )
    if versions:
        return versions[0].parent
    raise TopologyError(
        "Postgres is not installed: run `make prod-deps` (root: apt-get install postgresql redis-server)"
    )


def missing_system_packages() -> list[str]:
    missing = []
    try:
        postgres_bin_dir()
    except TopologyError:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def _chown_for_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _pg_ready(pg_bin: Path, port: int) -> bool:
    result = subprocess.run(
        [str(pg_bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], capture_output=True
    )
    return result.returncode == 0


def _redis_ready(port: int, password: str) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _airflow_component_healthy(airflow_url: str, key: str) -> bool:
    try:
        with urllib.request.urlopen(f"{airflow_url}/api/v2/monitor/health", timeout=3) as response:
            health = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return (health.get(key) or {}).get("status") == "healthy"


def _log_contains(path: Path, *needles: str) -> bool:
    if not path.exists():
        return False
    text = path.read_text(errors="replace")
    start = text.rfind("--- starting")
    tail = text[start:] if start >= 0 else text
    return all(needle in tail for needle in needles)


def _print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.production",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["up", "down", "status", "secrets"])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the deployment keeps its data, logs and secrets (default: $RNN_PIPELINE_HOME/prod)",
    )
    parser.add_argument(
        "--secrets-backend",
        choices=["env", "aws"],
        default="env",
        help="env: Airflow connections from the environment, as docker-compose.yaml; aws: from AWS Secrets "
        "Manager (the moto server here) through the amazon provider's secrets backend (first start only)",
    )
    args = parser.parse_args(argv)
    state_dir = args.state_dir or default_state_dir()
    if args.action == "secrets":
        path = secrets_file(state_dir)
        try:
            _, created = compose.load_or_create_secrets(path)
        except (PermissionError, compose.MissingSettingError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{'generated' if created else 'kept'} {path} (mode 0600)")
        print(f"start with: docker compose --env-file {path} up -d --build   or   make prod-up")
        return 0
    missing = missing_system_packages()
    if args.action == "up" and missing:
        print(
            f"error: {' and '.join(missing)} not installed; run `make prod-deps` "
            f"(as root: apt-get install -y {' '.join(missing)})",
            file=sys.stderr,
        )
        return 2
    try:
        topology = Topology.prepare(state_dir, secrets_backend=args.secrets_backend)
    except (PermissionError, compose.MissingSettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.action == "up":
        print(f"starting the production topology in {topology.state_dir}")
        try:
            topology.up()
        except TopologyError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print()
        print(topology.summary())
    elif args.action == "down":
        topology.down()
    else:
        _print_lines(topology.status_lines())
    return 0


if __name__ == "__main__":
    sys.exit(main())
