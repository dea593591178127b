"""The load test: ``python -m rnn loadtest --url URL --slo-ms 1000 --chars 200 --out capacity.json``.

What it measures is *goodput at the SLO*: the highest arrival rate at which the server keeps p95
latency within the SLO with fewer than 1 % errors (vLLM's ``bench serve`` idea):

* **Open loop.** Requests arrive as a Poisson process at a fixed rate, whatever the server does;
  latency is measured from each request's *scheduled* send time, so a server that falls behind
  cannot hide its queue (no coordinated omission).
* **Sweep, then bisection.** Rates double from a starting rate (half of what one sequential client
  gets) until one fails, then the bracket is bisected (geometrically) until ``hi / lo < 1 +
  tolerance``. A rate that has clearly failed (more than 5 % of its requests already past the SLO,
  or over 1 % errors) is stopped early and its requests cancelled, which frees the server at once.
* **Bounded.** The whole search stops within ``max_seconds`` (each trial is shortened or skipped to
  fit) and ``max_requests``; the URL must be on the loopback interface (127.0.0.1, ::1, localhost).
* **Per rate:** p50 / p95 / p99, errors by kind, achieved rate, mean batch size and server CPU (both
  from the server's ``/metrics``), and how late the client itself sent (a load-generator check).

The result is a ``rnn-capacity`` v1 JSON document (:class:`CapacityResult`); ``--metrics`` also
writes it into metrics.json as the ``serving`` section (:func:`serving_section`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rnn.metrics import percentile, utc_now_iso

CAPACITY_SCHEMA = "rnn-capacity"
CAPACITY_SCHEMA_VERSION = 1
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
SLOW_FRACTION_TO_FAIL = 0.05  # more than 5 % past the SLO: the p95 cannot meet it any more


class LoadTestError(ValueError):
    """Bad load-test input (a non-loopback URL, no server answering): the message says what to fix."""


@dataclass(frozen=True)
class LoadTestConfig:
    url: str  # base URL of the server, e.g. http://127.0.0.1:8000
    slo_ms: float = 1000.0  # p95 latency the server must keep
    chars: int = 200  # characters per completion
    prompt: str | None = None  # None: the model's own (the server's /healthz "default_prompt")
    max_seconds: float = 90.0  # the whole search, wall clock
    max_requests: int = 20_000  # the whole search
    trial_seconds: float = 8.0  # arrivals per rate (shortened to fit the time budget)
    min_trial_seconds: float = 2.0
    min_requests_per_trial: int = 20
    max_error_rate: float = 0.01
    tolerance: float = 0.1  # bisection stops when hi / lo < 1 + tolerance
    start_rps: float = 0.0  # 0: half of what one sequential client gets
    max_rps: float = 5_000.0
    timeout_seconds: float = 0.0  # per request; 0: max(5 s, 3 x SLO)
    seed: int = 0
    api_key: str | None = field(default=None, repr=False)  # sent as "Authorization: Bearer" on every request

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadTestError(f"--url {self.url!r} is not an http:// URL (e.g. http://127.0.0.1:8000)")
        if parts.hostname not in LOOPBACK_HOSTS:
            raise LoadTestError(
                f"--url {self.url!r}: the load test only targets this machine "
                f"({', '.join(LOOPBACK_HOSTS)}), not {parts.hostname!r}"
            )
        for name in ("slo_ms", "max_seconds", "trial_seconds", "min_trial_seconds", "max_rps"):
            if not getattr(self, name) > 0:
                raise LoadTestError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.start_rps <= self.max_rps:
            raise LoadTestError(
                f"start_rps must be 0 (pick from a probe) or a rate up to {self.max_rps:g}, got {self.start_rps!r}"
            )
        if self.chars < 1 or self.max_requests < 1 or self.min_requests_per_trial < 1:
            raise LoadTestError(
                f"chars, max_requests and min_requests_per_trial must be >= 1, got {self.chars}, "
                f"{self.max_requests}, {self.min_requests_per_trial}"
            )
        if not 0 <= self.max_error_rate < 1 or not self.tolerance > 0:
            raise LoadTestError(
                f"max_error_rate in [0, 1) and tolerance > 0 required, got {self.max_error_rate}, {self.tolerance}"
            )

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def request_timeout_seconds(self) -> float:
        return self.timeout_seconds or max(5.0, 3 * self.slo_ms / 1000.0)


@dataclass(frozen=True)
class RateResult:
    """One trial: ``requests`` Poisson arrivals at ``rate_rps``."""

    rate_rps: float
    duration_seconds: float  # first scheduled send to last answer
    requests: int  # sent (a trial stopped early sends fewer than planned)
    planned: int
    ok: int
    errors: int
    error_rate: float
    errors_by_kind: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    achieved_rps: float  # successful answers per second of the trial
    mean_batch_size: float | None  # server's rnn_batch_size histogram over the trial
    server_cpu_cores: float | None  # server process CPU seconds per second over the trial
    send_lag_p95_ms: float  # how late the client sent, vs the schedule (load-generator health)
    passed: bool
    stopped_early: bool

    def line(self, slo_ms: float) -> str:
        def ms(value: float | None) -> str:
            return "   n/a" if value is None else f"{value:6.0f}"

        batch = "n/a" if self.mean_batch_size is None else f"{self.mean_batch_size:5.1f}"
        cpu = "n/a" if self.server_cpu_cores is None else f"{self.server_cpu_cores:4.2f}"
        verdict = "pass" if self.passed else f"FAIL{' (stopped early)' if self.stopped_early else ''}"
        return (
            f"rate {self.rate_rps:8.2f}/s | sent {self.requests:5d} | p50 {ms(self.p50_ms)} ms p95 "
            f"{ms(self.p95_ms)} ms p99 {ms(self.p99_ms)} ms | errors {self.error_rate:6.1%} | batch {batch} | "
            f"server CPU {cpu} cores | {verdict} (SLO {slo_ms:,.0f} ms)"
        )


@dataclass(frozen=True)
class CapacityResult:
    url: str
    slo_ms: float
    chars: int
    max_rps_at_slo: float  # highest passing rate; 0 when even a lone request misses the SLO
    p95_ms_at_max: float | None
    p50_ms_at_max: float | None
    mean_batch_size_at_max: float | None
    curve: list[RateResult]
    stopped_because: str
    duration_seconds: float
    requests_sent: int
    probe_ms: float | None  # median latency of a lone request (sequential warm-up)
    prompt: str  # of every request
    server: dict[str, Any]  # /healthz at the end: model, version, cpu_count, rss, peak_rss, ...
    started_at: str
    finished_at: str
    max_seconds: float
    max_requests: int
    schema: str = CAPACITY_SCHEMA
    schema_version: int = CAPACITY_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        cpus = self.server.get("cpu_count", "?")
        if self.max_rps_at_slo <= 0:
            return f"no rate meets p95 <= {self.slo_ms:,.0f} ms ({self.stopped_because})"
        return (
            f"max {self.max_rps_at_slo:,.2f} requests/s at p95 <= {self.slo_ms:,.0f} ms "
            f"(p95 {self.p95_ms_at_max:,.0f} ms, {self.chars}-char completions), measured on {cpus} CPUs; "
            f"{self.requests_sent:,} requests in {self.duration_seconds:.0f} s; stopped: {self.stopped_because}"
        )


def serving_section(result: CapacityResult) -> dict[str, Any]:
    """The ``serving`` section of metrics.json (schema in :mod:`rnn.metrics`)."""
    server = result.server
    return {
        "slo_ms": result.slo_ms,
        "completion_chars": result.chars,
        "max_rps_at_slo": result.max_rps_at_slo,
        "p95_ms_at_max": result.p95_ms_at_max,
        "p50_ms_at_max": result.p50_ms_at_max,
        "mean_batch_size_at_max": result.mean_batch_size_at_max,
        "cpu_count": server.get("cpu_count"),
        "torch_threads": server.get("torch_threads"),
        "rss_bytes": server.get("peak_rss_bytes") or server.get("rss_bytes"),
        "rss_bytes_after_load": server.get("rss_bytes"),
        "max_batch_size": server.get("max_batch_size"),
        "precision": server.get("precision"),
        "load_generator": "same host (open-loop Poisson, python -m rnn loadtest)",
        "curve": [
            {
                "rate_rps": r.rate_rps,
                "requests": r.requests,
                "p50_ms": r.p50_ms,
                "p95_ms": r.p95_ms,
                "p99_ms": r.p99_ms,
                "error_rate": r.error_rate,
                "mean_batch_size": r.mean_batch_size,
                "server_cpu_cores": r.server_cpu_cores,
                "passed": r.passed,
            }
            for r in sorted(result.curve, key=lambda r: r.rate_rps)
        ],
        "stopped_because": result.stopped_because,
        "duration_seconds": result.duration_seconds,
        "requests": result.requests_sent,
        "measured_at": result.finished_at,
    }


# -- talking to the server ------------------------------------------------------------------------------


def _metric_sums(text: str) -> dict[str, float]:
    """The few Prometheus samples the load test reads (absent ones are simply missing)."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {"process_cpu_seconds_total", "rnn_batch_size_sum", "rnn_batch_size_count"}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                found[sample.name] = found.get(sample.name, 0.0) + float(sample.value)
    return found


