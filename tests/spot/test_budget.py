"""The budget guard that refuses a run before anything is launched (its estimate: tests/costing/model/training)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def test_budget_guard_message_names_the_estimate_and_the_budget(
    pipeline_home: Path, tiny_corpus: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from helpers import TINY_RUN_CONF

    from pipeline import names, tracking
    from pipeline.spot.budget import check_budget

    run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "manual__budget")
    validated = {
        "mlflow_run_id": run_id,
        "config": {**TINY_RUN_CONF, "val_fraction": 0.1, "corpus_uri": str(tiny_corpus)},
        "compute": {
            "backend": "ec2_spot",
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
        },
        "dataset_chars": 40_000,
        "dataset_vocab_size": 80,
        "dataset_sha256": hashlib.sha256(tiny_corpus.read_bytes()).hexdigest(),
    }
    with pytest.raises(AirflowFailException) as refused:
        check_budget(validated=validated, params={"max_budget_usd": 0.001})
    message = str(refused.value)
    assert message.startswith("pre-flight estimate $0.0")
    assert "is above max_budget_usd $0.001; nothing was launched" in message
    assert "no comparable finished run in MLflow; conservative default 2,000" in message
    assert "r6i.xlarge spot in us-east-1" in message
    assert "300 s boot, setup and upload (default 300 s, not measured on this account:" in message
    accepted = check_budget(validated=validated, params={"max_budget_usd": 5})
    assert 0.001 < accepted["usd"] < 5
