"""The training part of ``metrics.json``, built from literal numbers and checked against hand-written documents."""

from __future__ import annotations

import json
from typing import Any

from rnn.config import TrainConfig
from rnn.corpus import CorpusStats
from rnn.metrics import HostInfo, check_schema, training_document

CONFIG = TrainConfig(corpus_uri="/data/tiny.txt", seq_len=16, batch_size=4, epochs=2)
DATASET = CorpusStats(uri="/data/tiny.txt", size_bytes=40_064, chars=40_000, vocab_size=92, sha256="ab" * 32)
HOST = HostInfo(
    hostname="vm",
    platform="Linux",
    python="3.11.7",
    torch="2.13.0+cpu",
    cpu_model="AMD EPYC",
    cpu_count=2,
    torch_threads=2,
    memory_total_bytes=25_000_000_000,
)
EPOCH_1 = {"epoch": 1, "steps": 6, "tokens": 384, "wall_seconds": 0.7, "train_loss": 4.5, "val_loss": 4.25}
EPOCH_2 = {"epoch": 2, "steps": 6, "tokens": 384, "wall_seconds": 0.8, "train_loss": 4.0, "val_loss": 3.75}
EPOCH_1 |= {"train_perplexity": 90.0, "val_perplexity": 70.1, "tokens_per_s": 548.6}
EPOCH_2 |= {"train_perplexity": 54.6, "val_perplexity": 42.5, "tokens_per_s": 480.0}
SEGMENT = {"started_at": "2026-01-01T00:00:00.000000Z", "resumed_from_step": None, "setup_seconds": 0.5}


def document(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        run_id="run-1",
        interrupted=False,
        started_at="2026-01-01T00:00:00.000000Z",
        finished_at="2026-01-01T00:00:02.000000Z",
        config=CONFIG,
        dataset=DATASET,
        train_tokens=36_000,
        val_tokens=4_000,
        val_chars=3_968,
        parameters=6_140,
        model_file="model.pt",
        model_file_size_bytes=29_570,
        epochs=[EPOCH_1, EPOCH_2],
        total_wall_seconds=1.23456789,
        train_seconds=0.75,
        global_steps=12,
        tokens_per_step=64,
        peak_rss_bytes=387_000_000,
        attempts=2,
        resumed_from_step=5,
        segments=[SEGMENT],
        host=HOST,
    )
    return training_document(**(values | overrides))


def test_a_completed_run_is_the_whole_document_key_for_key_in_order() -> None:
    expected = {
        "schema": "rnn-metrics",
        "schema_version": 3,
        "run_id": "run-1",
        "status": "completed",
        "started_at": "2026-01-01T00:00:00.000000Z",
        "finished_at": "2026-01-01T00:00:02.000000Z",
        "config": CONFIG.to_dict(),
        "dataset": {
            "uri": "/data/tiny.txt",
            "size_bytes": 40_064,
            "chars": 40_000,
            "vocab_size": 92,
            "sha256": "ab" * 32,
            "train_tokens": 36_000,
            "val_tokens": 4_000,
        },
        "model": {"parameters": 6_140, "file_size_bytes": 29_570, "file": "model.pt"},
        "training": {
            "epochs": [EPOCH_1, EPOCH_2],
            "total_wall_seconds": 1.2346,  # rounded to 0.1 ms
            "train_seconds": 0.75,
            "global_steps": 12,
            "tokens_processed": 768,  # 12 steps x 64 tokens
            "tokens_per_s": 1024.0,  # 768 / 0.75
            "final_train_loss": 4.0,  # the last epoch's
            "final_val_loss": 3.75,
            "final_val_perplexity": 42.5,
            "val_chars": 3_968,  # what each val_loss scored: whole windows of the held-out tail
            "peak_rss_bytes": 387_000_000,
            "attempts": 2,
            "resumed_from_step": 5,
            "segments": [SEGMENT],
        },
        "host": {
            "hostname": "vm",
            "platform": "Linux",
            "python": "3.11.7",
            "torch": "2.13.0+cpu",
            "cpu_model": "AMD EPYC",
            "cpu_count": 2,
            "torch_threads": 2,
            "memory_total_bytes": 25_000_000_000,
        },
        "inference": None,
        "serving": None,
        "cold_start": None,
        "compute": None,
    }
    built = document()
    assert json.dumps(built) == json.dumps(expected)  # the same keys in the same order, the same values
    check_schema(built)


def test_train_seconds_are_rounded_to_a_tenth_of_a_millisecond_but_the_rate_is_not() -> None:
    training = document(train_seconds=0.612345)["training"]
    assert training["train_seconds"] == 0.6123
    assert training["tokens_per_s"] == 768 / 0.612345


def test_an_interrupted_run_before_its_first_epoch_has_no_model_and_no_final_losses() -> None:
    built = document(
        interrupted=True,
        model_file=None,
        model_file_size_bytes=None,
        epochs=[],
        train_seconds=0.0,
        global_steps=0,
        resumed_from_step=None,
    )
    assert built["status"] == "interrupted"
    assert built["model"] == {"parameters": 6_140, "file_size_bytes": None, "file": None}
    training = built["training"]
    assert training["tokens_processed"] == 0 and training["tokens_per_s"] == 0.0  # no division by zero
    assert training["final_train_loss"] is None
    assert training["final_val_loss"] is None and training["final_val_perplexity"] is None
    assert training["resumed_from_step"] is None
