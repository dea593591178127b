"""The ``python -m rnn`` command line and the inference benchmark."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn.corpus import default_corpus_text
from rnn.serving.benchmark import benchmark, percentile
from rnn.serving.decoder import DECODER_NAME, DECODER_VERSION
from rnn.serving.generate import load_model

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


@pytest.fixture
def run_rnn(cli):
    """``python -m rnn <args>``, in a child forked from a process that imported it once (tests/forked_cli.py)."""
    return lambda *args, **kwargs: cli.run("rnn", *args, **kwargs)


@pytest.mark.parametrize(
    "command", [[], ["train"], ["generate"], ["bench"], ["serve"], ["loadtest"], ["build-kernel"]]
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from rnn.__main__ import main

    with pytest.raises(SystemExit) as exit_status:  # argparse prints the help and exits 0
        main([*command, "--help"])
    assert exit_status.value.code == 0
    assert "usage: python -m rnn" in capsys.readouterr().out


def test_percentile_matches_hand_computed_values() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 50) == 30.0
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 50.0


@pytest.mark.integration  # trains, benchmarks and generates in three subprocesses (~6 s)
def test_cli_train_bench_generate(run_rnn, tmp_path: Path, tiny_corpus: Path) -> None:
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

    # reduced precision, with its quality cost on the model's own validation split (what make bench runs)
    reduced = run_rnn(
        "bench", "--model", str(out / "model.pt"), "--precision", "int8", "--runs", "3", "--batch-sizes", "4"
    )
    assert reduced.returncode == 0, reduced.stderr
    assert re.search(r"int8: p50 [\d.]+ ms .* val loss [\d.]+ \([+-][\d.]+ vs fp32", reduced.stdout), (
        reduced.stdout
    )

    # the fast decoder against the nn.LSTM loop, as make bench reads it (its last line is the JSON)
    compare = run_rnn(
        "bench", "--model", str(out / "model.pt"), "--compare", "--json", "--runs", "3", "--chars", "20"
    )
    assert compare.returncode == 0, compare.stderr
    c = json.loads(compare.stdout.strip().splitlines()[-1])
    assert c["runs"] == 3 and c["completion_chars"] == 20 and c["step"].startswith("fused C++ step")
    assert c["speedup_batch1"] == pytest.approx(c["reference_p50_ms"] / c["fast_p50_ms"])
    assert 0 < c["reference_min_ms"] <= c["reference_p50_ms"]
    assert c["speedup_vs_fastest_loop"] == pytest.approx(c["reference_min_ms"] / c["fast_p50_ms"])
    assert 0 < c["fraction_of_peak"] < 1 and c["throughput_ratio"] > 0


@pytest.mark.integration  # trains twice in subprocesses, interrupted then resumed (~5 s)
def test_sigterm_checkpoints_and_resume_finishes(run_rnn, tmp_path: Path, tiny_corpus: Path) -> None:
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
    # what produced it, from the decoder's one definition (recorded in metrics.json's inference section)
    assert (bench.generator, bench.generator_version) == (DECODER_NAME, DECODER_VERSION)
    with pytest.raises(ValueError, match="runs"):
        benchmark(loaded.model, loaded.vocab, runs=0)


# -- `train` validates the corpus first ------------------------------------------------------------------


def _bad_corpora() -> dict[str, tuple[str, str]]:
    """name -> (text, description of the expectation it fails)."""
    import random

    text = default_corpus_text()
    rng = random.Random(0)
    cjk = [chr(0x4E00 + i) for i in range(20_001)]  # more than CJK text uses (3,000-7,000 is admitted)
    cjk_lines = "".join("".join(rng.choice(cjk) for _ in range(40)) + "\n" for _ in range(1500))
    return {
        "whitespace-only": (" \n\t" * 10_000, "vocabulary has between 10 and 20,000 distinct characters"),
        "one 1 MB line": (
            (text.replace("\n", " ") * 3)[:1_000_000],
            "longest line has between 1 and 100,000 characters",
        ),
        "20,001 CJK characters": (
            "\n".join("".join(cjk[i : i + 100]) for i in range(0, len(cjk), 100)) + "\n" + cjk_lines,
            "vocabulary has between 10 and 20,000 distinct characters",
        ),
        "NUL-laden": ("\x00".join(text[:60_000]), "at least 98% of characters are printable"),
    }


@pytest.mark.parametrize("name", list(_bad_corpora()))
def test_each_bad_corpus_fails_its_expectation(tmp_path: Path, name: str) -> None:
    from rnn.corpus import open_corpus
    from rnn.corpus_validation import validate_corpus_source

    text, fails = _bad_corpora()[name]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    validation = validate_corpus_source(open_corpus(str(corpus)))
    assert f"FAIL  {fails}" in validation.summary()


def test_train_refuses_a_corpus_that_fails_validation(run_rnn, tmp_path: Path) -> None:
    # what `train` does with any failed validation, shown on one of the corpora above (the validation runs in
    # a fresh interpreter, which imports Great Expectations: seconds of CPU per corpus)
    text, fails = _bad_corpora()["NUL-laden"]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    result = run_rnn("train", "--out-dir", str(tmp_path / "out"), "--corpus-uri", str(corpus), *TINY)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {corpus}: corpus failed validation:")
    assert f"FAIL  {fails}" in result.stderr
    assert result.stderr.rstrip().endswith("Nothing was trained.")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


def test_expect_sha256_refuses_changed_bytes_before_training(
    run_rnn, tmp_path: Path, tiny_corpus: Path
) -> None:
    result = run_rnn(
        "train",
        "--out-dir",
        str(tmp_path / "out"),
        "--corpus-uri",
        str(tiny_corpus),
        "--skip-validation",
        "--expect-sha256",
        "0" * 64,
        *TINY,
    )
    assert result.returncode == 2
    assert "has sha256" in result.stderr and "not the expected 000000000000" in result.stderr
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


@pytest.mark.integration  # trains in a subprocess (~3 s)
def test_skip_validation_trains_and_says_so_loudly(run_rnn, tmp_path: Path) -> None:
    corpus = tmp_path / "short.txt"
    corpus.write_text(default_corpus_text()[:6000])  # fails min_chars, still enough to train on
    refused = run_rnn("train", "--out-dir", str(tmp_path / "a"), "--corpus-uri", str(corpus), *TINY)
    assert refused.returncode == 2 and "corpus has at least min_chars characters" in refused.stderr
    args = ["--corpus-uri", str(corpus), "--epochs", "1", "--max-steps-per-epoch", "2", *TINY]
    trained = run_rnn("train", "--out-dir", str(tmp_path / "b"), "--skip-validation", *args)
    assert trained.returncode == 0, trained.stderr
    assert "WARNING: --skip-validation: training on" in trained.stderr
    assert "without running the corpus expectation suite" in trained.stderr
    lowered = run_rnn("train", "--out-dir", str(tmp_path / "c"), "--min-corpus-chars", "5000", *args)
    assert lowered.returncode == 0, lowered.stderr
    assert "corpus validation passed" in lowered.stderr


# -- remote storage faults --------------------------------------------------------------------------------


def test_unreachable_corpus_host_is_exit_69_could_not_reach(run_rnn, tmp_path: Path) -> None:
    from helpers import free_port

    uri = f"http://127.0.0.1:{free_port()}/corpus.txt"
    result = run_rnn("train", "--out-dir", str(tmp_path / "out"), "--corpus-uri", uri, *TINY)
    assert result.returncode == 69, result.stderr  # EX_UNAVAILABLE: the pipeline retries it
    assert result.stderr.startswith(f"error: corpus '{uri}': could not reach {uri}")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def s3_with_a_reader():
    """moto S3 on loopback with a corpus, and an IAM user that may read it but write nothing."""
    import urllib.request

    import boto3
    from aws_fakes import running_moto_server

    from rnn.corpus import default_corpus_text

    with running_moto_server() as endpoint:
        kwargs = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        s3, iam = boto3.client("s3", **kwargs), boto3.client("iam", **kwargs)
        s3.create_bucket(Bucket="corpora")
        s3.put_object(Bucket="corpora", Key="tiny.txt", Body=default_corpus_text()[:40_000].encode())
        iam.create_user(UserName="reader")
        iam.put_user_policy(
            UserName="reader",
            PolicyName="read-only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:ListBucket"],
                            "Resource": ["arn:aws:s3:::corpora", "arn:aws:s3:::corpora/*"],
                        }
                    ],
                }
            ),
        )
        key = iam.create_access_key(UserName="reader")["AccessKey"]

        # from now on moto checks every request against IAM (a process-wide setting: put back after)
        def reset_auth(count: bytes) -> None:
            url, headers = f"{endpoint}/moto-api/reset-auth", {"Content-Type": "application/octet-stream"}
            urllib.request.urlopen(urllib.request.Request(url, data=count, headers=headers), timeout=10)

        reset_auth(b"0")
        try:
            yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
        finally:
            reset_auth(b"inf")


S3_CORPUS = ["--corpus-uri", "s3://corpora/tiny.txt"]


def _aws_env(endpoint: str, tmp_path: Path, key_id: str | None, secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
    )
    if key_id and secret:
        env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    return env


@pytest.mark.integration
def test_s3_corpus_without_credentials_is_one_line(run_rnn, tmp_path: Path, s3_with_a_reader) -> None:
    endpoint, _, _ = s3_with_a_reader
    env = _aws_env(endpoint, tmp_path, None, None)
    result = run_rnn("train", "--out-dir", str(tmp_path / "out"), *S3_CORPUS, *TINY, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: corpus 's3://corpora/tiny.txt': cannot read s3://corpora/tiny.txt: no AWS credentials "
        "found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run where an "
        "instance role provides them"
    ]


@pytest.mark.integration
def test_unwritable_s3_output_is_refused_before_anything_else(
    run_rnn, tmp_path: Path, s3_with_a_reader
) -> None:
    endpoint, key_id, secret = s3_with_a_reader
    env = _aws_env(endpoint, tmp_path, key_id, secret)
    result = run_rnn("train", "--out-dir", "s3://corpora/runs/1", *S3_CORPUS, *TINY, env=env)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot write to s3://corpora/runs/1: access denied")
    assert "step" not in result.stdout and "corpus validation" not in result.stderr
