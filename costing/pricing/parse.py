"""Parse AWS pricing documents into flat, typed price records.

Two document kinds come in, both in AWS's own response shape:

* ``pricing.get_products`` -> ``PriceList``: a list of JSON *strings*, one product document each
  (``{"product": {...}, "serviceCode": ..., "terms": {"OnDemand": {...}, "Reserved": {...}}, ...}``).
  Pages of one paginated call are simply concatenated.
* ``ec2.describe_spot_price_history`` -> ``SpotPriceHistory``: a list of price changes per AZ.

The same parser reads live responses and the shipped snapshot, so a snapshot can always be checked
against the documents it was built from. Nothing here talks to AWS.

Every service the cost model prices goes through the same parser: EC2 instances (OnDemand and
Reserved terms), EBS gp3, NAT Gateway, S3, data transfer out, Application Load Balancer, CloudWatch,
Lambda, Fargate and SageMaker, and the platform that runs the pipeline: Amazon MWAA, RDS for
PostgreSQL, ElastiCache for Redis and SES. Each record gets a :data:`price key <PRICE_KEY_UNITS>` that says what
the price is in this project's words (``"ebs.gp3.storage"``, ``"lambda.duration.arm"``), classified
from the service code, product family and usage type (:func:`classify_price`). Tiered prices
(``beginRange``/``endRange``, e.g. data transfer or Lambda duration) become one record per tier with
the tier bounds kept; a zero-priced first tier that a paid tier follows is a legitimate free tier and
is marked ``free_tier``.

Bad input never crashes the parser and never turns into a made-up number: a product without
attributes, a term without price dimensions or a dimension without a USD price is skipped and
reported as a :class:`ParseIssue`. A real published price of zero is kept and flagged.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from costing.pricing.defaults import (
    EC2_CAPACITY_STATUS,
    EC2_LICENSE_MODEL,
    EC2_OPERATING_SYSTEM,
    EC2_PRE_INSTALLED_SW,
    EC2_PRODUCT_FAMILIES,
    EC2_PRODUCT_FAMILY,
    EC2_SERVICE_CODE,
    EC2_TENANCY,
    SPOT_PRODUCT_DESCRIPTION,
)
from costing.units import HOURS_PER_YEAR

logger = logging.getLogger(__name__)

TERM_ON_DEMAND = "OnDemand"
TERM_RESERVED = "Reserved"
TERM_SPOT = "Spot"

UNIT_HOURS = "Hrs"
UNIT_QUANTITY = "Quantity"  # a one-off fee, e.g. a reserved term's upfront payment

# What each price is, in this project's words, and the Price List units it may be published in.
# One place for this fact: the parser classifies into these keys, validation checks the units, the
# price sheet reads them.
PRICE_KEY_UNITS: dict[str, tuple[str, ...]] = {
    "ec2.instance": ("Hrs",),  # EC2 Linux instance-hour (OnDemand or Reserved)
    "ec2.spot": ("Hrs",),  # spot price history point
    "ec2.savings_plan": ("Hrs",),  # Savings Plans rate of an instance-hour (Compute or EC2 Instance plan)
    "ebs.gp3.storage": ("GB-Mo",),
    "s3.standard.storage": ("GB-Mo",),
    "s3.requests.tier1": ("Requests",),  # PUT, COPY, POST, LIST
    "s3.requests.tier2": ("Requests",),  # GET and all other requests
    "data_transfer.out.internet": ("GB",),
    "alb.hours": ("Hrs",),
    "alb.lcu_hours": ("LCU-Hrs",),
    "nat_gateway.hours": ("Hrs",),
    "nat_gateway.data_processed": ("GB",),
    "vpc.public_ipv4": ("Hrs",),  # an in-use public IPv4 address-hour
    "vpc.endpoint.hours": ("Hrs",),  # an interface endpoint (PrivateLink) in one AZ for an hour
    "vpc.endpoint.data_processed": ("GB",),  # data processed by interface endpoints, region-wide tiers
    "cloudwatch.metrics": ("Metrics",),
    "cloudwatch.logs.ingest": ("GB",),
    "cloudwatch.logs.storage": ("GB-Mo",),
    "lambda.requests.x86": ("Requests",),
    "lambda.requests.arm": ("Requests",),
    "lambda.duration.x86": ("Lambda-GB-Second", "GB-Seconds"),
    "lambda.duration.arm": ("Lambda-GB-Second", "GB-Seconds"),
    # provisioned concurrency (x86): the environments kept initialised, and the duration of requests they serve
    "lambda.provisioned_concurrency.x86": ("Lambda-GB-Second", "GB-Seconds"),
    "lambda.provisioned_duration.x86": ("Lambda-GB-Second", "GB-Seconds"),
    "fargate.vcpu_hours.x86": ("hours",),
    "fargate.memory_gb_hours.x86": ("hours",),
    "fargate.vcpu_hours.arm": ("hours",),
    "fargate.memory_gb_hours.arm": ("hours",),
    "sagemaker.hosting.instance": ("Hrs",),  # real-time inference endpoint instance-hour
    "sagemaker.serverless.compute": ("Second", "Seconds", "GB-Second"),  # per second at one memory size
    "sagemaker.serverless.data": ("GB",),  # data processed in / out
    # serverless provisioned concurrency, per second at one memory size: kept warm, and inference duration
    "sagemaker.serverless.provisioned_concurrency": ("Second", "Seconds", "GB-Second"),
    "sagemaker.serverless.provisioned_duration": ("Second", "Seconds", "GB-Second"),
    "eventbridge.scheduler.invocations": ("Invocations",),  # EventBridge Scheduler: a schedule firing
    # the platform that runs the pipeline: Amazon MWAA, or self-hosted Airflow's Postgres, Redis and mail
    "mwaa.environment": ("Hrs",),  # an environment of one class (includes 1 worker, 2 schedulers)
    "mwaa.worker": ("Hrs",),  # each worker beyond the included one, per class
    "mwaa.scheduler": ("Hrs",),  # each scheduler beyond the two included, per class
    "mwaa.metadata_storage": ("GB-Mo",),  # the environment's metadata database storage
    "rds.postgres.instance": ("Hrs",),  # RDS for PostgreSQL, Single-AZ, on-demand, per db.* class
    "rds.gp3.storage": ("GB-Mo",),  # RDS gp3 storage, Single-AZ
    "rds.backup": ("GB-Mo",),  # RDS backup storage beyond the free allowance (100 % of provisioned storage)
    "elasticache.redis.node": ("Hrs",),  # ElastiCache node-based Redis OSS, on-demand, per cache.* type
    # SES outbound email, per message; the unit is not verified against a live document, hence three names
    "ses.emails": ("Count", "Recipients", "Messages"),
}
PRICE_KEYS: tuple[str, ...] = tuple(PRICE_KEY_UNITS)

# Offer-term and rate codes are stable across the Price List: "<sku>.<offerTermCode>.<rateCode>".
ON_DEMAND_OFFER_TERM_CODE = "JRTCKXETXF"
HOURLY_RATE_CODE = "6YS6EN2CT7"
UPFRONT_FEE_RATE_CODE = "2TG2D8R56U"

PURCHASE_OPTIONS = ("No Upfront", "Partial Upfront", "All Upfront")
OFFERING_CLASSES = ("standard", "convertible")
LEASE_CONTRACT_LENGTHS = {"1yr": 1, "3yr": 3}

# (LeaseContractLength, OfferingClass, PurchaseOption) -> offerTermCode, as published for EC2.
RESERVED_OFFER_TERM_CODES: dict[tuple[str, str, str], str] = {
    ("1yr", "standard", "No Upfront"): "4NA7Y494T4",
    ("1yr", "standard", "Partial Upfront"): "HU7G6KETJZ",
    ("1yr", "standard", "All Upfront"): "6QCMYABX3D",
    ("3yr", "standard", "No Upfront"): "BPH4J8HBKS",
    ("3yr", "standard", "Partial Upfront"): "38NPMPTW36",
    ("3yr", "standard", "All Upfront"): "NQ3QZPMQV9",
    ("1yr", "convertible", "No Upfront"): "7NE97W5U4E",
    ("1yr", "convertible", "Partial Upfront"): "CUZHX8X6JH",
    ("1yr", "convertible", "All Upfront"): "VJWZNREJX2",
    ("3yr", "convertible", "No Upfront"): "Z2E3P23VKM",
    ("3yr", "convertible", "Partial Upfront"): "R5XV2EPZQZ",
    ("3yr", "convertible", "All Upfront"): "MZU6U2429S",
}

# Region code -> the Price List's "location" attribute (older documents carry no "regionCode").
REGION_LOCATIONS: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "sa-east-1": "South America (Sao Paulo)",
}

# Usage types carry a region prefix outside us-east-1 ("EU-", "USE2-", "APN1-"; Fargate and SageMaker
# use "USE1-" in us-east-1 too): "EU" or 2-4 capitals and a number. "TS-" or "Outposts-" are not.
_USAGE_TYPE_REGION_PREFIX = re.compile(r"^(?:EU|[A-Z]{2,4}\d{1,2})-")
_SAGEMAKER_SERVERLESS_MEMORY = re.compile(r"ServerlessInf:Mem-(?P<gb>\d+(?:\.\d+)?)GB$")
# provisioned concurrency of a serverless endpoint: kept warm (Usage) and inference duration (Mem), per size
_SAGEMAKER_PROVISIONED_MEMORY = re.compile(
    r"ProvisionedConcurrency:(?P<kind>Usage|Mem)-(?P<gb>\d+(?:\.\d+)?)GB$"
)

# MWAA per class: "USE1-Airflow-SmallEnvironment", "...-MediumWorker", "...-LargeScheduler" (web servers and
# anything else are not priced); the class is "mw1." + the size in lower case
_MWAA_CLASS_USAGE = re.compile(r"^Airflow-(?P<size>[0-9A-Za-z]+?)(?P<kind>Environment|Worker|Scheduler)$")
MWAA_METADATA_STORAGE_USAGE = "Airflow-StandardDatabaseStorage"
# RDS and ElastiCache bill Extended Support (old engine versions) as surcharges of their own usage types
# ("ExtendedSupport:Yr1-Yr2:PostgreSQL11", "ExtendedSupportYr1_Yr2-NodeUsage:cache.t4g.micro"): never a price
EXTENDED_SUPPORT_MARKER = "ExtendedSupport"
RDS_SINGLE_AZ = "Single-AZ"

_AZ_PATTERN = re.compile(r"^(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d+)(?P<zone>[a-z]|-.+)$")


@dataclass(frozen=True)
class ParseIssue:
    """Something in a pricing document that was skipped or flagged, with where it was."""

    region: str
    sku: str
    message: str
    # True when the item is a price the cost model uses (a classified price key or an EC2 instance):
    # a refresh must not publish a snapshot that lost it this way
    blocking: bool = False

    def __str__(self) -> str:
        return f"{self.region} sku={self.sku or '?'}: {self.message}"


@dataclass(frozen=True)
class PriceRecord:
    """One published price: one OnDemand price dimension, or one Reserved offer term.

    These fields are, in this order, the columns of a snapshot's ``prices.csv`` (spot rows use the
    same columns; see :data:`PRICE_TABLE_COLUMNS`).
    """

    service: str  # Price List service code, e.g. "AmazonEC2"
    sku: str  # product SKU; empty for spot rows
    region: str  # region code, e.g. "us-east-1"
    instance_type: str  # e.g. "r6i.xlarge"; empty for products that are not instances
    usage_type: str  # Price List "usagetype", e.g. "EU-BoxUsage:r6i.xlarge"
    operating_system: str  # "Linux", ...
    tenancy: str  # "Shared", "Dedicated", ...
    pre_installed_sw: str  # "NA" for plain instances
    capacity_status: str  # "Used" for instance prices
    availability_zone: str  # spot rows only; empty otherwise
    term: str  # "OnDemand" | "Reserved" | "Spot"
    unit: str  # what usd_rate is per: "Hrs", "GB-Mo", ...
    usd_rate: float  # effective USD per unit; Reserved: recurring + upfront / hours in the term
    recurring_usd_rate: float  # the pay-as-you-go part of usd_rate (equal to it for OnDemand)
    upfront_usd: float  # one-off fee for the whole reserved term; 0 for OnDemand / No Upfront
    lease_contract_length: str  # Reserved: "1yr" | "3yr"; empty otherwise
    offering_class: str  # Reserved: "standard" | "convertible"
    purchase_option: str  # Reserved: "No Upfront" | "Partial Upfront" | "All Upfront"
    offer_term_code: str  # e.g. "JRTCKXETXF" (OnDemand), "4NA7Y494T4" (1yr standard No Upfront)
    rate_code: str  # "<sku>.<offerTermCode>.<rateCode>" of the recurring dimension
    effective_date: str  # ISO timestamp the price took effect (spot: the price change time)
    zero_price: bool  # True when the published rate is exactly 0 (kept, but worth a second look)
    # -- schema version 2 (snapshots written before it have none of the columns below) --
    product_family: str = ""  # Price List productFamily: "Compute Instance", "Storage", "NAT Gateway", ...
    price_key: str = ""  # what the price is (a PRICE_KEYS entry, e.g. "ebs.gp3.storage"); "" if unclassified
    begin_range: str = ""  # tier start in `unit`, as published ("0", "10240"); "" when the doc has none
    end_range: str = ""  # tier end, "Inf" for the open-ended tier
    free_tier: bool = False  # a zero-priced first tier that a paid tier follows: legitimately free

    @property
    def lease_years(self) -> int | None:
        return LEASE_CONTRACT_LENGTHS.get(self.lease_contract_length)

    @property
    def begin_range_value(self) -> float:
        """The tier start as a number (0 when the document gives none)."""
        return _range_value(self.begin_range, default=0.0)

    @property
    def end_range_value(self) -> float:
        """The tier end as a number (infinity for "Inf" or when the document gives none)."""
        return _range_value(self.end_range, default=math.inf)

    @property
    def label(self) -> str:
        """A short human name for messages: what, where, which term."""
        what = self.price_key or self.usage_type or self.product_family or "?"
        parts = [self.region, self.service, what]
        if self.instance_type:
            parts.append(self.instance_type)
        if self.term == TERM_RESERVED:
            parts.append(f"{self.lease_contract_length} {self.offering_class} {self.purchase_option}")
        elif self.term != TERM_ON_DEMAND:
            parts.append(self.term)
        if self.availability_zone:
            parts.append(self.availability_zone)
        if self.begin_range not in ("", "0") or self.end_range not in ("", "Inf"):
            parts.append(f"tier {self.begin_range or '0'}-{self.end_range or 'Inf'}")
        return " ".join(parts)

    def to_row(self) -> dict[str, str]:
        """This record as a ``prices.csv`` row (strings, floats written losslessly)."""
        return {f.name: _cell(getattr(self, f.name)) for f in fields(self)}


PRICE_TABLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PriceRecord))
# The columns of prices.csv in snapshots of schema version 1 (before product family, price key, tiers).
PRICE_TABLE_COLUMNS_V1: tuple[str, ...] = PRICE_TABLE_COLUMNS[: PRICE_TABLE_COLUMNS.index("product_family")]


@dataclass(frozen=True)
class SpotPricePoint:
    """A spot price change: from ``timestamp`` on, ``usd_per_hour`` applies in that AZ."""

    instance_type: str
    availability_zone: str
    usd_per_hour: float
    timestamp: datetime  # timezone-aware, UTC

    @property
    def region(self) -> str:
        return region_of_availability_zone(self.availability_zone)

    def to_row(self) -> dict[str, str]:
        """This point as a ``prices.csv`` row (term "Spot")."""
        record = PriceRecord(
            service=EC2_SERVICE_CODE,
            sku="",
            region=self.region,
            instance_type=self.instance_type,
            usage_type="",
            operating_system=EC2_OPERATING_SYSTEM,
            tenancy=EC2_TENANCY,
            pre_installed_sw=EC2_PRE_INSTALLED_SW,
            capacity_status="",
            availability_zone=self.availability_zone,
            term=TERM_SPOT,
            unit=UNIT_HOURS,
            usd_rate=self.usd_per_hour,
            recurring_usd_rate=self.usd_per_hour,
            upfront_usd=0.0,
            lease_contract_length="",
            offering_class="",
            purchase_option="",
            offer_term_code="",
            rate_code="",
            effective_date=format_timestamp(self.timestamp),
            zero_price=self.usd_per_hour == 0,
            product_family=EC2_PRODUCT_FAMILY,
            price_key="ec2.spot",
        )
        return record.to_row()


@dataclass(frozen=True)
class InstanceSpec:
    """What an instance type is (not what it costs), from its Price List product attributes."""

    instance_type: str  # "r6i.xlarge", or "ml.m5.large" for SageMaker
    vcpus: int
    memory_gib: float
    architecture: str  # "x86_64" | "arm64"
    physical_processor: str = ""


_GRAVITON_FAMILY = re.compile(r"^(?:ml\.)?(?:a1|[a-z]+\d+g[a-z]*)\.")  # m7g.large, c6gn.xlarge, t4g.small


def parse_instance_specs(price_list: Iterable[str | Mapping[str, Any]]) -> dict[str, InstanceSpec]:
    """vCPUs, memory and CPU architecture per instance type, from EC2 ``Compute Instance`` and SageMaker
    product documents (other products and unreadable items are ignored: prices come from
    :func:`parse_price_list`, which reports them)."""
    specs: dict[str, InstanceSpec] = {}
    for item in price_list:
        try:
            doc = json.loads(item) if isinstance(item, str) else item
        except json.JSONDecodeError:
            continue
        product = doc.get("product") if isinstance(doc, Mapping) else None
        attributes = product.get("attributes") if isinstance(product, Mapping) else None
        if not isinstance(attributes, Mapping):
            continue
        instance_type = str(attributes.get("instanceType") or attributes.get("instanceName") or "")
        vcpu = attributes.get("vcpu") or attributes.get("vCpu")
        memory = str(attributes.get("memory", "")).replace(",", "")
        if not instance_type or instance_type in specs or vcpu is None:
            continue
        memory_match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*GiB\s*$", memory)
        try:
            vcpus = int(str(vcpu))
        except ValueError:
            continue
        if memory_match is None:
            continue
        processor = str(attributes.get("physicalProcessor", ""))
        arm = "graviton" in processor.lower() or bool(_GRAVITON_FAMILY.match(instance_type))
        specs[instance_type] = InstanceSpec(
            instance_type=instance_type,
            vcpus=vcpus,
            memory_gib=float(memory_match.group(1)),
            architecture="arm64" if arm else "x86_64",
            physical_processor=processor,
        )
    return specs


# -- helpers shared with the fetching code ---------------------------------------------------------


def ec2_product_filters(*, region: str, instance_type: str | None = None) -> list[dict[str, str]]:
    """``Filters`` for ``pricing.get_products`` that select EC2 Linux shared-tenancy instance prices.

    The same attribute values are what :class:`costing.pricing.catalog.PriceCatalog` selects on, so a live
    fetch and the shipped snapshot describe the same rows.
    """
    wanted = {
        "regionCode": region,
        "operatingSystem": EC2_OPERATING_SYSTEM,
        "tenancy": EC2_TENANCY,
        "preInstalledSw": EC2_PRE_INSTALLED_SW,
        "licenseModel": EC2_LICENSE_MODEL,
        "capacitystatus": EC2_CAPACITY_STATUS,
    }
    if instance_type is not None:
        wanted["instanceType"] = instance_type
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted.items()]


def region_of_availability_zone(availability_zone: str) -> str:
    """``"us-east-1a"`` -> ``"us-east-1"`` (also local zones such as ``"us-east-1-bos-1a"``)."""
    match = _AZ_PATTERN.match(availability_zone)
    if match is None:
        raise ValueError(
            f"cannot tell the region of availability zone {availability_zone!r}; "
            "expected a name like 'us-east-1a'"
        )
    return match.group("region")


def parse_timestamp(value: str | datetime) -> datetime:
    """A timezone-aware UTC datetime from an ISO string ("...Z" allowed) or a datetime from boto3."""
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone; AWS timestamps are UTC, write e.g. '...Z'")
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a trailing ``Z``, as the AWS CLI prints it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- what a price is ---------------------------------------------------------------------------------


def usage_type_without_region(usage_type: str) -> str:
    """``"EU-NatGateway-Hours"`` -> ``"NatGateway-Hours"``; ``"USE1-Fargate-GB-Hours"`` -> ``"Fargate-GB-Hours"``."""
    return _USAGE_TYPE_REGION_PREFIX.sub("", usage_type, count=1)


def classify_price(
    *,
    service: str,
    product_family: str,
    usage_type: str,
    attributes: Mapping[str, Any] | None = None,
) -> str:
    """The :data:`PRICE_KEYS` entry a Price List product stands for, or ``""`` if the cost model has no
    use for it.

    Classification goes by service code and the usage type without its region prefix, which is what
    the Price List keeps stable across regions; the product family separates look-alikes (an ALB and
    a Network Load Balancer both bill ``LoadBalancerUsage``). Near misses are deliberately left
    unclassified: ``Outposts-LCUUsage`` (a $0 Outposts rate), ``RegionalNatGateway-Hours``,
    ``Lambda-Provisioned-GB-Second-ARM``, ``TimedStorage-ZIA-ByteHrs`` and so on.

    RDS and ElastiCache name the engine only in the product ``attributes`` (every open-source engine
    bills ``InstanceUsage:db.t4g.micro``): without attributes saying PostgreSQL Single-AZ (or Redis) an
    instance or node row is not classified. Extended Support surcharges and Multi-AZ rows never are.
    """
    usage = usage_type_without_region(usage_type)
    attributes = attributes or {}
    if service == EC2_SERVICE_CODE:
        if product_family in EC2_PRODUCT_FAMILIES and usage.startswith("BoxUsage:"):
            return "ec2.instance"
        if usage == "EBS:VolumeUsage.gp3":
            return "ebs.gp3.storage"
        if product_family == "NAT Gateway":
            return {
                "NatGateway-Hours": "nat_gateway.hours",
                "NatGateway-Bytes": "nat_gateway.data_processed",
            }.get(usage, "")
        if usage == "DataTransfer-Out-Bytes":
            return "data_transfer.out.internet"
        return ""
    if service == "AmazonVPC":
        return {
            "PublicIPv4:InUseAddress": "vpc.public_ipv4",
            "VpcEndpoint-Hours": "vpc.endpoint.hours",
            "VpcEndpoint-Bytes": "vpc.endpoint.data_processed",
        }.get(usage, "")
    if service == "AWSDataTransfer":
        return "data_transfer.out.internet" if usage == "DataTransfer-Out-Bytes" else ""
    if service == "AmazonS3":
        return {
            "TimedStorage-ByteHrs": "s3.standard.storage",
            "Requests-Tier1": "s3.requests.tier1",
            "Requests-Tier2": "s3.requests.tier2",
        }.get(usage, "")
    if service == "AWSELB":
        if product_family != "Load Balancer-Application":
            return ""
        return {"LoadBalancerUsage": "alb.hours", "LCUUsage": "alb.lcu_hours"}.get(usage, "")
    if service == "AmazonCloudWatch":
        return {
            "CW:MetricMonitorUsage": "cloudwatch.metrics",
            "DataProcessing-Bytes": "cloudwatch.logs.ingest",
            "TimedStorage-ByteHrs": "cloudwatch.logs.storage",
        }.get(usage, "")
    if service == "AWSLambda":
        return {
            "Request": "lambda.requests.x86",
            "Request-ARM": "lambda.requests.arm",
            "Lambda-GB-Second": "lambda.duration.x86",
            "Lambda-GB-Second-ARM": "lambda.duration.arm",
            "Lambda-Provisioned-Concurrency": "lambda.provisioned_concurrency.x86",
            "Lambda-Provisioned-GB-Second": "lambda.provisioned_duration.x86",
        }.get(usage, "")
    if service == "AWSEvents":
        return "eventbridge.scheduler.invocations" if usage == "Scheduler-Invocation" else ""
    if service == "AmazonECS":
        return {
            "Fargate-vCPU-Hours:perCPU": "fargate.vcpu_hours.x86",
            "Fargate-GB-Hours": "fargate.memory_gb_hours.x86",
            "Fargate-ARM-vCPU-Hours:perCPU": "fargate.vcpu_hours.arm",
            "Fargate-ARM-GB-Hours": "fargate.memory_gb_hours.arm",
        }.get(usage, "")
    if service == "AmazonSageMaker":
        if usage.startswith("Host:ml."):
            return "sagemaker.hosting.instance"
        if _SAGEMAKER_SERVERLESS_MEMORY.search(usage):
            return "sagemaker.serverless.compute"
        if usage.startswith("ServerlessInf:Data-Bytes"):
            return "sagemaker.serverless.data"
        provisioned = _SAGEMAKER_PROVISIONED_MEMORY.search(usage)
        if provisioned:
            return (
                "sagemaker.serverless.provisioned_concurrency"
                if provisioned.group("kind") == "Usage"
                else "sagemaker.serverless.provisioned_duration"
            )
    if service == "AmazonMWAA":
        per_class = _MWAA_CLASS_USAGE.match(usage)
        if per_class:
            return f"mwaa.{per_class.group('kind').lower()}"
        return "mwaa.metadata_storage" if usage.endswith(MWAA_METADATA_STORAGE_USAGE) else ""
    if service == "AmazonRDS":
        deployment = str(attributes.get("deploymentOption", RDS_SINGLE_AZ))
        if EXTENDED_SUPPORT_MARKER in usage or "Multi-AZ" in usage or deployment != RDS_SINGLE_AZ:
            return ""
        if (
            product_family == "Database Instance"
            and usage.startswith("InstanceUsage:db.")
            and attributes.get("databaseEngine") == "PostgreSQL"
            and attributes.get("deploymentOption") == RDS_SINGLE_AZ
        ):
            return "rds.postgres.instance"
        return {"RDS:GP3-Storage": "rds.gp3.storage", "RDS:ChargedBackupUsage": "rds.backup"}.get(usage, "")
    if service == "AmazonElastiCache":
        if EXTENDED_SUPPORT_MARKER in usage:
            return ""
        if (
            product_family == "Cache Instance"
            and usage.startswith("NodeUsage:cache.")
            and attributes.get("cacheEngine") == "Redis"
        ):
            return "elasticache.redis.node"
        return ""
    if service == "AmazonSES":
        return "ses.emails" if usage == "Recipients" else ""
    return ""


def mwaa_environment_class(usage_type: str) -> str | None:
    """The MWAA environment class a per-class usage type prices (``USE1-Airflow-SmallWorker`` -> ``"mw1.small"``,
    ``...-2XLargeEnvironment`` -> ``"mw1.2xlarge"``); None for any other usage type."""
    match = _MWAA_CLASS_USAGE.match(usage_type_without_region(usage_type))
    return f"mw1.{match.group('size').lower()}" if match else None


def sagemaker_serverless_memory_gb(usage_type: str) -> float | None:
    """Memory size of a serverless-inference price published per second (``...ServerlessInf:Mem-2GB``,
    ``...ProvisionedConcurrency:Usage-2GB`` -> 2.0)."""
    match = _SAGEMAKER_SERVERLESS_MEMORY.search(usage_type) or _SAGEMAKER_PROVISIONED_MEMORY.search(
        usage_type
    )
    return float(match.group("gb")) if match else None


# -- Price List documents ----------------------------------------------------------------------------


def parse_price_list(
    price_list: Iterable[str | Mapping[str, Any]],
    *,
    region: str,
    issues: list[ParseIssue] | None = None,
) -> list[PriceRecord]:
    """Flatten a ``get_products`` ``PriceList`` (one or several pages, concatenated) into records.

    ``region`` is the region the documents were requested for; a document for another region is an
    error in the request, so it raises ``ValueError`` instead of being priced under the wrong region.
    Skipped or flagged items are appended to ``issues`` (when given) and logged as warnings.
    For EC2 compute instances only ``capacitystatus == "Used"`` rows are kept: the unused and
    allocated capacity-reservation rows are not what a running instance costs.
    """
    collected: list[ParseIssue] = []
    records: list[PriceRecord] = []
    for position, item in enumerate(price_list):
        records.extend(_parse_product(item, position=position, region=region, issues=collected))
    for issue in collected:
        logger.warning("price list: %s", issue)
    if issues is not None:
        issues.extend(collected)
    return records


def _parse_product(
    item: str | Mapping[str, Any], *, position: int, region: str, issues: list[ParseIssue]
) -> list[PriceRecord]:
    def skip(sku: str, message: str, blocking: bool = False) -> list[PriceRecord]:
        issues.append(ParseIssue(region=region, sku=sku, message=message, blocking=blocking))
        return []

    if isinstance(item, str):
        try:
            doc = json.loads(item)
        except json.JSONDecodeError as error:
            return skip("", f"PriceList item #{position} is not valid JSON ({error}); skipped")
    else:
        doc = item
    if not isinstance(doc, Mapping):
        return skip("", f"PriceList item #{position} is a {type(doc).__name__}, not a product document")

    product = doc.get("product")
    attributes = product.get("attributes") if isinstance(product, Mapping) else None
    sku = str(product.get("sku", "")) if isinstance(product, Mapping) else ""
    if not isinstance(attributes, Mapping) or not attributes:
        return skip(sku, "product has no attributes; skipped")

    _check_region(attributes, region=region, sku=sku)
    service = str(doc.get("serviceCode") or attributes.get("servicecode") or "")
    product_family = str(product.get("productFamily", ""))
    # SageMaker names its instances "instanceName" ("ml.m5.large"); EC2 "instanceType".
    instance_type = str(attributes.get("instanceType") or attributes.get("instanceName") or "")
    capacity_status = str(attributes.get("capacitystatus", ""))
    if service == EC2_SERVICE_CODE and product_family in EC2_PRODUCT_FAMILIES:
        if not instance_type:
            return skip(sku, "EC2 compute instance without an instanceType attribute; skipped")
        if capacity_status and capacity_status != EC2_CAPACITY_STATUS:
            return []  # capacity-reservation bookkeeping rows, not instance prices

    usage_type = str(attributes.get("usagetype", ""))
    base = {
        "service": service,
        "sku": sku,
        "region": region,
        "instance_type": instance_type,
        "usage_type": usage_type,
        "operating_system": str(attributes.get("operatingSystem", "")),
        "tenancy": str(attributes.get("tenancy", "")),
        "pre_installed_sw": str(attributes.get("preInstalledSw", "")),
        "capacity_status": capacity_status,
        "availability_zone": "",
        "product_family": product_family,
        "price_key": classify_price(
            service=service, product_family=product_family, usage_type=usage_type, attributes=attributes
        ),
    }
    used = bool(base["price_key"])

    def skip_used(sku: str, message: str) -> list[PriceRecord]:
        return skip(sku, message, blocking=used)

    terms = doc.get("terms")
    if not isinstance(terms, Mapping) or not any(terms.get(name) for name in (TERM_ON_DEMAND, TERM_RESERVED)):
        return skip_used(sku, "product has no OnDemand or Reserved terms; skipped")

    records: list[PriceRecord] = []
    for term_key, term in _terms(terms.get(TERM_ON_DEMAND)):
        records.extend(_on_demand_records(base, term_key, term, skip_used))
    for term_key, term in _terms(terms.get(TERM_RESERVED)):
        record = _reserved_record(base, term_key, term, skip_used)
        if record is not None:
            records.append(record)
    for record in records:
        if record.zero_price and not record.free_tier:
            issues.append(
                ParseIssue(
                    region=region,
                    sku=sku,
                    message=f"published {record.term} price is 0 USD/{record.unit} "
                    f"({record.instance_type or record.usage_type}); kept and flagged zero_price",
                )
            )
    return records


def _check_region(attributes: Mapping[str, Any], *, region: str, sku: str) -> None:
    # Data transfer products name a source and a destination; the source is the region they bill in.
    region_code = attributes.get("regionCode") or attributes.get("fromRegionCode")
    location = attributes.get("location") or attributes.get("fromLocation")
    if region_code:
        found = str(region_code)
    elif location and region in REGION_LOCATIONS:
        found = region if location == REGION_LOCATIONS[region] else str(location)
    else:
        return
    if found != region:
        raise ValueError(
            f"price list for region {region!r} contains sku {sku} for {found!r}; "
            "request one region per get_products call (Filters regionCode=...) and parse each separately"
        )


def _terms(section: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(section, Mapping):
        return []
    return [(str(key), term) for key, term in section.items() if isinstance(term, Mapping)]


def _usd(dimension: Mapping[str, Any]) -> float | None:
    """The dimension's USD price, or None when it is absent or not a finite number."""
    price = dimension.get("pricePerUnit")
    raw = price.get("USD") if isinstance(price, Mapping) else None
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _price_text(dimension: Mapping[str, Any]) -> str:
    """What a dimension's pricePerUnit says, for messages: "priced in CNY only (CNY 0.55)", "USD '-0.096'"."""
    price = dimension.get("pricePerUnit")
    if not isinstance(price, Mapping) or not price:
        return "has no pricePerUnit"
    if "USD" not in price:
        listed = ", ".join(f"{currency} {value}" for currency, value in sorted(price.items()))
        return f"is priced in {', '.join(sorted(price))} only ({listed}), not USD: this project prices in USD"
    return f"has pricePerUnit.USD={price.get('USD')!r}, not a finite number >= 0"


