"""Price validation with Great Expectations: what is rejected, and how the failures name the row."""

from __future__ import annotations

import json

import pytest

from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.price_validation import (
    OPTIONAL_PRICE_KEYS,
    REQUIRED_SERVICE_PRICE_KEYS,
    RequiredPrice,
    change_frame,
    required_prices,
    validate_prices,
)
from costing.pricing.snapshot import load_snapshot

NEWEST = DEFAULT_SNAPSHOT_ROOT / "2026-12-01"
PREVIOUS = DEFAULT_SNAPSHOT_ROOT / "2025-06-02"


@pytest.fixture(scope="module")
def newest():
    return load_snapshot(NEWEST)


@pytest.fixture(scope="module")
def oldest():
    return load_snapshot(PREVIOUS)


@pytest.fixture
def frame(newest):
    return newest.to_dataframe()


def _row(frame, **match):
    selected = frame
    for column, value in match.items():
        selected = selected[selected[column] == value]
    assert len(selected) == 1, (match, len(selected))
    return selected.index[0]


def test_the_shipped_snapshot_passes_against_the_previous_one(newest, oldest):
    types = PriceCatalog.from_snapshot(newest).instance_types("us-east-1")
    result = validate_prices(
        newest, required=required_prices(["us-east-1"], instance_types=types), previous=oldest
    )
    assert result.success, result.summary()
    assert (result.snapshot_id, result.previous_snapshot_id, result.rows) == (
        "2026-12-01",
        "2025-06-02",
        2290,
    )
    assert {e["check"]: e["success"] for e in result.expectations} == {
        "not_null": True,
        "positive": True,
        "unit": True,
        "plausible": True,  # no platform rate in 2026-12-01: nothing to bound, nothing refused
        "duplicate": True,
        "required": True,
        "change": True,
    }
    assert result.summary().startswith(
        "price validation of 2026-12-01 (2290 rows, against 2025-06-02): passed"
    )


def test_null_zero_and_negative_rates_are_rejected_by_row(frame):
    null = _row(frame, region="us-east-1", price_key="alb.hours")
    zero = _row(
        frame, region="us-east-1", price_key="ec2.instance", instance_type="r6i.xlarge", term="OnDemand"
    )
    negative = _row(frame, region="eu-west-1", price_key="nat_gateway.hours")
    frame.loc[null, "usd_rate"] = None
    frame.loc[zero, "usd_rate"] = 0.0
    frame.loc[negative, "usd_rate"] = -0.048
    result = validate_prices(frame)
    assert not result.success
    by_check = {(f.check, f.region, f.price_key, f.instance_type): f for f in result.failures}
    assert set(by_check) == {
        ("not_null", "us-east-1", "alb.hours", ""),
        ("positive", "us-east-1", "ec2.instance", "r6i.xlarge"),
        ("positive", "eu-west-1", "nat_gateway.hours", ""),
    }
    zero_failure = by_check["positive", "us-east-1", "ec2.instance", "r6i.xlarge"]
    assert zero_failure.usd_rate == 0.0 and zero_failure.sku == frame.loc[zero, "sku"]
    assert zero_failure.message.startswith(
        f"us-east-1 AmazonEC2 ec2.instance r6i.xlarge (sku {frame.loc[zero, 'sku']}): "
        "usd_rate=0 USD/Hrs is not > 0"
    )
    assert "usd_rate=-0.048 USD/Hrs" in by_check["positive", "eu-west-1", "nat_gateway.hours", ""].message


def test_zero_is_allowed_for_a_flagged_free_tier_and_unclassified_rows(frame):
    tier = _row(frame, region="us-east-1", price_key="data_transfer.out.internet", begin_range="0")
    frame.loc[tier, ["usd_rate", "zero_price", "free_tier"]] = [0.0, True, True]
    unclassified = frame.index[0]
    frame.loc[unclassified, ["price_key", "usd_rate"]] = ["", 0.0]
    result = validate_prices(frame)
    assert result.success, result.summary()
    assert any("unclassified row(s) priced at 0" in w for w in result.warnings)


def test_units_must_be_those_the_price_key_is_published_in(frame):
    index = _row(frame, region="us-east-1", price_key="lambda.requests.x86")
    frame.loc[index, "unit"] = "GB"
    (failure,) = validate_prices(frame).failures
    assert failure.check == "unit"
    assert failure.message.endswith("published in unit 'GB', expected one of ['Requests']")


def test_every_required_price_must_be_present(frame):
    frame = frame[~((frame["region"] == "eu-west-1") & (frame["price_key"] == "fargate.vcpu_hours.arm"))]
    required = required_prices(["us-east-1", "eu-west-1"], instance_types=["r6i.xlarge", "p5.48xlarge"])
    result = validate_prices(frame, required=required)
    assert [str(f.message) for f in result.failures] == [
        "missing required price: us-east-1 ec2.instance p5.48xlarge (OnDemand) - not in the fetched documents; check "
        "the get_products filters for ec2.instance and whether AWS still publishes it",
        "missing required price: eu-west-1 fargate.vcpu_hours.arm (OnDemand) - not in the fetched documents; check "
        "the get_products filters for fargate.vcpu_hours.arm and whether AWS still publishes it",
        "missing required price: eu-west-1 ec2.instance p5.48xlarge (OnDemand) - not in the fetched documents; check "
        "the get_products filters for ec2.instance and whether AWS still publishes it",
    ]
    assert (
        "eu-west-1: no sagemaker.hosting.instance price (optional; the cost model leaves that option out)"
        in result.warnings
    )
    assert "us-east-1: no spot price history for p5.48xlarge" in result.warnings


