"""The inference server: ``python -m rnn serve --model PATH_OR_URI --host 127.0.0.1 --port 8000``.

FastAPI + uvicorn around one :class:`~rnn.serving.batching.BatchingEngine` (continuous batching on the fast
decoder). The API (docs/serving.md):

* ``POST /v1/generate`` ``{"prompt", "max_chars" (1-2000, 200), "temperature" (> 0, 0.8), "top_k"
  (>= 0, 0 = off), "seed" (int or null), "stream" (false)}`` -> ``{"text", "chars", "queue_ms",
  "generate_ms", "batch_size_mean", "seed"}``; with ``"stream": true`` the text arrives as server-sent
  events (``data: {"text": ...}`` per chunk, then ``event: done`` with the summary).
* ``GET /healthz``: model, version, vocabulary size, the model's own prompt (``default_prompt``, what
  a client without text of its own sends: the load test), uptime, resident memory; 503 while draining.
* ``GET /metrics``: Prometheus text (requests by status, latency / queue-time / batch-size
  histograms, characters generated, in flight, queue length, process CPU and memory).

With an API key (``ServeSettings.api_key``: ``--api-key-file``, ``--api-key`` or ``$RNN_API_KEY``),
``POST /v1/generate`` needs ``Authorization: Bearer <key>`` (and ``GET /metrics`` too with
``protect_metrics``); a request without it gets 401 with ``WWW-Authenticate: Bearer`` before its body
is read. ``GET /healthz`` stays open for load balancers.

Bad input is refused before it reaches the model: invalid JSON, wrong types, unknown fields or
out-of-range values -> 422 naming the field; prompt characters outside the vocabulary -> 422 listing
them; a body over ``max_body_bytes`` -> 413. A full queue -> 503 with ``Retry-After``; the queue, the
batch and the number of open connections are all bounded, so memory is bounded under any load. A
client that disconnects frees its row at the next step. SIGTERM stops accepting connections,
finishes what is in flight (up to ``drain_seconds``), then exits 0.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnn import GOMP_SPINCOUNT_ENV, OMP_WAIT_POLICY_ENV
from rnn.metrics import peak_rss_bytes
from rnn.serving.batching import (
    MAX_SEED,
    BatchingEngine,
    EngineObserver,
    EngineStopped,
    Event,
    GenerationRequest,
    QueueFull,
    Ticket,
)
from rnn.serving.decoder import FastDecoder
from rnn.serving.generate import LoadedModel, ModelSource, default_prompt
from rnn.serving.settings import (
    API_KEY_ENV,
    DEFAULT_MAX_CHARS,
    DEFAULT_TEMPERATURE,
    MAX_CHARS_LIMIT,
    ServeSettings,
)

log = logging.getLogger(__name__)

GENERATE_PATH = "/v1/generate"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
STATUS_CLIENT_CLOSED = 499  # nginx's code for "the client closed the connection first"
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256)
STEPS_PER_CALL_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class GenerateBody(BaseModel):
    """The JSON body of ``POST /v1/generate``; types are strict ("200" is not a number, true is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str
    max_chars: Annotated[int, Field(ge=1, le=MAX_CHARS_LIMIT)] = DEFAULT_MAX_CHARS
    temperature: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_TEMPERATURE
    top_k: Annotated[int, Field(ge=0)] = 0
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    stream: bool = False


def resident_memory_bytes() -> int:
    """Current resident set size of this process (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


class StepHistogram:
    """A Prometheus histogram that takes one value for ``count`` observations at once (a model call's steps).

    The engine advances a small batch up to hundreds of steps per call; observing each step separately
    would cost more than the steps. Exposed as an ordinary histogram (``_bucket``, ``_sum``, ``_count``).
    """

    def __init__(
        self, name: str, documentation: str, buckets: tuple[float, ...], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation = name, documentation
        self._upper = [*buckets, math.inf]
        self._counts = [0] * len(self._upper)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float, count: int = 1) -> None:
        bucket = bisect.bisect_left(self._upper, value)
        with self._lock:
            self._counts[bucket] += count
            self._sum += value * count

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> list[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative = list(itertools.accumulate(counts))
        buckets = [
            (floatToGoString(upper), float(c)) for upper, c in zip(self._upper, cumulative, strict=True)
        ]
        return [HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)]


class ServerMetrics(EngineObserver):
    """The Prometheus instruments, in a registry of their own (one per app).

    A *step* advances every row of the batch by one character; one model call may take many
    (:mod:`rnn.serving.batching`). ``rnn_batch_size`` and ``rnn_step_duration_seconds`` count steps: a
    call of k steps of n rows in s seconds is k observations of n rows and of s / k seconds.
    ``rnn_steps_per_call`` shows how many steps the calls took.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rnn_requests", "HTTP requests by endpoint and status code", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "rnn_request_duration_seconds",
            "Generation requests: arrival to last character",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_time = Histogram(
            "rnn_queue_duration_seconds",
            "Generation requests: arrival to a row in the batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = StepHistogram(
            "rnn_batch_size", "Rows advanced per model step (one character each)", BATCH_BUCKETS, r
        )
        self.step_time = StepHistogram(
            "rnn_step_duration_seconds",
            "Seconds per model step (a call of k steps counts k steps of its time / k)",
            (0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
            r,
        )
        self.steps_per_call = Histogram(
            "rnn_steps_per_call",
            "Steps one model call advanced the batch (1: re-formed after a step; more while nothing joins or leaves)",
            buckets=STEPS_PER_CALL_BUCKETS,
            registry=r,
        )
        self.chars = Counter("rnn_generated_characters", "Characters generated", registry=r)
        self.chars_per_second = Gauge(
            "rnn_generated_characters_per_second", "Characters generated per second, last second", registry=r
        )
        self.in_flight = Gauge("rnn_requests_in_flight", "Generation requests being served", registry=r)
        self.queued = Gauge("rnn_queue_length", "Requests waiting for a row", registry=r)
        self.active = Gauge("rnn_batch_active_rows", "Rows in the batch", registry=r)
        ProcessCollector(registry=r)
        self._window_start = time.perf_counter()
        self._window_chars = 0

    def step(self, batch_size: int, chars: int, seconds: float, steps: int = 1) -> None:
        self.batch_size.observe(batch_size, steps)
        self.step_time.observe(seconds / steps, steps)
        self.steps_per_call.observe(steps)
        self.chars.inc(chars)
        self._window_chars += chars
        now = time.perf_counter()
        if now - self._window_start >= 1.0:
            self.chars_per_second.set(self._window_chars / (now - self._window_start))
            self._window_start, self._window_chars = now, 0

    def admitted(self, ticket: Ticket) -> None:
        assert ticket.admitted_at is not None
        self.queue_time.observe(ticket.admitted_at - ticket.submitted_at)


class _AsyncTicket(Ticket):
    """A ticket whose events land in an asyncio queue (``apply`` runs on the event loop)."""

    def __init__(self, request: GenerationRequest, *, stream: bool) -> None:
        super().__init__(request, stream=stream)
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    def apply(self, event: Event) -> None:
        super().apply(event)
        self.events.put_nowait(event)


class _BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413 before the app reads any of it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {self.max_bytes:,} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict:
    return {"type": "http.disconnect"}


class _RequireApiKey:
    """ASGI middleware: ``paths`` need ``Authorization: Bearer <key>``; otherwise 401 before the app runs.

    Nothing is read, parsed or queued for a caller without the key. Keys are compared in constant time.
    """

    def __init__(self, app: Any, key: str, paths: frozenset[str]) -> None:
        self.app = app
        self.key = key.encode("ascii")
        self.paths = paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") in self.paths:
            supplied = _bearer_token(scope)
            if supplied is None or not secrets.compare_digest(supplied, self.key):
                await self._refuse(send, missing=supplied is None)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Any, *, missing: bool) -> None:
        if missing:
            detail = "this endpoint needs an API key: send the header 'Authorization: Bearer <key>'"
            challenge = 'Bearer realm="rnn"'
        else:
            detail = "the API key is not valid"
            challenge = 'Bearer realm="rnn", error="invalid_token"'
        response = JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": challenge})
        await response({"type": "http"}, _no_receive, send)


def _bearer_token(scope: dict) -> bytes | None:
    """The token of the request's first ``Authorization: Bearer <token>`` header (scheme in any case)."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" and token.strip() else None
    return None


class _CountRequests:
    """ASGI middleware: ``rnn_requests_total{endpoint, status}`` for every response, 413s included."""

    KNOWN = (GENERATE_PATH, HEALTH_PATH, METRICS_PATH)

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_see(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            path = scope.get("path", "")
            self.metrics.requests.labels(path if path in self.KNOWN else "other", str(status)).inc()


def _validation_error(field: str, message: str, value: Any) -> JSONResponse:
    """A 422 in FastAPI's own shape, so clients parse one format."""
    return JSONResponse(
        {"detail": [{"type": "value_error", "loc": ["body", field], "msg": message, "input": value}]},
        status_code=422,
    )


async def _parse_body(request: Request) -> GenerateBody | JSONResponse:
    """The JSON body (whatever the Content-Type says), validated; or the 422 that says what is wrong."""
    raw = await request.body()
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return JSONResponse(
            {
                "detail": [
                    {"type": "json_invalid", "loc": ["body"], "msg": f"invalid JSON: {exc}", "input": None}
                ]
            },
            status_code=422,
        )
    try:
        return GenerateBody.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"], "input": e.get("input")}
            for e in exc.errors(include_url=False, include_context=False)
        ]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _summary(result: Any) -> dict[str, Any]:
    return {
        "text": result.text,
        "chars": result.chars,
        "queue_ms": round(result.queue_seconds * 1000, 3),
        "generate_ms": round(result.generate_seconds * 1000, 3),
        "batch_size_mean": round(result.batch_size_mean, 3),
        "seed": result.seed,
    }


def create_app(loaded: LoadedModel, source: ModelSource, settings: ServeSettings | None = None) -> Any:
    """The ASGI app: FastAPI routes inside the request counter and the body-size limit."""
    settings = settings or ServeSettings()
    vocab = loaded.vocab
    decoder = FastDecoder(loaded.model, precision=settings.precision)
    metrics = ServerMetrics()
    engine = BatchingEngine(
        decoder,
        vocab,
        max_batch_size=settings.max_batch_size,
        max_queue=settings.max_queue,
        max_chars_limit=MAX_CHARS_LIMIT,
        steps_per_call=settings.steps_per_call,
        threads=settings.threads,
        observer=metrics,
    )
    # what a client sends when it has no text of its own (the load test)
    prompt = default_prompt(loaded.model, vocab, decoder=decoder if decoder.precision == "fp32" else None)
    metrics.queued.set_function(lambda: engine.queued)
    metrics.active.set_function(lambda: engine.active)
    started = time.monotonic()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()

        def apply_all(events: list[Event]) -> None:
            for event in events:
                event.ticket.apply(event)

        engine.publish = lambda events: loop.call_soon_threadsafe(apply_all, events)
        engine.start()
        app.state.draining = False
        yield
        engine.stop(timeout=settings.drain_seconds + 5)

    app = FastAPI(
        title="rnn-textgen inference server",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.draining = False

    @app.post(GENERATE_PATH)
    async def generate(request: Request) -> Response:
        body = await _parse_body(request)
        if isinstance(body, JSONResponse):
            return body
        unknown = sorted({ch for ch in body.prompt if ch not in vocab.index})
        if unknown:
            return _validation_error(
                "prompt",
                f"characters not in the model's vocabulary: {unknown!r}; the model knows {len(vocab)} "
                "characters (GET /healthz)",
                unknown,
            )
        prompt = body.prompt or vocab.chars[0]
        ticket = _AsyncTicket(
            GenerationRequest(
                prompt_ids=[vocab.index[ch] for ch in prompt],
                max_chars=body.max_chars,
                temperature=float(body.temperature),
                top_k=body.top_k,
                seed=body.seed,
            ),
            stream=body.stream,
        )
        try:
            engine.submit(ticket)
        except QueueFull as exc:
            return JSONResponse(
                {"detail": str(exc)},
                status_code=503,
                headers={"Retry-After": str(exc.retry_after_seconds)},
            )
        except EngineStopped as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})
        if body.stream:
            return StreamingResponse(
                _stream(ticket), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )
        metrics.in_flight.inc()
        try:
            event = await _result_or_disconnect(ticket, request)
        finally:
            metrics.in_flight.dec()
        if event is None:
            engine.cancel(ticket)
            return Response(status_code=STATUS_CLIENT_CLOSED)
        if event.error is not None:
            return JSONResponse({"detail": f"generation failed: {event.error}"}, status_code=500)
        assert event.result is not None
        metrics.latency.observe(time.perf_counter() - ticket.submitted_at)
        return JSONResponse(_summary(event.result))

    async def _result_or_disconnect(ticket: _AsyncTicket, request: Request) -> Event | None:
        """The final event, or None if the client disconnected first."""
        final = asyncio.ensure_future(_final_event(ticket))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({final, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if final in done:
            return final.result()
        final.cancel()
        return None

    async def _stream(ticket: _AsyncTicket) -> AsyncIterator[str]:
        metrics.in_flight.inc()
        try:
            while True:
                events = [await ticket.events.get()]
                while not ticket.events.empty():
                    events.append(ticket.events.get_nowait())
                text = "".join(e.text for e in events)
                if text:
                    yield f"data: {json.dumps({'text': text})}\n\n"
                last = events[-1]
                if last.error is not None:
                    yield f"event: error\ndata: {json.dumps({'detail': str(last.error)})}\n\n"
                    return
                if last.result is not None:
                    metrics.latency.observe(time.perf_counter() - ticket.submitted_at)
                    yield f"event: done\ndata: {json.dumps(_summary(last.result))}\n\n"
                    return
        finally:
            metrics.in_flight.dec()
            if not ticket.done:
                engine.cancel(ticket)

    @app.get(HEALTH_PATH)
    async def healthz() -> JSONResponse:
        draining = bool(app.state.draining)
        return JSONResponse(
            {
                "status": "draining" if draining else "ok",
                "model": source.name,
                "version": source.version,
                "source": source.uri,
                "vocab_size": len(vocab),
                "default_prompt": prompt,
                "parameters": sum(p.numel() for p in loaded.model.parameters()),
                "precision": settings.precision,
                "uptime_seconds": round(time.monotonic() - started, 3),
                "active": engine.active,
                "queued": engine.queued,
                "max_batch_size": settings.max_batch_size,
                "max_queue": settings.max_queue,
                "rss_bytes": resident_memory_bytes(),
                "peak_rss_bytes": peak_rss_bytes(),
                "cpu_count": os.cpu_count() or 1,
                "torch_threads": engine.threads or torch.get_num_threads(),
                "omp_wait_policy": os.environ.get(OMP_WAIT_POLICY_ENV, ""),
                "gomp_spincount": os.environ.get(GOMP_SPINCOUNT_ENV, ""),
                "pid": os.getpid(),
            },
            status_code=503 if draining else 200,
        )

    @app.get(METRICS_PATH)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    inner: Any = _BodyLimit(app, settings.max_body_bytes)
    if settings.api_key is not None:
        protected = {GENERATE_PATH, METRICS_PATH} if settings.protect_metrics else {GENERATE_PATH}
        inner = _RequireApiKey(inner, settings.api_key, frozenset(protected))
    wrapped = _CountRequests(inner, metrics)
    wrapped.fastapi = app  # type: ignore[attr-defined]
    return wrapped


async def _final_event(ticket: _AsyncTicket) -> Event:
    while True:
        event = await ticket.events.get()
        if event.result is not None or event.error is not None:
            return event


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (the body is already read: the next message is the disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class _DrainingServer(uvicorn.Server):
    """uvicorn, telling the app it is draining (so /healthz turns 503) when SIGTERM arrives."""

    def __init__(self, config: uvicorn.Config, fastapi_app: FastAPI) -> None:
        super().__init__(config)
        self.fastapi_app = fastapi_app

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.fastapi_app.state.draining = True
        super().handle_exit(sig, frame)


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def one_openmp_team(settings: ServeSettings) -> ServeSettings:
    """Keep the main thread's torch work single-threaded, so the engine's thread is the only one with a team.

    libgomp (torch's OpenMP) gives every thread that starts a parallel region a team of its own. With
    the main thread's team (made while loading the model) and the engine's, a 2-core machine has more
    OpenMP threads than cores, and libgomp then lets idle workers sleep at once instead of spinning
    between parallel regions: every decoder step (three regions) paid to wake them, and the engine
    decoded at half the speed of the same decoder in a lone thread (a 200-character completion in 35
    ms instead of 18 here). Call it before the model is loaded; it returns ``settings`` with the number
    of threads the engine sets on its own thread (``threads``, or torch's default when 0).
    """
    threads = settings.threads or torch.get_num_threads()
    torch.set_num_threads(1)
    return dataclasses.replace(settings, threads=threads)


def serve(
    loaded: LoadedModel,
    source: ModelSource,
    *,
    host: str,
    port: int,
    settings: ServeSettings,
    port_file: Path | None = None,
    access_log: bool = False,
) -> int:
    """Run until SIGTERM/SIGINT, drain, return 0. ``port_file`` gets the bound port once it is ready.

    Call :func:`one_openmp_team` first, before the model is loaded.
    """
    app = create_app(loaded, source, settings)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="info",
        access_log=access_log,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.timeout_keep_alive_seconds,
        timeout_graceful_shutdown=int(settings.drain_seconds) if settings.drain_seconds else None,
        lifespan="on",
    )
    server = _DrainingServer(config, app.fastapi)
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets=sockets)
        print(
            f"serving {source.name} version {source.version} on http://{host}:{bound} "
            f"(max batch {settings.max_batch_size}, queue {settings.max_queue}, "
            f"{app.fastapi.state.engine.threads or torch.get_num_threads()} threads, {settings.precision})",
            flush=True,
        )
        if settings.api_key is None and not _is_loopback(host):
            print(
                f"WARNING: no API key: anyone who reaches port {bound} can call {GENERATE_PATH} and spend this "
                f"server's CPU; set --api-key-file, --api-key or ${API_KEY_ENV} (docs/serving.md)",
                file=sys.stderr,
                flush=True,
            )
        elif settings.api_key is None:
            print(f"no API key: any process on this machine can call {GENERATE_PATH}", flush=True)
        else:
            guarded = f"{GENERATE_PATH} and {METRICS_PATH}" if settings.protect_metrics else GENERATE_PATH
            print(f"{guarded} need the API key (Authorization: Bearer); {HEALTH_PATH} is open", flush=True)
        if port_file is not None:
            port_file.write_text(f"{bound}\n")

    server.startup = startup  # type: ignore[method-assign]
    # uvicorn re-raises the signal it drained on; a no-op handler turns that into a clean exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    return 0