def _dimensions(term: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    section = term.get("priceDimensions")
    if not isinstance(section, Mapping):
        return []
    return [(str(key), dim) for key, dim in section.items() if isinstance(dim, Mapping)]


def _range_value(text: str, *, default: float) -> float:
    if text in ("", None):
        return default
    if str(text).strip().lower() in ("inf", "infinity"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        return default


def _on_demand_records(
    base: dict[str, Any], term_key: str, term: Mapping[str, Any], skip
) -> list[PriceRecord]:
    dimensions = _dimensions(term)
    if not dimensions:
        return skip(base["sku"], f"OnDemand term {term_key} has no priceDimensions; skipped")
    priced: list[tuple[Mapping[str, Any], str, float]] = []
    for dim_key, dim in dimensions:
        usd = _usd(dim)
        if usd is None:
            skip(
                base["sku"], f"OnDemand dimension {dim_key} {_price_text(dim)}; skipped (no usable USD price)"
            )
            continue
        priced.append((dim, dim_key, usd))
    # Tiers in order, so a zero-priced first tier can be recognised as the free allowance before a paid one.
    priced.sort(key=lambda entry: _range_value(str(entry[0].get("beginRange", "")), default=0.0))
    records = []
    for index, (dim, dim_key, usd) in enumerate(priced):
        begin = str(dim.get("beginRange", ""))
        end = str(dim.get("endRange", ""))
        free_tier = (
            usd == 0
            and _range_value(begin, default=0.0) == 0
            and _range_value(end, default=math.inf) != math.inf
            and any(other_usd > 0 for _, _, other_usd in priced[index + 1 :])
        )
        records.append(
            PriceRecord(
                **base,
                term=TERM_ON_DEMAND,
                unit=str(dim.get("unit", "")),
                usd_rate=usd,
                recurring_usd_rate=usd,
                upfront_usd=0.0,
                lease_contract_length="",
                offering_class="",
                purchase_option="",
                offer_term_code=str(term.get("offerTermCode", "")),
                rate_code=str(dim.get("rateCode", dim_key)),
                effective_date=str(term.get("effectiveDate", "")),
                zero_price=usd == 0,
                begin_range=begin,
                end_range=end,
                free_tier=free_tier,
            )
        )
    return records


def _reserved_record(
    base: dict[str, Any], term_key: str, term: Mapping[str, Any], skip
) -> PriceRecord | None:
    sku = base["sku"]
    attributes = term.get("termAttributes")
    if not isinstance(attributes, Mapping):
        skip(sku, f"Reserved term {term_key} has no termAttributes; skipped")
        return None
    lease = str(attributes.get("LeaseContractLength", ""))
    offering_class = str(attributes.get("OfferingClass", ""))
    purchase_option = str(attributes.get("PurchaseOption", ""))
    if lease not in LEASE_CONTRACT_LENGTHS:
        skip(sku, f"Reserved term {term_key} has LeaseContractLength {lease!r}, not 1yr/3yr; skipped")
        return None

    hourly: list[tuple[Mapping[str, Any], str, float]] = []
    upfront: list[float] = []
    for dim_key, dim in _dimensions(term):
        usd = _usd(dim)
        if usd is None:
            skip(
                sku,
                f"Reserved dimension {dim_key} {_price_text(dim)}; term {term_key} skipped (no usable USD price)",
            )
            return None
        unit = dim.get("unit")
        if unit == UNIT_HOURS:
            hourly.append((dim, str(dim.get("rateCode", dim_key)), usd))
        elif unit == UNIT_QUANTITY:
            upfront.append(usd)
    if len(hourly) != 1:
        skip(sku, f"Reserved term {term_key} has {len(hourly)} hourly dimensions, expected 1; skipped")
        return None
    if len(upfront) > 1:
        skip(sku, f"Reserved term {term_key} has {len(upfront)} upfront fees, expected at most 1; skipped")
        return None

    hourly_dimension, rate_code, recurring = hourly[0]
    upfront_usd = upfront[0] if upfront else 0.0
    hours_in_term = LEASE_CONTRACT_LENGTHS[lease] * HOURS_PER_YEAR
    effective = recurring + upfront_usd / hours_in_term
    return PriceRecord(
        **base,
        term=TERM_RESERVED,
        unit=UNIT_HOURS,
        usd_rate=effective,
        recurring_usd_rate=recurring,
        upfront_usd=upfront_usd,
        lease_contract_length=lease,
        offering_class=offering_class,
        purchase_option=purchase_option,
        offer_term_code=str(term.get("offerTermCode", "")),
        rate_code=rate_code,
        effective_date=str(term.get("effectiveDate", "")),
        zero_price=effective == 0,
        begin_range=str(hourly_dimension.get("beginRange", "")),
        end_range=str(hourly_dimension.get("endRange", "")),
    )


# -- spot price history ------------------------------------------------------------------------------


def parse_spot_price_history(
    history: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    region: str,
    product_description: str = SPOT_PRODUCT_DESCRIPTION,
    issues: list[ParseIssue] | None = None,
) -> list[SpotPricePoint]:
    """Spot price changes from a ``describe_spot_price_history`` response (or its pages' items).

    Accepts the response dict or the ``SpotPriceHistory`` list; timestamps may be datetimes (boto3)
    or ISO strings (a saved response). Only ``product_description`` rows are kept. Points are
    returned sorted by instance type, AZ and time. An AZ outside ``region`` raises ``ValueError``.
    """
    items = history.get("SpotPriceHistory", []) if isinstance(history, Mapping) else history
    collected: list[ParseIssue] = []
    points: list[SpotPricePoint] = []
    for position, item in enumerate(items):
        description = item.get("ProductDescription")
        if description is not None and description != product_description:
            continue
        az = str(item.get("AvailabilityZone", ""))
        instance_type = str(item.get("InstanceType", ""))
        label = f"SpotPriceHistory item #{position} ({instance_type or '?'} in {az or '?'})"
        if not az or not instance_type:
            collected.append(ParseIssue(region, "", f"{label} lacks AvailabilityZone/InstanceType; skipped"))
            continue
        az_region = region_of_availability_zone(az)
        if az_region != region:
            raise ValueError(
                f"spot price history for region {region!r} contains availability zone {az!r} "
                f"of region {az_region!r}; call describe_spot_price_history once per region"
            )
        usd = _usd({"pricePerUnit": {"USD": item.get("SpotPrice")}})
        if usd is None:
            collected.append(ParseIssue(region, "", f"{label} has no usable SpotPrice; skipped"))
            continue
        try:
            timestamp = parse_timestamp(item["Timestamp"])
        except (KeyError, ValueError) as error:
            collected.append(ParseIssue(region, "", f"{label} has no usable Timestamp ({error}); skipped"))
            continue
        points.append(SpotPricePoint(instance_type, az, usd, timestamp))
    for issue in collected:
        logger.warning("spot price history: %s", issue)
    if issues is not None:
        issues.extend(collected)
    return sorted(points, key=lambda p: (p.instance_type, p.availability_zone, p.timestamp))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
