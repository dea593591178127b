"""``python -m devtools.reference_metrics`` (``make reference-metrics``): re-measure ``include/reference_metrics.json``.

The cost model answers from the shipped reference when no model is registered (``python -m costing
scenarios`` on a fresh clone), so the reference must be what today's code produces. This measures the
default model the way the demo's ``rnn_retraining`` run does, in subprocesses on this machine:

1. ``python -m rnn train`` with the DAG's defaults (:class:`rnn.config.TrainConfig`, the default corpus);
2. ``python -m rnn bench`` with the fast decoder: batch-1 latency and throughput at batch 1, 16 and 64;
3. ``python -m rnn serve`` on a free 127.0.0.1 port (OpenMP threads waiting passively and an API key of
   its own, as the pipeline's load test starts it) and ``python -m rnn loadtest --metrics`` against it
   for at most ``--load-test-seconds`` (the DAG's default; a shorter budget stops the sweep below
   the knee and records a capacity that is only a lower bound), which writes the ``serving`` section;
4. ``python -m rnn coldstart`` (the server from process start to ready and its first request, then
   fresh handler processes, what a Lambda function or a SageMaker serverless container runs), which
   writes the ``cold_start`` section;
5. the document gets a ``reference`` section saying what produced it (decoder name and version, the
   metrics schema and version, the git commit, the date, this machine's CPUs) and replaces the file.

It takes a few minutes of CPU (training ~90 s on 2 cores); run it alone on the machine, or the
measurements describe a busy machine (the ``reference`` section records the load average before and
after). ``tests/test_reference_metrics.py`` fails when the shipped file
was produced by another decoder version or metrics schema than the code's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.settings import REPO_ROOT
from pipeline.tasks.retraining import DEFAULT_LOAD_TEST_SECONDS
from rnn.metrics import SCHEMA, SCHEMA_VERSION
from rnn.serving.coldstart import serve_command, started_server
from rnn.serving.decoder import DECODER_NAME, DECODER_VERSION
from rnn.serving.settings import API_KEY_ENV

REFERENCE_PATH = REPO_ROOT / "include" / "reference_metrics.json"
OMP_WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}  # as the pipeline's load test starts the server


def _rnn(*args: str, env: dict[str, str] | None = None) -> None:
    """``python -m rnn ...``; stopped with this process (Ctrl-C, or SIGTERM from a timeout), never left running."""
    command = [sys.executable, "-m", "rnn", *args]
    print("$ " + " ".join(command), flush=True)
    proc = subprocess.Popen(command, env=env)
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if code != 0:
        raise subprocess.CalledProcessError(code, command)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def git_commit() -> str:
    """HEAD's sha, with "-dirty" when tracked files differ from it; "unknown" outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def decoder_step() -> str:
    """Which step the fast decoder took: the fused C++ step (built by ``make kernel``) or the torch ops."""
    from rnn.serving import fused_step

    build = fused_step.load()
    # the reason names the cached build's path when it loaded: keep what it is, not where this machine keeps it
    return build.reason.split(" (")[0] if build.module is not None else f"torch ops: {build.reason}"


def provenance(
    metrics: dict[str, Any], *, load_test_seconds: float, train_args: list[str], load_before: float
) -> dict[str, Any]:
    host = metrics.get("host") or {}
    return {
        "made_by": "make reference-metrics (python -m devtools.reference_metrics)",
        "decoder": DECODER_NAME,
        "decoder_version": DECODER_VERSION,
        "decoder_step": decoder_step(),
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "git_commit": git_commit(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cpu_count": os.cpu_count(),
        "cpu_model": host.get("cpu_model") or platform.processor(),
        "training": "python -m rnn train " + " ".join(train_args) if train_args else "python -m rnn train",
        "load_test_seconds": load_test_seconds,
        # other work on the machine slows every number above: the 1-minute load average before and after
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }


def measure(workdir: Path, *, load_test_seconds: float, train_args: list[str]) -> dict[str, Any]:
    metrics_path, model_path = workdir / "metrics.json", workdir / "model.pt"
    load_before = os.getloadavg()[0]
    _rnn("train", "--out-dir", str(workdir), "--no-progress", *train_args)
    _rnn("bench", "--model", str(model_path), "--metrics", str(metrics_path))
    # a key of the load test's own reaches both processes through the environment, never a command line
    env = {**os.environ, **OMP_WAIT_POLICY, API_KEY_ENV: secrets.token_urlsafe(32)}
    with started_server(serve_command(str(model_path)), workdir, env=env) as (url, ready_seconds):
        print(f"server ready in {ready_seconds:.1f} s at {url}", flush=True)
        _rnn(
            "loadtest",
            "--url",
            url,
            "--max-seconds",
            f"{load_test_seconds:g}",
            "--out",
            str(workdir / "capacity.json"),
            "--metrics",
            str(metrics_path),
            env=env,
        )
    # after the server stopped, as the pipeline measures it: what a cold start adds on this machine
    _rnn("coldstart", "--model", str(model_path), "--metrics", str(metrics_path), env=env)
    metrics = json.loads(metrics_path.read_text())
    metrics["reference"] = provenance(
        metrics, load_test_seconds=load_test_seconds, train_args=train_args, load_before=load_before
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.reference_metrics", description=__doc__)
    parser.add_argument(
        "--load-test-seconds",
        type=float,
        default=DEFAULT_LOAD_TEST_SECONDS,
        help="the load test's budget (default %(default)g)",
    )
    parser.add_argument(
        "--out", type=Path, default=REFERENCE_PATH, help="where to write (default %(default)s)"
    )
    parser.add_argument(
        "train_args",
        nargs="*",
        metavar="-- TRAIN-ARG",
        help="extra `python -m rnn train` flags after --, e.g. -- --epochs 1 (default: the DAG's defaults)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # the finally blocks stop the training and the server
    with tempfile.TemporaryDirectory(prefix="reference-metrics-") as tmp:
        metrics = measure(Path(tmp), load_test_seconds=args.load_test_seconds, train_args=args.train_args)
    args.out.write_text(json.dumps(metrics, indent=2) + "\n")
    inference, serving = metrics["inference"], metrics["serving"]
    print(
        f"wrote {args.out}: {DECODER_NAME} v{DECODER_VERSION}, p50 {inference['latency_ms']['p50']:.1f} ms per "
        f"{inference['completion_chars']}-character completion, {serving['max_rps_at_slo']:.1f} requests/s at "
        f"p95 <= {serving['slo_ms']:g} ms on {serving['cpu_count']} CPUs (commit {metrics['reference']['git_commit']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
