"""``python -m devtools.platform_footprint`` (``make platform-footprint``): measure ``include/platform_footprint.json``.

The cost model sizes a self-hosted deployment of the platform (docker-compose.yaml's services) from
what each service was *measured* to use, not from guesses. This starts that topology as local
processes (:class:`devtools.production.Topology`, no scheduled runs), waits for the DAGs, idles for
``--idle-seconds``, then triggers one ``rnn_retraining`` run with the production tests' fast training
conf (:data:`TRAIN_CONF`) and, unless ``--skip-recompute``, one ``cost_recompute`` run, each through the
REST API as a user would. Meanwhile a sampler thread reads, every ``--interval-seconds``, each
component's process and all its descendants (a Celery worker's task processes count for the worker):

- RSS summed over the tree (shared pages are counted once per process, so a forked worker overstates;
  PSS, which splits shared pages, is read every 5 s beside it);
- CPU seconds from per-process deltas of user + system time, with the CPU of the children each process
  waited for (so processes that live less than an interval are counted too);
- the peak CPU in cores, the most CPU used in any 5 s window, over the window's length.

Each run also gets what it wrote to S3 (the buckets listed through the moto endpoint before and after:
new or changed objects, their bytes, grouped by prefix), the S3 requests it made by HTTP method (a
counting TCP proxy sits between the deployment and moto), and the growth of the Postgres databases.

It takes 3-4 minutes on two cores (start ~40 s, the DAGs ~10 s, idle 30 s, training 65-90 s, recompute
~6 s, teardown ~25 s). Run it on a quiet machine: other work on the cores shows up as a longer run and
lower peaks, not as more CPU seconds (each run records the host's busy CPU beside the deployment's). The
topology is always torn down; its state folder (logs) is kept when something failed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from devtools import production
from devtools.airflow_api import AirflowApi
from devtools.production import TRAIN_CONF, Topology
from pipeline.settings import REPO_ROOT

SCHEMA_VERSION = 1
FOOTPRINT_PATH = REPO_ROOT / "include" / "platform_footprint.json"
MIB = 1024 * 1024
PEAK_WINDOW_SECONDS = 5.0
PSS_EVERY_SECONDS = 5.0
RETRAINING_DAG = "rnn_retraining"
RECOMPUTE_DAG = "cost_recompute"


class FootprintError(RuntimeError):
    """The measurement could not be made; the message says what failed and where its logs are."""


# -- samples and what they sum to (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    """One process at one instant. ``create_time`` (epoch seconds) tells a reused pid from the old one."""

    pid: int
    create_time: float
    rss_bytes: int
    cpu_seconds: float  # user + system of this process alone
    pss_bytes: int | None = None  # read only every PSS_EVERY_SECONDS (it costs a walk of smaps)
    reaped_cpu_seconds: float = 0.0  # user + system of its children that exited and it waited for

    @property
    def lifetime_cpu_seconds(self) -> float:
        return self.cpu_seconds + self.reaped_cpu_seconds


@dataclass(frozen=True)
class Sample:
    """One component (its process tree) at one instant; no processes when the component was not running."""

    t: float  # epoch seconds when the sample was taken
    processes: tuple[ProcessSample, ...]

    @property
    def rss_bytes(self) -> int:
        return sum(p.rss_bytes for p in self.processes)

    @property
    def pss_bytes(self) -> int | None:
        values = [p.pss_bytes for p in self.processes]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)


@dataclass(frozen=True)
class Tick:
    """Every component sampled at (about) one instant."""

    t: float
    components: Mapping[str, tuple[ProcessSample, ...]]


@dataclass(frozen=True)
class ComponentFootprint:
    peak_rss_mib: float
    mean_rss_mib: float
    cpu_seconds: float
    peak_cpu_cores: float  # the most CPU used in any PEAK_WINDOW_SECONDS window, in cores
    peak_pss_mib: float | None  # None when no sample read PSS
    max_processes: int
    samples: int
    seconds: float  # from the first sample to the last

    def rounded(self) -> dict[str, Any]:
        values = asdict(self)
        return {
            k: round(v, 3 if k == "peak_cpu_cores" else 1) if isinstance(v, float) else v
            for k, v in values.items()
        }


def _key(process: ProcessSample) -> tuple[int, float]:
    return process.pid, round(process.create_time, 2)


def cpu_deltas(samples: Sequence[Sample]) -> list[float]:
    """CPU seconds used between consecutive samples (one value per interval, ``len(samples) - 1`` of them).

    Each process counts its own CPU plus that of the children it reaped (so a child that lived less than
    an interval is not missed: its parent's reaped CPU grows by all of it):

    - a process seen in both samples adds its growth;
    - a process created since the previous sample adds all of it; one already running but new to the
      tree adds nothing (it was spent before, elsewhere);
    - a process gone since the previous sample takes back what it had when last seen, as that moves
      into its parent's reaped CPU with the rest of its life (a tree process reaps it).

    Summed over the component's processes. An interval in which a child was gone but its parent had not
    yet reaped it is low by what the next one is high.
    """
    deltas = []
    for previous, current in itertools.pairwise(samples):
        before = {_key(p): p.lifetime_cpu_seconds for p in previous.processes}
        used = 0.0
        for process in current.processes:
            earlier = before.pop(_key(process), None)
            if earlier is not None:
                used += process.lifetime_cpu_seconds - earlier
            elif process.create_time >= previous.t:
                used += process.lifetime_cpu_seconds
        used -= sum(before.values())  # the processes gone since
        deltas.append(used)
    return deltas


def peak_cores(
    times: Sequence[float], deltas: Sequence[float], window_seconds: float = PEAK_WINDOW_SECONDS
) -> float:
    """The most CPU used over any window of at least ``window_seconds`` between samples, in cores.

    ``deltas[i]`` is the CPU used between ``times[i]`` and ``times[i + 1]``. Each window ends at a sample
    and starts at the latest sample at least ``window_seconds`` earlier; when the whole span is shorter
    than one window, the span is the window.
    """
    if len(times) != len(deltas) + 1:
        raise ValueError(f"{len(times)} sample times need {len(times) - 1} CPU deltas, got {len(deltas)}")
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    cumulative = [0.0]
    for delta in deltas:
        cumulative.append(cumulative[-1] + delta)
    if times[-1] - times[0] < window_seconds:
        return cumulative[-1] / (times[-1] - times[0])
    best, start = 0.0, 0
    for end in range(1, len(times)):
        while start + 1 < end and times[end] - times[start + 1] >= window_seconds:
            start += 1
        span = times[end] - times[start]
        if span >= window_seconds:
            best = max(best, (cumulative[end] - cumulative[start]) / span)
    return best


def summarize(samples: Sequence[Sample], window_seconds: float = PEAK_WINDOW_SECONDS) -> ComponentFootprint:
    """Peak and mean RSS (the tree's sum per sample), CPU seconds and the peak cores of one component."""
    if not samples:
        raise ValueError("no samples to summarize")
    rss = [s.rss_bytes for s in samples]
    deltas = cpu_deltas(samples)
    pss = [v for v in (s.pss_bytes for s in samples) if v is not None]
    return ComponentFootprint(
        peak_rss_mib=max(rss) / MIB,
        mean_rss_mib=sum(rss) / len(rss) / MIB,
        cpu_seconds=sum(deltas),
        peak_cpu_cores=peak_cores([s.t for s in samples], deltas, window_seconds),
        peak_pss_mib=max(pss) / MIB if pss else None,
        max_processes=max(len(s.processes) for s in samples),
        samples=len(samples),
        seconds=samples[-1].t - samples[0].t,
    )


def component_samples(ticks: Iterable[Tick], name: str) -> list[Sample]:
    return [Sample(tick.t, tick.components.get(name, ())) for tick in ticks]


def total_samples(ticks: Iterable[Tick]) -> list[Sample]:
    """All components as one tree per tick: the whole deployment's RSS and CPU at each instant."""
    return [Sample(tick.t, tuple(p for procs in tick.components.values() for p in procs)) for tick in ticks]


def summarize_ticks(ticks: Sequence[Tick], names: Iterable[str]) -> dict[str, ComponentFootprint]:
    """Each named component's footprint over ``ticks``, plus ``total`` (the sum at each instant)."""
    result = {name: summarize(component_samples(ticks, name)) for name in names}
    result["total"] = summarize(total_samples(ticks))
    return result


# -- S3 writes and requests (pure) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    size_bytes: int
    etag: str


def prefix_group(bucket: str, key: str, data_prefix: str = "data") -> str:
    """Where an object belongs in the report: the data root's first folder, or the bucket's first folder.

    ``data/rnn_retraining/<run>/train/metrics.json`` -> ``s3://<bucket>/data/rnn_retraining/``;
    ``mlflow/1/<run>/artifacts/model.pt`` -> ``s3://<bucket>/mlflow/``.
    """
    parts = key.split("/")
    if data_prefix and len(parts) > 2 and parts[0] == data_prefix:
        return f"s3://{bucket}/{parts[0]}/{parts[1]}/"
    if len(parts) > 1:
        return f"s3://{bucket}/{parts[0]}/"
    return f"s3://{bucket}/"


@dataclass(frozen=True)
class Writes:
    bytes_by_prefix: dict[str, int]
    objects_by_prefix: dict[str, int]

    @property
    def bytes_total(self) -> int:
        return sum(self.bytes_by_prefix.values())

    @property
    def objects_total(self) -> int:
        return sum(self.objects_by_prefix.values())


def written(
    before: Mapping[tuple[str, str], StoredObject],
    after: Mapping[tuple[str, str], StoredObject],
    data_prefix: str = "data",
) -> Writes:
    """Objects new or changed (size or ETag) between two listings keyed by (bucket, key), by prefix group."""
    bytes_by, objects_by = {}, {}
    for (bucket, key), stored in sorted(after.items()):
        if before.get((bucket, key)) == stored:
            continue
        group = prefix_group(bucket, key, data_prefix)
        bytes_by[group] = bytes_by.get(group, 0) + stored.size_bytes
        objects_by[group] = objects_by.get(group, 0) + 1
    return Writes(bytes_by, objects_by)


REQUEST_LINE = re.compile(rb"(GET|PUT|POST|DELETE|HEAD) /[^ \r\n]{0,4000} HTTP/1\.[01]\r\n")
_TAIL_BYTES = 4200  # longer than any request line REQUEST_LINE matches


class RequestLineCounter:
    """Counts HTTP request lines by method in one client's byte stream, fed in arbitrary chunks.

    A request line split across two chunks is counted once, when it is complete. (A body that happens
    to contain a request line would be counted too; S3 bodies here are JSON, pickles and model weights.)
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._tail = b""

    def feed(self, data: bytes) -> None:
        buffer = self._tail + data
        for match in REQUEST_LINE.finditer(buffer):
            if match.end() > len(self._tail):  # not already counted from the previous chunk
                method = match.group(1).decode()
                self.counts[method] = self.counts.get(method, 0) + 1
        self._tail = buffer[-_TAIL_BYTES:]


def counts_between(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {
        method: after[method] - before.get(method, 0)
        for method in sorted(after)
        if after[method] > before.get(method, 0)
    }


# -- reading processes, S3 and Postgres (impure) ----------------------------------------------------------------------


def tree_pids(root_pid: int, parents: Mapping[int, int]) -> list[int]:
    """``root_pid`` and every descendant, from a map of each pid to its parent's; [] when root is gone."""
    if root_pid not in parents:
        return []
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        if pid != parent:
            children.setdefault(parent, []).append(pid)
    found, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(sorted(children.get(pid, ()), reverse=True))
    return found


def read_trees(
    roots: Mapping[str, int | None], *, with_pss: bool = False
) -> dict[str, tuple[ProcessSample, ...]]:
    """Each root's process and all its descendants now (one pass over /proc for the parent links).

    Processes that vanish while being read are skipped; PSS that cannot be read is left None.
    """
    import psutil

    processes = {}
    parents = {}
    for proc in psutil.process_iter(["ppid"]):
        processes[proc.pid] = proc
        parents[proc.pid] = proc.info["ppid"]
    result = {}
    for name, root in roots.items():
        samples = []
        for pid in tree_pids(root, parents) if root is not None else []:
            proc = processes[pid]
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    reaped = times.children_user + times.children_system
                    rss = proc.memory_info().rss
                    created = proc.create_time()
                    pss = None
                    if with_pss:
                        with contextlib.suppress(psutil.AccessDenied):
                            pss = proc.memory_full_info().pss
            except psutil.NoSuchProcess:  # ZombieProcess too
                continue
            except psutil.AccessDenied as error:
                raise FootprintError(
                    f"cannot read process {pid} of {name} ({error}); run as root or as the user running the topology"
                ) from error
            samples.append(
                ProcessSample(
                    pid=pid,
                    create_time=created,
                    rss_bytes=rss,
                    cpu_seconds=times.user + times.system,
                    pss_bytes=pss,
                    reaped_cpu_seconds=reaped,
                )
            )
        result[name] = tuple(samples)
    return result


class Sampler:
    """A thread sampling every component's process tree every ``interval_seconds``.

    ``roots()`` maps each component's name to its process id (None when it is not running); it is asked
    at every tick, so a component restarted meanwhile is followed.
    """

    def __init__(
        self,
        roots: Callable[[], Mapping[str, int | None]],
        *,
        interval_seconds: float = 0.5,
        pss_every_seconds: float = PSS_EVERY_SECONDS,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        self.roots = roots
        self.interval_seconds = interval_seconds
        self.pss_every_seconds = pss_every_seconds
        self._ticks: list[Tick] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_pss = float("-inf")
        self.error: BaseException | None = None

    def tick(self) -> Tick:
        now = time.time()
        with_pss = now - self._last_pss >= self.pss_every_seconds
        if with_pss:
            self._last_pss = now
        tick = Tick(now, read_trees(self.roots(), with_pss=with_pss))
        with self._lock:
            self._ticks.append(tick)
        return tick

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
            except BaseException as error:  # reported by stop(), not lost in a thread
                self.error = error
                return
            next_at += self.interval_seconds
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="footprint-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.error is not None:
            raise FootprintError(f"the sampler failed: {self.error}") from self.error

    def ticks(self, start: float | None = None, end: float | None = None) -> list[Tick]:
        """The ticks taken between two epoch times (inclusive; either open)."""
        with self._lock:
            ticks = list(self._ticks)
        return [t for t in ticks if (start is None or t.t >= start) and (end is None or t.t <= end)]

    def latest(self) -> Tick | None:
        with self._lock:
            return self._ticks[-1] if self._ticks else None


def component_roots(topology: Any) -> Callable[[], dict[str, int | None]]:
    """``Sampler`` roots for a :class:`devtools.production.Topology`: every component, by its name there."""
    names = [component.name for component in topology.components()]
    return lambda: {name: topology.pid(name) for name in names}


def list_objects(s3: Any, buckets: Iterable[str]) -> dict[tuple[str, str], StoredObject]:
    listing = {}
    paginator = s3.get_paginator("list_objects_v2")
    for bucket in buckets:
        for page in paginator.paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                listing[(bucket, item["Key"])] = StoredObject(int(item["Size"]), item.get("ETag", ""))
    return listing


class CountingProxy:
    """A TCP forwarder on 127.0.0.1 to ``target_port`` that counts the HTTP requests it forwards, by method."""

    def __init__(self) -> None:
        self.target_port = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._counters: list[RequestLineCounter] = []
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="s3-counting-proxy", daemon=True).start()

    def counts(self) -> dict[str, int]:
        with self._lock:
            total: dict[str, int] = {}
            for counter in self._counters:
                for method, count in counter.counts.items():
                    total[method] = total.get(method, 0) + count
            return total

    def down(self) -> None:
        with self._lock:
            sockets = [self._listener, *self._sockets]
            self._sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            counter = RequestLineCounter()
            with self._lock:
                self._counters.append(counter)
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, counter), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counter: RequestLineCounter | None) -> None:
        try:
            while data := source.recv(65536):
                if counter is not None:
                    with self._lock:
                        counter.feed(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)


