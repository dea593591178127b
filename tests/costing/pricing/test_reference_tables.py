"""The reference tables the price sheet reads beside the snapshot: Cloudflare Workers rates and spot interruption buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.reference_tables import (
    INTERRUPTION_BUCKETS,
    bucket_upper_bound,
    interruption_table_from_advisor,
    load_cloudflare_workers,
    load_interruption_table,
    write_interruption_table,
)
from costing.pricing.sheet_builder import build_price_sheet

NEWEST = DEFAULT_SNAPSHOT_ROOT / "2025-06-02"


def test_cloudflare_workers_table_has_source_and_date():
    workers = load_cloudflare_workers()
    assert workers.source_url == "https://developers.cloudflare.com/workers/platform/pricing/"
    assert workers.as_of == date(2025, 6, 1)
    assert (workers.included_requests_per_month, workers.included_cpu_ms_per_month) == (
        10_000_000,
        30_000_000,
    )
    assert workers.usd_per_million_cpu_ms == 0.02 and workers.max_cpu_ms_per_request == 300_000


def test_shipped_interruption_table_is_honest_about_how_it_was_recorded():
    table = load_interruption_table()
    assert table.how_recorded == "by hand" and table.as_of == date(2025, 6, 1)
    assert table.source_url == "https://aws.amazon.com/ec2/spot/instance-advisor/"
    assert "APPROXIMATE" in " ".join(table.notes)
    assert table.regions() == ["eu-west-1", "us-east-1"]
    assert table.rate_per_month("r6i.xlarge", "us-east-1") == 0.10
    assert table.rate_per_month("p5.48xlarge", "us-east-1") is None


# The Advisor feed's own shape (its "max" values really are 5, 11, 16, 22, 100), reduced to a few entries.
ADVISOR_DOCUMENT = {
    "global_rate": "<10%",
    "instance_types": {"r6i.xlarge": {"emr": True, "cores": 4, "ram_gb": 32.0}},
    "ranges": [
        {"index": 0, "label": "<5%", "dots": 0, "max": 5},
        {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
        {"index": 2, "label": "10-15%", "dots": 2, "max": 16},
        {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
        {"index": 4, "label": ">20%", "dots": 4, "max": 100},
    ],
    "spot_advisor": {
        "us-east-1": {
            "Linux": {
                "r6i.xlarge": {"s": 70, "r": 2},
                "m5.large": {"s": 55, "r": 4},
                "c7g.large": {"s": 62, "r": 0},
            },
            "Windows": {"r6i.xlarge": {"s": 42, "r": 1}},
        },
        "eu-west-1": {"Linux": {"r6i.xlarge": {"s": 66, "r": 1}}},
        "ap-east-2": {"Linux": {"r6i.xlarge": {"s": 70, "r": 4}}},
    },
}


def test_interruption_table_is_rebuilt_from_the_advisor_feed(tmp_path):
    table = interruption_table_from_advisor(
        ADVISOR_DOCUMENT, fetched_at=datetime(2026, 11, 27, 6, tzinfo=UTC), regions=["us-east-1", "eu-west-1"]
    )
    assert table.how_recorded == "advisor feed" and table.as_of == date(2026, 11, 27)
    assert len(table.buckets) == 4  # Linux only, two regions
    bucket = table.buckets["us-east-1", "r6i.xlarge"]
    assert (bucket.label, bucket.rate_per_month_upper_bound, bucket.savings_pct) == ("10-15%", 0.15, 70.0)
    assert table.rate_per_month("m5.large", "us-east-1") == 0.25  # ">20%"
    assert table.rate_per_month("c7g.large", "us-east-1") == 0.05

    path = write_interruption_table(table, tmp_path / "spot_interruption_frequency.json")
    reloaded = load_interruption_table(path)
    assert reloaded.buckets == table.buckets and reloaded.how_recorded == "advisor feed"
    sheet = build_price_sheet(NEWEST, "us-east-1", instance_types=["r6i.xlarge"], interruption_table=reloaded)
    assert sheet.instances["r6i.xlarge"].interruption_rate_per_month == 0.15
    assert not any("recorded by hand as of" in note for note in sheet.notes)


def test_advisor_documents_of_another_shape_are_refused():
    with pytest.raises(ValueError, match="not a Spot Advisor document"):
        interruption_table_from_advisor({"prices": []}, fetched_at=date(2026, 11, 27))
    with pytest.raises(ValueError, match=r"no Linux entries for \['sa-east-1'\]"):
        interruption_table_from_advisor(
            ADVISOR_DOCUMENT, fetched_at=date(2026, 11, 27), regions=["sa-east-1"]
        )
    assert [bucket_upper_bound(label) for label, _ in INTERRUPTION_BUCKETS] == [0.05, 0.10, 0.15, 0.20, 0.25]
    with pytest.raises(ValueError, match="'rare'"):
        bucket_upper_bound("rare")
