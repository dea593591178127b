"""The price sheet built from the shipped snapshot and the reference tables."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import fields
from datetime import date

import pytest

from costing.pricing.defaults import DEFAULT_INSTANCE_TYPE, DEFAULT_SNAPSHOT_ROOT
from costing.pricing.sheet import TIERED_RATES, PriceSheet, PriceTier
from costing.pricing.sheet_builder import build_price_sheet, none_fields

NEWEST = DEFAULT_SNAPSHOT_ROOT / "2026-12-07"

# Published list prices in us-east-1 that the sheet must carry, unit for unit (see the recording's notes).
US_EAST_1 = {
    "ebs_gp3_usd_per_gb_month": 0.08,
    "s3_standard_usd_per_gb_month": 0.023,  # first 50 TB
    "s3_put_usd_per_1k_requests": 0.005,
    "s3_get_usd_per_1k_requests": 0.0004,
    "data_transfer_out_usd_per_gb": 0.09,  # first paid tier (up to 10 TB)
    "alb_usd_per_hour": 0.0225,
    "alb_usd_per_lcu_hour": 0.008,
    "nat_gateway_usd_per_hour": 0.045,
    "nat_gateway_usd_per_gb": 0.045,
    "public_ipv4_usd_per_hour": 0.005,  # per in-use address, since February 2024
    "vpc_endpoint_usd_per_hour": 0.01,  # per interface endpoint per AZ
    "vpc_endpoint_usd_per_gb": 0.01,  # first 1 PB a month
    # what a cold start's fix costs: provisioned concurrency (kept initialised, duration it serves), a schedule
    "lambda_provisioned_usd_per_gb_second": 0.0000041667,
    "lambda_provisioned_duration_usd_per_gb_second": 0.0000097222,
    "sagemaker_serverless_provisioned_usd_per_gb_second": 0.000005,  # $0.000005 per second at 1 GB
    "sagemaker_serverless_provisioned_duration_usd_per_gb_second": 0.00001165,
    "eventbridge_scheduler_usd_per_million_invocations": 1.0,
    "cloudwatch_usd_per_metric_month": 0.30,
    "cloudwatch_logs_ingest_usd_per_gb": 0.50,
    "cloudwatch_logs_storage_usd_per_gb_month": 0.03,
    "lambda_usd_per_million_requests": 0.20,
    "lambda_x86_usd_per_gb_second": 0.0000166667,
    "lambda_arm_usd_per_gb_second": 0.0000133334,
    "fargate_usd_per_vcpu_hour": 0.04048,
    "fargate_usd_per_gb_hour": 0.004445,
    "fargate_arm_usd_per_vcpu_hour": 0.03238,
    "fargate_arm_usd_per_gb_hour": 0.00356,
    "sagemaker_serverless_usd_per_gb_second": 0.00002,
    "sagemaker_serverless_usd_per_gb_processed": 0.016,
    # the platform that runs the pipeline (the per-class rates: test_platform_rates.py)
    "mwaa_metadata_usd_per_gb_month": 0.10,
    "rds_gp3_usd_per_gb_month": 0.115,
    "rds_backup_usd_per_gb_month": 0.095,
    "ses_usd_per_1k_emails": 0.10,  # $0.0001 per message
}


@pytest.fixture(scope="module")
def us_sheet() -> PriceSheet:
    return build_price_sheet(NEWEST, "us-east-1")


def test_every_field_is_filled_for_us_east_1(us_sheet):
    assert none_fields(us_sheet) == []
    assert (us_sheet.region, us_sheet.snapshot_id, us_sheet.prices_as_of) == (
        "us-east-1",
        "2026-12-07",
        date(2025, 6, 1),
    )
    for name, expected in US_EAST_1.items():
        assert getattr(us_sheet, name) == expected, name  # exact: scaled without binary noise
    assert {f.name for f in fields(PriceSheet)} - {
        *US_EAST_1,
        *(tiers for _, tiers in TIERED_RATES.values()),
        "region",
        "snapshot_id",
        "prices_as_of",
        "instances",
        "sagemaker_instances",
        "mwaa_classes",
        "rds_postgres_usd_per_hour",
        "elasticache_redis_usd_per_hour",
        "cloudflare_workers",
        "free_tier",
        "notes",
        "source_ages",
    } == set()


def test_tiered_rates_carry_every_published_tier(us_sheet):
    assert us_sheet.data_transfer_out_tiers == (
        PriceTier(0, 10_240, 0.09),
        PriceTier(10_240, 51_200, 0.085),
        PriceTier(51_200, 153_600, 0.07),
        PriceTier(153_600, math.inf, 0.05),
    )
    assert [t.usd_per_unit for t in us_sheet.lambda_x86_gb_second_tiers] == [
        0.0000166667,
        0.000015,
        0.0000133334,
    ]
    assert [t.end for t in us_sheet.cloudwatch_metric_tiers] == [10_000, 250_000, 1_000_000, math.inf]
    assert [t.usd_per_unit for t in us_sheet.s3_standard_storage_tiers] == [0.023, 0.022, 0.021]
    # interface endpoints: data processed over every endpoint in the region, first 1 PB, next 4 PB, over 5 PB
    assert us_sheet.vpc_endpoint_data_tiers == (
        PriceTier(0, 1_048_576, 0.01),
        PriceTier(1_048_576, 5_242_880, 0.006),
        PriceTier(5_242_880, math.inf, 0.004),
    )
    # a flat rate is one open tier
    assert us_sheet.tiers("data_transfer_out")[0].usd_per_unit == us_sheet.data_transfer_out_usd_per_gb
    free = us_sheet.free_tier
    assert (free.lambda_requests_per_month, free.lambda_gb_seconds_per_month) == (1_000_000, 400_000)
    assert (free.data_transfer_out_gb_per_month, free.cloudwatch_metrics_per_month) == (100, 10)


def test_instances_carry_specs_spot_reserved_and_interruption(us_sheet):
    default = us_sheet.instances[DEFAULT_INSTANCE_TYPE]
    assert (default.vcpus, default.memory_gib, default.architecture, default.on_demand_usd_per_hour) == (
        4,
        32.0,
        "x86_64",
        0.252,
    )
    assert 0.3 * 0.252 <= default.spot_usd_per_hour <= default.spot_p90_usd_per_hour < 0.252
    # every reserved term for every type: recorded where reserved.csv has it, derived (and marked) elsewhere
    assert len(default.reserved_usd_per_hour) == 12
    assert default.reserved_usd_per_hour["1yr/standard/No Upfront"] == 0.159  # recorded
    assert "1yr/standard/No Upfront" not in default.derived_rates
    assert default.reserved_usd_per_hour["3yr/standard/No Upfront"] == pytest.approx(0.252 * 0.427)  # derived
    assert "3yr/standard/No Upfront" in default.derived_rates
    # Partial Upfront: half the term's total up front: 0.252 x 0.597 / 2 per hour + 0.252 x 0.597 / 2 x 8,760
    assert default.reserved_usd_per_hour["1yr/standard/Partial Upfront"] == pytest.approx(
        0.252 * 0.597, abs=1e-6
    )
    assert default.interruption_rate_per_month == 0.10  # "5-10%" in the hand-recorded table
    m5 = us_sheet.instances["m5.large"]
    assert (
        m5.reserved_usd_per_hour["1yr/standard/No Upfront"],
        m5.reserved_usd_per_hour["3yr/standard/No Upfront"],
    ) == (
        0.06,
        0.041,
    )
    # Savings Plans: EC2 Instance plans at the standard fractions, Compute plans at the convertible ones
    assert m5.savings_plan_usd_per_hour["EC2Instance/1yr/No Upfront"] == pytest.approx(0.096 * 0.625)
    assert m5.savings_plan_usd_per_hour["Compute/3yr/All Upfront"] == pytest.approx(0.096 * 0.482)
    assert set(m5.savings_plan_usd_per_hour) <= m5.derived_rates
    assert us_sheet.instances["m7g.large"].architecture == "arm64"
    assert len(us_sheet.instances) == 35
    assert set(us_sheet.sagemaker_instances) == {
        "ml.t2.medium",
        "ml.m5.large",
        "ml.m5.xlarge",
        "ml.c5.large",
        "ml.c5.xlarge",
    }
    assert us_sheet.sagemaker_instances["ml.m5.large"].usd_per_hour == 0.115
    workers = us_sheet.cloudflare_workers
    assert (workers.monthly_base_usd, workers.usd_per_million_requests, workers.max_memory_mb) == (
        5.0,
        0.30,
        128.0,
    )


def test_notes_say_what_is_recorded_approximate_or_absent(us_sheet):
    notes = " | ".join(us_sheet.notes)
    assert "recorded by hand" in notes and "illustrative" in notes
    assert "Spot Advisor buckets recorded by hand" in notes
    assert "ec2.reserved: 420 reserved terms for 35 instance types in us-east-1, 414 of them DERIVED" in notes
    assert (
        "ec2.savings_plan: 420 Savings Plans rates for 35 instance types in us-east-1, 420 of them DERIVED"
        in notes
    )


def test_eu_west_1_leaves_out_what_the_snapshot_lacks_with_reasons():
    sheet = build_price_sheet(NEWEST, "eu-west-1")
    assert none_fields(sheet) == [
        "sagemaker_serverless_usd_per_gb_second",
        "sagemaker_serverless_usd_per_gb_processed",
        "sagemaker_serverless_provisioned_usd_per_gb_second",
        "sagemaker_serverless_provisioned_duration_usd_per_gb_second",
        "mwaa_metadata_usd_per_gb_month",  # no MWAA price is recorded for eu-west-1
    ]
    # Lambda's provisioned concurrency is priced in Ireland too, at Ireland's rates
    assert (
        sheet.lambda_provisioned_usd_per_gb_second,
        sheet.lambda_provisioned_duration_usd_per_gb_second,
    ) == (
        0.000004646,
        0.0000108407,
    )
    assert sheet.sagemaker_instances == {}
    notes = " | ".join(sheet.notes)
    assert "sagemaker.serverless.compute: no price for eu-west-1 in snapshot 2026-12-07" in notes
    assert "no SageMaker real-time inference prices for eu-west-1" in notes
    assert (
        sheet.alb_usd_per_hour,
        sheet.nat_gateway_usd_per_hour,
        sheet.cloudwatch_logs_ingest_usd_per_gb,
    ) == (0.0252, 0.048, 0.57)
    assert sheet.instances["r6i.xlarge"].on_demand_usd_per_hour == 0.282
    assert len(sheet.instances["r6i.xlarge"].reserved_usd_per_hour) == 12  # all derived in eu-west-1
    assert sheet.instances["r6i.xlarge"].derived_rates >= set(
        sheet.instances["r6i.xlarge"].reserved_usd_per_hour
    )


def test_requested_instance_types_and_unknown_regions():
    sheet = build_price_sheet(
        NEWEST, "us-east-1", instance_types=["r6i.xlarge", "p5.48xlarge"], interruption_table=None
    )
    assert list(sheet.instances) == ["r6i.xlarge"]
    assert sheet.instances["r6i.xlarge"].interruption_rate_per_month is None
    assert any(
        note.startswith("ec2.instance: p5.48xlarge has no on-demand price in us-east-1")
        for note in sheet.notes
    )
    with pytest.raises(
        ValueError, match=r"no prices for region 'ap-south-1'; its regions are eu-west-1, us-east-1"
    ):
        build_price_sheet(NEWEST, "ap-south-1")


def test_the_default_is_the_newest_shipped_snapshot():
    assert build_price_sheet(region="us-east-1", instance_types=["r6i.xlarge"]).snapshot_id == "2026-12-07"


def test_a_price_in_an_unexpected_unit_is_left_out_not_converted(tmp_path):
    snapshot_dir = tmp_path / NEWEST.name
    shutil.copytree(NEWEST, snapshot_dir)
    path = snapshot_dir / "raw" / "pricing" / "AmazonEC2" / "us-east-1.json"
    document = json.loads(path.read_text())
    items = []
    for item in document["PriceList"]:
        doc = json.loads(item)
        if doc["product"]["attributes"].get("usagetype") == "EBS:VolumeUsage.gp3":
            for term in doc["terms"]["OnDemand"].values():
                for dimension in term["priceDimensions"].values():
                    dimension["unit"] = "GB-Hrs"
        items.append(json.dumps(doc))
    path.write_text(json.dumps({"FormatVersion": "aws_v1", "PriceList": items}))
    from costing.pricing.snapshot import load_snapshot

    sheet = build_price_sheet(
        load_snapshot(snapshot_dir, verify_price_table=False), "us-east-1", instance_types=[]
    )
    assert sheet.ebs_gp3_usd_per_gb_month is None
    assert any("ebs.gp3.storage: published in ['GB-Hrs'], expected ['GB-Mo']" in note for note in sheet.notes)


def test_c6i_is_cheaper_than_c5_in_eu_west_1_for_each_size():
    """AWS's order: c6i about 5 % below c5 in eu-west-1 (the snapshot once carried c5's rates for c6i, and
    the reserved and Savings Plans rates derived from them), at every size the snapshot prices."""
    sheet = build_price_sheet(NEWEST, "eu-west-1")
    sizes = sorted(
        {name.split(".")[1] for name in sheet.instances if name.startswith("c5.")}
        & {name.split(".")[1] for name in sheet.instances if name.startswith("c6i.")}
    )
    assert sizes == ["2xlarge", "large", "xlarge"]
    for size in sizes:
        c5, c6i = sheet.instances[f"c5.{size}"], sheet.instances[f"c6i.{size}"]
        assert c6i.on_demand_usd_per_hour < c5.on_demand_usd_per_hour, size
        # $0.0912 / $0.096, $0.1824 / $0.192, $0.3648 / $0.384
        assert c6i.on_demand_usd_per_hour / c5.on_demand_usd_per_hour == pytest.approx(0.95)
        for rates in ("reserved_usd_per_hour", "savings_plan_usd_per_hour"):
            c5_rates, c6i_rates = getattr(c5, rates), getattr(c6i, rates)
            assert c6i_rates and c6i_rates.keys() == c5_rates.keys()
            assert all(c6i_rates[term] < c5_rates[term] for term in c5_rates), (size, rates)
