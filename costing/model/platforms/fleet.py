"""Always-on fleets (EC2, SageMaker real-time, Fargate): instances or tasks sized for the peak hour and
running 24/7, with the starts of each deploy, and the load balancer, NAT gateway, public IPv4 and root
volumes a fleet in our VPC needs.
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
    load_balancer: bool = True
    nat: bool = True  # runs in our VPC: private subnets behind a NAT gateway, or public IPs without one
    root_volume: bool = True  # EC2: a gp3 root volume per instance and agent metrics per instance
    minimum_billed_seconds: float = float(EC2_MINIMUM_BILLED_SECONDS)  # per instance/task start

    def units(self, drivers: Drivers) -> Number:
        a = self.assumptions
        capacity = self.capacity_rps / drivers.latency_factor
        utilisation = inference.minimum(a.target_utilisation * drivers.utilisation_factor, 1.0)
        peak_rps = inference.peak_requests_per_second(drivers.requests_per_day, a.peak_factor)
        units = inference.instances_needed(peak_rps, capacity, utilisation, a.min_instances)
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

    def public_ipv4_addresses(self, units: Number) -> tuple[Number, str]:
        """In-use public IPv4 addresses and what holds them: the ALB (one per AZ), the NAT gateway(s),
        and without a NAT gateway every instance or task (it needs a public IP to pull its image)."""
        a = self.assumptions
        count: Number = 0.0
        holders = []
        if self.load_balancer:
            count += float(a.alb_availability_zones)
            holders.append(f"ALB x{a.alb_availability_zones}")
        if self.nat and a.use_nat_gateway:
            count += float(a.nat_gateways)
            holders.append(f"NAT gateway x{a.nat_gateways}")
        elif self.nat:
            count = count + units
            holders.append("one per instance")
        return count, ", ".join(holders)

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
        requests = self._requests_per_month(drivers)
        latency = self.latency_p95_seconds * drivers.latency_factor
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
        if self.load_balancer:
            mean_rps = inference.mean_requests_per_second(drivers.requests_per_day)
            lcu = inference.alb_lcu_per_hour(mean_rps, latency, a.request_bytes + a.response_bytes)
            lines += [
                Line(
                    "Application Load Balancer",
                    "AWSELB",
                    "hours",
                    HOURS_PER_MONTH,
                    self._price(s.alb_usd_per_hour, drivers),
                ),
                Line(
                    "ALB capacity units",
                    "AWSELB",
                    "LCU-hours",
                    lcu * HOURS_PER_MONTH,
                    self._price(s.alb_usd_per_lcu_hour, drivers),
                ),
            ]
        if self.nat and a.use_nat_gateway:
            nat_gb = (
                requests * a.log_bytes_per_request / BYTES_PER_GB
                + units * a.deploys_per_month * a.container_image_gb
            )
            lines += [
                Line(
                    "NAT gateway",
                    "AmazonVPC",
                    "hours",
                    a.nat_gateways * HOURS_PER_MONTH,
                    self._price(s.nat_usd_per_hour, drivers),
                ),
                Line(
                    "NAT gateway data processed (image pulls, logs)",
                    "AmazonVPC",
                    "GB",
                    nat_gb,
                    self._price(s.nat_usd_per_gb, drivers),
                ),
            ]
        addresses, holders = self.public_ipv4_addresses(units)
        if s.public_ipv4_usd_per_hour:
            lines.append(
                Line(
                    f"Public IPv4 addresses ({holders})",
                    "AmazonVPC",
                    "address-hours",
                    addresses * HOURS_PER_MONTH,
                    self._price(s.public_ipv4_usd_per_hour, drivers),
                )
            )
        metrics = a.custom_metrics_per_service + (
            units * a.custom_metrics_per_instance if self.root_volume else 0.0
        )
        lines += self._metrics_lines(drivers, metrics)
        lines += self._logs_lines(drivers, a.log_bytes_per_request)
        lines += self._egress_lines(drivers)
        lines += self._artifact_lines(drivers)
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