# -- the measurement ---------------------------------------------------------------------------------------------------


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:5.0f} s] {message.strip()}", flush=True)


@dataclass
class RunMeasurement:
    dag_id: str
    run_id: str
    state: str
    started_at: float  # epoch seconds
    ended_at: float
    writes: Writes
    requests_by_method: dict[str, int]
    database_growth_bytes: dict[str, int]
    host_busy_cpu_seconds: float
    conf: dict = field(default_factory=dict)


def _database_sizes(topology: Any) -> dict[str, int]:
    import psycopg2

    sizes = {}
    for database, secret in (("airflow", "AIRFLOW_DB_PASSWORD"), ("mlflow", "MLFLOW_DB_PASSWORD")):
        with (
            contextlib.closing(
                psycopg2.connect(
                    host="127.0.0.1",
                    port=topology.ports.postgres,
                    dbname=database,
                    user=database,
                    password=topology.secrets[secret],
                    connect_timeout=10,
                )
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT pg_database_size(current_database())")
            sizes[database] = int(cursor.fetchone()[0])
    return sizes


def _host_busy_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (all cores; idle and iowait excluded)."""
    import psutil

    times = psutil.cpu_times()  # guest time is already inside user on Linux
    busy = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(getattr(times, name, 0.0) for name in busy)


def _task_summary(api: Any, dag_id: str, run_id: str) -> str:
    by_state: dict[str, list[str]] = {}
    for ti in api.task_instances(dag_id, run_id):
        by_state.setdefault(ti["state"] or "none", []).append(ti["task_id"])
    parts = []
    for state, tasks in sorted(by_state.items()):
        named = (
            f" ({', '.join(sorted(tasks))})"
            if state in ("running", "queued", "failed", "up_for_retry")
            else ""
        )
        parts.append(f"{len(tasks)} {state}{named}")
    return ", ".join(parts)


class Measurement:
    """One topology, one sampler, the runs; :meth:`close` always tears the topology down."""

    def __init__(self, state_dir: Path, progress: Progress, interval_seconds: float) -> None:
        self.progress = progress
        self.proxy = CountingProxy()  # listening first, so the ports picked next differ from its own
        try:
            self.topology = Topology.prepare(
                state_dir, scheduled_runs=False, s3_port=self.proxy.port, log=progress
            )
        except BaseException:
            self.proxy.down()
            raise
        self.proxy.target_port = self.topology.ports.moto
        self.sampler = Sampler(component_roots(self.topology), interval_seconds=interval_seconds)
        self.api: Any = None
        self.dag_count = 0
        self.import_errors = 0

    def s3(self) -> Any:
        import boto3

        env = self.topology.airflow_env()
        return boto3.client(
            "s3",
            endpoint_url=self.topology.moto_url,  # straight to moto: listing is not counted as the run's
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def data_prefix(self) -> str:
        root = self.topology.airflow_env()["RNN_PIPELINE_DATA_ROOT"].removeprefix("s3://")
        return root.split("/", 1)[1].split("/", 1)[0] if "/" in root else ""

    def up(self, dag_ids: Sequence[str]) -> None:
        self.progress(
            "starting the production topology (Postgres, Redis, moto, MLflow, Airflow, 2 Celery workers)"
        )
        self.topology.up()
        self.api = AirflowApi(
            self.topology.airflow_url, "admin", self.topology.secrets["AIRFLOW_ADMIN_PASSWORD"]
        )
        self.progress("waiting for the DAG processor to parse the DAGs")
        self.api.wait_for_dags(dag_ids, timeout_seconds=300)
        self.dag_count, self.import_errors = self._settled_dag_count()
        for dag_id in dag_ids:
            self.api.unpause(dag_id)
        self.progress(f"{self.dag_count} DAGs loaded, {self.import_errors} import errors")

    def _settled_dag_count(
        self, quiet_seconds: float = 10.0, timeout_seconds: float = 120.0
    ) -> tuple[int, int]:
        """The number of DAGs once it has not changed for ``quiet_seconds`` (the processor parses file by file)."""
        deadline = time.monotonic() + timeout_seconds
        count, since = -1, time.monotonic()
        while True:
            now_count = self.api.request("GET", "/dags", params={"limit": 1})["total_entries"]
            if now_count != count:
                count, since = now_count, time.monotonic()
            if time.monotonic() - since >= quiet_seconds or time.monotonic() > deadline:
                errors = self.api.request("GET", "/importErrors", params={"limit": 1})["total_entries"]
                return count, errors
            time.sleep(2)

    def idle(self, seconds: float) -> tuple[float, float]:
        start = time.time()
        self.progress(f"idle for {seconds:g} s (the deployment's resting footprint)")
        time.sleep(seconds)
        return start, time.time()

    def run(self, dag_id: str, conf: dict, timeout_seconds: float) -> RunMeasurement:
        s3 = self.s3()
        buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        before, requests_before = list_objects(s3, buckets), self.proxy.counts()
        databases_before = _database_sizes(self.topology)
        host_before = _host_busy_cpu_seconds()
        started = time.time()
        run_id = self.api.trigger(dag_id, conf)
        self.progress(f"triggered {dag_id} {run_id}")
        deadline = time.monotonic() + timeout_seconds
        last_report = 0.0
        while True:
            state = self.api.run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                break
            if self.sampler.error is not None:
                raise FootprintError(f"the sampler failed: {self.sampler.error}")
            if time.monotonic() > deadline:
                raise FootprintError(
                    f"{dag_id} {run_id} still {state} after {timeout_seconds:.0f} s "
                    f"(tasks: {_task_summary(self.api, dag_id, run_id)}); component logs in {self.topology.log_dir}"
                )
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                tick = self.sampler.latest()
                rss = (
                    f"; deployment RSS {total_samples([tick])[0].rss_bytes / MIB / 1024:.2f} GiB"
                    if tick
                    else ""
                )
                self.progress(f"{dag_id} {state}: {_task_summary(self.api, dag_id, run_id)}{rss}")
            time.sleep(3)
        ended = time.time()
        host_busy = _host_busy_cpu_seconds() - host_before
        after = list_objects(s3, [b["Name"] for b in s3.list_buckets().get("Buckets", [])])
        databases_after = _database_sizes(self.topology)
        measurement = RunMeasurement(
            dag_id=dag_id,
            run_id=run_id,
            state=state,
            started_at=started,
            ended_at=ended,
            writes=written(before, after, self.data_prefix()),
            requests_by_method=counts_between(requests_before, self.proxy.counts()),
            database_growth_bytes={k: databases_after[k] - databases_before[k] for k in databases_after},
            host_busy_cpu_seconds=host_busy,
            conf=conf,
        )
        self.progress(
            f"{dag_id} {state} in {ended - started:.0f} s: {measurement.writes.objects_total} objects, "
            f"{measurement.writes.bytes_total / MIB:.1f} MiB written to S3"
        )
        return measurement

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sampler.stop()
        try:
            self.progress("stopping the topology")
            self.topology.down()
        finally:
            self.proxy.down()
            if self.api is not None:
                self.api.close()


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _footprints(
    ticks: Sequence[Tick], names: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each component's footprint over ``ticks`` (by its name) and the deployment's ``total``."""
    summaries = summarize_ticks(ticks, names)
    total = summaries.pop("total")
    return {name: footprint.rounded() for name, footprint in summaries.items()}, total.rounded()


def _run_section(run: RunMeasurement, ticks: Sequence[Tick], names: Sequence[str]) -> dict[str, Any]:
    components, total = _footprints(ticks, names)
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state,
        "conf": run.conf,
        "wall_seconds": round(run.ended_at - run.started_at, 1),
        "bytes_written": run.writes.bytes_by_prefix,
        "bytes_written_total": run.writes.bytes_total,
        "objects_written": run.writes.objects_total,
        "objects_written_by_prefix": run.writes.objects_by_prefix,
        "objects_written_note": "S3 objects new or changed between listings before and after the run "
        "(a count of objects, not of requests: see s3_requests_by_method)",
        "s3_requests_by_method": run.requests_by_method,
        "s3_requests_note": "HTTP requests from the deployment to the S3 endpoint, counted by a proxy",
        "postgres_growth_bytes": run.database_growth_bytes,
        "host_busy_cpu_seconds": round(run.host_busy_cpu_seconds, 1),
        "host_busy_cpu_note": "every process on the machine during the run, the deployment's and any other",
        "components": components,
        "total": total,
    }


def build_document(
    measurement: Measurement, idle: tuple[float, float], runs: Sequence[RunMeasurement]
) -> dict[str, Any]:
    """The JSON: ``components``, ``total`` and ``run`` are the retraining run; ``idle`` and ``other_runs`` beside.

    ``dags``, ``worker_concurrency``, ``components`` and ``run`` are what costing.model.pipeline_platform
    reads; the rest says how it was measured.
    """
    import psutil

    topology = measurement.topology
    names = [component.name for component in topology.components()]
    workers = [name for name in names if name.startswith("airflow-worker-")]
    worker_env = topology.airflow_env("airflow-worker")
    sections = [
        _run_section(run, measurement.sampler.ticks(run.started_at, run.ended_at), names) for run in runs
    ]
    idle_components, idle_total = _footprints(measurement.sampler.ticks(*idle), names)
    return {
        "schema_version": SCHEMA_VERSION,
        "measured_at": _iso(runs[0].ended_at),
        "what": (
            "Measured memory and CPU of each process of the self-hosted platform (docker-compose.yaml's "
            "services, run as local processes by devtools.production) during one rnn_retraining run "
            "(components, total, run), idle before it (idle) and during the runs after it (other_runs); "
            "produced by `make platform-footprint` (devtools/platform_footprint.py)."
        ),
        "host": {
            "cpu_count": os.cpu_count(),
            "memory_mib": round(psutil.virtual_memory().total / MIB),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"airflow": _version("apache-airflow"), "mlflow": _version("mlflow")},
        "dags": measurement.dag_count,
        "worker_concurrency": int(worker_env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "16")),
        "celery_workers": len(workers),
        "deployment": {
            "import_errors": measurement.import_errors,
            "airflow_connections_from": topology.secrets_backend,
            "scheduled_runs": topology.scheduled_runs,
            "components": names,
            "note": "component s3 is a moto server standing in for S3/MinIO; smtp stands in for mailpit",
        },
        "sampling": {
            "interval_seconds": measurement.sampler.interval_seconds,
            "peak_cpu_window_seconds": PEAK_WINDOW_SECONDS,
            "pss_every_seconds": PSS_EVERY_SECONDS,
            "rss": "sum over the component's process and all its descendants; pages shared between "
            "forked processes are counted in each (peak_pss_mib splits them)",
            "cpu": "user + system seconds from per-process deltas between samples, with the CPU of "
            "children each process reaped (short-lived processes included)",
            "total": "all components summed at each instant (peaks are simultaneous, not a sum of peaks)",
        },
        "components": sections[0]["components"],
        "total": sections[0]["total"],
        "run": {k: v for k, v in sections[0].items() if k not in ("components", "total")},
        "idle": {"seconds": round(idle[1] - idle[0], 1), "components": idle_components, "total": idle_total},
        "other_runs": sections[1:],
    }


