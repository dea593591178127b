"""``python -m devtools.bench``: the speed and memory targets, measured (what ``make bench`` runs).

* every DAG file parses in well under a second (fresh interpreter, airflow.sdk already imported,
  so the number is what the DAG file itself costs the DAG processor);
* the cost grid (>= 20 instance types x every option x 3 scenarios) plus a 10,000-sample Monte
  Carlo in under 2 s (``python -m costing bench``);
* training speed and peak memory of the default model, and its inference latency;
* the production topology's throughput (``make prod-up``'s processes, two Celery workers): 20
  ``adhoc_cost_analysis`` runs triggered at once through the REST API, in runs per minute (no
  target: it is what this machine does; skipped without Postgres and Redis).

Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools import production
from devtools.airflow_api import AirflowApi, run_concurrently
from pipeline.settings import REPO_ROOT

DAG_PARSE_TARGET_SECONDS = 1.0


def dag_parse_seconds(path: Path, repeats: int = 3) -> float:
    code = (
        "import time, runpy, airflow.sdk\n"
        "start = time.perf_counter()\n"
        f"runpy.run_path({str(path)!r})\n"
        "print(time.perf_counter() - start)\n"
    )
    timings = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
        )
        timings.append(float(out.stdout.strip().splitlines()[-1]))
    return min(timings)


def training_benchmark(steps: int) -> dict:
    """A short run of the default model on the default corpus: tokens/s, ms/step, peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rnn",
                "train",
                "--out-dir",
                tmp,
                "--epochs",
                "1",
                "--max-steps-per-epoch",
                str(steps),
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rnn",
                "bench",
                "--model",
                f"{tmp}/model.pt",
                "--metrics",
                f"{tmp}/metrics.json",
            ],
            check=True,
            capture_output=True,
        )
        return json.loads(Path(tmp, "metrics.json").read_text())


PRODUCTION_RUNS = 20


def production_throughput(runs: int = PRODUCTION_RUNS) -> str:
    """Start the topology in a temporary folder, run ``runs`` ad hoc analyses at once, stop it."""
    missing = production.missing_system_packages()
    if missing:
        return f"skipped: {' and '.join(missing)} not installed (make prod-deps)"
    state_dir = Path(tempfile.mkdtemp(prefix="rnn-bench-production-"))
    state_dir.chmod(0o755)  # the postgres user reaches its data folder inside
    topology = production.Topology.prepare(state_dir, scheduled_runs=False, log=lambda _: None)
    try:
        topology.up()
        api = AirflowApi(topology.airflow_url, "admin", topology.secrets["AIRFLOW_ADMIN_PASSWORD"])
        api.wait_for_dags(["adhoc_cost_analysis"])
        api.unpause("adhoc_cost_analysis")
        result = run_concurrently(api, "adhoc_cost_analysis", production.ADHOC_LOAD_CONF, runs)
    finally:
        topology.down()
        shutil.rmtree(state_dir, ignore_errors=True)
    return (
        f"{result.runs_per_minute:.1f} runs/minute: {runs} concurrent adhoc_cost_analysis runs in "
        f"{result.seconds:.0f} s ({result.count('success')} succeeded; {production.WORKER_COUNT} Celery workers)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train-steps", type=int, default=30, help="steps of the training benchmark")
    parser.add_argument("--skip-training", action="store_true", help="only the DAG and cost-model targets")
    parser.add_argument(
        "--skip-production", action="store_true", help="skip the production topology's throughput (~5 min)"
    )
    args = parser.parse_args(argv)
    failures: list[str] = []

    print("DAG parse time (target < 1 s each)")
    for path in sorted((REPO_ROOT / "dags").glob("*.py")):
        seconds = dag_parse_seconds(path)
        print(f"  {path.name:32} {seconds * 1000:8.1f} ms")
        if seconds >= DAG_PARSE_TARGET_SECONDS:
            failures.append(f"{path.name} parses in {seconds:.2f} s")

    print("\nCost model (python -m costing bench)", flush=True)
    if subprocess.run([sys.executable, "-m", "costing", "bench"], cwd=REPO_ROOT).returncode != 0:
        failures.append("cost model benchmark (see above)")

    if not args.skip_training:
        metrics = training_benchmark(args.train_steps)
        training, inference, host = metrics["training"], metrics["inference"], metrics["host"]
        print(
            f"\nTraining, default model ({metrics['model']['parameters']:,} parameters) on {host['cpu_count']} x "
            f"{host['cpu_model']}"
        )
        print(
            f"  {training['tokens_per_s']:,.0f} tokens/s | "
            f"{1000 * training['train_seconds'] / training['global_steps']:.1f} ms/step | "
            f"peak RSS {training['peak_rss_bytes'] / 2**20:,.0f} MiB"
        )
        latency = inference["latency_ms"]
        print(
            f"  inference: p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms "
            f"per 200-char completion; "
            + ", ".join(
                f"batch {t['batch_size']}: {t['tokens_per_s']:,.0f} tok/s" for t in inference["throughput"]
            )
        )

    if not args.skip_production:
        print("\nProduction topology (make prod-up's processes), through the REST API", flush=True)
        print("  " + production_throughput())

    if failures:
        print("\nMISSED: " + "; ".join(failures))
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
