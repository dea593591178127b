"""Diffing pricing snapshots: added, removed, changed (with % change), spot moves; text and table output."""

from __future__ import annotations

import json

import pytest

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.diff import diff_snapshots, price_identity
from costing.pricing.snapshot import load_snapshot


@pytest.fixture(scope="module")
def oldest():
    return load_snapshot(DEFAULT_SNAPSHOT_ROOT / "2025-06-01")


@pytest.fixture(scope="module")
def newest():
    return load_snapshot(DEFAULT_SNAPSHOT_ROOT / "2025-06-02")


def test_the_shipped_snapshots_differ_by_the_added_services_and_reserved_terms(oldest, newest):
    diff = diff_snapshots(oldest, newest)
    assert (diff.previous_snapshot_id, diff.current_snapshot_id) == ("2025-06-01", "2025-06-02")
    assert diff.counts() == {"added": 74, "removed": 0, "changed": 0, "unchanged": 61, "spot_changed": 0}
    reserved = [c for c in diff.added if c.term == "Reserved"]
    assert [(c.instance_type, c.reserved_term, c.current_usd_rate) for c in reserved] == [
        ("r5.xlarge", "1yr standard No Upfront", 0.159),
        ("r6i.xlarge", "1yr standard No Upfront", 0.159),
    ]
    transfer = [
        c for c in diff.added if c.region == "us-east-1" and c.price_key == "data_transfer.out.internet"
    ]
    assert [(c.begin_range, c.current_usd_rate) for c in transfer] == [
        ("0", 0.09),
        ("10240", 0.085),
        ("51200", 0.07),
        ("153600", 0.05),
    ]
    assert all(c.previous_usd_rate is None and c.change_pct is None for c in diff.added)


def test_changed_and_removed_prices_carry_old_new_and_percent(newest):
    previous = newest.to_dataframe()
    current = previous.copy()
    nat = current.index[(current["region"] == "us-east-1") & (current["price_key"] == "nat_gateway.hours")][0]
    current.loc[nat, "usd_rate"] = 0.054  # +20%
    gone = current.index[(current["region"] == "eu-west-1") & (current["price_key"] == "alb.lcu_hours")]
    current = current.drop(gone)
    spot = current.index[(current["term"] == "Spot")]
    latest = current.loc[spot].sort_values("effective_date").index[-1]
    current.loc[latest, "usd_rate"] = current.loc[latest, "usd_rate"] * 2

    diff = diff_snapshots(previous, current, previous_snapshot_id="a", current_snapshot_id="b")
    (changed,) = diff.changed
    assert (changed.label, changed.previous_usd_rate, changed.current_usd_rate) == (
        "us-east-1 AmazonEC2 nat_gateway.hours",
        0.045,
        0.054,
    )
    assert changed.change_pct == pytest.approx(20.0)
    (removed,) = diff.removed
    assert (removed.region, removed.price_key, removed.previous_usd_rate, removed.current_usd_rate) == (
        "eu-west-1",
        "alb.lcu_hours",
        0.008,
        None,
    )
    (moved,) = diff.spot_changed
    assert moved.kind == "changed" and moved.change_pct == pytest.approx(100.0)

    text = diff.render_text()
    assert text.splitlines()[0] == (
        "pricing snapshot b vs a: 1 changed, 0 added, 1 removed, 133 unchanged; 1 spot prices moved"
    )
    assert "  us-east-1 AmazonEC2 nat_gateway.hours: $0.045 -> $0.054 /Hrs (+20.0%)" in text
    assert "  eu-west-1 AWSELB alb.lcu_hours: was $0.008/LCU-Hrs" in text

    table = diff.to_dataframe()
    assert list(table["kind"]) == ["changed", "removed", "changed"]
    assert table.loc[0, "change_pct"] == pytest.approx(20.0)
    data = json.loads(diff.to_json())
    assert data["counts"]["changed"] == 1 and data["changed"][0]["change_pct"] == pytest.approx(20.0)


def test_identity_ignores_skus_so_recorded_and_fetched_snapshots_line_up(newest):
    frame = newest.to_dataframe()
    renamed = frame.assign(sku="REALSKU000000000", rate_code="REALSKU000000000.JRTCKXETXF.6YS6EN2CT7")
    assert price_identity(frame).equals(price_identity(renamed))
    assert diff_snapshots(frame, renamed).is_empty


def test_no_previous_snapshot_means_everything_is_added(newest):
    diff = diff_snapshots(None, newest)
    assert diff.previous_snapshot_id is None
    assert len(diff.added) == 135 and diff.removed == () and diff.changed == ()
    assert diff.render_text(max_rows=2).count("\n  ... and ") == 2  # added and spot sections are truncated
