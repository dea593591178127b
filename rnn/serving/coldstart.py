"""Cold starts, measured: how long a new serving process takes before it answers.

Two kinds, both on the machine that runs the measurement (``python -m rnn coldstart``; the pipeline's load
test step and ``make bench`` use the same functions):

* **The server** (``python -m rnn serve``): process start to ready (listening with the model loaded: its
  port file is written; polled every 10 ms), then the latency of its first request
  (:func:`started_server`, :func:`first_request_ms`).
* **A serverless-style handler** (:mod:`rnn.serving.handler`, what a Lambda function or a SageMaker
  serverless container runs): a fresh Python process that imports the runtime (torch and the decoder),
  loads the model and answers one request, timed from spawn to the answer (:func:`measure_handler`). The
  same process then answers a few requests warm, so what the cold start *adds* to a request is known:
  spawn to answer minus a warm request. A platform's own start (a micro-VM, the container image) comes
  on top; the cost model adds it as an assumption (``costing.model.cold_starts``).

:func:`cold_start_section` is the ``cold_start`` section of metrics.json (schema in :mod:`rnn.metrics`).
No torch here: the handler runs in its own process.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnn.metrics import utc_now_iso
from rnn.serving.settings import API_KEY_ENV

SERVER_START_SECONDS = 180.0  # torch import + model load on a busy machine
SERVER_STOP_SECONDS = 60.0
HANDLER_TIMEOUT_SECONDS = 180.0  # one handler process, from spawn to its last warm answer
PORT_POLL_SECONDS = 0.01
DEFAULT_HANDLER_RUNS = 3  # fresh processes; the section reports their median
DEFAULT_WARM_REQUESTS = 5  # answered by each handler process after its first, cold one


class ColdStartError(RuntimeError):
    """A server or handler process did not start or answer; the message says which and why."""


# -- the server ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def started_server(
    command: Sequence[str], workdir: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, float]]:
    """A server command that takes ``--port 0 --port-file F``, running for the block.

    Yields its URL and the seconds from starting the process to its port file (written once it listens
    with the model loaded). Its output goes to a log file in ``workdir``; SIGTERM stops it at the end.
    """
    port_file = workdir / f"port-{time.monotonic_ns()}"
    with (workdir / f"{port_file.name}.log").open("w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "--port", "0", "--port-file", str(port_file)],
            stdout=log,
            stderr=log,
            env=None if env is None else dict(env),
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None:
                    raise ColdStartError(
                        f"{' '.join(command)} exited with code {proc.returncode} before it was ready; "
                        f"see {log.name}"
                    )
                if time.monotonic() > deadline:
                    raise ColdStartError(
                        f"{' '.join(command)} was not ready within {SERVER_START_SECONDS:g} s"
                    )
                time.sleep(PORT_POLL_SECONDS)
            ready_seconds = time.perf_counter() - started
            yield f"http://127.0.0.1:{int(port_file.read_text())}", ready_seconds
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=SERVER_STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


class _Client:
    """One keep-alive connection to a server: its model's own prompt, and timed completions."""

    def __init__(self, url: str, *, api_key: str | None, timeout: float = 60.0) -> None:
        self.url = url
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.headers = {"Content-Type": "application/json"}
        if api_key is not None:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def default_prompt(self) -> str:
        self.connection.request("GET", "/healthz")
        return str(json.loads(self.connection.getresponse().read())["default_prompt"])

    def seconds(self, prompt: str, chars: int, seed: int) -> float:
        """Seconds from sending one completion request to reading its whole answer."""
        body = json.dumps({"prompt": prompt, "max_chars": chars, "seed": seed})
        start = time.perf_counter()
        self.connection.request("POST", "/v1/generate", body=body, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - start
        if response.status != 200 or json.loads(data)["chars"] != chars:
            raise ColdStartError(f"{self.url}/v1/generate answered {response.status}: {data[:300]!r}")
        return seconds

    def close(self) -> None:
        self.connection.close()


def first_request_ms(url: str, *, chars: int, api_key: str | None, prompt: str | None = None) -> float:
    """Milliseconds of one completion of ``chars`` characters (the server's first, if none came before).

    ``prompt`` None: the model's own (``/healthz``, read first: a GET, not a completion).
    """
    client = _Client(url, api_key=api_key)
    try:
        return 1000.0 * client.seconds(prompt if prompt is not None else client.default_prompt(), chars, 0)
    finally:
        client.close()


def single_stream(url: str, *, requests: int, chars: int, api_key: str | None) -> dict[str, Any]:
    """One client, one keep-alive connection, ``requests`` completions one after another (concurrency 1).

    The prompt is the model's own (``/healthz``); each request has its own seed. Returns the latency of
    the first request (the server's first after ready) and the p50 / p95 / min of the others, in ms.
    """
    if requests < 1:
        raise ValueError(f"requests={requests!r}: at least one request after the first")
    client = _Client(url, api_key=api_key)
    try:
        prompt = client.default_prompt()
        seconds = [client.seconds(prompt, chars, seed) for seed in range(requests + 1)]
    finally:
        client.close()
    warm = sorted(1000 * s for s in seconds[1:])
    return {
        "first_ms": 1000 * seconds[0],
        "p50_ms": statistics.median(warm),
        "p95_ms": warm[min(len(warm) - 1, round(0.95 * (len(warm) - 1)))],
        "min_ms": warm[0],
        "requests": requests,
        "prompt": prompt,
    }


@dataclass(frozen=True)
class ServerColdStart:
    """``python -m rnn serve`` from a new process: start to ready, then its first completion."""

    ready_seconds: float  # process start -> listening with the model loaded
    first_request_ms: float  # the first completion after ready


def serve_command(model_uri: str, *, threads: int = 0) -> list[str]:
    """``python -m rnn serve`` on 127.0.0.1 with the model (the port flags are :func:`started_server`'s)."""
    command = [sys.executable, "-m", "rnn", "serve", "--model", model_uri, "--host", "127.0.0.1"]
    return [*command, "--threads", str(threads)] if threads else command


def measure_server(
    model_uri: str, workdir: Path, *, chars: int, prompt: str | None = None, threads: int = 0
) -> ServerColdStart:
    """Start the server on the model, time it to ready and on its first request, stop it.

    It gets a key of its own, through the environment: only this measurement can call it.
    """
    key = secrets.token_urlsafe(32)
    env = {**os.environ, API_KEY_ENV: key}
    with started_server(serve_command(model_uri, threads=threads), workdir, env) as (url, ready_seconds):
        first = first_request_ms(url, chars=chars, api_key=key, prompt=prompt)
    return ServerColdStart(ready_seconds=ready_seconds, first_request_ms=first)


# -- the serverless-style handler ---------------------------------------------------------------------------

# A fresh interpreter: import the handler (torch, the decoder), load the model, answer one request and say
# so at once (the parent times that line); then answer warm ones and report them.
_HANDLER_CHILD = """
import json, sys, time
started = time.perf_counter()
from rnn.serving import handler
imported = time.perf_counter()
loaded = handler.load(sys.argv[1])
ready = time.perf_counter()
event = json.loads(sys.argv[2])
answer = handler.handle(loaded, event)
answered = time.perf_counter()
print(json.dumps({"chars": answer["chars"], "import_seconds": imported - started,
                  "load_seconds": ready - imported, "request_seconds": answered - ready,
                  "since_start_seconds": answered - started}), flush=True)
warm = []
for seed in range(1, int(sys.argv[3]) + 1):
    start = time.perf_counter()
    handler.handle(loaded, {**event, "seed": seed})
    warm.append(time.perf_counter() - start)
print(json.dumps({"warm_seconds": warm}), flush=True)
"""


@dataclass(frozen=True)
class HandlerRun:
    """One fresh handler process."""

    spawn_to_answer_seconds: float  # spawn -> its first answer read by the parent
    interpreter_seconds: float  # spawn -> the child's first statement (interpreter start-up)
    import_seconds: float  # torch and the decoder
    load_seconds: float  # the model file, the decoder, the model's own prompt
    first_request_ms: float  # the cold request itself, inside the process
    warm_request_ms: float  # median of the warm requests that followed

    @property
    def added_seconds(self) -> float:
        """What the cold start added to the request: spawn to answer minus a warm request."""
        return self.spawn_to_answer_seconds - self.warm_request_ms / 1000.0


@dataclass(frozen=True)
class HandlerColdStart:
    """The median of several fresh handler processes (each field on its own), and every run."""

    runs: tuple[HandlerRun, ...]

    def median(self, name: str) -> float:
        return statistics.median(getattr(run, name) for run in self.runs)

    def to_dict(self) -> dict[str, Any]:
        names = ("spawn_to_answer_seconds", "interpreter_seconds", "import_seconds", "load_seconds")
        return {
            "runs": len(self.runs),
            **{name: round(self.median(name), 4) for name in names},
            "first_request_ms": round(self.median("first_request_ms"), 3),
            "warm_request_ms": round(self.median("warm_request_ms"), 3),
            "added_seconds": round(statistics.median(run.added_seconds for run in self.runs), 4),
            "spawn_to_answer_seconds_runs": [round(run.spawn_to_answer_seconds, 4) for run in self.runs],
        }


def _child_env() -> dict[str, str]:
    """The parent's environment, with this checkout's packages first on the child's path."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def handler_run(
    model_uri: str,
    *,
    chars: int,
    prompt: str | None = None,
    warm_requests: int = DEFAULT_WARM_REQUESTS,
    timeout: float = HANDLER_TIMEOUT_SECONDS,
) -> HandlerRun:
    """One fresh handler process: spawn -> answer of a ``chars``-character request, then the warm ones."""
    if warm_requests < 1:
        raise ValueError(f"warm_requests={warm_requests!r} must be >= 1 (the baseline of a warm request)")
    event = json.dumps({"prompt": prompt, "max_chars": chars, "seed": 0})
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _HANDLER_CHILD, model_uri, event, str(warm_requests)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=_child_env(),
        )
        watchdog = threading.Timer(timeout, proc.kill)  # bounded, whatever the child does
        watchdog.start()
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            spawn_to_answer = time.perf_counter() - started
            rest = proc.stdout.read()
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        errors.seek(0)
        last = errors.read().strip().splitlines()[-5:]
    if proc.returncode != 0 or not first.strip() or not rest.strip():
        why = (
            f"was stopped after {timeout:g} s"
            if proc.returncode == -signal.SIGKILL
            else (f"exited with code {proc.returncode}")
        )
        raise ColdStartError(f"the handler process {why} before answering: " + " | ".join(last))
    phases, warm = json.loads(first), json.loads(rest.strip().splitlines()[-1])["warm_seconds"]
    if phases["chars"] != chars:
        raise ColdStartError(f"the handler answered {phases['chars']} characters, not {chars}")
    return HandlerRun(
        spawn_to_answer_seconds=spawn_to_answer,
        interpreter_seconds=max(0.0, spawn_to_answer - phases["since_start_seconds"]),
        import_seconds=phases["import_seconds"],
        load_seconds=phases["load_seconds"],
        first_request_ms=1000.0 * phases["request_seconds"],
        warm_request_ms=1000.0 * statistics.median(warm),
    )


def measure_handler(
    model_uri: str,
    *,
    chars: int,
    prompt: str | None = None,
    runs: int = DEFAULT_HANDLER_RUNS,
    warm_requests: int = DEFAULT_WARM_REQUESTS,
) -> HandlerColdStart:
    """``runs`` fresh handler processes, one after another."""
    if runs < 1:
        raise ValueError(f"runs={runs!r} must be >= 1")
    return HandlerColdStart(
        runs=tuple(
            handler_run(model_uri, chars=chars, prompt=prompt, warm_requests=warm_requests)
            for _ in range(runs)
        )
    )


def cold_start_section(
    *, chars: int, server: ServerColdStart | None, handler: HandlerColdStart | None
) -> dict[str, Any]:
    """The ``cold_start`` section of metrics.json (schema in :mod:`rnn.metrics`)."""
    return {
        "completion_chars": chars,
        "cpu_count": os.cpu_count() or 1,
        "server": None
        if server is None
        else {
            "ready_seconds": round(server.ready_seconds, 4),
            "first_request_ms": round(server.first_request_ms, 3),
        },
        "handler": None if handler is None else handler.to_dict(),
        "measured_at": utc_now_iso(),
    }


def summary(section: Mapping[str, Any]) -> list[str]:
    """The section in words, one line per part."""
    lines = []
    server, handler = section.get("server"), section.get("handler")
    chars = section["completion_chars"]
    if server:
        lines.append(
            f"server: process start -> ready {server['ready_seconds']:.2f} s; first request "
            f"{server['first_request_ms']:.1f} ms ({chars} chars)"
        )
    if handler:
        lines.append(
            f"handler (median of {handler['runs']} fresh processes): spawn -> answer "
            f"{handler['spawn_to_answer_seconds']:.2f} s = interpreter {handler['interpreter_seconds']:.2f} + "
            f"import {handler['import_seconds']:.2f} + load {handler['load_seconds']:.2f} s + request "
            f"{handler['first_request_ms']:.1f} ms; a warm request {handler['warm_request_ms']:.1f} ms, so a "
            f"cold start adds {handler['added_seconds']:.2f} s"
        )
    return lines
