"""The ``python -m rnn`` command line and the inference benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn.generate import load_model
from rnn.inference_benchmark import benchmark, percentile

TINY = [
    "--seq-len",
    "16",
    "--batch-size",
    "4",
    "--embedding-dim",
    "8",
    "--hidden-size",
    "16",
    "--no-progress",
]


def run_rnn(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rnn", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("command", [[], ["train"], ["generate"], ["bench"], ["serve"], ["loadtest"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run_rnn(*command, "--help")
    assert result.returncode == 0
    assert "usage: python -m rnn" in result.stdout


def test_percentile_matches_hand_computed_values() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 50) == 30.0
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 50.0


@pytest.mark.slow  # trains, benchmarks and generates in three subprocesses (~6 s)
def test_cli_train_bench_generate(tmp_path: Path, tiny_corpus: Path) -> None:
    out = tmp_path / "run"
    train = run_rnn(
        "train",
        "--out-dir",
        str(out),
        "--corpus-uri",
        str(tiny_corpus),
        "--epochs",
        "1",
        "--max-steps-per-epoch",
        "5",
        "--log-every-steps",
        "5",
        *TINY,
    )
    assert train.returncode == 0, train.stderr
    assert "step      5 | epoch 1 | loss" in train.stdout
    assert "val loss" in train.stdout

    bench = run_rnn(
        "bench",
        "--model",
        str(out / "model.pt"),
        "--metrics",
        str(out / "metrics.json"),
        "--runs",
        "20",
        "--batch-sizes",
        "1",
        "16",
        "64",
    )
    assert bench.returncode == 0, bench.stderr
    inference = json.loads((out / "metrics.json").read_text())["inference"]
    assert inference["runs"] == 20 and inference["completion_chars"] == 200
    latency = inference["latency_ms"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert [row["batch_size"] for row in inference["throughput"]] == [1, 16, 64]
    assert all(row["tokens_per_s"] > 0 for row in inference["throughput"])

    gen = run_rnn("generate", "--model", str(out / "model.pt"), "--length", "30", "--prompt", "The ")
    assert gen.returncode == 0 and gen.stdout.startswith("The ")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "0"], "epochs must be a positive integer, got 0"),
        (["--hidden-size", "-4"], "hidden_size must be a positive integer, got -4"),
        (["--corpus-uri", "/no/such/corpus.txt"], "corpus not found: '/no/such/corpus.txt'"),
    ],
)
def test_cli_bad_input_is_one_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_rnn("train", "--out-dir", str(tmp_path / "bad"), *TINY, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bad" / "metrics.json").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["generate", "--model", "m.pt", "--num-samples", "0"], "argument --num-samples: '0' must be >= 1"),
        (
            ["bench", "--model", "m.pt", "--batch-sizes", "16", "0"],
            "argument --batch-sizes: '0' must be >= 1",
        ),
    ],
)
def test_cli_counts_must_be_positive(args: list[str], message: str) -> None:
    result = run_rnn(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # trains twice in subprocesses, interrupted then resumed (~5 s)
def test_sigterm_checkpoints_and_resume_finishes(tmp_path: Path, tiny_corpus: Path) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "--out-dir",
        str(out),
        "--corpus-uri",
        str(tiny_corpus),
        "--epochs",
        "50",
        "--max-steps-per-epoch",
        "10",
        "--checkpoint-every-steps",
        "1000",
        "--log-every-steps",
        "1",
        *TINY,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnn", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    # Wait until training is under way (first log line), then interrupt.
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("step"):
            break
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 75, stderr
    assert "continue with --resume" in stderr
    interrupted = json.loads((out / "metrics.json").read_text())
    assert interrupted["status"] == "interrupted"
    assert (out / "checkpoint.pt").exists() and not (out / "model.pt").exists()

    resumed = run_rnn(*args[:6], "2", *args[7:], "--resume")  # fewer epochs: finish quickly
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads((out / "metrics.json").read_text())
    assert final["status"] == "completed"
    assert final["training"]["resumed_from_step"] == interrupted["training"]["global_steps"]


def test_benchmark_in_process(tmp_path: Path, tiny_corpus: Path) -> None:
    from rnn.config import TrainConfig
    from rnn.train import train

    config = TrainConfig(
        corpus_uri=str(tiny_corpus),
        seq_len=16,
        batch_size=4,
        embedding_dim=8,
        hidden_size=16,
        epochs=1,
        max_steps_per_epoch=2,
    )
    result = train(config, str(tmp_path / "b"), progress=False, log=lambda _: None)
    loaded = load_model(result.model_uri)
    bench = benchmark(loaded.model, loaded.vocab, completion_chars=20, runs=5, batch_sizes=(1, 4), warmup=0)
    assert bench.runs == 5 and [t.batch_size for t in bench.throughput] == [1, 4]
    with pytest.raises(ValueError, match="runs"):
        benchmark(loaded.model, loaded.vocab, runs=0)
