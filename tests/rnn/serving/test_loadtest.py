"""The load test: open-loop arrivals, latency from the scheduled send time, a bounded capacity search."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import free_port

from rnn.serving.loadtest import (
    CapacityResult,
    LoadTestConfig,
    LoadTester,
    LoadTestError,
    RateResult,
    _metric_sums,
    capacity_search,
    serving_section,
)
from rnn.serving.settings import API_KEY_ENV


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.5:8000", "only targets this machine"),
        ("http://example.com", "only targets this machine"),
        ("ftp://127.0.0.1:21", "is not an http:// URL"),
        ("127.0.0.1:8000", "is not an http:// URL"),
    ],
)
def test_only_loopback_http_urls_are_accepted(url: str, message: str) -> None:
    with pytest.raises(LoadTestError, match=message):
        LoadTestConfig(url=url)


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(LoadTestError, match="max_seconds must be > 0"):
        LoadTestConfig(url="http://127.0.0.1:1", max_seconds=0)
    with pytest.raises(LoadTestError, match="max_requests"):
        LoadTestConfig(url="http://127.0.0.1:1", max_requests=0)
    assert LoadTestConfig(url="http://localhost:1/", slo_ms=400).request_timeout_seconds == 5.0
    assert LoadTestConfig(url="http://[::1]:1", slo_ms=4000).request_timeout_seconds == 12.0


def test_the_cli_refuses_a_remote_url_with_one_error_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rnn", "loadtest", "--url", "http://192.168.1.9:8000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: --url 'http://192.168.1.9:8000'")
        and "Traceback" not in result.stderr
    )


def test_prometheus_counters_are_read_from_the_metrics_text() -> None:
    text = (
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n"
        '# TYPE rnn_batch_size histogram\nrnn_batch_size_bucket{le="1.0"} 3.0\n'
        'rnn_batch_size_bucket{le="+Inf"} 4.0\nrnn_batch_size_count 4.0\nrnn_batch_size_sum 10.0\n'
    )
    assert _metric_sums(text) == {
        "process_cpu_seconds_total": 12.5,
        "rnn_batch_size_count": 4.0,
        "rnn_batch_size_sum": 10.0,
    }


def rate(rps: float, p95: float, passed: bool) -> RateResult:
    return RateResult(
        rate_rps=rps,
        duration_seconds=8.0,
        requests=int(8 * rps),
        planned=int(8 * rps),
        ok=int(8 * rps),
        errors=0,
        error_rate=0.0,
        errors_by_kind={},
        p50_ms=p95 / 2,
        p95_ms=p95,
        p99_ms=p95 * 1.1,
        max_ms=p95 * 1.2,
        achieved_rps=rps,
        mean_batch_size=rps / 4,
        server_cpu_cores=1.5,
        send_lag_p95_ms=1.0,
        passed=passed,
        stopped_early=False,
    )


def test_the_serving_section_carries_the_capacity_and_the_curve() -> None:
    result = CapacityResult(
        url="http://127.0.0.1:8000",
        slo_ms=1000.0,
        chars=200,
        max_rps_at_slo=40.0,
        p95_ms_at_max=800.0,
        p50_ms_at_max=400.0,
        mean_batch_size_at_max=10.0,
        curve=[rate(80.0, 3000.0, False), rate(20.0, 300.0, True), rate(40.0, 800.0, True)],
        stopped_because="converged",
        duration_seconds=60.0,
        requests_sent=1200,
        probe_ms=100.0,
        prompt="the ",
        server={
            "cpu_count": 2,
            "torch_threads": 2,
            "rss_bytes": 300,
            "peak_rss_bytes": 400,
            "max_batch_size": 64,
        },
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        max_seconds=90.0,
        max_requests=20_000,
    )
    section = serving_section(result)
    assert section["max_rps_at_slo"] == 40.0 and section["p95_ms_at_max"] == 800.0
    assert (section["cpu_count"], section["rss_bytes"], section["rss_bytes_after_load"]) == (2, 400, 300)
    assert [row["rate_rps"] for row in section["curve"]] == [20.0, 40.0, 80.0]  # sorted by rate
    assert [row["passed"] for row in section["curve"]] == [True, True, False]
    assert "40.00 requests/s at p95 <= 1,000 ms" in result.summary() and "on 2 CPUs" in result.summary()


@contextlib.contextmanager
def serial_server(service_seconds: float):
    """A server that answers one request at a time, each taking ``service_seconds``: capacity 1/s x that."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    lock = asyncio.Lock()

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"active": 0, "queued": 0, "cpu_count": 1, "default_prompt": "x"}

    @app.post("/v1/generate")
    async def generate(body: dict) -> dict:
        async with lock:
            await asyncio.sleep(service_seconds)
        return {"text": "x" * body["max_chars"], "chars": body["max_chars"]}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.integration
def test_latency_is_measured_from_the_scheduled_send_time() -> None:
    """At twice a serial server's capacity the queue grows; an open-loop client sees it in the latency.

    (A closed-loop client would wait for each answer before sending the next and report ~50 ms.)
    """
    with serial_server(0.05) as url:  # capacity 20 requests/s

        async def trial() -> RateResult:
            async with LoadTester(
                LoadTestConfig(url=url, slo_ms=10_000, chars=5), log=lambda _: None
            ) as tester:
                return await tester.run_rate(40.0, 2.0, trial=0, deadline=time.monotonic() + 30)

        result = asyncio.run(trial())
    assert result.errors == 0 and result.requests == result.planned
    # ~80 arrivals in 2 s, served 20/s: the last waits ~2 s; the median ~1 s
    assert result.p50_ms is not None and result.p95_ms is not None
    assert result.p50_ms > 400 and result.p95_ms > 1200
    assert result.achieved_rps < 25  # the server's capacity, not the offered rate


