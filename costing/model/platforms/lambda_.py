"""AWS Lambda: a container-image function (x86) with the smallest memory that holds the model and meets
the SLO; requests + GB-seconds (volume tiers), Lambda's own log lines; reached through its function URL
(public) or an interface endpoint (internal).
"""

from __future__ import annotations

from costing.choices import LAMBDA
from costing.model.assumptions import (
    KEEP_WARM_PING_BILLED_MS,
    LAMBDA_DEFAULT_CONCURRENCY_LIMIT,
    LAMBDA_KEEP_WARM,
    LAMBDA_MAX_MEMORY_MB,
    LAMBDA_MB_PER_VCPU,
    LAMBDA_MEMORY_FLOOR_MB,
    LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST,
    ServingAssumptions,
)
from costing.model.drivers import Line, sheet_rate, sheet_tiers
from costing.model.platforms.design import FrontDoor, FunctionUrl, interface_endpoint
from costing.model.platforms.serverless import (
    ProvisionedRates,
    ServerlessPlan,
    ServerlessPlatform,
    ServerlessRates,
    plan_serverless,
)
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost
from costing.pricing.sheet import FreeTierAllowances, PriceSheet
from costing.units import MB_PER_GB


def lambda_rates(sheet: PriceSheet, free_tier: FreeTierAllowances | None) -> ServerlessRates:
    return ServerlessRates(
        usd_per_million_requests=sheet_rate(sheet, "lambda_usd_per_million_requests"),
        gb_second_tiers=sheet_tiers(sheet, "lambda_x86_gb_seconds"),
        free_requests=free_tier.lambda_requests_per_month if free_tier else 0.0,
        free_gb_seconds=free_tier.lambda_gb_seconds_per_month if free_tier else 0.0,
    )


def provisioned_rates(sheet: PriceSheet) -> ProvisionedRates:
    return ProvisionedRates(
        usd_per_gb_second=sheet_rate(sheet, "lambda_provisioned_usd_per_gb_second"),
        duration_usd_per_gb_second=sheet_rate(sheet, "lambda_provisioned_duration_usd_per_gb_second"),
    )


def ping_lines(sheet: PriceSheet, memory_mb: float, pings: float) -> tuple[Line, ...]:
    """A month of keep-warm pings of the function itself: their requests and billed duration."""
    return (
        Line(
            "Keep-warm pings (requests)",
            "AWSLambda",
            "1M requests",
            pings / 1e6,
            sheet_rate(sheet, "lambda_usd_per_million_requests"),
        ),
        Line(
            f"Keep-warm pings ({memory_mb:,.0f} MB x {KEEP_WARM_PING_BILLED_MS:g} ms each)",
            "AWSLambda",
            "GB-seconds",
            pings * KEEP_WARM_PING_BILLED_MS / 1000.0 * memory_mb / MB_PER_GB,
            sheet_tiers(sheet, "lambda_x86_gb_seconds")[0].usd_per_unit,
        ),
    )


def front_door(sheet: PriceSheet, a: ServingAssumptions) -> FrontDoor:
    """Public: the function URL (free; no API Gateway needed); internal: Invoke through an interface
    endpoint in each zone (raises MissingRate)."""
    return FunctionUrl(fallback="") if a.public else interface_endpoint(sheet, a, "lambda")


PLATFORM = ServerlessPlatform(
    option=LAMBDA,
    service="AWSLambda",
    rates=lambda_rates,
    memory_floor_mb=LAMBDA_MEMORY_FLOOR_MB,
    memory_max_mb=LAMBDA_MAX_MEMORY_MB,
    memory_step_mb=1,
    mb_per_vcpu=LAMBDA_MB_PER_VCPU,
    platform_log_bytes=LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST,
    config="{memory_mb:,} MB x86, {duration_ms:,.0f} ms/request",
    caveats=(
        "CPU share grows with memory (1 vCPU per 1,769 MB); duration scaled from the {benchmark_cpus}-CPU "
        "benchmark",
    ),
    max_concurrency=LAMBDA_DEFAULT_CONCURRENCY_LIMIT,
    concurrency_caveat="peak concurrency {concurrency:,.0f} exceeds the default {limit:,} per region: "
    "request a quota increase",
    front_door=front_door,
    keep_warm=LAMBDA_KEEP_WARM,
    provisioned_rates=provisioned_rates,
    ping_lines=ping_lines,
)


def plan_lambda(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> ServerlessPlan | OptionCost:
    """A container-image function (x86) with the smallest memory that holds the model and meets the SLO."""
    return plan_serverless(PLATFORM, profile, sheet, a, requests_per_day)
