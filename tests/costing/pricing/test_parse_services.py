"""The parser on every service the cost model prices: price keys, tiers, free tiers, units, instance specs."""

from __future__ import annotations

import json

import pytest

from costing.pricing.parse import (
    PRICE_KEY_UNITS,
    ParseIssue,
    classify_price,
    parse_instance_specs,
    parse_price_list,
    sagemaker_serverless_memory_gb,
    usage_type_without_region,
)


def product(
    service: str,
    family: str,
    usage: str,
    tiers,
    *,
    unit: str,
    region: str = "eu-west-1",
    sku: str = "SKU0000000000001",
    region_field: str = "regionCode",
    **attributes,
) -> str:
    """A get_products document (JSON string) with one OnDemand term and one dimension per tier."""
    dimensions = {}
    for index, (begin, end, usd) in enumerate(tiers):
        code = f"{sku}.JRTCKXETXF.RATE{index:06d}"
        dimensions[code] = {
            "unit": unit,
            "beginRange": begin,
            "endRange": end,
            "pricePerUnit": {"USD": usd},
            "rateCode": code,
            "description": "",
            "appliesTo": [],
        }
    return json.dumps(
        {
            "product": {
                "productFamily": family,
                "sku": sku,
                "attributes": {
                    "usagetype": usage,
                    region_field: region,
                    "servicecode": service,
                    **attributes,
                },
            },
            "serviceCode": service,
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": dimensions,
                        "sku": sku,
                        "offerTermCode": "JRTCKXETXF",
                        "effectiveDate": "2025-06-01T00:00:00Z",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20250601000000",
            "publicationDate": "2025-06-01T00:00:00Z",
        }
    )


@pytest.mark.parametrize(
    ("service", "family", "usage", "key"),
    [
        ("AmazonEC2", "Compute Instance", "EU-BoxUsage:r6i.xlarge", "ec2.instance"),
        ("AmazonEC2", "Storage", "EU-EBS:VolumeUsage.gp3", "ebs.gp3.storage"),
        ("AmazonEC2", "Storage", "EU-EBS:VolumeUsage.gp2", ""),
        ("AmazonEC2", "NAT Gateway", "EU-NatGateway-Hours", "nat_gateway.hours"),
        ("AmazonEC2", "NAT Gateway", "EU-NatGateway-Bytes", "nat_gateway.data_processed"),
        ("AmazonEC2", "NAT Gateway", "EU-RegionalNatGateway-Hours", ""),
        ("AWSDataTransfer", "Data Transfer", "EU-DataTransfer-Out-Bytes", "data_transfer.out.internet"),
        ("AWSDataTransfer", "Data Transfer", "EU-DataTransfer-Regional-Bytes", ""),
        ("AmazonS3", "Storage", "EU-TimedStorage-ByteHrs", "s3.standard.storage"),
        ("AmazonS3", "Storage", "EU-TimedStorage-ZIA-ByteHrs", ""),
        ("AmazonS3", "API Request", "Requests-Tier1", "s3.requests.tier1"),
        ("AmazonS3", "API Request", "USE2-Requests-Tier2", "s3.requests.tier2"),
        ("AWSELB", "Load Balancer-Application", "EU-LoadBalancerUsage", "alb.hours"),
        ("AWSELB", "Load Balancer-Application", "EU-LCUUsage", "alb.lcu_hours"),
        (
            "AWSELB",
            "Load Balancer-Application",
            "EU-Outposts-LCUUsage",
            "",
        ),  # a $0 Outposts rate, not the ALB's
        ("AWSELB", "Load Balancer-Network", "EU-LoadBalancerUsage", ""),
        ("AmazonCloudWatch", "Metric", "CW:MetricMonitorUsage", "cloudwatch.metrics"),
        ("AmazonCloudWatch", "Data Payload", "EU-DataProcessing-Bytes", "cloudwatch.logs.ingest"),
        ("AmazonCloudWatch", "Storage Snapshot", "EU-TimedStorage-ByteHrs", "cloudwatch.logs.storage"),
        ("AWSLambda", "Serverless", "EU-Request", "lambda.requests.x86"),
        ("AWSLambda", "Serverless", "EU-Request-ARM", "lambda.requests.arm"),
        ("AWSLambda", "Serverless", "EU-Lambda-GB-Second", "lambda.duration.x86"),
        ("AWSLambda", "Serverless", "EU-Lambda-GB-Second-ARM", "lambda.duration.arm"),
        ("AWSLambda", "Serverless", "EU-Lambda-Provisioned-GB-Second", "lambda.provisioned_duration.x86"),
        ("AWSLambda", "Serverless", "Lambda-Provisioned-Concurrency", "lambda.provisioned_concurrency.x86"),
        ("AWSLambda", "Serverless", "EU-Lambda-Provisioned-GB-Second-ARM", ""),
        (
            "AWSEvents",
            "EventBridge Scheduler",
            "EU-Scheduler-Invocation",
            "eventbridge.scheduler.invocations",
        ),
        ("AWSEvents", "EventBridge", "EU-Event-64K-Chunks", ""),
        ("AmazonECS", "Compute", "USE1-Fargate-vCPU-Hours:perCPU", "fargate.vcpu_hours.x86"),
        ("AmazonECS", "Compute", "EU-Fargate-ARM-GB-Hours", "fargate.memory_gb_hours.arm"),
        ("AmazonSageMaker", "ML Instance", "USE1-Host:ml.m5.large", "sagemaker.hosting.instance"),
        ("AmazonSageMaker", "ML Instance", "USE1-Train:ml.m5.large", ""),
        (
            "AmazonSageMaker",
            "ML Serverless Inference",
            "USE1-ServerlessInf:Mem-2GB",
            "sagemaker.serverless.compute",
        ),
        (
            "AmazonSageMaker",
            "ML Serverless Inference",
            "USE1-ProvisionedConcurrency:Usage-2GB",
            "sagemaker.serverless.provisioned_concurrency",
        ),
        (
            "AmazonSageMaker",
            "ML Serverless Inference",
            "USE1-ProvisionedConcurrency:Mem-2GB",
            "sagemaker.serverless.provisioned_duration",
        ),
    ],
)
def test_prices_are_classified_by_service_family_and_usage_type(service, family, usage, key):
    assert classify_price(service=service, product_family=family, usage_type=usage) == key
    assert key == "" or key in PRICE_KEY_UNITS