def _table(document: dict[str, Any]) -> str:
    lines = [
        f"during {document['run']['dag_id']} ({document['run']['wall_seconds']:.0f} s):",
        f"{'component':24} {'peak RSS':>10} {'mean RSS':>10} {'peak PSS':>10} {'CPU s':>8} {'peak cores':>10}",
    ]
    for name, fp in [*document["components"].items(), ("total", document["total"])]:
        pss = "-" if fp["peak_pss_mib"] is None else f"{fp['peak_pss_mib']:.0f} MiB"
        lines.append(
            f"{name:24} {fp['peak_rss_mib']:>6.0f} MiB {fp['mean_rss_mib']:>6.0f} MiB {pss:>10} "
            f"{fp['cpu_seconds']:>8.1f} {fp['peak_cpu_cores']:>10.2f}"
        )
    for run, total in [(document["run"], document["total"])] + [
        (r, r["total"]) for r in document["other_runs"]
    ]:
        lines.append(
            f"{run['dag_id']}: {run['state']} in {run['wall_seconds']:.0f} s, deployment {total['cpu_seconds']:.0f} "
            f"CPU s (host {run['host_busy_cpu_seconds']:.0f}), {run['objects_written']} objects / "
            f"{run['bytes_written_total'] / MIB:.1f} MiB to S3, S3 requests {run['s3_requests_by_method']}"
        )
    return "\n".join(lines)


