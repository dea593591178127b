"""Amazon SageMaker endpoints: real-time (the cheapest ``ml.*`` instance type that fits, run as an
always-on fleet) and serverless (memory x duration + data processed, like Lambda with SageMaker's
memory sizes and no request charge). Both are invoked through the SageMaker Runtime API.
"""

from __future__ import annotations

import math

from costing.choices import SAGEMAKER_REALTIME, SAGEMAKER_SERVERLESS
from costing.model.assumptions import (
    BURSTABLE_BASELINE_UTILISATION,
    KEEP_WARM_PING_BILLED_MS,
    KEEP_WARM_PINGER_MEMORY_MB,
    SAGEMAKER_HOSTING_MINIMUM_BILLED_SECONDS,
    SAGEMAKER_SERVERLESS_KEEP_WARM,
    SAGEMAKER_SERVERLESS_MAX_CONCURRENCY,
    SAGEMAKER_SERVERLESS_MB_PER_VCPU,
    SAGEMAKER_SERVERLESS_MEMORY_MB,
    ServingAssumptions,
)
from costing.model.drivers import Line, MissingRate, sheet_rate, sheet_tiers
from costing.model.platforms.base import SupportRates, free_tier_caveat
from costing.model.platforms.design import FrontDoor, interface_endpoint, placement, proxy_function
from costing.model.platforms.fleet import (
    FleetPlan,
    UnitRate,
    capacity_caveat,
    cheapest_plan,
    fleet_details,
    serving_point,
)
from costing.model.platforms.serverless import (
    ProvisionedRates,
    ServerlessPlan,
    ServerlessPlatform,
    ServerlessRates,
    plan_serverless,
)
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost, infeasible
from costing.pricing.sheet import FreeTierAllowances, PriceSheet, PriceTier
from costing.units import MB_PER_GB


def front_door(sheet: PriceSheet, a: ServingAssumptions) -> FrontDoor:
    """Public: a proxy function behind a function URL (an endpoint has no public URL); internal:
    InvokeEndpoint through an interface endpoint in each zone (raises MissingRate)."""
    return proxy_function(sheet) if a.public else interface_endpoint(sheet, a, "runtime.sagemaker")


