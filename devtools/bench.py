"""``python -m devtools.bench``: the speed and memory targets, measured (what ``make bench`` runs).

* every DAG file parses in well under a second (fresh interpreter, airflow.sdk already imported,
  so the number is what the DAG file itself costs the DAG processor);
* the cost grid (>= 20 instance types x every option x 3 scenarios) plus a 10,000-sample Monte
  Carlo in under 2 s (``python -m costing bench``);
* training speed and peak memory of the default model, and its inference latency;
* the fast decoder against the per-token ``nn.LSTM`` loop it replaced, in the same process
  (``python -m rnn bench --compare``): a 200-character completion at batch 1 at least 6x faster
  (medians of 20 runs each, interleaved), batch-64 throughput at least the loop's, and the fraction
  of this host's measured matmul peak; reduced precisions with their validation-loss cost;
* serving: the naive server (:mod:`devtools.naive_server`: one sync handler per request, the
  ``nn.LSTM`` loop at batch 1) and ours (``python -m rnn serve``) through the same load test, one
  after the other on this machine: requests/s at p95 <= 1 s for 200-character completions, target
  at least 30x.

Ratios measured in one run on one machine; noisy when other work shares the CPUs. Exits non-zero
when a target is missed, and says which.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

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


SPEEDUP_TARGET = 6.0  # fast decoder vs the nn.LSTM loop, 200 chars at batch 1
THROUGHPUT_TARGET = 1.0  # batch 64, fast / loop
SERVING_TARGET = 30.0  # our server's requests/s at the SLO / the naive server's
SERVER_START_SECONDS = 180


def training_benchmark(steps: int, tmp: str) -> dict:
    """A short run of the default model on the default corpus (model.pt in ``tmp``): its metrics.json."""
    train = ["train", "--out-dir", tmp, "--epochs", "1", "--max-steps-per-epoch", str(steps), "--no-progress"]
    subprocess.run([sys.executable, "-m", "rnn", *train], check=True, capture_output=True)
    bench = ["bench", "--model", f"{tmp}/model.pt", "--metrics", f"{tmp}/metrics.json"]
    subprocess.run([sys.executable, "-m", "rnn", *bench], check=True, capture_output=True)
    return json.loads(Path(tmp, "metrics.json").read_text())


def rnn_cli(*args: str) -> str:
    """``python -m rnn ...`` in a fresh process (torch's default threads); its stdout."""
    out = subprocess.run([sys.executable, "-m", "rnn", *args], check=True, capture_output=True, text=True)
    return out.stdout


@contextlib.contextmanager
def server(command: list[str], workdir: Path) -> Iterator[str]:
    """A server command that takes ``--port 0 --port-file F``, running for the block; yields its URL."""
    port_file = workdir / f"port-{time.monotonic_ns()}"
    log = (workdir / f"{port_file.name}.log").open("w")
    proc = subprocess.Popen([*command, "--port", "0", "--port-file", str(port_file)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not start; see {log.name}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def goodput(url: str, seconds: float, out: Path) -> dict:
    """``python -m rnn loadtest`` against ``url`` (p95 <= 1 s, 200 chars); the rnn-capacity document."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn",
            "loadtest",
            "--url",
            url,
            "--max-seconds",
            f"{seconds:g}",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.read_text())


def model_benchmarks(args: argparse.Namespace, tmp: Path) -> list[str]:
    failures: list[str] = []
    metrics = training_benchmark(args.train_steps, str(tmp))
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
        f"  inference ({inference['generator']}): p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms per 200-char completion; "
        + ", ".join(
            f"batch {t['batch_size']}: {t['tokens_per_s']:,.0f} tok/s" for t in inference["throughput"]
        )
    )
    model = str(tmp / "model.pt")

    print("\nFast decoder vs the per-token nn.LSTM loop (python -m rnn bench --compare)", flush=True)
    threads = ["--threads", str(args.threads)] if args.threads else []
    c = json.loads(
        rnn_cli("bench", "--model", model, "--compare", "--json", *threads).strip().splitlines()[-1]
    )
    print(
        f"  200-char completion at batch 1, median of {c['runs']} runs each ({c['threads']} threads): "
        f"fast {c['fast_p50_ms']:.1f} ms | loop {c['reference_p50_ms']:.1f} ms | "
        f"{c['speedup_batch1']:.1f}x (target >= {SPEEDUP_TARGET:g}x)"
    )
    print(
        f"  batch {c['batch_size']}: fast {c['fast_tokens_per_s']:,.0f} chars/s | loop "
        f"{c['reference_tokens_per_s']:,.0f} chars/s | {c['throughput_ratio']:.2f}x (target >= {THROUGHPUT_TARGET:g}x)"
    )
    print(
        f"  matmul peak of this host {c['matmul_peak_gflops']:,.0f} GFLOP/s; the fast decoder at batch "
        f"{c['batch_size']} does {c['fast_gflops']:,.1f} GFLOP/s = {c['fraction_of_peak']:.0%} of peak"
    )
    if c["speedup_batch1"] < SPEEDUP_TARGET:
        failures.append(
            f"fast decoder {c['speedup_batch1']:.1f}x the loop at batch 1 (target {SPEEDUP_TARGET:g}x)"
        )
    if c["throughput_ratio"] < THROUGHPUT_TARGET:
        failures.append(
            f"batch-64 throughput {c['throughput_ratio']:.2f}x the loop's (target {THROUGHPUT_TARGET:g}x)"
        )

    print("\nReduced precision (opt-in: serve --precision), speed next to its quality cost", flush=True)
    for line in rnn_cli(
        "bench", "--model", model, "--precision", "bf16", "int8", "--batch-sizes", "64", *threads
    ).splitlines():
        if line.strip().startswith(("fp32:", "bf16:", "int8:")):
            print("  " + line.strip())

    if args.skip_serving:
        return failures
    print(
        f"\nServing: the naive server vs ours, the same load test ({args.serve_seconds:g} s each, p95 <= 1,000 ms, "
        "200-char completions, open-loop Poisson)",
        flush=True,
    )
    results = {}
    for name, command in (
        ("naive", [sys.executable, "-m", "devtools.naive_server", "--model", model, *threads]),
        ("ours", [sys.executable, "-m", "rnn", "serve", "--model", model, *threads]),
    ):
        with server(command, tmp) as url:
            results[name] = goodput(url, args.serve_seconds, tmp / f"capacity-{name}.json")
        r = results[name]
        p95 = "n/a" if r["p95_ms_at_max"] is None else f"{r['p95_ms_at_max']:,.0f} ms"
        label = {
            "naive": "naive (one sync handler per request, nn.LSTM loop at batch 1)",
            "ours": "ours (continuous batching on the fast decoder)",
        }[name]
        print(
            f"  {label:64} {r['max_rps_at_slo']:8.2f} requests/s (p95 {p95}; {r['requests_sent']:,} requests, "
            f"stopped: {r['stopped_because']})",
            flush=True,
        )
    naive, ours = results["naive"]["max_rps_at_slo"], results["ours"]["max_rps_at_slo"]
    rss = f"server peak RSS: naive {results['naive']['server']['peak_rss_bytes'] / 2**20:,.0f} MiB, ours " + (
        f"{results['ours']['server']['peak_rss_bytes'] / 2**20:,.0f} MiB"
    )
    if naive <= 0:
        print(f"  ratio n/a: the naive server met the SLO at no rate it was tried at; {rss}")
        failures.append(
            "serving ratio not measured: the naive server met the SLO at no rate tried "
            "(a busy machine? try --serve-seconds 180 or --threads 1)"
        )
        return failures
    ratio = ours / naive
    print(f"  ratio {ratio:.1f}x (target >= {SERVING_TARGET:g}x); {rss}")
    if ratio < SERVING_TARGET:
        failures.append(
            f"our server {ratio:.1f}x the naive one's requests/s at the SLO (target {SERVING_TARGET:g}x)"
        )
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train-steps", type=int, default=30, help="steps of the training benchmark")
    parser.add_argument("--skip-training", action="store_true", help="only the DAG and cost-model targets")
    parser.add_argument(
        "--serve-seconds", type=float, default=90, help="load-test budget per server (default %(default)s)"
    )
    parser.add_argument("--skip-serving", action="store_true", help="no naive-vs-ours server comparison")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads of every generator and server measured; 0 = torch's default, all cores "
        "(on a machine shared with other work, 1 avoids OpenMP oversubscription)",
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
        with tempfile.TemporaryDirectory() as tmp:
            failures += model_benchmarks(args, Path(tmp))

    if failures:
        print("\nMISSED: " + "; ".join(failures))
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
