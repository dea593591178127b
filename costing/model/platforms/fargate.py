"""ECS on Fargate: the cheapest allowed task size that holds the serving processes and meets the SLO,
run like an EC2 fleet in our VPC with the front door and egress the requirement needs (vCPU-hours +
GB-hours, x86; each task start billed >= 1 minute).
"""

from __future__ import annotations

import math

from costing.choices import FARGATE
from costing.model.assumptions import (
    FARGATE_MINIMUM_BILLED_SECONDS,
    FARGATE_TASK_SIZES,
    OS_RESERVED_MB,
    ServingAssumptions,
)
from costing.model.drivers import MissingRate, sheet_rate
from costing.model.platforms.base import SupportRates, free_tier_caveat
from costing.model.platforms.design import placement, vpc_fleet_design
from costing.model.platforms.fleet import (
    FleetPlan,
    UnitRate,
    capacity_caveat,
    cheapest_plan,
    fleet_details,
    serving_point,
)
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost, infeasible
from costing.pricing.sheet import PriceSheet
from costing.units import MB_PER_GB


def plan_fargate(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> FleetPlan | OptionCost:
    """The cheapest Fargate task size (smallest memory per vCPU size that holds its processes) and task count."""
    try:
        vcpu_rate = sheet_rate(sheet, "fargate_usd_per_vcpu_hour")
        gb_rate = sheet_rate(sheet, "fargate_usd_per_gb_hour")
        support = SupportRates.from_sheet(sheet, free_tier=a.apply_free_tiers)
        front_door, egress = vpc_fleet_design(sheet, a)
    except MissingRate as exc:
        return infeasible(FARGATE, None, str(exc))
    plans, reasons = [], []
    for vcpu, sizes in sorted(FARGATE_TASK_SIZES.items()):
        processes = max(1.0, math.floor(vcpu / profile.benchmark_cpus))
        need_mb = processes * profile.serving_memory_mb + OS_RESERVED_MB
        fitting = [gb for gb in sizes if gb * MB_PER_GB >= need_mb]
        if not fitting:
            reasons.append(f"{vcpu:g} vCPU: no memory size up to {max(sizes):g} GB holds {need_mb:,.0f} MB")
            continue
        gb = fitting[0]
        point = serving_point(profile, a, vcpu, gb * MB_PER_GB)
        if isinstance(point, str):
            reasons.append(f"{vcpu:g} vCPU / {gb:g} GB: {point}")
            continue
        size = f"{vcpu:g} vCPU / {gb:g} GB"
        plans.append(
            FleetPlan(
                option=FARGATE,
                instance_type=size,
                config=f"{{units}} tasks x {size}, batch {point.batch_size}",
                model_file_bytes=profile.model_file_bytes,
                support=support,
                assumptions=a,
                caveats=(
                    *egress.left_out,
                    "Linux/x86 rates; 20 GB ephemeral storage included",
                    "fleet sized for the peak hour and running 24/7 (no autoscaling); each task start is "
                    "billed at least 1 minute",
                    capacity_caveat(point),
                    free_tier_caveat(a, sheet),
                ),
                details=fleet_details(point) | {"vcpu": vcpu, "memory_gb": gb},
                unit_rates=(
                    UnitRate(f"Fargate vCPU ({vcpu:g} per task)", "AmazonECS", "vCPU-hours", vcpu, vcpu_rate),
                    UnitRate(f"Fargate memory ({gb:g} GB per task)", "AmazonECS", "GB-hours", gb, gb_rate),
                ),
                capacity_rps=point.capacity_rps,
                latency_p95_seconds=point.latency_p95_seconds,
                root_volume=False,
                minimum_billed_seconds=FARGATE_MINIMUM_BILLED_SECONDS,
                front_door=front_door,
                egress=egress,
                placement=placement(a),
            )
        )
    best = cheapest_plan(plans, requests_per_day)
    if best is None:
        return infeasible(FARGATE, None, "no Fargate task size fits: " + "; ".join(reasons))
    return best