def test_required_prices_cover_every_service_and_refuse_unknown_keys():
    from costing.pricing.sheet_builder import SERVICE_FIELDS

    # Exactly the PriceSheet's service prices, SageMaker and interface endpoints aside (optional: a warning
    # when missing; without endpoint rates only the internal designs and endpoint egress are left out).
    # A cold start's fixes are optional too: without their rates that fix is not offered.
    fixes = ("lambda.provisioned_", "eventbridge.scheduler.")
    # The platform that runs the pipeline is optional as well: without it the MWAA or self-hosted design is left out.
    platform = ("mwaa.", "rds.", "elasticache.", "ses.")
    assert set(REQUIRED_SERVICE_PRICE_KEYS) == {
        key
        for _, key, _ in SERVICE_FIELDS
        if not key.startswith(("sagemaker.", "vpc.endpoint.", *fixes, *platform))
    }
    assert {key for _, key, _ in SERVICE_FIELDS if key.startswith((*fixes, *platform))} <= set(
        OPTIONAL_PRICE_KEYS
    )
    assert {"vpc.endpoint.hours", "vpc.endpoint.data_processed"} <= set(OPTIONAL_PRICE_KEYS)
    required = required_prices(["us-east-1"], instance_types=["r6i.xlarge"])
    assert {r.price_key for r in required} == {*REQUIRED_SERVICE_PRICE_KEYS, "ec2.instance"}
    assert (
        RequiredPrice("us-east-1", "ec2.instance", "r6i.xlarge").key
        == "us-east-1|ec2.instance|r6i.xlarge|OnDemand"
    )
    with pytest.raises(ValueError, match=r"unknown price keys \['lambda.duration'\]"):
        required_prices(["us-east-1"], price_keys=["lambda.duration"])


@pytest.mark.parametrize(("factor", "ok"), [(1.6, False), (0.4, False), (1.45, True), (0.55, True)])
def test_moves_beyond_50_percent_against_the_previous_snapshot_are_flagged(newest, frame, factor, ok):
    index = _row(frame, region="eu-west-1", price_key="ebs.gp3.storage")
    frame.loc[index, "usd_rate"] = 0.088 * factor
    result = validate_prices(frame, previous=newest)
    assert result.success is ok
    if not ok:
        (failure,) = result.failures
        assert failure.check == "change" and failure.previous_usd_rate == pytest.approx(0.088)
        assert (
            f"0.088 -> {0.088 * factor:.10g} ({(factor - 1) * 100:+.1f}%) moved more than ±50%"
            in failure.message
        )


def test_spot_prices_are_not_compared_but_reserved_ones_are(newest, frame):
    spot = frame.index[frame["term"] == "Spot"][0]
    frame.loc[spot, "usd_rate"] = frame.loc[spot, "usd_rate"] * 3
    reserved = _row(
        frame,
        region="us-east-1",
        instance_type="m5.large",
        term="Reserved",
        lease_contract_length="3yr",
        offering_class="standard",
        purchase_option="No Upfront",
    )
    frame.loc[reserved, "usd_rate"] = 0.1
    changes = change_frame(frame, newest.to_dataframe())
    assert set(changes["term"]) == {"OnDemand", "Reserved", "SavingsPlan"}
    (failure,) = validate_prices(frame, previous=newest).failures
    assert failure.message.startswith("us-east-1 AmazonEC2 ec2.instance m5.large 3yr standard No Upfront")


def test_result_exports_to_json(frame):
    frame.loc[frame.index[3], "usd_rate"] = 0.0
    result = validate_prices(frame, snapshot_id="candidate")
    data = json.loads(result.to_json())
    assert data["success"] is False and data["snapshot_id"] == "candidate"
    assert data["failures"][0]["check"] == "positive" and data["failures"][0]["usd_rate"] == 0.0
    assert {e["expectation"] for e in data["expectations"]} >= {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    }
    with pytest.raises(ValueError, match="max_change=0"):
        validate_prices(frame, max_change=0)


def test_a_price_published_twice_with_different_rates_is_refused_naming_the_sku(frame):
    import pandas as pd

    index = _row(frame, region="us-east-1", price_key="alb.hours")
    same, other = frame.loc[[index]].copy(), frame.loc[[index]].copy()
    other["usd_rate"] = 0.03
    assert validate_prices(pd.concat([frame, same], ignore_index=True)).success  # an identical repeat is fine
    result = validate_prices(pd.concat([frame, other], ignore_index=True))
    (failure,) = result.failures
    assert failure.check == "duplicate" and failure.sku == frame.loc[index, "sku"]
    assert f"sku {failure.sku} rate code " in failure.message
    assert "published 2 times with different usd_rate values (0.0225, 0.03)" in failure.message
