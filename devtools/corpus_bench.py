"""``python -m devtools.corpus_bench``: training on a large corpus, in bounded memory and time.

Corpora of 10 MB and 100 MB (and 1 GB with ``--corpus-1gb`` or ``BENCH_CORPUS_1GB=1``) are generated
at run time from the stdlib's help topics (numbered lines, so no line repeats and the corpus passes
validation). On each, ``python -m rnn train --epochs 1 --max-steps-per-epoch 2`` (corpus validation,
two training steps, the epoch's validation loss) runs in a fresh process tree, and the bench reports:

* peak RSS: the largest process of the tree (the training process or its validation child), from
  ``wait4``'s ``ru_maxrss``; and the training process's own (``metrics.json``, VmHWM);
* time to the first training step (done: the first ``step 1`` log line), which should grow linearly;
* the 2-step run's wall time, and its CPU time (all processes: what it costs however busy the machine);
* validation throughput in MB/s (wall, and per CPU second), timed inside a process that only validates.

Beside each figure, the same measurement of the code before bounded corpora (:data:`BASELINE_REV`,
exported with ``git archive`` into a temporary folder and run from there), where it fits in memory
(its peak was about 18.5x the corpus size; it is run when that is under half the memory available,
so not at 1 GB on a 24 GB machine), and the ratio. A second run of the current code with the
corpus's token file already there (as a retried or resumed task, ``--skip-validation
--expect-sha256``) shows what a retry costs. Targets at the largest corpus run: peak RSS <= 2 GiB,
validation >= 50 MB/s, the 2-step run < 5 min, and time to first step growing no faster than the
corpus (within 1.5x) from one size to the next.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import REPO_ROOT
from rnn.corpus import default_corpus_text

BASELINE_REV = "09bbf95"  # main before bounded corpora: per-character encoding, int64 ids, whole-split eval
SIZES_MB = (10, 100)
LARGE_MB = 1000
LARGE_ENV = "BENCH_CORPUS_1GB"
BASELINE_BYTES_PER_CORPUS_BYTE = 18.5  # main's peak RSS / corpus size (3.7 GB at 200 MB)
PEAK_RSS_TARGET_BYTES = 2 * 2**30
VALIDATION_TARGET_MB_S = 50.0
WALL_TARGET_SECONDS = 300.0
LINEARITY_TARGET = 1.5  # time to first step may grow at most 1.5x faster than the corpus
TRAIN_ARGS = ("--epochs", "1", "--max-steps-per-epoch", "2", "--log-every-steps", "1", "--no-progress")
_FIRST_STEP = re.compile(r"^step\s+1 \|")

_VALIDATE_CHILD = """
import json, sys, time
import great_expectations, pandas  # imported before the clock starts, by both versions
try:
    from rnn.corpus import open_corpus
    from rnn.corpus_validation import validate_corpus_source
    validate = lambda path: validate_corpus_source(open_corpus(path))
except ImportError:  # the baseline: the whole corpus in memory
    from rnn.corpus import read_corpus_bytes
    from rnn.corpus_validation import validate_corpus
    validate = lambda path: validate_corpus(read_corpus_bytes(path))
start, cpu_start = time.perf_counter(), time.process_time()
validation = validate(sys.argv[1])
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "success": validation.success, "peak_rss_bytes": peak}))
"""


def write_corpus(path: Path, size_bytes: int) -> int:
    """A UTF-8 corpus of about ``size_bytes``: the stdlib's help topics, each line numbered (never repeated)."""
    lines = [line for line in default_corpus_text().splitlines() if line.strip()]
    written, block = 0, 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        while written < size_bytes:
            text = "".join(f"{block:06d}.{i:05d} {line}\n" for i, line in enumerate(lines))
            out.write(text)
            written += len(text.encode("utf-8"))
            block += 1
    return path.stat().st_size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Run:
    wall_seconds: float
    first_step_seconds: float | None
    tree_peak_rss_bytes: int  # the largest process of the tree (wait4)
    cpu_seconds: float  # user + system time of the whole tree: what the run cost, however busy the machine
    train_peak_rss_bytes: int | None  # the training process itself (metrics.json)
    exit_code: int
    tail: str


def run_training(
    code: Path, corpus: Path, out_dir: Path, *extra: str, env: dict[str, str], threads: int = 0
) -> Run:
    """``python -m rnn train`` from ``code`` in a fresh process tree: timings and peak RSS."""
    command = [sys.executable, "-m", "rnn", "train", "--out-dir", str(out_dir), "--corpus-uri", str(corpus)]
    environment = {**os.environ, **env, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*command, *TRAIN_ARGS, *(["--num-threads", str(threads)] if threads else []), *extra],
        cwd=code,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first_step, lines = None, []
    assert proc.stdout is not None
    for line in proc.stdout:
        if first_step is None and _FIRST_STEP.match(line):
            first_step = time.perf_counter() - start
        lines = [*lines[-30:], line.rstrip()]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    metrics_file = out_dir / "metrics.json"
    train_peak = None
    if metrics_file.exists():
        train_peak = json.loads(metrics_file.read_text())["training"]["peak_rss_bytes"]
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        wall, first_step, usage.ru_maxrss * 1024, cpu, train_peak, proc.returncode, "\n".join(lines[-12:])
    )


