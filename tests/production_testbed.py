"""Helpers, not tests: the production testbed (import as `production_testbed`; tests/production/ uses it).

:class:`Deployment` wraps a running :class:`devtools.production.Topology` with what the tests read:
the REST API client, S3 (moto, directly), MLflow as a logged-in user, the Postgres DBs, task logs.
Between the deployment and its S3 store (the moto server) sits :class:`SwitchableProxy`, so a
test can make S3 unreachable (connections refused) without losing what moto holds in memory.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass

from devtools.airflow_api import AirflowApi
from devtools.production import ADHOC_LOAD_CONF, TRAIN_CONF, Topology

DAGS = ("rnn_retraining", "cost_recompute", "weekly_cost_report", "adhoc_cost_analysis", "rnn_sweep")

# A small model that trains for seconds on an idle machine and for about a minute on two busy cores:
# long enough for a test to act while it runs (kill its worker, stop MLflow), with a checkpoint every
# 10 steps to resume from. The built-in corpus (465,048 chars) has 408 batches of 16 x 64 per epoch.
TRAIN_STEPS = 2 * 60  # epochs x max_steps_per_epoch
# The reference run: TRAIN_CONF's training, then a load test of the server on the Celery worker that
# tests/production/test_pipeline.py checks was measured there (6 s: enough for a capacity at the 1 s SLO;
# `make platform-footprint` keeps TRAIN_CONF's 15 s).
REFERENCE_TRAIN_CONF = {**TRAIN_CONF, "load_test_seconds": 6}
# The fault tests' runs: the same training (so the same step count as the reference run), without the load
# test and cold-start measurement after it (0 skips both). Those faults hit training.
FAULT_TRAIN_CONF = {**TRAIN_CONF, "load_test_seconds": 0}
ADHOC_CONF = ADHOC_LOAD_CONF


class SwitchableProxy:
    """A TCP forwarder on 127.0.0.1 that can be switched off: new connections refused, open ones cut.

    :meth:`trip_on` switches it off by itself at a precise moment: when a client sends a byte pattern
    (say the request line of an S3 PUT under some prefix) for the (after + 1)-th time; that request
    and everything after it never reaches the server, the earlier ones went through whole.
    """

    def __init__(self, target_port: int = 0) -> None:
        self.target_port = target_port
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._trip: tuple[bytes, int] | None = None
        self.matches = 0
        self.tripped = False
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._trip = None
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown first: a bare close() does not wake accept() on Linux
        with self._lock:
            for connection in self._connections:
                _close(connection)
            self._connections.clear()

    def trip_on(self, pattern: bytes, *, after: int = 0) -> None:
        self.matches, self.tripped = 0, False
        self._trip = (pattern, after)

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._connections |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        tail = b""
        try:
            while data := source.recv(65536):
                trip = self._trip if outbound else None
                if trip is not None:
                    pattern, after = trip
                    buffer = tail + data
                    start = buffer.find(pattern)
                    while start != -1:
                        if start + len(pattern) > len(tail):  # not a match already counted
                            with self._lock:
                                self.matches += 1
                                tripping = self.matches > after
                            if tripping:
                                sink.sendall(data[: max(0, start - len(tail))])
                                self.tripped = True
                                self.down()
                                return
                        start = buffer.find(pattern, start + 1)
                    tail = buffer[-(len(pattern) - 1) :] if len(pattern) > 1 else b""
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _close(sock)
                with self._lock:
                    self._connections.discard(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class Deployment:
    topology: Topology
    api: AirflowApi
    s3_proxy: SwitchableProxy

    @property
    def secrets(self) -> dict[str, str]:
        return self.topology.secrets

    def s3(self):
        """A boto3 S3 client straight to moto (not through the proxy)."""
        import boto3

        env = self.topology.airflow_env()
        return boto3.client(
            "s3",
            endpoint_url=self.topology.moto_url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def keys(self, prefix: str) -> list[str]:
        paginator = self.s3().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.topology.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def mlflow(self, user: str = "admin"):
        """An MlflowClient logged in as the MLflow admin (or the pipeline's user ``airflow``)."""
        from mlflow import MlflowClient

        password = self.secrets["MLFLOW_ADMIN_PASSWORD" if user == "admin" else "MLFLOW_PIPELINE_PASSWORD"]
        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = user, password
        return MlflowClient(tracking_uri=self.topology.mlflow_url, registry_uri=self.topology.mlflow_url)

    def runs_of(self, experiment: str, dag_id: str, run_id: str) -> list:
        from pipeline import names

        client = self.mlflow()
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return []
        return client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`{names.TAG_DAG_ID}` = '{dag_id}' and tags.`{names.TAG_RUN_ID}` = '{run_id}'",
        )

    def postgres(self, database: str, role: str):
        import psycopg2

        password = self.secrets["AIRFLOW_DB_PASSWORD" if role == "airflow" else "MLFLOW_DB_PASSWORD"]
        return psycopg2.connect(
            host="127.0.0.1",
            port=self.topology.ports.postgres,
            dbname=database,
            user=role,
            password=password,
            connect_timeout=10,
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        folder = self.topology.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        path = folder / f"task_id={task_id}" / f"attempt={try_number}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run_and_wait(
        self, dag_id: str, conf: dict | None = None, timeout_seconds: float = 600.0
    ) -> tuple[str, str]:
        run_id = self.api.trigger(dag_id, conf)
        return run_id, self.api.wait(dag_id, run_id, timeout_seconds=timeout_seconds)

    def task_times(self) -> str:
        """Where the session's time went: every DAG run's tasks, how long each waited in the queue and ran.

        Read from Airflow's metadata DB (the current try and the earlier ones), one line per task try,
        then a total per DAG; the session prints it when the deployment stops.
        """
        query = """
            SELECT dag_id, run_id, task_id, try_number, queued_dttm, start_date, end_date, hostname
            FROM task_instance WHERE start_date IS NOT NULL
            UNION ALL
            SELECT dag_id, run_id, task_id, try_number, queued_dttm, start_date, end_date, hostname
            FROM task_instance_history WHERE start_date IS NOT NULL
            ORDER BY 6
        """
        with self.postgres("airflow", "airflow") as connection, connection.cursor() as cursor:
            cursor.execute(query)
            rows = cursor.fetchall()
        lines, per_dag = [], {}
        for dag_id, run_id, task_id, try_number, queued, started, ended, host in rows:
            waited = (started - queued).total_seconds() if queued else 0.0
            ran = (ended - started).total_seconds() if ended else float("nan")
            lines.append(
                f"{started:%H:%M:%S} {dag_id:<20} {task_id:<22} try {try_number} "
                f"queued {waited:6.1f} s  ran {ran:6.1f} s  on {host or '?'}  ({run_id})"
            )
            total = per_dag.setdefault(dag_id, [0, 0.0, 0.0])
            total[0] += 1
            total[1] += waited
            total[2] += 0.0 if ran != ran else ran
        lines.append("")
        for dag_id, (count, waited, ran) in sorted(per_dag.items(), key=lambda kv: -kv[1][2]):
            lines.append(
                f"{dag_id:<20} {count:4d} task tries, queued {waited:7.1f} s, ran {ran:7.1f} s in all"
            )
        return "\n".join(lines)

    def healthy(self) -> None:
        """Every component ready again (after a test restarted or killed one)."""
        for component in self.topology.components():
            if self.topology.pid(component.name) is None:
                self.topology.start(component)
        if not self.s3_proxy.is_up:
            self.s3_proxy.up()