@dataclass
class _Trial:
    latencies_ms: list[float] = field(default_factory=list)
    slow: int = 0  # answered, but after the SLO
    send_lag_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    in_flight: dict[int, float] = field(default_factory=dict)  # request index -> scheduled time

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class LoadTester:
    """Runs trials against one server; :meth:`search` is the whole capacity search."""

    def __init__(self, config: LoadTestConfig, *, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.requests_sent = 0
        self.last_refusal = ""  # what the server said about the last request it refused
        self.prompt = config.prompt  # the model's own (from /healthz) when the config has none
        self._session: Any = None

    async def __aenter__(self) -> LoadTester:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, enable_cleanup_closed=True)
        key = self.config.api_key
        headers = {"Authorization": f"Bearer {key}"} if key is not None else None
        self._session = aiohttp.ClientSession(connector=connector, headers=headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def health(self) -> dict[str, Any]:
        import aiohttp

        try:
            async with self._session.get(
                f"{self.config.base_url}/healthz", timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                data = await response.json(content_type=None)
                if response.status != 200:
                    raise LoadTestError(f"{self.config.base_url}/healthz answered {response.status}: {data}")
                return dict(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LoadTestError(
                f"no server answers at {self.config.base_url} ({type(exc).__name__}: {exc}); start one with "
                "`python -m rnn serve --model model.pt --port N`"
            ) from exc

    async def server_counters(self) -> dict[str, float]:
        import aiohttp

        try:
            async with self._session.get(
                f"{self.config.base_url}/metrics", timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status != 200:
                    return {}
                return _metric_sums(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return {}

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until the server has nothing in flight (the previous trial's stragglers are done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = await self.health()
            except LoadTestError:
                return
            if not health.get("active") and not health.get("queued"):
                return
            await asyncio.sleep(0.1)

    async def one_request(self, index: int) -> tuple[bool, float, str]:
        """(ok, seconds, error kind) for one request sent now."""
        import aiohttp

        body = {"prompt": self.prompt, "max_chars": self.config.chars, "seed": index}
        start = time.perf_counter()
        try:
            async with self._session.post(
                f"{self.config.base_url}/v1/generate",
                json=body,
                timeout=aiohttp.ClientTimeout(total=self.config.request_timeout_seconds),
            ) as response:
                if response.status != 200:
                    self.last_refusal = _refusal(response.status, await response.text(), self.config)
                    return False, time.perf_counter() - start, f"http_{response.status}"
                data = await response.json(content_type=None)
                if data.get("chars") != self.config.chars or len(data.get("text", "")) != self.config.chars:
                    return False, time.perf_counter() - start, "incomplete"
                return True, time.perf_counter() - start, ""
        except TimeoutError:
            return False, time.perf_counter() - start, "timeout"
        except aiohttp.ClientError as exc:
            return False, time.perf_counter() - start, type(exc).__name__

    async def probe(self, count: int = 3) -> float:
        """Median seconds of ``count`` sequential requests (also warms the server up)."""
        seconds = []
        for index in range(count):
            ok, elapsed, kind = await self.one_request(10_000_000 + index)
            if not ok:
                why = self.last_refusal if kind.startswith("http_") and self.last_refusal else kind
                raise LoadTestError(f"a lone request to {self.config.base_url}/v1/generate failed: {why}")
            seconds.append(elapsed)
            self.requests_sent += 1
        return sorted(seconds)[len(seconds) // 2]

    async def run_rate(self, rate: float, duration: float, *, trial: int, deadline: float) -> RateResult:
        """Poisson arrivals at ``rate`` for ``duration`` seconds; stops early once the rate has clearly failed.

        Requests still unanswered at ``deadline`` (``time.monotonic()``) are cancelled and count as errors.
        """
        config = self.config
        rng = random.Random(config.seed * 1_000_003 + trial)
        planned = max(1, min(round(rate * duration), config.max_requests - self.requests_sent))
        offsets, t = [], 0.0
        for _ in range(planned):
            t += rng.expovariate(rate)
            offsets.append(t)
        slo = config.slo_ms / 1000.0
        allowed_slow = math.floor(SLOW_FRACTION_TO_FAIL * planned)
        allowed_errors = math.floor(config.max_error_rate * planned)
        state = _Trial()
        failed = asyncio.Event()
        before = await self.server_counters()
        loop_start = time.perf_counter()

        async def send(index: int, scheduled: float) -> None:
            state.in_flight[index] = scheduled
            state.send_lag_ms.append((time.perf_counter() - scheduled) * 1000)
            ok, _, kind = await self.one_request(index)
            del state.in_flight[index]
            latency = time.perf_counter() - scheduled
            if ok:
                state.latencies_ms.append(latency * 1000)
                state.slow += latency > slo
            else:
                state.error(kind)
            check(pending_slow=0)

        def check(pending_slow: int) -> None:
            errors = sum(state.errors.values())
            if errors > allowed_errors or state.slow + pending_slow + errors > allowed_slow:
                failed.set()

        async def watchdog() -> None:
            while not failed.is_set():
                if time.monotonic() >= deadline:
                    failed.set()
                    break
                now = time.perf_counter()
                check(pending_slow=sum(1 for s in state.in_flight.values() if now - s > slo))
                await asyncio.sleep(0.05)

        tasks: list[asyncio.Task] = []
        guard = asyncio.ensure_future(watchdog())
        stopped_early = False
        try:
            for index, offset in enumerate(offsets):
                scheduled = loop_start + offset
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(failed.wait(), timeout=delay)
                if failed.is_set():
                    stopped_early = True
                    break
                tasks.append(asyncio.ensure_future(send(index, scheduled)))
            self.requests_sent += len(tasks)
            pending = [t for t in tasks if not t.done()]
            if pending:
                waiter = asyncio.ensure_future(asyncio.wait(pending))
                stop = asyncio.ensure_future(failed.wait())
                await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if failed.is_set() and not waiter.done():
                    stopped_early = True
                    waiter.cancel()
        finally:
            guard.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - loop_start
        after = await self.server_counters()
        sent = len(tasks)
        cancelled = sent - len(state.latencies_ms) - sum(state.errors.values())
        if cancelled > 0:  # stopped early: whatever was still in flight counts against the rate
            state.errors["cancelled_when_failed"] = cancelled
        errors = sum(state.errors.values())
        latencies = state.latencies_ms
        p95 = percentile(latencies, 95) if latencies else None
        error_rate = errors / sent if sent else 1.0
        passed = (
            not stopped_early
            and bool(latencies)
            and p95 is not None
            and p95 <= config.slo_ms
            and error_rate < config.max_error_rate + 1e-12
            and (errors <= allowed_errors)
        )
        return RateResult(
            rate_rps=round(rate, 4),
            duration_seconds=round(elapsed, 3),
            requests=sent,
            planned=planned,
            ok=len(latencies),
            errors=errors,
            error_rate=error_rate,
            errors_by_kind=dict(sorted(state.errors.items())),
            p50_ms=percentile(latencies, 50) if latencies else None,
            p95_ms=p95,
            p99_ms=percentile(latencies, 99) if latencies else None,
            max_ms=max(latencies) if latencies else None,
            achieved_rps=len(latencies) / elapsed if elapsed > 0 else 0.0,
            mean_batch_size=_delta_ratio(before, after, "rnn_batch_size_sum", "rnn_batch_size_count"),
            server_cpu_cores=_delta_rate(before, after, "process_cpu_seconds_total", elapsed),
            send_lag_p95_ms=percentile(state.send_lag_ms, 95) if state.send_lag_ms else 0.0,
            passed=passed,
            stopped_early=stopped_early,
        )

    async def search(self) -> CapacityResult:
        config = self.config
        started_at, start = utc_now_iso(), time.monotonic()
        deadline = start + config.max_seconds
        health = await self.health()
        if self.prompt is None:
            self.prompt = health.get("default_prompt")
            if not isinstance(self.prompt, str):
                raise LoadTestError(
                    f"{config.base_url}/healthz does not say its model's prompt (no default_prompt): pass --prompt"
                )
        probe = await self.probe()
        curve: list[RateResult] = []
        best: RateResult | None = None
        worst: RateResult | None = None
        tail = 2 * config.slo_ms / 1000.0  # room for a passing trial's last answers

        if probe * 1000 > config.slo_ms:
            stopped = f"a lone request takes {probe * 1000:,.0f} ms, above the {config.slo_ms:,.0f} ms SLO"
        else:
            rate = config.start_rps or max(0.1, 0.5 / probe)
            stopped = "converged"
            trial = 0
            while True:
                if best is not None and worst is not None:
                    if worst.rate_rps / best.rate_rps < 1 + config.tolerance:
                        stopped = f"converged (bracket {best.rate_rps:g}-{worst.rate_rps:g} requests/s)"
                        break
                    rate = math.sqrt(best.rate_rps * worst.rate_rps)
                elif best is not None:
                    rate = best.rate_rps * 2
                    if rate > config.max_rps:
                        stopped = f"reached max_rps {config.max_rps:g} without failing"
                        break
                elif worst is not None:
                    rate = worst.rate_rps / 2
                    if rate < 0.05:
                        stopped = "no rate down to 0.05 requests/s meets the SLO"
                        break
                if config.max_requests - self.requests_sent < config.min_requests_per_trial:
                    stopped = f"request budget of {config.max_requests:,}"
                    break
                wanted = max(config.trial_seconds, config.min_requests_per_trial / rate)
                duration = min(wanted, deadline - time.monotonic() - tail)
                if duration < config.min_trial_seconds:
                    stopped = f"time budget of {config.max_seconds:g} s"
                    break
                await self.wait_idle(timeout=min(10.0, max(0.0, deadline - time.monotonic())))
                result = await self.run_rate(rate, duration, trial=trial, deadline=deadline)
                trial += 1
                curve.append(result)
                self.log(result.line(config.slo_ms))
                if result.passed:
                    best = result if best is None or result.rate_rps > best.rate_rps else best
                else:
                    worst = result if worst is None or result.rate_rps < worst.rate_rps else worst
                if best is not None and worst is not None and worst.rate_rps <= best.rate_rps:
                    worst = None  # noise: a lower rate failed after a higher one passed; keep searching up

        await self.wait_idle(timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        server = await self.health()
        return CapacityResult(
            url=config.base_url,
            slo_ms=config.slo_ms,
            chars=config.chars,
            max_rps_at_slo=best.rate_rps if best else 0.0,
            p95_ms_at_max=best.p95_ms if best else None,
            p50_ms_at_max=best.p50_ms if best else None,
            mean_batch_size_at_max=best.mean_batch_size if best else None,
            curve=curve,
            stopped_because=stopped,
            duration_seconds=round(time.monotonic() - start, 3),
            requests_sent=self.requests_sent,
            probe_ms=round(probe * 1000, 3),
            prompt=self.prompt,
            server=server,
            started_at=started_at,
            finished_at=utc_now_iso(),
            max_seconds=config.max_seconds,
            max_requests=config.max_requests,
        )


def _refusal(status: int, body: str, config: LoadTestConfig) -> str:
    """What a refused request's answer says, in one line (FastAPI's ``detail``, a string or a list of errors)."""
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        detail = body.strip()[:300]
    if isinstance(detail, list):
        detail = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in detail)
    text = f"HTTP {status}: {detail}"
    if status == 401:
        text += (
            " (pass the server's key with --api-key-file, --api-key or $RNN_API_KEY)"
            if config.api_key is None
            else " (the key given is not the server's)"
        )
    return text


def _delta_ratio(before: dict[str, float], after: dict[str, float], num: str, den: str) -> float | None:
    if num not in before or num not in after or den not in before or den not in after:
        return None
    count = after[den] - before[den]
    return (after[num] - before[num]) / count if count > 0 else None


def _delta_rate(before: dict[str, float], after: dict[str, float], name: str, seconds: float) -> float | None:
    if name not in before or name not in after or seconds <= 0:
        return None
    return (after[name] - before[name]) / seconds


async def _search(config: LoadTestConfig, log: Callable[[str], None]) -> CapacityResult:
    async with LoadTester(config, log=log) as tester:
        return await tester.search()


def capacity_search(config: LoadTestConfig, *, log: Callable[[str], None] = print) -> CapacityResult:
    """Run the whole bounded search (module doc) and return its result."""
    return asyncio.run(_search(config, log))
