"""The price sheet: every rate the cost model uses for one region, as plain numbers with units.

This is the contract between *fetching/parsing prices* (``costing.pricing.parse``, ``costing.pricing.snapshot``,
``costing.pricing.catalog``, built by :func:`costing.pricing.sheet_builder.build_price_sheet`) and *computing with
them* (``costing.model`` and friends, which never look at a price document or call AWS).
Every field name carries its unit. ``None`` means "not available in this snapshot": the cost
model must then leave that option out with a reason, never price it at zero. Tiered rates keep both
their first paid tier (the flat field) and every tier (:data:`TIERED_RATES`, :meth:`PriceSheet.tiers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costing.pricing.freshness import SourceAge


@dataclass(frozen=True)
class PriceTier:
    """One volume tier of a rate: usage per month from ``begin`` to ``end`` (in the rate's unit) costs
    ``usd_per_unit``. The last tier of a rate is open-ended (``end`` is infinity)."""

    begin: float
    end: float
    usd_per_unit: float

    def __post_init__(self) -> None:
        if (
            not 0 <= self.begin < self.end
            or not self.usd_per_unit >= 0
            or not math.isfinite(self.usd_per_unit)
        ):
            raise ValueError(f"price tier {self!r}: needs 0 <= begin < end and a finite rate >= 0")


@dataclass(frozen=True)
class InstanceRates:
    """One EC2 instance type in one region."""

    instance_type: str
    vcpus: int
    memory_gib: float
    architecture: str  # "x86_64" | "arm64"
    on_demand_usd_per_hour: float
    spot_usd_per_hour: float | None  # current price, mean over the region's AZs
    spot_p90_usd_per_hour: float | None  # time-weighted p90 over the spot history window
    # effective hourly rate (recurring + upfront amortised over the term), keyed like
    # "1yr/standard/No Upfront", "3yr/convertible/All Upfront"
    reserved_usd_per_hour: dict[str, float] = field(default_factory=dict)
    # AWS Spot Instance Advisor bucket, as the upper bound of the monthly interruption frequency:
    # 0.05 for "<5%", 0.10 for "5-10%", ... 0.25 stands for ">20%"; None if unknown
    interruption_rate_per_month: float | None = None
    # Savings Plans rate per instance-hour (amortised: the commitment's upfront part spread over the
    # term), keyed like "Compute/1yr/No Upfront", "EC2Instance/3yr/All Upfront"
    savings_plan_usd_per_hour: dict[str, float] = field(default_factory=dict)
    # keys of reserved_usd_per_hour / savings_plan_usd_per_hour whose rate the snapshot *derived*
    # (e.g. on-demand x a published average discount), not recorded or fetched from AWS
    derived_rates: frozenset[str] = frozenset()
    spot_basis: str = "spot price history"  # or "Spot Instance Advisor savings" when there is no history


@dataclass(frozen=True)
class SageMakerInstanceRates:
    instance_type: str  # "ml.m5.large"
    vcpus: int
    memory_gib: float
    usd_per_hour: float  # real-time inference endpoint, on-demand


@dataclass(frozen=True)
class MwaaClassRates:
    """One Amazon MWAA environment class in one region."""

    environment_class: str  # "mw1.small"
    environment_usd_per_hour: float
    worker_usd_per_hour: float | None  # each worker beyond the one included; None: not priced
    scheduler_usd_per_hour: float | None  # each scheduler beyond the two included


@dataclass(frozen=True)
class CloudflareWorkersRates:
    """Workers Paid (Standard usage model); source and date travel with the table under include/."""

    monthly_base_usd: float  # subscription
    included_requests_per_month: float
    usd_per_million_requests: float
    included_cpu_ms_per_month: float
    usd_per_million_cpu_ms: float
    max_cpu_ms_per_request: float  # platform limit; a model slower than this cannot run there
    max_memory_mb: float  # per isolate
    source_url: str
    as_of: date


@dataclass(frozen=True)
class FreeTierAllowances:
    """AWS's always-free monthly allowances (an account's, applied only when asked); source and date
    travel with the table under include/."""

    lambda_requests_per_month: float
    lambda_gb_seconds_per_month: float
    data_transfer_out_gb_per_month: float
    cloudwatch_metrics_per_month: float
    cloudwatch_logs_gb_per_month: float
    source_url: str
    as_of: date


@dataclass(frozen=True)
class PriceSheet:
    region: str
    snapshot_id: str
    prices_as_of: date
    instances: dict[str, InstanceRates]
    # storage
    ebs_gp3_usd_per_gb_month: float | None = None
    s3_standard_usd_per_gb_month: float | None = None
    s3_put_usd_per_1k_requests: float | None = None
    s3_get_usd_per_1k_requests: float | None = None
    s3_standard_storage_tiers: tuple[PriceTier, ...] = ()  # GB-month tiers; () = flat first-tier rate
    # network
    data_transfer_out_usd_per_gb: float | None = None  # internet egress, first paid tier
    data_transfer_out_tiers: tuple[PriceTier, ...] = ()  # GB per month
    alb_usd_per_hour: float | None = None
    alb_usd_per_lcu_hour: float | None = None
    nat_gateway_usd_per_hour: float | None = None
    nat_gateway_usd_per_gb: float | None = None
    public_ipv4_usd_per_hour: float | None = None  # per in-use public IPv4 address (since February 2024)
    vpc_endpoint_usd_per_hour: float | None = None  # per interface endpoint per AZ (AWS PrivateLink)
    vpc_endpoint_usd_per_gb: float | None = None  # data processed by interface endpoints, first tier
    vpc_endpoint_data_tiers: tuple[PriceTier, ...] = ()  # GB per month, over all endpoints in the region
    # observability
    cloudwatch_usd_per_metric_month: float | None = None
    cloudwatch_metric_tiers: tuple[PriceTier, ...] = ()  # metrics per month
    cloudwatch_logs_ingest_usd_per_gb: float | None = None
    cloudwatch_logs_storage_usd_per_gb_month: float | None = None
    # serverless
    lambda_usd_per_million_requests: float | None = None
    lambda_x86_usd_per_gb_second: float | None = None
    lambda_arm_usd_per_gb_second: float | None = None
    lambda_x86_gb_second_tiers: tuple[PriceTier, ...] = ()  # GB-seconds per month (per account and region)
    lambda_arm_gb_second_tiers: tuple[PriceTier, ...] = ()
    # provisioned concurrency (x86): per GB-second an environment is kept initialised, and the duration
    # of the requests it serves (instead of the on-demand duration rate); no free tier applies to either
    lambda_provisioned_usd_per_gb_second: float | None = None
    lambda_provisioned_duration_usd_per_gb_second: float | None = None
    eventbridge_scheduler_usd_per_million_invocations: float | None = None  # a schedule firing its target
    fargate_usd_per_vcpu_hour: float | None = None  # Linux/x86
    fargate_usd_per_gb_hour: float | None = None
    fargate_arm_usd_per_vcpu_hour: float | None = None
    fargate_arm_usd_per_gb_hour: float | None = None
    sagemaker_instances: dict[str, SageMakerInstanceRates] = field(default_factory=dict)
    # serverless inference: compute per GB-second of memory configured, data per GB in/out
    sagemaker_serverless_usd_per_gb_second: float | None = None
    sagemaker_serverless_usd_per_gb_processed: float | None = None
    # serverless provisioned concurrency: per GB-second kept warm, and per GB-second of inference it serves
    sagemaker_serverless_provisioned_usd_per_gb_second: float | None = None
    sagemaker_serverless_provisioned_duration_usd_per_gb_second: float | None = None
    # the platform that runs the pipeline: Amazon MWAA, or self-hosted Airflow's database, broker and mail
    mwaa_classes: dict[str, MwaaClassRates] = field(default_factory=dict)  # by class, "mw1.small"
    mwaa_metadata_usd_per_gb_month: float | None = None
    rds_postgres_usd_per_hour: dict[str, float] = field(
        default_factory=dict
    )  # Single-AZ on-demand by db.* class
    rds_gp3_usd_per_gb_month: float | None = None
    rds_backup_usd_per_gb_month: float | None = (
        None  # beyond the free allowance (100 % of provisioned storage)
    )
    elasticache_redis_usd_per_hour: dict[str, float] = field(
        default_factory=dict
    )  # node-based, by cache.* type
    ses_usd_per_1k_emails: float | None = None  # outbound
    cloudflare_workers: CloudflareWorkersRates | None = None
    free_tier: FreeTierAllowances | None = None
    notes: tuple[str, ...] = ()  # what is missing or approximated, in words
    # how old each price source is against its staleness limit, when the sheet was built
    source_ages: tuple[SourceAge, ...] = ()

    def tiers(self, name: str) -> tuple[PriceTier, ...]:
        """The tiers of a tiered rate, or its flat (first paid tier) rate as one open tier; () when absent."""
        flat_field, tier_field = TIERED_RATES[name]
        tiers = getattr(self, tier_field)
        if tiers:
            return tiers
        flat = getattr(self, flat_field)
        return () if flat is None else (PriceTier(0.0, math.inf, float(flat)),)


# tiered rate -> (its flat first-paid-tier field, its tier field)
TIERED_RATES: dict[str, tuple[str, str]] = {
    "data_transfer_out": ("data_transfer_out_usd_per_gb", "data_transfer_out_tiers"),
    "lambda_x86_gb_seconds": ("lambda_x86_usd_per_gb_second", "lambda_x86_gb_second_tiers"),
    "lambda_arm_gb_seconds": ("lambda_arm_usd_per_gb_second", "lambda_arm_gb_second_tiers"),
    "s3_standard_storage": ("s3_standard_usd_per_gb_month", "s3_standard_storage_tiers"),
    "cloudwatch_metrics": ("cloudwatch_usd_per_metric_month", "cloudwatch_metric_tiers"),
    "vpc_endpoint_data": ("vpc_endpoint_usd_per_gb", "vpc_endpoint_data_tiers"),
}
