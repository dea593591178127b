"""Price lookups: on-demand, reserved, and the spot price in force at an instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from costing.pricing.parse import SpotPricePoint


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# r6i.xlarge spot in two AZs: 1a changes twice, 1b once.
HISTORY = [
    SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0800, utc(2025, 5, 1)),
    SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0900, utc(2025, 5, 11)),
    SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0700, utc(2025, 5, 21)),
    SpotPricePoint("r6i.xlarge", "us-east-1b", 0.1000, utc(2025, 5, 1)),
]


@pytest.fixture
def catalog(make_catalog):
    return make_catalog(
        {("us-east-1", "r6i.xlarge"): "0.2520000000", ("eu-west-1", "r6i.xlarge"): "0.2820000000"},
        spot=HISTORY,
        spot_window_start=utc(2025, 5, 1),
        spot_window_end=utc(2025, 5, 31),
    )


def test_on_demand_lookup(catalog):
    assert catalog.on_demand_usd_per_hour("r6i.xlarge", "us-east-1") == pytest.approx(0.252)
    assert catalog.on_demand_usd_per_hour("r6i.xlarge", "eu-west-1") == pytest.approx(0.282)
    assert catalog.regions == ("eu-west-1", "us-east-1")
    assert catalog.instance_types("us-east-1") == ["r6i.xlarge"]


def test_an_unknown_region_names_the_available_ones(catalog):
    with pytest.raises(ValueError) as error:
        catalog.on_demand_usd_per_hour("r6i.xlarge", "eu-west-3")
    assert str(error.value) == (
        "no on-demand price for r6i.xlarge in eu-west-3 in snapshot test; available regions: eu-west-1, us-east-1"
    )


def test_an_unknown_instance_type_names_what_the_region_has(catalog):
    with pytest.raises(
        ValueError, match=r"no on-demand price for m7i\.large in us-east-1 .* in us-east-1: r6i\.xlarge"
    ):
        catalog.on_demand_usd_per_hour("m7i.large", "us-east-1")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (utc(2025, 5, 1), 0.0800),  # exactly at the first record
        (utc(2025, 5, 5, 13, 30), 0.0800),  # between the first two
        (utc(2025, 5, 11), 0.0900),  # exactly at a change
        (utc(2025, 5, 20, 23, 59, 59), 0.0900),  # one second before the next change
        (utc(2025, 6, 30), 0.0700),  # after the last record the last price still applies
    ],
)
def test_spot_price_in_force_is_the_last_change_at_or_before_the_instant(catalog, when, expected):
    assert catalog.spot_usd_per_hour_at("r6i.xlarge", "us-east-1", "us-east-1a", when) == expected


def test_spot_price_before_the_history_starts_is_unknown(catalog):
    with pytest.raises(
        ValueError, match=r"no spot price in force .* at 2025-04-30T23:00:00.000Z.*starts at 2025-05-01"
    ):
        catalog.spot_usd_per_hour_at("r6i.xlarge", "us-east-1", "us-east-1a", utc(2025, 4, 30, 23))


def test_spot_lookup_refuses_naive_datetimes_and_unknown_azs(catalog):
    with pytest.raises(ValueError, match="no timezone"):
        catalog.spot_usd_per_hour_at("r6i.xlarge", "us-east-1", "us-east-1a", datetime(2025, 5, 5))
    with pytest.raises(ValueError, match=r"us-east-1f.*us-east-1a, us-east-1b"):
        catalog.spot_usd_per_hour_at("r6i.xlarge", "us-east-1", "us-east-1f", utc(2025, 5, 5))


def test_spot_history_and_current_price(catalog):
    assert catalog.spot_history("r6i.xlarge", "us-east-1") == HISTORY
    assert catalog.availability_zones("r6i.xlarge", "us-east-1") == ["us-east-1a", "us-east-1b"]
    # Mean over AZs of each AZ's latest price: (0.07 + 0.10) / 2.
    assert catalog.current_spot_usd_per_hour("r6i.xlarge", "us-east-1") == pytest.approx(0.085)
    with pytest.raises(ValueError, match=r"no spot price history for r6i.xlarge in eu-west-1"):
        catalog.current_spot_usd_per_hour("r6i.xlarge", "eu-west-1")


def test_spot_summary_is_time_weighted_over_the_window(catalog):
    summary = catalog.spot_summary("r6i.xlarge", "us-east-1")
    one_a = summary["us-east-1a"]
    # Window 2025-05-01..05-31: 0.08 for 10 days, 0.09 for 10 days, 0.07 for 10 days.
    assert one_a.current_usd_per_hour == pytest.approx(0.07)
    assert one_a.min_usd_per_hour == pytest.approx(0.07)
    assert one_a.mean_usd_per_hour == pytest.approx((0.08 + 0.09 + 0.07) / 3)
    assert one_a.p90_usd_per_hour == pytest.approx(0.09)
    assert one_a.price_changes == 3
    assert summary["us-east-1b"].mean_usd_per_hour == pytest.approx(0.10)


def test_shipped_catalog_has_the_default_instance_everywhere(shipped_catalog):
    from costing.pricing.defaults import DEFAULT_INSTANCE_TYPE

    assert shipped_catalog.regions == ("eu-west-1", "us-east-1")
    assert shipped_catalog.on_demand_usd_per_hour(DEFAULT_INSTANCE_TYPE, "us-east-1") == pytest.approx(0.252)
    assert shipped_catalog.on_demand_usd_per_hour(DEFAULT_INSTANCE_TYPE, "eu-west-1") == pytest.approx(0.282)
    assert len(shipped_catalog.instance_types("us-east-1")) >= 20
    assert len(shipped_catalog.instance_types("eu-west-1")) >= 20
    for region in shipped_catalog.regions:
        on_demand = shipped_catalog.on_demand_usd_per_hour(DEFAULT_INSTANCE_TYPE, region)
        spot = shipped_catalog.current_spot_usd_per_hour(DEFAULT_INSTANCE_TYPE, region)
        assert 0.3 * on_demand <= spot <= 0.7 * on_demand  # 30-70% below on-demand, as publicly observed
    assert shipped_catalog.reserved_usd_per_hour("m5.large", "us-east-1", 1, "No Upfront") == pytest.approx(
        0.06
    )


def test_every_shipped_spot_price_is_below_on_demand(shipped_catalog):
    for region in shipped_catalog.regions:
        for instance_type in shipped_catalog.instance_types(region):
            on_demand = shipped_catalog.on_demand_usd_per_hour(instance_type, region)
            for point in shipped_catalog.spot_history(instance_type, region):
                assert 0.2 * on_demand <= point.usd_per_hour < on_demand, (instance_type, point)


def test_spot_percentile_pools_the_azs_time_weighted(catalog):
    # 1a: $0.07, $0.08, $0.09 for 10 days each; 1b: $0.10 for 30 days -> 60 AZ-days in all.
    assert catalog.spot_percentile_usd_per_hour("r6i.xlarge", "us-east-1", 0.9) == pytest.approx(0.10)
    assert catalog.spot_percentile_usd_per_hour("r6i.xlarge", "us-east-1", 0.5) == pytest.approx(0.09)
    with pytest.raises(ValueError, match="fraction=90"):
        catalog.spot_percentile_usd_per_hour("r6i.xlarge", "us-east-1", 90)


def test_a_zero_row_under_an_unknown_product_family_is_not_an_instance_price(on_demand_document):
    """It once passed validation and then broke every lookup: "2 different on-demand prices [0.0, 0.096]"."""
    from datetime import date

    from costing.pricing.catalog import PriceCatalog
    from costing.pricing.parse import parse_price_list

    good = on_demand_document("m5.large", "us-east-1", "0.0960000000", sku="GOODSKU000000001")
    odd = on_demand_document("m5.large", "us-east-1", "0.0000000000", sku="ODDSKU0000000001")
    odd["product"]["productFamily"] = "Compute Instance (reserved capacity block)"
    records = parse_price_list([good, odd], region="us-east-1")
    catalog = PriceCatalog(snapshot_id="t", effective_date=date(2025, 6, 1), records=records, spot_points=[])
    assert catalog.on_demand_usd_per_hour("m5.large", "us-east-1") == 0.096
