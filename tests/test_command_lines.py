"""Every subcommand of ``python -m rnn`` and ``python -m costing`` over a table of bad arguments.

Each must end with exit status 2 and exactly one line on stderr, ``error: ...`` naming what was
wrong, and never a traceback. The table must cover every subcommand the parsers know, so a new
subcommand cannot ship without its bad-argument rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = "{model}"  # a tiny trained model.pt (fixture)
METRICS = "{metrics}"  # its metrics.json
TMP = "{tmp}"  # a fresh folder


# (program, argv, what stderr must say)
CASES: list[tuple[str, list[str], str]] = [
    ("rnn", [], "the following arguments are required: command"),
    ("rnn", ["fly"], "invalid choice: 'fly'"),
    (
        "rnn",
        ["train", "--out-dir", TMP, "--learning-rate", "inf"],
        "--learning-rate: must be a finite number",
    ),
    (
        "rnn",
        ["train", "--out-dir", TMP, "--learning-rate", "nan"],
        "--learning-rate: must be a finite number",
    ),
    (
        "rnn",
        ["train", "--out-dir", TMP, "--config", f"{TMP}/nan.json"],
        "learning_rate must be a finite number",
    ),
    ("rnn", ["train", "--out-dir", TMP, "--config", "/no/config.json"], "cannot read config file"),
    ("rnn", ["train", "--out-dir", TMP, "--epochs", "0"], "epochs must be a positive integer, got 0"),
    (
        "rnn",
        ["train", "--out-dir", TMP, "--hidden-size", "-4"],
        "hidden_size must be a positive integer, got -4",
    ),
    ("rnn", ["train", "--out-dir", TMP, "--dropout", "1.5"], "dropout must be in [0, 1)"),
    ("rnn", ["train", "--out-dir", TMP, "--corpus-uri", "/no/such/corpus.txt"], "corpus not found"),
    (
        "rnn",
        ["train", "--out-dir", TMP, "--stop-after-step", "0"],
        "--stop-after-step: must be an integer >= 1",
    ),
    ("rnn", ["train", "--out-dir", TMP, "--expect-sha256", "abc"], "--expect-sha256: must be 64 hexadecimal"),
    (
        "rnn",
        ["train", "--out-dir", TMP, "--min-corpus-chars", "-1"],
        "--min-corpus-chars: must be an integer >= 0",
    ),
    ("rnn", ["train", "--out-dir", "/proc/no-such-dir"], "cannot write to /proc/no-such-dir"),
    (
        "rnn",
        ["generate", "--model", MODEL, "--prompt", "Ωmega"],
        "--prompt 'Ωmega' has characters the model never saw: ['Ω']",
    ),
    (
        "rnn",
        ["bench", "--model", MODEL, "--prompt", "Ωmega"],
        "--prompt 'Ωmega' has characters the model never saw: ['Ω']",
    ),
    ("rnn", ["generate", "--model", MODEL, "--length", "0"], "--length: must be an integer >= 1, got '0'"),
    ("rnn", ["generate", "--model", MODEL, "--temperature", "0"], "--temperature: must be a number > 0"),
    ("rnn", ["generate", "--model", MODEL, "--temperature", "nan"], "--temperature: must be a finite number"),
    ("rnn", ["generate", "--model", MODEL, "--top-k", "-3"], "--top-k: must be an integer >= 0, got '-3'"),
    ("rnn", ["generate", "--model", MODEL, "--num-samples", "0"], "--num-samples: must be an integer >= 1"),
    ("rnn", ["generate", "--model", "/no/model.pt"], "model file not found: '/no/model.pt'"),
    ("rnn", ["bench", "--model", MODEL, "--runs", "0"], "--runs: must be an integer >= 1, got '0'"),
    ("rnn", ["bench", "--model", MODEL, "--chars", "-5"], "--chars: must be an integer >= 1"),
    ("rnn", ["bench", "--model", MODEL, "--batch-sizes", "1", "0"], "--batch-sizes: must be an integer >= 1"),
    (
        "rnn",
        ["bench", "--model", MODEL, "--serve-precision", "fp16"],
        "--serve-precision: invalid choice: 'fp16'",
    ),
    ("rnn", ["bench", "--model", MODEL, "--metrics", "/no/metrics.json"], "metrics file not found"),
    ("rnn", ["bench", "--model", METRICS], "is corrupt or not a model"),
    ("rnn", ["serve", "--model", MODEL, "--port", "-1"], "--port: must be an integer >= 0, got '-1'"),
    (
        "rnn",
        ["serve", "--model", MODEL, "--max-batch-size", "0"],
        "--max-batch-size: must be an integer >= 1",
    ),
    (
        "rnn",
        ["serve", "--model", MODEL, "--drain-seconds", "inf"],
        "--drain-seconds: must be a finite number",
    ),
    ("rnn", ["serve", "--model", "/no/model.pt"], "model file not found: '/no/model.pt'"),
    ("rnn", ["serve", "--model", MODEL, "--api-key", ""], "--api-key is empty"),
    (
        "rnn",
        ["serve", "--model", MODEL, "--api-key", "a", "--api-key-file", f"{TMP}/key"],
        "give --api-key or --api-key-file, not both",
    ),
    ("rnn", ["serve", "--model", MODEL, "--api-key-file", "/no/key"], "cannot read --api-key-file '/no/key'"),
    ("rnn", ["serve", "--model", MODEL, "--protect-metrics"], "--protect-metrics needs an API key"),
    ("rnn", ["build-kernel", "--fast"], "unrecognized arguments: --fast"),
    ("rnn", ["loadtest", "--url", "http://192.0.2.1:8000"], "the load test only targets this machine"),
    ("rnn", ["loadtest", "--url", "ftp://127.0.0.1"], "is not an http:// URL"),
    (
        "rnn",
        ["loadtest", "--url", "http://127.0.0.1:9", "--slo-ms", "nan"],
        "--slo-ms: must be a finite number",
    ),
    ("rnn", ["loadtest", "--url", "http://127.0.0.1:9", "--start-rps", "-1"], "start_rps must be 0"),
    ("rnn", ["coldstart", "--model", MODEL, "--runs", "0"], "--runs: must be an integer >= 1"),
    ("rnn", ["coldstart", "--model", f"{TMP}/none.pt", "--skip-server"], "model file not found"),
    ("rnn", ["coldstart", "--model", MODEL, "--prompt", "\u2603", "--skip-server"], "the model never saw"),
    ("rnn", ["coldstart", "--model", MODEL, "--metrics", f"{TMP}/none.json"], "metrics file not found"),
    (
        "rnn",
        ["loadtest", "--url", "http://127.0.0.1:9", "--max-requests", "0"],
        "--max-requests: must be an integer >= 1",
    ),
    (
        "rnn",
        ["loadtest", "--url", "http://127.0.0.1:9", "--api-key", "has space"],
        "--api-key has spaces or characters outside printable ASCII",
    ),
    ("costing", [], "the following arguments are required: command"),
    (
        "costing",
        ["prices", "--snapshot", "/no/such/snapshot"],
        "--snapshot: no such folder: '/no/such/snapshot'",
    ),
    ("costing", ["prices", "--snapshot", TMP], "is not a pricing snapshot"),
    ("costing", ["prices", "--region", "mars-1"], "has no prices for region 'mars-1'"),
    ("costing", ["scenarios", "--requests-per-day", "nan"], "--requests-per-day: must be a finite number"),
    ("costing", ["scenarios", "--requests-per-day", "inf"], "--requests-per-day: must be a finite number"),
    ("costing", ["scenarios", "--requests-per-day", "0"], "--requests-per-day: must be a number > 0"),
    ("costing", ["scenarios", "--peak-factor", "nan"], "--peak-factor: must be a finite number"),
    ("costing", ["scenarios", "--latency-slo-ms", "inf"], "--latency-slo-ms: must be a finite number"),
    ("costing", ["scenarios", "--instance-types", ","], "--instance-types: give at least one instance type"),
    ("costing", ["scenarios", "--tokens-per-request", "0"], "--tokens-per-request: must be an integer >= 1"),
    ("costing", ["tco", "--training-seconds", "inf"], "--training-seconds: must be a finite number"),
    ("costing", ["tco", "--horizon-months", "0"], "--horizon-months: must be a number >= 1"),
    ("costing", ["tco", "--retrain-cadence", "fortnightly"], "retrain cadence 'fortnightly'"),
    ("costing", ["platform", "--platform-share", "2"], "platform attribution share 2.0 is outside (0, 1]"),
    (
        "costing",
        ["platform", "--platform-workers", "0"],
        "platform workers 0 must be a whole number, at least 1",
    ),
    ("costing", ["tco", "--platform", "kubernetes"], "argument --platform: invalid choice: 'kubernetes'"),
    ("costing", ["sensitivity", "--samples", "0"], "--samples: must be an integer >= 1"),
    ("costing", ["sensitivity", "--pct", "nan"], "--pct: must be a finite number"),
    ("costing", ["analyze", "--metrics", "/no/metrics.json"], "metrics file not found"),
    ("costing", ["analyze", "--seed", "-1"], "--seed: must be an integer >= 0"),
    ("costing", ["refresh", "--spot-window-days", "0"], "--spot-window-days: must be an integer >= 1"),
    ("costing", ["interruption-table", "--regions", "us-east-1"], "unrecognized arguments: --regions"),
    ("costing", ["record", "--recording", "/no/recording"], "/no/recording/recording.json"),
    ("costing", ["resources", "--config", "[1, 2]"], "--config"),
    ("costing", ["resources", "--requests-per-day", "nan"], "--requests-per-day: must be a finite number"),
    ("costing", ["resources", "--peak-gflops", "0"], "--peak-gflops: must be a number > 0"),
    (
        "costing",
        ["focus-export", "--since", "yesterday", "--out", f"{TMP}/f.csv"],
        "must be a date (YYYY-MM-DD)",
    ),
    ("costing", ["focus-export", "--since", "2026-01-01", "--out", f"{TMP}/f.txt"], ".csv or .parquet"),
    ("costing", ["bench", "--repeat", "0"], "--repeat: must be an integer >= 1"),
    ("costing", ["bench", "--budget-seconds", "nan"], "--budget-seconds: must be a finite number"),
]


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_the_table_covers_every_subcommand() -> None:
    from costing.cli import build_parser as costing_parser
    from rnn.__main__ import build_parser as rnn_parser

    for program, parser in (("rnn", rnn_parser()), ("costing", costing_parser())):
        covered = {
            argv[0] for prog, argv, _ in CASES if prog == program and argv and not argv[0].startswith("-")
        }
        assert subcommands(parser) <= covered, (
            f"python -m {program}: no bad-argument rows for {subcommands(parser) - covered}"
        )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, cli) -> dict[int, subprocess.CompletedProcess[str]]:
    """Run every case once; keyed by the case's index in CASES."""
    from rnn.config import TrainConfig
    from rnn.corpus import default_corpus_text
    from rnn.train import train

    root = tmp_path_factory.mktemp("bad-arguments")
    corpus = root / "corpus.txt"
    corpus.write_text(default_corpus_text()[:20_000])
    config = TrainConfig(
        corpus_uri=str(corpus),
        seq_len=16,
        batch_size=4,
        embedding_dim=8,
        hidden_size=16,
        epochs=1,
        max_steps_per_epoch=2,
    )
    trained = train(config, str(root / "model"), progress=False, log=lambda _: None)
    cases = []
    for index, (program, argv, _) in enumerate(CASES):
        folder = root / f"case-{index}"
        folder.mkdir()
        (folder / "nan.json").write_text('{"learning_rate": NaN}')
        argv = [a.format(model=trained.model_uri, metrics=trained.metrics_uri, tmp=str(folder)) for a in argv]
        cases.append((program, argv, str(folder)))
    # each case in a fresh process, forked from one that imported both command lines once
    return {index: cli.run(program, *argv) for index, (program, argv, _) in enumerate(cases)}


@pytest.mark.parametrize("program", ["rnn", "costing"])
def test_python_dash_m_is_the_same_command_line(program: str) -> None:
    """The cases call each program's main(); `python -m <program>` is that main, exit status and all."""
    result = subprocess.run(
        [sys.executable, "-m", program, "--no-such-option"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("error: ")
    ]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{p} {' '.join(a)[:60]}" for p, a, _ in CASES])
def test_a_bad_argument_is_one_error_line_and_exit_2(results, index: int) -> None:
    _, argv, says = CASES[index]
    result = results[index]
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert says in lines[0], lines[0]
    assert result.returncode == 2, (result.returncode, json.dumps(argv))
