"""Billed cost of a run's attempts at the spot price in force while each ran, plus storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def attempt(label, az, market, start_s, end_s, interrupted=False):
    from pipeline.spot.attempts import AttemptRecord, utc_iso

    return AttemptRecord(
        instance_id=f"i-{label}",
        instance_type="r6i.xlarge",
        availability_zone=az,
        market=market,
        launched_at=utc_iso(T0 + timedelta(seconds=start_s)),
        terminated_at=utc_iso(T0 + timedelta(seconds=end_s)),
        interrupted=interrupted,
        attempt=label,
        outcome="interrupted" if interrupted else "done",
    )


def test_billed_cost_per_attempt_at_the_price_in_force(repo_root: Path) -> None:
    from costing.model.training import S3Usage, StorageRates, storage_cost
    from costing.pricing.parse import SpotPricePoint
    from pipeline.spot.billing import billed_cost, billing_catalog

    snapshot = (
        repo_root / "include" / "pricing" / "snapshots" / "2025-06-02"
    )  # on-demand r6i.xlarge: $0.252/h
    history = [
        SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0800, T0 - timedelta(hours=1)),
        SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0900, T0 + timedelta(seconds=1800)),
        SpotPricePoint("r6i.xlarge", "us-east-1b", 0.0700, T0 - timedelta(days=1)),
    ]
    attempts = [
        attempt("1.1", "us-east-1a", "spot", 0, 30, interrupted=True),  # 30 s -> billed 60 s at 0.08
        attempt("1.2", "us-east-1a", "spot", 600, 3600),  # 1,200 s at 0.08, then 1,800 s at 0.09
        attempt("1.3", "us-east-1b", "on-demand", 4000, 4900),  # 900 s at 0.252
    ]
    catalog, source = billing_catalog(snapshot, history, attempts)
    assert "spot price history" in source
    storage = storage_cost(
        S3Usage(put_requests=1000, get_requests=2000, stored_bytes=2**30, stored_seconds=730 * 3600),
        StorageRates(0.023, 0.005, 0.0004, 0.08, "literal"),
        ebs_gb=20,
        billed_seconds=3600,
    )
    assert storage.s3_storage_usd == pytest.approx(0.023)
    assert storage.s3_requests_usd == pytest.approx(0.005 + 0.0008)
    assert storage.ebs_usd == pytest.approx(20 * 0.08 * 3600 / (730 * 3600))

    cost = billed_cost(attempts, catalog, source, epochs=2, storage=storage)
    instance_usd = 60 / 3600 * 0.08 + (1200 * 0.08 + 1800 * 0.09) / 3600 + 900 / 3600 * 0.252
    assert cost["instances"]["usd"] == pytest.approx(instance_usd)
    assert cost["usd"] == pytest.approx(instance_usd + storage.usd)
    assert cost["on_demand_usd"] == pytest.approx((60 + 3000 + 900) / 3600 * 0.252 + storage.usd)
    assert cost["billed_seconds"] == 60 + 3000 + 900
    assert cost["interruptions"] == 1 and cost["market"] == "mixed"
    assert [row["usd"] for row in cost["attempts"]] == pytest.approx(
        [60 / 3600 * 0.08, (1200 * 0.08 + 1800 * 0.09) / 3600, 900 / 3600 * 0.252]
    )
    assert cost["basis"].startswith("billed-estimate from AWS prices (not an invoice)")


def test_billing_falls_back_to_the_snapshot_when_history_misses_a_launch(repo_root: Path) -> None:
    from costing.pricing.parse import SpotPricePoint
    from pipeline.spot.billing import billing_catalog

    snapshot = repo_root / "include" / "pricing" / "snapshots" / "2025-06-02"
    late = [SpotPricePoint("r6i.xlarge", "us-east-1a", 0.08, T0 + timedelta(seconds=10))]  # after the launch
    _, source = billing_catalog(snapshot, late, [attempt("1.1", "us-east-1a", "spot", 0, 100)])
    assert "snapshot 2025-06-02's spot history" in source and "does not cover 1.1" in source
    _, source = billing_catalog(snapshot, [], [attempt("1.1", "us-east-1a", "spot", 0, 100)])
    assert "no spot price history returned" in source


def test_billed_cost_splits_each_attempt_by_its_training_segment(repo_root: Path) -> None:
    from costing.model.training import S3Usage, StorageRates, storage_cost
    from costing.pricing.parse import SpotPricePoint
    from pipeline.spot.billing import billed_cost, billing_catalog, timings_for

    snapshot = repo_root / "include" / "pricing" / "snapshots" / "2025-06-02"  # on-demand r6i.xlarge $0.252/h
    history = [SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0900, T0 - timedelta(hours=1))]
    attempts = [
        attempt("1.1", "us-east-1a", "spot", 0, 1800, interrupted=True),
        attempt("1.2", "us-east-1a", "spot", 2000, 3800),
    ]
    iso = lambda s: (T0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    segments = [  # metrics.json training.segments: the first as of its last checkpoint, the second whole
        {
            "started_at": iso(60),
            "setup_seconds": 40.0,
            "restore_seconds": 0.0,
            "work_seconds": 1500.0,
            "checkpoint_seconds": 20.0,
            "checkpoints": 3,
            "last_checkpoint_at": iso(1630),
            "finished_at": None,
        },
        {
            "started_at": iso(2060),
            "setup_seconds": 40.0,
            "restore_seconds": 20.0,
            "work_seconds": 1600.0,
            "checkpoint_seconds": 30.0,
            "checkpoints": 4,
            "last_checkpoint_at": iso(3740),
            "finished_at": iso(3780),
        },
    ]
    catalog, source = billing_catalog(snapshot, history, attempts)
    storage = storage_cost(
        S3Usage(0, 0, 0, 0), StorageRates(0.023, 0.005, 0.0004, 0.08, "literal"), ebs_gb=0, billed_seconds=0
    )
    cost = billed_cost(
        attempts, catalog, source, epochs=1, storage=storage, timings=timings_for(attempts, segments)
    )
    first, second = cost["attempts"]
    # 1.1: startup 100 (60 boot + 40 setup), work 1,500, checkpoints 20 + 10 (the last), wasted 1,800 - 1,640
    assert (first["training_seconds"], first["wasted_seconds"], first["overhead_seconds"]) == (1500, 160, 140)
    assert (second["training_seconds"], second["wasted_seconds"], second["overhead_seconds"]) == (
        1600,
        0,
        200,
    )
    rate = 0.09 / 3600
    assert first["wasted_usd"] == pytest.approx(160 * rate) and second["training_usd"] == pytest.approx(
        1600 * rate
    )
    accounting = cost["accounting"]
    assert accounting["wasted_usd"] == pytest.approx(160 * rate)
    assert accounting["overhead_usd"] == pytest.approx(340 * rate)
    assert accounting["training_usd"] + accounting["wasted_usd"] + accounting[
        "overhead_usd"
    ] == pytest.approx(cost["instances"]["usd"])
    assert accounting["on_demand_equivalent_seconds"] == pytest.approx(3600 - 160 - 120)
    assert accounting["effective_savings_pct"] == pytest.approx((1 - 3600 * 0.09 / (3320 * 0.252)) * 100)
    assert accounting["unmeasured_attempts"] == 0

    # Storage is paid whichever market trained: it sits on both sides of both savings, so the waste
    # always shows as an effective saving below the spot saving.
    stored = storage_cost(
        S3Usage(0, 0, 0, 0),
        StorageRates(0.023, 0.005, 0.0004, 0.08, "literal"),
        ebs_gb=20,
        billed_seconds=3600,
    )
    with_storage = billed_cost(
        attempts, catalog, source, epochs=1, storage=stored, timings=timings_for(attempts, segments)
    )
    billed = 3600 * 0.09 / 3600 + stored.usd
    assert with_storage["accounting"]["effective_savings_pct"] == pytest.approx(
        (1 - billed / (3320 * 0.252 / 3600 + stored.usd)) * 100
    )
    assert with_storage["accounting"]["effective_savings_pct"] < with_storage["spot_savings_pct"]