def measure(
    *,
    state_dir: Path,
    interval_seconds: float,
    idle_seconds: float,
    retraining_timeout_seconds: float,
    recompute_timeout_seconds: float,
    recompute: bool,
    progress: Progress,
) -> tuple[dict[str, Any], str | None]:
    """The document, and what failed after the retraining run was measured (None when nothing did)."""
    missing = production.missing_system_packages()
    if missing:
        raise FootprintError(
            f"{' and '.join(missing)} not installed; run `make prod-deps` (as root: apt-get install -y {' '.join(missing)})"
        )
    dag_ids = [RETRAINING_DAG, *([RECOMPUTE_DAG] if recompute else [])]
    measurement = Measurement(state_dir, progress, interval_seconds)
    try:
        measurement.up(dag_ids)
        measurement.sampler.start()
        idle = measurement.idle(idle_seconds)
        runs = [measurement.run(RETRAINING_DAG, TRAIN_CONF, retraining_timeout_seconds)]
        if runs[0].state != "success":
            raise FootprintError(
                f"{RETRAINING_DAG} {runs[0].run_id} ended {runs[0].state}; task logs in "
                f"{measurement.topology.airflow_home / 'logs'}"
            )
        failure = None
        if recompute:
            try:
                runs.append(measurement.run(RECOMPUTE_DAG, {}, recompute_timeout_seconds))
                if runs[-1].state != "success":
                    failure = f"{RECOMPUTE_DAG} {runs[-1].run_id} ended {runs[-1].state}"
            except FootprintError as error:
                failure = str(error)
        time.sleep(2 * interval_seconds)  # a last tick after the run ended
        measurement.sampler.stop()
        return build_document(measurement, idle, runs), failure
    finally:
        measurement.close()


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.platform_footprint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", type=Path, default=FOOTPRINT_PATH, help="where to write (default %(default)s)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the topology's state folder, created fresh (default: a new temporary folder, removed on success)",
    )
    parser.add_argument(
        "--interval-seconds", type=_positive, default=0.5, help="sampling interval (default %(default)g)"
    )
    parser.add_argument(
        "--idle-seconds",
        type=_positive,
        default=30.0,
        help="how long the idle deployment is sampled before the first run (default %(default)g)",
    )
    parser.add_argument(
        "--timeout-minutes",
        type=_positive,
        default=20.0,
        help="the most the rnn_retraining run may take (default %(default)g); cost_recompute gets 10",
    )
    parser.add_argument(
        "--skip-recompute", action="store_true", help="measure rnn_retraining only (no cost_recompute run)"
    )
    args = parser.parse_args(argv)
    if args.state_dir is not None and args.state_dir.exists() and any(args.state_dir.iterdir()):
        parser.error(
            f"--state-dir {args.state_dir} is not empty: give a new folder (the topology starts fresh)"
        )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # so the finally blocks tear the topology down
    progress = Progress()
    # Not under a 0700 folder: the postgres user must reach its data folder inside.
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="rnn-footprint-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o755)
    try:
        document, failure = measure(
            state_dir=state_dir,
            interval_seconds=args.interval_seconds,
            idle_seconds=args.idle_seconds,
            retraining_timeout_seconds=args.timeout_minutes * 60,
            recompute_timeout_seconds=600.0,
            recompute=not args.skip_recompute,
            progress=progress,
        )
    except KeyboardInterrupt:
        print(
            f"error: interrupted; the topology was stopped; its state and logs are in {state_dir}",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # one message, not a traceback: what failed and where the logs are
        print(
            f"error: {error}; the topology was stopped; its state and logs are in {state_dir}",
            file=sys.stderr,
        )
        return 1
    document["measurement_seconds"] = round(time.monotonic() - progress.started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(_table(document))
    print(f"wrote {args.out} in {document['measurement_seconds']:.0f} s")
    if failure is not None:
        print(
            f"error: {failure}; {args.out} has the runs that finished; logs in {state_dir}", file=sys.stderr
        )
        return 1
    if args.state_dir is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