@pytest.mark.parametrize(
    ("usage", "bare"),
    [
        ("EU-NatGateway-Hours", "NatGateway-Hours"),
        ("USE1-Fargate-GB-Hours", "Fargate-GB-Hours"),
        ("APN1-DataTransfer-Out-Bytes", "DataTransfer-Out-Bytes"),
        ("TS-LoadBalancerUsage", "TS-LoadBalancerUsage"),
        ("CW:MetricMonitorUsage", "CW:MetricMonitorUsage"),
        ("LCUUsage", "LCUUsage"),
    ],
)
def test_region_prefix_is_stripped_only_when_it_is_one(usage, bare):
    assert usage_type_without_region(usage) == bare


def test_tiers_are_kept_with_their_bounds():
    doc = product(
        "AWSDataTransfer",
        "Data Transfer",
        "EU-DataTransfer-Out-Bytes",
        [
            ("10240", "51200", "0.0850000000"),
            ("0", "10240", "0.0900000000"),
            ("51200", "Inf", "0.0700000000"),
        ],
        unit="GB",
        region_field="fromRegionCode",
        fromLocation="EU (Ireland)",
        transferType="AWS Outbound",
    )
    records = parse_price_list([doc], region="eu-west-1")
    assert [(r.begin_range, r.end_range, r.usd_rate) for r in records] == [
        ("0", "10240", 0.09),
        ("10240", "51200", 0.085),
        ("51200", "Inf", 0.07),
    ]
    first = records[0]
    assert first.price_key == "data_transfer.out.internet" and first.product_family == "Data Transfer"
    assert (first.begin_range_value, records[-1].end_range_value) == (0.0, float("inf"))
    assert not any(r.free_tier for r in records)
    assert first.label == "eu-west-1 AWSDataTransfer data_transfer.out.internet tier 0-10240"


def test_data_transfer_is_region_checked_by_its_source_region():
    doc = product(
        "AWSDataTransfer",
        "Data Transfer",
        "DataTransfer-Out-Bytes",
        [("0", "Inf", "0.09")],
        unit="GB",
        region="us-east-1",
        region_field="fromRegionCode",
    )
    with pytest.raises(ValueError, match="contains sku SKU0000000000001 for 'us-east-1'"):
        parse_price_list([doc], region="eu-west-1")


def test_a_zero_first_tier_before_a_paid_one_is_a_free_tier_not_an_issue():
    doc = product(
        "AWSDataTransfer",
        "Data Transfer",
        "EU-DataTransfer-Out-Bytes",
        [("0", "100", "0.0000000000"), ("100", "Inf", "0.0900000000")],
        unit="GB",
        region_field="fromRegionCode",
    )
    issues: list[ParseIssue] = []
    free, paid = parse_price_list([doc], region="eu-west-1", issues=issues)
    assert (free.usd_rate, free.zero_price, free.free_tier) == (0.0, True, True)
    assert (paid.usd_rate, paid.free_tier) == (0.09, False)
    assert issues == []
    assert free.to_row()["free_tier"] == "true"


def test_a_zero_price_with_no_paid_tier_after_it_is_not_free():
    doc = product(
        "AmazonEC2", "NAT Gateway", "EU-NatGateway-Hours", [("0", "Inf", "0.0000000000")], unit="Hrs"
    )
    issues: list[ParseIssue] = []
    (record,) = parse_price_list([doc], region="eu-west-1", issues=issues)
    assert record.zero_price and not record.free_tier
    assert "price is 0" in issues[0].message


def test_sagemaker_instances_are_named_by_instance_name():
    doc = product(
        "AmazonSageMaker",
        "ML Instance",
        "USE1-Host:ml.m5.large",
        [("0", "Inf", "0.1150000000")],
        unit="Hrs",
        region="us-east-1",
        instanceName="ml.m5.large",
        vCpu="2",
        memory="8 GiB",
        component="Hosting",
    )
    (record,) = parse_price_list([doc], region="us-east-1")
    assert (record.instance_type, record.price_key, record.usd_rate) == (
        "ml.m5.large",
        "sagemaker.hosting.instance",
        0.115,
    )
    spec = parse_instance_specs([doc])["ml.m5.large"]
    assert (spec.vcpus, spec.memory_gib, spec.architecture) == (2, 8.0, "x86_64")
    assert sagemaker_serverless_memory_gb("USE1-ServerlessInf:Mem-2GB") == 2.0
    assert sagemaker_serverless_memory_gb("USE1-ProvisionedConcurrency:Usage-6GB") == 6.0
    assert sagemaker_serverless_memory_gb("USE1-Host:ml.m5.large") is None


def test_instance_specs_tell_graviton_from_x86(shipped_snapshot):
    specs = shipped_snapshot.instance_specs("us-east-1")
    assert (specs["r6i.xlarge"].vcpus, specs["r6i.xlarge"].memory_gib, specs["r6i.xlarge"].architecture) == (
        4,
        32.0,
        "x86_64",
    )
    assert specs["m7g.large"].architecture == "arm64" and specs["c7g.xlarge"].architecture == "arm64"
    assert specs["g4dn.xlarge"].architecture == "x86_64"