def validation_throughput(code: Path, corpus: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _VALIDATE_CHILD, str(corpus)],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    size_mb = corpus.stat().st_size / 1e6
    return result | {"mb_s": size_mb / result["seconds"], "mb_per_cpu_s": size_mb / result["cpu_seconds"]}


def export_baseline(rev: str, into: Path) -> Path | None:
    """The code at ``rev`` (``git archive``) in ``into``, or None when this is not a git checkout."""
    into.mkdir(parents=True)
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", rev], capture_output=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  no baseline: cannot export {rev} ({exc})")
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def available_memory_bytes() -> int:
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def _ratio(new: float | None, old: float | None) -> str:
    return "" if not new or not old else f"{old / new:,.1f}x"


def corpus_benchmarks(*, large: bool, baseline_rev: str = BASELINE_REV, threads: int = 0) -> list[str]:
    """Run the corpus-scale bench, print its table; the targets missed (empty when all are met)."""
    failures: list[str] = []
    sizes = [*SIZES_MB, *([LARGE_MB] if large else [])]
    print(
        f"\nTraining on large corpora: `python -m rnn train {' '.join(TRAIN_ARGS[:4])}` (validation + 2 steps "
        f"+ the epoch's validation loss), this code vs {baseline_rev} (before bounded corpora)"
        + ("" if large else f"; the 1 GB corpus runs with --corpus-1gb or {LARGE_ENV}=1"),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="corpus-bench-") as tmp_name:
        tmp = Path(tmp_name)
        baseline = export_baseline(baseline_rev, tmp / "baseline")
        results: dict[int, dict] = {}
        for size_mb in sizes:
            corpus = tmp / f"corpus-{size_mb}mb.txt"
            size = write_corpus(corpus, size_mb * 1_000_000)
            sha256 = file_sha256(corpus)
            cache = tmp / f"tokens-{size_mb}"
            env = {"RNN_TOKEN_CACHE_DIR": str(cache)}
            new = run_training(REPO_ROOT, corpus, tmp / f"new-{size_mb}", env=env, threads=threads)
            if new.exit_code != 0:
                failures.append(f"training on {size_mb} MB failed")
                print(f"  {size_mb} MB: this code failed (exit {new.exit_code}):\n{new.tail}")
                continue
            retry = run_training(
                REPO_ROOT,
                corpus,
                tmp / f"retry-{size_mb}",
                "--skip-validation",
                "--expect-sha256",
                sha256,
                "--stop-after-step",  # stops after its first step (exit 75): only the way there is measured
                "1",
                env=env,
                threads=threads,
            )
            new_validation = validation_throughput(REPO_ROOT, corpus)
            old = old_validation = None
            # half of what is free: the machine may be shared, and the baseline's peak only grows with the corpus
            fits = size * BASELINE_BYTES_PER_CORPUS_BYTE < 0.5 * available_memory_bytes()
            if baseline is not None and fits:
                old = run_training(baseline, corpus, tmp / f"old-{size_mb}", env=env, threads=threads)
                old_validation = validation_throughput(baseline, corpus) if old.exit_code == 0 else None
                if old.exit_code != 0:
                    print(f"  {size_mb} MB: the baseline failed (exit {old.exit_code}):\n{old.tail}")
                    old = None
            results[size_mb] = {"new": new, "retry": retry, "old": old}
            _print_size(size_mb, size, new, retry, old, new_validation, old_validation, fits)
            results[size_mb]["validation"] = new_validation
            for path in (tmp / f"new-{size_mb}", tmp / f"retry-{size_mb}", tmp / f"old-{size_mb}", cache):
                subprocess.run(["rm", "-rf", str(path)], check=True)
            corpus.unlink()

        failures += _check_targets(results)
    return failures