@pytest.mark.integration
def test_a_serial_server_is_found_near_its_capacity_within_the_budget() -> None:
    with serial_server(0.02) as url:  # 50 requests/s, latency 20 ms when idle
        started = time.monotonic()
        result = capacity_search(
            LoadTestConfig(
                url=url, slo_ms=300, chars=5, max_seconds=12, trial_seconds=1.5, min_trial_seconds=0.5
            ),
            log=lambda _: None,
        )
        elapsed = time.monotonic() - started
    assert elapsed < 12 + 3
    assert 10 < result.max_rps_at_slo < 50  # at the SLO, below the 50/s the server can do at all
    assert all(r.p95_ms is not None and r.p95_ms <= 300 for r in result.curve if r.passed)
    assert any(not r.passed for r in result.curve)
    assert result.p95_ms_at_max is not None and result.p95_ms_at_max <= 300


@pytest.mark.integration
def test_load_test_of_our_server_finds_a_finite_capacity_and_stops_in_time(
    tiny_model_file: Path, server_subprocess, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"schema": "rnn-metrics", "schema_version": 1, "inference": None}))
    key_file = tmp_path / "api-key"
    key_file.write_text("load-test-key-1234\n")
    protected = ("--api-key-file", str(key_file), "--protect-metrics")  # the load test reads /metrics too
    with server_subprocess(tiny_model_file, "--max-batch-size", "16", *protected) as (url, _):
        command = [sys.executable, "-m", "rnn", "loadtest", "--url", url, "--slo-ms", "250", "--chars", "100"]
        command += ["--max-seconds", "10", "--trial-seconds", "2", "--out", str(tmp_path / "capacity.json")]
        started = time.monotonic()
        run = subprocess.run(
            [*command, "--metrics", str(metrics)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, API_KEY_ENV: "load-test-key-1234"},  # pragma: allowlist secret
        )
        elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    capacity = json.loads((tmp_path / "capacity.json").read_text())
    assert (capacity["schema"], capacity["schema_version"]) == ("rnn-capacity", 1)
    assert 0 < capacity["max_rps_at_slo"] < 100_000 and capacity["p95_ms_at_max"] <= 250
    # it stops by itself: its own clock says 10 s (+ one trial); the outer bound only allows for interpreter
    # start-up on a busy machine (32 s seen at load average 10), the subprocess timeout would catch a hang
    assert capacity["duration_seconds"] <= 10 + 2 and elapsed < 10 + 60
    passing = [r for r in capacity["curve"] if r["passed"]]
    assert max(r["rate_rps"] for r in passing) == capacity["max_rps_at_slo"]
    assert all(r["mean_batch_size"] >= 1 and r["server_cpu_cores"] > 0 for r in passing)
    assert capacity["server"]["peak_rss_bytes"] > 0 and capacity["server"]["cpu_count"] >= 1
    written = json.loads(metrics.read_text())
    assert written["schema_version"] == 3 and written["cold_start"] is None
    assert written["serving"]["max_rps_at_slo"] == capacity["max_rps_at_slo"]
    assert written["serving"]["rss_bytes"] == capacity["server"]["peak_rss_bytes"]
    assert "requests/s at p95 <= 250 ms" in run.stdout


@pytest.mark.integration
def test_an_slo_no_single_request_can_meet_gives_zero_capacity(tiny_model_file: Path, live_server) -> None:
    with live_server(tiny_model_file) as url:
        result = capacity_search(LoadTestConfig(url=url, slo_ms=0.01, max_seconds=10), log=lambda _: None)
    assert result.max_rps_at_slo == 0.0 and result.curve == []
    assert "a lone request takes" in result.stopped_because and "no rate meets" in result.summary()


@pytest.mark.integration
def test_a_refused_request_stops_the_load_test_with_what_the_server_said(
    tiny_model_file: Path, live_server
) -> None:
    def search(**config: object) -> None:
        capacity_search(LoadTestConfig(url=url, max_seconds=5, **config), log=lambda _: None)  # type: ignore[arg-type]

    with live_server(tiny_model_file, api_key="right-key") as url:  # pragma: allowlist secret
        with pytest.raises(LoadTestError, match=r"HTTP 401: .*needs an API key.*pass the server's key with"):
            search()
        with pytest.raises(LoadTestError, match=r"HTTP 401: the API key is not valid \(the key given is not"):
            search(api_key="wrong-key")  # pragma: allowlist secret
        with pytest.raises(
            LoadTestError, match=r"HTTP 422: characters not in the model's vocabulary: \['Ω'\]"
        ):
            search(api_key="right-key", prompt="Ωmega")  # pragma: allowlist secret


def test_the_key_is_not_in_the_configs_repr() -> None:
    assert "sekrit" not in repr(
        LoadTestConfig(url="http://127.0.0.1:8000", api_key="sekrit")  # pragma: allowlist secret
    )  # pragma: allowlist secret


def test_no_server_is_a_clear_error() -> None:
    with pytest.raises(LoadTestError, match="no server answers at"):
        capacity_search(
            LoadTestConfig(url=f"http://127.0.0.1:{free_port()}", max_seconds=5), log=lambda _: None
        )


def test_a_server_that_does_not_say_its_prompt_needs_one_given() -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"active": 0, "queued": 0}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with pytest.raises(
            LoadTestError, match=r"/healthz does not say its model's prompt .*: pass --prompt"
        ):
            capacity_search(LoadTestConfig(url=f"http://127.0.0.1:{port}", max_seconds=5), log=lambda _: None)
    finally:
        server.should_exit = True
        thread.join(10)
