"""The price sheet: every rate the cost model uses for one region, as plain numbers with units.

This is the contract between *fetching/parsing prices* (``costing.pricing.parse``, ``costing.pricing.snapshot``,
``costing.pricing.catalog``, built by :func:`costing.pricing.sheet_builder.build_price_sheet`) and *computing with
them* (``costing.model`` and friends, which never look at a price document or call AWS).
Every field name carries its unit. ``None`` means "not available in this snapshot": the cost
model must then leave that option out with a reason, never price it at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


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


@dataclass(frozen=True)
class SageMakerInstanceRates:
    instance_type: str  # "ml.m5.large"
    vcpus: int
    memory_gib: float
    usd_per_hour: float  # real-time inference endpoint, on-demand


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
    # network
    data_transfer_out_usd_per_gb: float | None = None  # internet egress, first paid tier
    alb_usd_per_hour: float | None = None
    alb_usd_per_lcu_hour: float | None = None
    nat_gateway_usd_per_hour: float | None = None
    nat_gateway_usd_per_gb: float | None = None
    # observability
    cloudwatch_usd_per_metric_month: float | None = None
    cloudwatch_logs_ingest_usd_per_gb: float | None = None
    cloudwatch_logs_storage_usd_per_gb_month: float | None = None
    # serverless
    lambda_usd_per_million_requests: float | None = None
    lambda_x86_usd_per_gb_second: float | None = None
    lambda_arm_usd_per_gb_second: float | None = None
    fargate_usd_per_vcpu_hour: float | None = None  # Linux/x86
    fargate_usd_per_gb_hour: float | None = None
    fargate_arm_usd_per_vcpu_hour: float | None = None
    fargate_arm_usd_per_gb_hour: float | None = None
    sagemaker_instances: dict[str, SageMakerInstanceRates] = field(default_factory=dict)
    # serverless inference: compute per GB-second of memory configured, data per GB in/out
    sagemaker_serverless_usd_per_gb_second: float | None = None
    sagemaker_serverless_usd_per_gb_processed: float | None = None
    cloudflare_workers: CloudflareWorkersRates | None = None
    notes: tuple[str, ...] = ()  # what is missing or approximated, in words
