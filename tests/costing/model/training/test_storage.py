"""The storage and requests of a cloud training run, against hand-computed numbers."""

from __future__ import annotations

import pytest

from costing.model.training import S3Usage, StorageRates, checkpoint_writes, run_s3_usage, storage_cost


def test_checkpoint_writes_are_counted_once():
    # 20 steps, a checkpoint every 50, 1 epoch: the only write is the epoch's. The spot bill counted it
    # twice: ceil(20 / 50) = 1 for the partial cadence segment, + 1 for the epoch.
    assert checkpoint_writes(20, 50, 1) == 1
    assert checkpoint_writes(300, 60, 3) == 5 + 3  # the epoch-end write on step 300 is a second write
    assert checkpoint_writes(120, 50, 2, interruptions=1) == 2 + 2 + 1
    with pytest.raises(ValueError, match="checkpoint_every_steps=0"):
        checkpoint_writes(20, 0, 1)


def test_run_requests():
    usage = run_s3_usage(
        attempts=1,
        interruptions=0,
        pipeline_counts={"put_requests": 4, "list_requests": 1, "get_requests": 2, "head_requests": 3},
        global_steps=20,
        checkpoint_every_steps=50,
        epochs=1,
        stored_bytes=2**30,
        stored_seconds=3_600,
    )
    # PUTs: 4 + 1 listed by the pipeline, 2 by the instance (log, marker), 1 checkpoint + model + metrics = 10
    # (11 when the checkpoint was counted twice); GETs: 2 + 3 by the pipeline, 3 by the instance = 8
    assert (usage.put_requests, usage.get_requests) == (10, 8)
    resumed = run_s3_usage(
        attempts=2,
        interruptions=1,
        pipeline_counts={},
        global_steps=120,
        checkpoint_every_steps=50,
        epochs=2,
        stored_bytes=0,
        stored_seconds=0,
    )
    assert (resumed.put_requests, resumed.get_requests) == (2 * 2 + (2 + 2 + 1) + 2, 2 * 3 + 1)


def test_storage_cost():
    cost = storage_cost(
        S3Usage(put_requests=1000, get_requests=2000, stored_bytes=2**30, stored_seconds=730 * 3600),
        StorageRates(0.023, 0.005, 0.0004, 0.08, "literal"),
        ebs_gb=20,
        billed_seconds=3600,
    )
    assert cost.s3_storage_usd == pytest.approx(0.023)  # 1 GiB for a month
    assert cost.s3_requests_usd == pytest.approx(0.005 + 0.0008)
    assert cost.ebs_usd == pytest.approx(20 * 0.08 * 3600 / (730 * 3600))
    assert cost.usd == pytest.approx(0.023 + 0.0058 + 20 * 0.08 / 730)