def plan_sagemaker_realtime(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> FleetPlan | OptionCost:
    """The cheapest ``ml.*`` real-time endpoint configuration at ``requests_per_day``."""
    if not sheet.sagemaker_instances:
        return infeasible(
            SAGEMAKER_REALTIME,
            None,
            f"price sheet {sheet.snapshot_id} ({sheet.region}) has no SageMaker real-time instance prices",
        )
    try:
        support = SupportRates.from_sheet(sheet, free_tier=a.apply_free_tiers)
        door = front_door(sheet, a)
    except MissingRate as exc:
        return infeasible(SAGEMAKER_REALTIME, None, f"{exc} (needed for the supporting infrastructure)")
    plans, reasons = [], []
    for ml in sorted(sheet.sagemaker_instances.values(), key=lambda r: r.usd_per_hour):
        point = serving_point(profile, a, ml.vcpus, ml.memory_gib * MB_PER_GB)
        if isinstance(point, str):
            reasons.append(f"{ml.instance_type}: {point}")
            continue
        plans.append(
            FleetPlan(
                option=SAGEMAKER_REALTIME,
                instance_type=ml.instance_type,
                config=f"{{units}} x {ml.instance_type}, batch {point.batch_size}",
                model_file_bytes=profile.model_file_bytes,
                support=support,
                assumptions=a,
                caveats=(
                    *((PROXY_CAVEAT,) if a.public else ()),
                    "ML storage volume and real-time data-processing charges are not in the price sheet",
                    "fleet sized for the peak hour and running 24/7 (no autoscaling)",
                    "billed per second while an instance runs; AWS publishes no minimum per start",
                    capacity_caveat(point),
                    free_tier_caveat(a, sheet),
                ),
                details=fleet_details(point) | {"usd_per_hour": ml.usd_per_hour},
                unit_rates=(
                    UnitRate(
                        f"Real-time endpoint instance ({ml.instance_type})",
                        "AmazonSageMaker",
                        "hours",
                        1.0,
                        ml.usd_per_hour,
                    ),
                ),
                capacity_rps=point.capacity_rps,
                latency_p95_seconds=point.latency_p95_seconds,
                burstable_baseline=BURSTABLE_BASELINE_UTILISATION.get(ml.instance_type),
                root_volume=False,
                minimum_billed_seconds=SAGEMAKER_HOSTING_MINIMUM_BILLED_SECONDS,
                front_door=door,
                placement=placement(a),
            )
        )
    best = cheapest_plan(plans, requests_per_day)
    if best is None:
        return infeasible(SAGEMAKER_REALTIME, None, "no ml.* instance type fits: " + "; ".join(reasons))
    return best


PROXY_CAVEAT = (
    "the proxy function in front is billed for the endpoint's p95 latency at its batch size (an upper bound "
    "of the mean), 128 MB"
)


def serverless_rates(sheet: PriceSheet, free_tier: FreeTierAllowances | None) -> ServerlessRates:
    """GB-seconds at one rate and data processed in + out; no request charge and no free tier."""
    return ServerlessRates(
        gb_second_tiers=(
            PriceTier(0.0, math.inf, sheet_rate(sheet, "sagemaker_serverless_usd_per_gb_second")),
        ),
        data_processed_usd_per_gb=sheet_rate(sheet, "sagemaker_serverless_usd_per_gb_processed"),
    )


def serverless_provisioned_rates(sheet: PriceSheet) -> ProvisionedRates:
    return ProvisionedRates(
        usd_per_gb_second=sheet_rate(sheet, "sagemaker_serverless_provisioned_usd_per_gb_second"),
        duration_usd_per_gb_second=sheet_rate(
            sheet, "sagemaker_serverless_provisioned_duration_usd_per_gb_second"
        ),
    )


def serverless_ping_lines(sheet: PriceSheet, memory_mb: float, pings: float) -> tuple[Line, ...]:
    """A month of keep-warm pings: a small function invokes the endpoint (requests and duration of the
    function, each ping's inference on the endpoint)."""
    seconds = KEEP_WARM_PING_BILLED_MS / 1000.0
    return (
        Line(
            "Keep-warm pinger function (requests)",
            "AWSLambda",
            "1M requests",
            pings / 1e6,
            sheet_rate(sheet, "lambda_usd_per_million_requests"),
        ),
        Line(
            f"Keep-warm pinger function ({KEEP_WARM_PINGER_MEMORY_MB} MB x {KEEP_WARM_PING_BILLED_MS:g} ms each)",
            "AWSLambda",
            "GB-seconds",
            pings * seconds * KEEP_WARM_PINGER_MEMORY_MB / MB_PER_GB,
            sheet_tiers(sheet, "lambda_x86_gb_seconds")[0].usd_per_unit,
        ),
        Line(
            f"Keep-warm pings on the endpoint ({memory_mb:,.0f} MB x {KEEP_WARM_PING_BILLED_MS:g} ms each)",
            "AmazonSageMaker",
            "GB-seconds",
            pings * seconds * memory_mb / MB_PER_GB,
            sheet_rate(sheet, "sagemaker_serverless_usd_per_gb_second"),
        ),
    )


SERVERLESS = ServerlessPlatform(
    option=SAGEMAKER_SERVERLESS,
    service="AmazonSageMaker",
    rates=serverless_rates,
    memory_floor_mb=SAGEMAKER_SERVERLESS_MEMORY_MB[0],
    memory_max_mb=SAGEMAKER_SERVERLESS_MEMORY_MB[-1],
    memory_step_mb=1024,
    mb_per_vcpu=SAGEMAKER_SERVERLESS_MB_PER_VCPU,
    platform_log_bytes=0.0,
    config="{memory_mb:,} MB, {duration_ms:,.0f} ms/request",
    caveats=(
        "AWS does not publish a serverless endpoint's vCPU share: 1 vCPU per 1,769 MB assumed (as Lambda)",
    ),
    front_door=front_door,
    max_concurrency=SAGEMAKER_SERVERLESS_MAX_CONCURRENCY,
    concurrency_caveat="peak concurrency {concurrency:,.0f} exceeds the {limit} per-endpoint maximum: "
    "needs several endpoints",
    keep_warm=SAGEMAKER_SERVERLESS_KEEP_WARM,
    provisioned_rates=serverless_provisioned_rates,
    ping_lines=serverless_ping_lines,
)


def plan_sagemaker_serverless(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> ServerlessPlan | OptionCost:
    """Serverless endpoint with the smallest memory size (1-6 GB) that holds the model and meets the SLO."""
    return plan_serverless(SERVERLESS, profile, sheet, a, requests_per_day)
