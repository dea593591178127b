"""EC2: every instance type in the sheet on every market (on-demand, spot, reserved and Savings Plans
1 and 3 years), in our VPC with the front door and egress the requirement needs
(:mod:`costing.model.platforms.design`). The plans do not depend on the request volume (the volume-dependent
choices are made when they are evaluated), so a grid plans them once.
"""

from __future__ import annotations

from collections.abc import Sequence

from costing.choices import EC2_ON_DEMAND, EC2_OPTIONS, EC2_SPOT
from costing.model.assumptions import (
    BURSTABLE_BASELINE_UTILISATION,
    RESERVED_TERM_KEYS,
    SAVINGS_PLAN_TERMS,
    ServingAssumptions,
)
from costing.model.commitments import Commitment
from costing.model.drivers import MissingRate
from costing.model.platforms.base import OptionPlan, SupportRates, free_tier_caveat
from costing.model.platforms.design import placement, vpc_fleet_design
from costing.model.platforms.fleet import FleetPlan, UnitRate, capacity_caveat, fleet_details, serving_point
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost, infeasible
from costing.pricing.sheet import InstanceRates, PriceSheet
from costing.units import MB_PER_GB


def plan_ec2(
    profile: ModelProfile, sheet: PriceSheet, rates: InstanceRates, option: str, a: ServingAssumptions
) -> FleetPlan | OptionCost:
    """EC2 instances of one type on one market, behind an ALB."""
    instance_type = rates.instance_type
    caveats: list[str] = ["fleet sized for the peak hour and running 24/7 (no autoscaling)"]
    rate_name = {EC2_ON_DEMAND: "on-demand", EC2_SPOT: "spot"}.get(option, option.removeprefix("ec2-"))
    interruption_rate = 0.0
    commitment: Commitment | None = None
    if option == EC2_ON_DEMAND:
        usd_per_hour = rates.on_demand_usd_per_hour
    elif option == EC2_SPOT:
        if rates.spot_usd_per_hour is None:
            return infeasible(
                option,
                instance_type,
                f"no spot price for {instance_type} in {sheet.region} in snapshot {sheet.snapshot_id}",
            )
        usd_per_hour = rates.spot_usd_per_hour
        interruption_rate = rates.interruption_rate_per_month
        known = interruption_rate is not None
        if not known:
            interruption_rate = a.default_interruption_rate_per_month
        caveats.append(
            f"spot capacity can be reclaimed with 2 minutes' notice: priced with a buffer of "
            f"max({a.spot_min_buffer_instances}, {a.spot_buffer_fraction:.0%} of the fleet) instance(s) and "
            f"{a.spot_replacement_warmup_hours * 60:g} min warm-up per replacement at "
            f"{interruption_rate:.0%} interruptions/month"
            + ("" if known else " (assumed: no Spot Advisor bucket in the sheet)")
            + "; price is the current mean over AZs (p90 over the window: "
            + (f"${rates.spot_p90_usd_per_hour:.4f}/h" if rates.spot_p90_usd_per_hour is not None else "n/a")
            + ")"
        )
    elif option.removeprefix("ec2-") in RESERVED_TERM_KEYS:
        lease_years = RESERVED_TERM_KEYS[option.removeprefix("ec2-")]
        term = a.reserved_key(lease_years)
        if term not in rates.reserved_usd_per_hour:
            offered = ", ".join(sorted(rates.reserved_usd_per_hour)) or "none"
            return infeasible(
                option,
                instance_type,
                f"no reserved rate {term!r} for {instance_type} in "
                f"{sheet.region} in snapshot {sheet.snapshot_id} (offered: {offered})",
            )
        usd_per_hour = rates.reserved_usd_per_hour[term]
        commitment = Commitment.bought(
            "reserved instances",
            term,
            lease_years=lease_years,
            purchase_option=a.reserved_purchase_option,
            usd_per_hour=usd_per_hour,
            assumptions=a,
        )
        caveats.append(
            f"commits to every hour of a {lease_years}-year term ({term}) of {instance_type}, used or not; "
            "effective rate = hourly part + upfront fee spread over the term"
        )
        if term in rates.derived_rates:
            caveats.append(
                DERIVED_RATE_CAVEAT.format(what=f"reserved rate {term}", instance_type=instance_type)
            )
    else:
        plan_type, lease_years = SAVINGS_PLAN_TERMS[option.removeprefix("ec2-")]
        term = a.savings_plan_key(plan_type, lease_years)
        if term not in rates.savings_plan_usd_per_hour:
            offered = ", ".join(sorted(rates.savings_plan_usd_per_hour)) or "none"
            return infeasible(
                option,
                instance_type,
                f"no Savings Plans rate {term!r} for {instance_type} in {sheet.region} in snapshot "
                f"{sheet.snapshot_id} (offered: {offered})",
            )
        usd_per_hour = rates.savings_plan_usd_per_hour[term]
        commitment = Commitment.bought(
            f"{SAVINGS_PLAN_NAMES[plan_type]} Savings Plan",
            term,
            lease_years=lease_years,
            purchase_option=a.savings_plan_purchase_option,
            usd_per_hour=usd_per_hour,
            assumptions=a,
        )
        scope = (
            "applies to any instance family, size and region, and to Fargate and Lambda"
            if plan_type == "Compute"
            else f"applies to the {instance_type.split('.')[0]} family in {sheet.region} only"
        )
        caveats.append(
            f"a {lease_years}-year {plan_type} Savings Plan ({term}): commits to the fleet's hourly spend at "
            f"the plan rate for every hour of the term, used or not; amortised effective rate; {scope}"
        )
        if term in rates.derived_rates:
            caveats.append(
                DERIVED_RATE_CAVEAT.format(what=f"Savings Plans rate {term}", instance_type=instance_type)
            )
    if commitment is not None:
        caveats.append(commitment.caveat())
    point = serving_point(profile, a, rates.vcpus, rates.memory_gib * MB_PER_GB)
    if isinstance(point, str):
        return infeasible(option, instance_type, f"{instance_type}: {point}")
    baseline = BURSTABLE_BASELINE_UTILISATION.get(instance_type)
    if baseline is not None:
        caveats.append(
            f"burstable: sized so the mean load per instance stays under its {baseline:.0%} CPU baseline"
        )
    if rates.architecture == "arm64":
        caveats.append("arm64 (Graviton): latency was measured on x86; equal per-vCPU speed assumed")
    if point.memory_limited:
        caveats.append(
            f"memory-bound: runs {point.processes:g} serving process(es), fewer than its vCPUs allow"
        )
    try:
        support = SupportRates.from_sheet(sheet, ebs=True, free_tier=a.apply_free_tiers)
        front_door, egress = vpc_fleet_design(sheet, a)
    except MissingRate as exc:
        return infeasible(option, instance_type, f"{exc} (needed for the supporting infrastructure)")
    caveats += [*egress.left_out, capacity_caveat(point), free_tier_caveat(a, sheet)]
    return FleetPlan(
        option=option,
        instance_type=instance_type,
        config=f"{{units}} x {instance_type}, batch {point.batch_size}",
        model_file_bytes=profile.model_file_bytes,
        support=support,
        assumptions=a,
        caveats=tuple(caveats),
        details=fleet_details(point)
        | {"usd_per_hour": usd_per_hour, "on_demand_usd_per_hour": rates.on_demand_usd_per_hour},
        unit_rates=(
            UnitRate(
                f"Instance usage ({instance_type}, {rate_name})", "AmazonEC2", "hours", 1.0, usd_per_hour
            ),
        ),
        capacity_rps=point.capacity_rps,
        latency_p95_seconds=point.latency_p95_seconds,
        burstable_baseline=baseline,
        spot=option == EC2_SPOT,
        interruption_rate_per_month=float(interruption_rate or 0.0),
        front_door=front_door,
        egress=egress,
        placement=placement(a),
        commitment=commitment,
    )


