"""Always-on fleets (EC2, SageMaker real-time, Fargate): instances or tasks sized for the peak hour (at
least one per zone) and running 24/7, with the starts of each deploy and EC2's root volumes; the front
door and, for a fleet in our VPC, the egress come from the design (:mod:`costing.model.platforms.design`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from costing.model import billing
from costing.model import capacity as inference
from costing.model.assumptions import OS_RESERVED_MB, ServingAssumptions
from costing.model.capacity import Number
from costing.model.drivers import Drivers, Line
from costing.model.platforms.base import Evaluation, OptionPlan
from costing.model.platforms.design import FleetEgress
from costing.model.profile import ModelProfile
from costing.pricing.defaults import MINIMUM_BILLED_SECONDS as EC2_MINIMUM_BILLED_SECONDS
from costing.units import BYTES_PER_GB, HOURS_PER_MONTH, SECONDS_PER_HOUR


class UnitRate(NamedTuple):
    """What one running instance/task is billed per hour, per billing dimension."""

    name: str
    service: str
    unit: str  # "hours", "vCPU-hours", "GB-hours"
    per_unit_hour: float  # dimension units per instance-hour: 1 for instances, vCPUs / GB for Fargate
    usd_per_unit: float


@dataclass(frozen=True)
class FleetPlan(OptionPlan):
    """Always-on instances or tasks sized for the peak."""

    unit_rates: tuple[UnitRate, ...] = ()
    capacity_rps: float = 0.0  # per instance, at the nominal latency
    latency_p95_seconds: float = 0.0  # at the chosen batch size, nominal
    burstable_baseline: float | None = None
    spot: bool = False
    interruption_rate_per_month: float = 0.0
    # a fleet in our VPC (EC2, Fargate) gets its image and ships its logs through the cheapest way out;
    # None: a managed fleet (SageMaker) that needs none
    egress: FleetEgress | None = None
    root_volume: bool = True  # EC2: a gp3 root volume per instance and agent metrics per instance
    minimum_billed_seconds: float = float(EC2_MINIMUM_BILLED_SECONDS)  # per instance/task start

    def units(self, drivers: Drivers) -> Number:
        a = self.assumptions
        capacity = self.capacity_rps / drivers.latency_factor
        utilisation = inference.minimum(a.target_utilisation * drivers.utilisation_factor, 1.0)
        peak_rps = inference.peak_requests_per_second(drivers.requests_per_day, a.peak_factor)
        units = inference.instances_needed(peak_rps, capacity, utilisation, a.instance_floor)
        if self.burstable_baseline is not None:
            mean_rps = inference.mean_requests_per_second(drivers.requests_per_day)
            units = inference.maximum(
                units, inference.burstable_instances_needed(mean_rps, capacity, self.burstable_baseline)
            )
        if self.spot:
            units = units + inference.maximum(
                float(a.spot_min_buffer_instances), inference.ceil(units * a.spot_buffer_fraction)
            )
        return units

    def start_hours(self, units: Number, drivers: Drivers) -> Number:
        """Instance-hours of starts a month: every deploy starts a new instance per running one (they
        overlap for ``deploy_overlap_seconds``), and spot replaces interrupted ones (they warm up);
        each start is billed at least the platform's minimum."""
        a = self.assumptions
        deploy = units * a.deploys_per_month
        hours = deploy * billing.billed_start_seconds(a.deploy_overlap_seconds, self.minimum_billed_seconds)
        if self.spot:
            interruptions = units * self.interruption_rate_per_month * drivers.interruption_factor
            warmup = billing.billed_start_seconds(
                a.spot_replacement_warmup_hours * SECONDS_PER_HOUR, self.minimum_billed_seconds
            )
            hours = hours + interruptions * warmup
        return hours / SECONDS_PER_HOUR

    def evaluate(self, drivers: Drivers) -> Evaluation:
        a, s = self.assumptions, self.support
        units = self.units(drivers)
        hours = units * HOURS_PER_MONTH
        starts = self.start_hours(units, drivers)
        price = drivers.price_factor * (drivers.spot_price_factor if self.spot else 1.0)
        starts_what = "deploys, spot replacements" if self.spot else "deploys"
        lines = []
        for rate in self.unit_rates:
            lines += [
                Line(
                    rate.name, rate.service, rate.unit, hours * rate.per_unit_hour, rate.usd_per_unit * price
                ),
                Line(
                    f"{rate.name}: starts ({starts_what}; >= {self.minimum_billed_seconds:g} s billed each)",
                    rate.service,
                    rate.unit,
                    starts * rate.per_unit_hour,
                    rate.usd_per_unit * price,
                ),
            ]
        if self.commitment is not None:
            owed = self.commitment.owed_line(units, drivers)
            lines += [] if owed is None else [owed]
        if self.root_volume:
            lines.append(
                Line(
                    f"EBS gp3 root volume ({a.ebs_root_gb:g} GB each)",
                    "AmazonEC2",
                    "GB-months",
                    units * a.ebs_root_gb,
                    self._price(s.ebs_usd_per_gb_month, drivers),
                )
            )
        latency = self.latency_p95_seconds * drivers.latency_factor
        lines += self._front_door_lines(drivers, units=units, seconds=latency)
        if self.egress is not None:
            out_gb = (
                self._requests_per_month(drivers) * a.log_bytes_per_request / BYTES_PER_GB
                + units * a.deploys_per_month * a.container_image_gb
            )
            lines += self.egress.lines(self, drivers, units=units, gb=out_gb)
        metrics = a.custom_metrics_per_service + (
            units * a.custom_metrics_per_instance if self.root_volume else 0.0
        )
        lines += self._common_lines(drivers, metrics=metrics, log_bytes_per_request=a.log_bytes_per_request)
        return Evaluation(lines=lines, latency_p95_seconds=latency, units=units)


def serving_point(
    profile: ModelProfile, a: ServingAssumptions, vcpus: float, memory_mb: float
) -> inference.ServingPoint | str:
    return inference.serving_point(
        profile,
        vcpus=vcpus,
        memory_available_mb=memory_mb - OS_RESERVED_MB,
        tokens=a.tokens_per_request,
        latency_slo_seconds=a.latency_slo_ms / 1000.0,
    )


def fleet_details(point: inference.ServingPoint) -> dict[str, Any]:
    return {
        "batch_size": point.batch_size,
        "latency_p95_ms": point.latency_p95_seconds * 1000.0,
        "capacity_rps_per_instance": point.capacity_rps,
        "processes_per_instance": point.processes,
        "capacity_source": point.capacity_source,
        "capacity_rps_per_instance_formula": point.formula_capacity_rps,
        "capacity_measured_to_formula": point.measured_to_formula,
        "capacity_basis": point.basis,
    }


def capacity_caveat(point: inference.ServingPoint) -> str:
    return f"capacity {point.capacity_rps:,.1f} requests/s per instance: {point.basis}"


def cheapest_plan(plans: Iterable[OptionPlan], requests_per_day: float) -> OptionPlan | None:
    best, best_usd = None, math.inf
    for plan in plans:
        usd = float(plan.evaluate(Drivers(requests_per_day=requests_per_day)).usd_per_month)
        if usd < best_usd:
            best, best_usd = plan, usd
    return best