def _print_size(
    size_mb: int,
    size: int,
    new: Run,
    retry: Run,
    old: Run | None,
    new_validation: dict,
    old_validation: dict | None,
    fits: bool,
) -> None:
    print(
        f"  {size_mb:,} MB corpus ({size:,} bytes){'' if fits else ': baseline not run (would not fit in memory)'}"
    )
    print(f"    {'':34}{'this code':>14}{'baseline':>14}{'ratio':>9}")
    rows = [
        ("peak RSS, largest process", new.tree_peak_rss_bytes, old and old.tree_peak_rss_bytes, _mib),
        ("peak RSS, training process", new.train_peak_rss_bytes, old and old.train_peak_rss_bytes, _mib),
        ("time to first training step", new.first_step_seconds, old and old.first_step_seconds, _s),
        ("2-step run, wall", new.wall_seconds, old and old.wall_seconds, _s),
        ("2-step run, CPU time (all processes)", new.cpu_seconds, old and old.cpu_seconds, _s),
    ]
    for name, mine, theirs, show in rows:
        print(f"    {name:34}{show(mine):>14}{show(theirs):>14}{_ratio(mine, theirs):>9}")
    mine_mb_s = new_validation["mb_s"]
    theirs_mb_s = old_validation["mb_s"] if old_validation else None
    theirs_text = "-" if theirs_mb_s is None else f"{theirs_mb_s:,.1f} MB/s"
    ratio = f"{mine_mb_s / theirs_mb_s:,.1f}x" if theirs_mb_s else ""
    print(f"    {'validation throughput':34}{mine_mb_s:>9,.1f} MB/s{theirs_text:>14}{ratio:>9}")
    mine_cpu = new_validation["mb_per_cpu_s"]
    theirs_cpu = old_validation["mb_per_cpu_s"] if old_validation else None
    print(
        f"    {'  per CPU second':34}{mine_cpu:>9,.1f} MB/s"
        f"{'-' if theirs_cpu is None else f'{theirs_cpu:,.1f} MB/s':>14}"
        f"{f'{mine_cpu / theirs_cpu:,.1f}x' if theirs_cpu else '':>9}"
    )
    print(
        f"    {'validation alone, peak RSS':34}{_mib(new_validation['peak_rss_bytes']):>14}"
        f"{_mib(old_validation['peak_rss_bytes'] if old_validation else None):>14}"
        f"{_ratio(new_validation['peak_rss_bytes'], old_validation and old_validation['peak_rss_bytes']):>9}"
    )
    print(
        f"    retry with the token file there (--skip-validation --expect-sha256): first step "
        f"{_s(retry.first_step_seconds)}, peak {_mib(retry.tree_peak_rss_bytes)}",
        flush=True,
    )


def _check_targets(results: dict[int, dict]) -> list[str]:
    if not results:
        return []
    failures = []
    largest = max(results)
    new: Run = results[largest]["new"]
    if new.tree_peak_rss_bytes > PEAK_RSS_TARGET_BYTES:
        failures.append(f"peak RSS {_mib(new.tree_peak_rss_bytes)} at {largest:,} MB (target <= 2 GiB)")
    if results[largest]["validation"]["mb_s"] < VALIDATION_TARGET_MB_S:
        failures.append(
            f"validation {results[largest]['validation']['mb_s']:.1f} MB/s at {largest:,} MB (target >= 50)"
        )
    if new.wall_seconds >= WALL_TARGET_SECONDS:
        failures.append(f"2-step run {new.wall_seconds:.0f} s at {largest:,} MB (target < 300 s)")
    sizes = sorted(results)
    for smaller, larger in itertools.pairwise(sizes):
        # a fixed start-up (imports, the validation child, Great Expectations) makes small corpora slower per
        # MB, so linear means: the time grows at most in proportion to the size (within LINEARITY_TARGET)
        before, after = (results[size]["new"].first_step_seconds or 0.0 for size in (smaller, larger))
        growth, allowed = after / max(before, 1e-9), LINEARITY_TARGET * larger / smaller
        print(
            f"  time to first step {smaller:,} -> {larger:,} MB: x{growth:.1f} for x{larger / smaller:.0f} the "
            f"size ({1000 * (after - before) / (larger - smaller):.0f} ms per extra MB)"
        )
        if growth > allowed:
            failures.append(f"time to first step grew x{growth:.1f} from {smaller:,} to {larger:,} MB")
    print(
        "  targets at the largest corpus: peak RSS <= 2 GiB, validation >= 50 MB/s, 2-step run < 5 min, "
        "time to first step linear in size"
    )
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.corpus_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--corpus-1gb",
        action="store_true",
        help=f"also the 1 GB corpus (or {LARGE_ENV}=1; ~10 min with the rest)",
    )
    parser.add_argument(
        "--baseline", default=BASELINE_REV, help="git revision to compare with (default %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads of every training run; 0 = torch's default, all cores (on a machine shared with "
        "other work, 1 avoids OpenMP oversubscription)",
    )
    args = parser.parse_args(argv)
    failures = corpus_benchmarks(
        large=args.corpus_1gb or os.environ.get(LARGE_ENV) == "1",
        baseline_rev=args.baseline,
        threads=args.threads,
    )
    if failures:
        print("\nMISSED: " + "; ".join(failures))
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