SAVINGS_PLAN_NAMES = {"Compute": "Compute", "EC2Instance": "EC2 Instance"}  # the sheet's plan type, in words

DERIVED_RATE_CAVEAT = (
    "the {what} of {instance_type} is DERIVED in this snapshot (on-demand x an average discount, see its "
    "provenance), not AWS's record: refresh prices for the published rate"
)


def select_instances(sheet: PriceSheet, instance_types: Sequence[str] | None) -> list[InstanceRates]:
    if instance_types is None:
        return [sheet.instances[name] for name in sorted(sheet.instances)]
    missing = [name for name in instance_types if name not in sheet.instances]
    if missing:
        raise ValueError(
            f"instance type(s) {missing} not in price sheet {sheet.snapshot_id} ({sheet.region}); "
            f"available: {', '.join(sorted(sheet.instances))}"
        )
    return [sheet.instances[name] for name in instance_types]


def plan_ec2_fleet(
    profile: ModelProfile,
    sheet: PriceSheet,
    a: ServingAssumptions,
    instance_types: Sequence[str] | None = None,
) -> list[OptionPlan | OptionCost]:
    """EC2 plans for every instance type x market; they do not depend on the request volume."""
    return [
        plan_ec2(profile, sheet, rates, option, a)
        for rates in select_instances(sheet, instance_types)
        for option in EC2_OPTIONS
    ]
