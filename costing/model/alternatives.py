"""The serving alternatives and their monthly cost, with the infrastructure each one needs.

Two steps per alternative, so one implementation serves the scenario grid, the tornado and the
Monte Carlo:

1. **Plan** (``plan_*``): the discrete decisions, made once at the nominal inputs - which batch
   size, which Lambda memory size, which Fargate task size or SageMaker instance type - and the
   rates copied from the :class:`~costing.pricing.sheet.PriceSheet`. A rate the sheet lacks (``None``)
   makes the alternative infeasible with a reason; it is never priced at zero.
2. **Evaluate** (:meth:`OptionPlan.evaluate`): quantities x rates as a function of
   :class:`Drivers` - request volume, latency, utilisation, interruption rate and price multipliers -
   which may be floats or numpy arrays (one element per Monte Carlo sample).

What each alternative includes (every assumption is a field of
:class:`~costing.model.assumptions.ServingAssumptions` or a constant in :mod:`costing.model.assumptions`):

* **EC2 on-demand / spot / reserved 1 yr / 3 yr / Compute and EC2 Instance Savings Plans 1 yr / 3 yr**:
  instances (sized by :mod:`costing.model.capacity`, 24/7) plus the instance-hours of starts (each
  deploy starts a new instance per running one, overlapping for ``deploy_overlap_seconds``; billed
  at least 60 s each), a gp3 root volume each, an internet-facing ALB (hours + LCU-hours), one NAT
  gateway for image pulls and log delivery from private subnets (hours + GB), the public IPv4
  addresses of the ALB (one per AZ) and the NAT gateway, CloudWatch custom metrics and logs, data
  transfer out, the model file in S3. Spot adds a capacity buffer and the warm-up hours of
  replacements at the interruption rate; reserved and Savings Plans use the term's amortised
  effective hourly rate for the same instance type.
* **Lambda**: requests + GB-seconds (memory from :func:`~costing.model.capacity.lambda_memory_mb`,
  the *mean* duration at its CPU share, each request rounded up to 1 ms), invoked through a function
  URL (free; no API Gateway), CloudWatch logs incl. Lambda's own lines, data transfer out, the model
  in S3.
* **SageMaker real-time**: the cheapest ``ml.*`` type that fits, at least ``min_instances``,
  CloudWatch, data transfer out, S3. **SageMaker serverless**: GB-seconds of the configured memory
  at the mean duration + data processed (in + out), CloudWatch logs, data transfer out, S3.
* **ECS Fargate**: the cheapest allowed task size that fits memory and meets the SLO, tasks like
  EC2 instances (vCPU-hours + GB-hours, x86; starts billed at least 1 minute), ALB, NAT, public
  IPv4, CloudWatch, data transfer, S3.
* **Cloudflare Workers**: subscription + requests and CPU-ms (at the mean) beyond the included
  amounts. Marked *not drop-in*: torch does not run in Workers, the model would need a port to JS/WASM.

Volume tiers (data transfer out, Lambda GB-seconds, S3, CloudWatch metrics) are applied at the volume
reached, one cost line per tier reached (:mod:`costing.model.billing`). Free tiers (100 GB out,
Lambda's monthly grant, CloudWatch's free metrics and logs) are applied only with
``ServingAssumptions.apply_free_tiers``, and every option says whether they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from costing.choices import (
    CLOUDFLARE_WORKERS,
    EC2_ON_DEMAND,
    EC2_OPTIONS,
    EC2_SPOT,
    FARGATE,
    LAMBDA,
    OPTIONS,
    SAGEMAKER_REALTIME,
    SAGEMAKER_SERVERLESS,
)
from costing.model import billing
from costing.model import capacity as inference
from costing.model.assumptions import (
    BURSTABLE_BASELINE_UTILISATION,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    FARGATE_MINIMUM_BILLED_SECONDS,
    FARGATE_TASK_SIZES,
    LAMBDA_BILLING_GRANULARITY_MS,
    LAMBDA_DEFAULT_CONCURRENCY_LIMIT,
    LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST,
    MAX_REQUESTS_PER_DAY,
    OS_RESERVED_MB,
    RESERVED_TERM_KEYS,
    SAGEMAKER_HOSTING_MINIMUM_BILLED_SECONDS,
    SAGEMAKER_SERVERLESS_MAX_CONCURRENCY,
    SAGEMAKER_SERVERLESS_MB_PER_VCPU,
    SAGEMAKER_SERVERLESS_MEMORY_MB,
    SAVINGS_PLAN_TERMS,
    WORKERS_MEMORY_PER_MODEL_BYTE,
    ServingAssumptions,
)
from costing.model.capacity import Number
from costing.model.profile import ModelProfile
from costing.model.results import CostComponent, GridResult, OptionCost, ScenarioResult, infeasible
from costing.pricing.defaults import MINIMUM_BILLED_SECONDS as EC2_MINIMUM_BILLED_SECONDS
from costing.pricing.sheet import TIERED_RATES, FreeTierAllowances, InstanceRates, PriceSheet, PriceTier
from costing.units import BYTES_PER_GB, DAYS_PER_MONTH, HOURS_PER_MONTH, MB_PER_GB, SECONDS_PER_HOUR

FREE_TIER_NOT_APPLIED = (
    "free tiers not applied: they belong to an account, not a workload (--free-tier applies them)"
)


def free_tier_caveat(a: ServingAssumptions, sheet: PriceSheet) -> str:
    """Whether the free tiers were applied, and which, in words (every option carries it)."""
    if not a.apply_free_tiers:
        return FREE_TIER_NOT_APPLIED
    free = sheet.free_tier
    if free is None:
        return "free tiers asked for, but the price sheet has no free-tier table: not applied"
    return (
        f"free tiers applied (an account's allowance, shared with everything else in it; {free.source_url} "
        f"as of {free.as_of.isoformat()}): {free.data_transfer_out_gb_per_month:,.0f} GB out, Lambda "
        f"{free.lambda_requests_per_month:,.0f} requests + {free.lambda_gb_seconds_per_month:,.0f} GB-s, "
        f"{free.cloudwatch_metrics_per_month:,.0f} metrics, {free.cloudwatch_logs_gb_per_month:g} GB of logs a month"
    )


@dataclass(frozen=True)
class Drivers:
    """The inputs the sensitivity analysis varies. Each is a float or a numpy array of one shape.

    All but ``requests_per_day`` are multipliers of the nominal value (1.0 = as measured / as priced).
    """

    requests_per_day: Number
    latency_factor: Number = 1.0  # x every measured latency (throughput / this)
    utilisation_factor: Number = 1.0  # x target utilisation, capped at 100 %
    interruption_factor: Number = 1.0  # x the spot interruption rate
    price_factor: Number = 1.0  # x every list price
    spot_price_factor: Number = 1.0  # x spot prices, on top of price_factor
    retrain_factor: Number = 1.0  # x retraining runs per month (used by the TCO)

    def __post_init__(self) -> None:
        for name in (
            "requests_per_day",
            "latency_factor",
            "utilisation_factor",
            "price_factor",
            "spot_price_factor",
        ):
            value = getattr(self, name)
            if not _all_positive(value):
                raise ValueError(f"Drivers.{name}={value!r} must be > 0")
        for name in ("interruption_factor", "retrain_factor"):
            if not _all_non_negative(getattr(self, name)):
                raise ValueError(f"Drivers.{name}={getattr(self, name)!r} must be >= 0")


def _all_positive(value: Number) -> bool:
    import numpy as np

    return bool(np.all(np.asarray(value) > 0))


def _all_non_negative(value: Number) -> bool:
    import numpy as np

    return bool(np.all(np.asarray(value) >= 0))


class Line(NamedTuple):
    """A cost line before it becomes a :class:`CostComponent`; quantity and price may be arrays."""

    name: str
    service: str
    unit: str
    quantity: Number
    usd_per_unit: Number
    optional: bool = False  # a volume tier the usage may not reach: left out of a breakdown when it is 0

    @property
    def usd_per_month(self) -> Number:
        return self.quantity * self.usd_per_unit


class MissingRate(ValueError):
    """The sheet has no rate for something an alternative needs."""


def sheet_rate(sheet: PriceSheet, name: str) -> float:
    """A rate from the sheet; :class:`MissingRate` (a ``ValueError``) naming the field when it is ``None``."""
    value = getattr(sheet, name)
    if value is None:
        raise MissingRate(f"price sheet {sheet.snapshot_id} ({sheet.region}) has no {name}")
    return float(value)


def sheet_tiers(sheet: PriceSheet, name: str) -> tuple[PriceTier, ...]:
    """A tiered rate's tiers (:data:`~costing.pricing.sheet.TIERED_RATES`); :class:`MissingRate` when absent."""
    tiers = sheet.tiers(name)
    if not tiers:
        raise MissingRate(f"price sheet {sheet.snapshot_id} ({sheet.region}) has no {TIERED_RATES[name][0]}")
    return tiers


@dataclass(frozen=True)
class SupportRates:
    """Rates of the supporting services, copied from the sheet when an alternative needs them."""

    cloudwatch_metric_tiers: tuple[PriceTier, ...] = ()
    logs_ingest_usd_per_gb: float = 0.0
    logs_storage_usd_per_gb_month: float = 0.0
    data_transfer_out_tiers: tuple[PriceTier, ...] = ()
    s3_storage_tiers: tuple[PriceTier, ...] = ()
    alb_usd_per_hour: float = 0.0
    alb_usd_per_lcu_hour: float = 0.0
    nat_usd_per_hour: float = 0.0
    nat_usd_per_gb: float = 0.0
    ebs_usd_per_gb_month: float = 0.0
    public_ipv4_usd_per_hour: float = 0.0
    free_tier: FreeTierAllowances | None = None  # only when the assumptions apply the free tiers

    @classmethod
    def from_sheet(
        cls,
        sheet: PriceSheet,
        *,
        alb: bool = False,
        nat: bool = False,
        ebs: bool = False,
        public_ipv4: bool = False,
        free_tier: bool = False,
    ) -> SupportRates:
        """Raises :class:`MissingRate` when a needed rate is ``None``."""
        return cls(
            cloudwatch_metric_tiers=sheet_tiers(sheet, "cloudwatch_metrics"),
            logs_ingest_usd_per_gb=sheet_rate(sheet, "cloudwatch_logs_ingest_usd_per_gb"),
            logs_storage_usd_per_gb_month=sheet_rate(sheet, "cloudwatch_logs_storage_usd_per_gb_month"),
            data_transfer_out_tiers=sheet_tiers(sheet, "data_transfer_out"),
            s3_storage_tiers=sheet_tiers(sheet, "s3_standard_storage"),
            alb_usd_per_hour=sheet_rate(sheet, "alb_usd_per_hour") if alb else 0.0,
            alb_usd_per_lcu_hour=sheet_rate(sheet, "alb_usd_per_lcu_hour") if alb else 0.0,
            nat_usd_per_hour=sheet_rate(sheet, "nat_gateway_usd_per_hour") if nat else 0.0,
            nat_usd_per_gb=sheet_rate(sheet, "nat_gateway_usd_per_gb") if nat else 0.0,
            ebs_usd_per_gb_month=sheet_rate(sheet, "ebs_gp3_usd_per_gb_month") if ebs else 0.0,
            public_ipv4_usd_per_hour=sheet_rate(sheet, "public_ipv4_usd_per_hour") if public_ipv4 else 0.0,
            free_tier=sheet.free_tier if free_tier else None,
        )


@dataclass(frozen=True)
class Evaluation:
    """Cost lines of one alternative under some drivers, plus what was deployed."""

    lines: list[Line]
    latency_p95_seconds: Number
    units: Number  # instances / tasks (0 for per-request platforms)

    @property
    def usd_per_month(self) -> Number:
        return sum(line.usd_per_month for line in self.lines)


@dataclass(frozen=True)
class OptionPlan:
    """An alternative with its discrete choices made; :meth:`evaluate` prices it under any drivers."""

    option: str
    instance_type: str | None
    config: str
    model_file_bytes: float
    support: SupportRates
    assumptions: ServingAssumptions
    caveats: tuple[str, ...] = ()
    drop_in: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return (
            f"{self.option}:{self.instance_type}"
            if self.instance_type and self.option in EC2_OPTIONS
            else self.option
        )

    def evaluate(self, drivers: Drivers) -> Evaluation:
        raise NotImplementedError

    # -- shared supporting lines -------------------------------------------------------------------------

    def _requests_per_month(self, drivers: Drivers) -> Number:
        return drivers.requests_per_day * DAYS_PER_MONTH

    def _price(self, usd: float, drivers: Drivers) -> Number:
        return usd * drivers.price_factor

    def _tiered_lines(
        self,
        drivers: Drivers,
        name: str,
        service: str,
        unit: str,
        quantity: Number,
        tiers: Sequence[PriceTier],
        *,
        free: float = 0.0,
        free_label: str = "",
    ) -> list[Line]:
        """``quantity`` over the volume tiers (one line per tier), after a free allowance (a $0 line)."""
        lines = []
        if free > 0:
            lines.append(
                Line(
                    f"{name}, free tier ({free_label or f'{billing.amount_label(free)} {unit}'} a month)",
                    service,
                    unit,
                    billing.within_allowance(quantity, free),
                    0.0,
                )
            )
            quantity = billing.after_allowance(quantity, free)
        if len(tiers) == 1:
            return [*lines, Line(name, service, unit, quantity, self._price(tiers[0].usd_per_unit, drivers))]
        # tiers the usage never reaches (in any sample) add nothing: leave them out of the arithmetic
        reached = billing.highest(quantity)
        parts = billing.tier_quantities(quantity, tiers)
        for index, (part, tier) in enumerate(zip(parts, tiers, strict=True)):
            if index and tier.begin >= reached:
                break
            label = f"{name} ({billing.tier_label(tier, unit)})"
            lines.append(Line(label, service, unit, part, self._price(tier.usd_per_unit, drivers), index > 0))
        return lines

    def _logs_lines(self, drivers: Drivers, bytes_per_request: float) -> list[Line]:
        a, s = self.assumptions, self.support
        ingest_gb = self._requests_per_month(drivers) * bytes_per_request / BYTES_PER_GB
        free = s.free_tier.cloudwatch_logs_gb_per_month if s.free_tier else 0.0
        return [
            *self._tiered_lines(
                drivers,
                "CloudWatch Logs ingestion",
                "AmazonCloudWatch",
                "GB",
                ingest_gb,
                (PriceTier(0.0, math.inf, s.logs_ingest_usd_per_gb),),
                free=free,
            ),
            Line(
                f"CloudWatch Logs storage ({a.log_retention_months:g} month retention)",
                "AmazonCloudWatch",
                "GB-months",
                ingest_gb * a.log_retention_months,
                self._price(s.logs_storage_usd_per_gb_month, drivers),
            ),
        ]

    def _metrics_lines(self, drivers: Drivers, metrics: Number) -> list[Line]:
        s = self.support
        free = s.free_tier.cloudwatch_metrics_per_month if s.free_tier else 0.0
        return self._tiered_lines(
            drivers,
            "CloudWatch custom metrics",
            "AmazonCloudWatch",
            "metrics",
            metrics,
            s.cloudwatch_metric_tiers,
            free=free,
        )

    def _egress_lines(self, drivers: Drivers) -> list[Line]:
        s = self.support
        gb = self._requests_per_month(drivers) * self.assumptions.response_bytes / BYTES_PER_GB
        free = s.free_tier.data_transfer_out_gb_per_month if s.free_tier else 0.0
        return self._tiered_lines(
            drivers,
            "Data transfer out to the internet",
            "AWSDataTransfer",
            "GB",
            gb,
            s.data_transfer_out_tiers,
            free=free,
        )

    def _artifact_lines(self, drivers: Drivers) -> list[Line]:
        return self._tiered_lines(
            drivers,
            "Model file in S3 Standard",
            "AmazonS3",
            "GB-months",
            self.model_file_bytes / BYTES_PER_GB,
            self.support.s3_storage_tiers,
        )

    def to_option_cost(self, requests_per_day: float) -> OptionCost:
        """Price the plan at ``requests_per_day`` with nominal drivers."""
        evaluation = self.evaluate(Drivers(requests_per_day=requests_per_day))
        components = tuple(
            CostComponent(
                name=line.name,
                service=line.service,
                unit=line.unit,
                quantity=float(line.quantity),
                usd_per_unit=float(line.usd_per_unit),
                usd_per_month=float(line.usd_per_month),
            )
            for line in evaluation.lines
            if not (line.optional and float(line.quantity) == 0)
        )
        total = sum(component.usd_per_month for component in components)
        if not math.isfinite(total):
            raise ValueError(
                f"the monthly cost of {self.key} at {requests_per_day:g} requests/day is not a finite number; "
                "an input is out of range (see the limits in costing.model.assumptions)"
            )
        per_request = total / (requests_per_day * DAYS_PER_MONTH)
        details = dict(self.details)
        if evaluation.units:
            details["instances"] = int(evaluation.units)
        config = self.config.format(units=int(evaluation.units)) if "{units}" in self.config else self.config
        return OptionCost(
            option=self.option,
            instance_type=self.instance_type,
            feasible=True,
            reason="",
            components=components,
            usd_per_month=total,
            usd_per_request=per_request,
            usd_per_1k_requests=per_request * 1000.0,
            caveats=self.caveats,
            drop_in=self.drop_in,
            config=config,
            details=details,
        )


# -- fleets: EC2, SageMaker real-time, Fargate -------------------------------------------------------------


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


def _serving_point(
    profile: ModelProfile, a: ServingAssumptions, vcpus: float, memory_mb: float
) -> inference.ServingPoint | str:
    return inference.serving_point(
        profile,
        vcpus=vcpus,
        memory_available_mb=memory_mb - OS_RESERVED_MB,
        tokens=a.tokens_per_request,
        latency_slo_seconds=a.latency_slo_ms / 1000.0,
    )


def _fleet_details(point: inference.ServingPoint) -> dict[str, Any]:
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


def _capacity_caveat(point: inference.ServingPoint) -> str:
    return f"capacity {point.capacity_rps:,.1f} requests/s per instance: {point.basis}"


def plan_ec2(
    profile: ModelProfile, sheet: PriceSheet, rates: InstanceRates, option: str, a: ServingAssumptions
) -> FleetPlan | OptionCost:
    """EC2 instances of one type on one market, behind an ALB."""
    instance_type = rates.instance_type
    caveats: list[str] = ["fleet sized for the peak hour and running 24/7 (no autoscaling)"]
    rate_name = {EC2_ON_DEMAND: "on-demand", EC2_SPOT: "spot"}.get(option, option.removeprefix("ec2-"))
    interruption_rate = 0.0
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
    point = _serving_point(profile, a, rates.vcpus, rates.memory_gib * MB_PER_GB)
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
        support = SupportRates.from_sheet(
            sheet, alb=True, nat=a.use_nat_gateway, ebs=True, public_ipv4=True, free_tier=a.apply_free_tiers
        )
    except MissingRate as exc:
        return infeasible(option, instance_type, f"{exc} (needed for the supporting infrastructure)")
    caveats += [_capacity_caveat(point), free_tier_caveat(a, sheet)]
    return FleetPlan(
        option=option,
        instance_type=instance_type,
        config=f"{{units}} x {instance_type}, batch {point.batch_size}",
        model_file_bytes=profile.model_file_bytes,
        support=support,
        assumptions=a,
        caveats=tuple(caveats),
        details=_fleet_details(point)
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
    )


DERIVED_RATE_CAVEAT = (
    "the {what} of {instance_type} is DERIVED in this snapshot (on-demand x an average discount, see its "
    "provenance), not AWS's record: refresh prices for the published rate"
)


def _cheapest_plan(plans: Iterable[OptionPlan], requests_per_day: float) -> OptionPlan | None:
    best, best_usd = None, math.inf
    for plan in plans:
        usd = float(plan.evaluate(Drivers(requests_per_day=requests_per_day)).usd_per_month)
        if usd < best_usd:
            best, best_usd = plan, usd
    return best


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
    except MissingRate as exc:
        return infeasible(SAGEMAKER_REALTIME, None, f"{exc} (needed for the supporting infrastructure)")
    plans, reasons = [], []
    for ml in sorted(sheet.sagemaker_instances.values(), key=lambda r: r.usd_per_hour):
        point = _serving_point(profile, a, ml.vcpus, ml.memory_gib * MB_PER_GB)
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
                    "invoked through the SageMaker Runtime API (SigV4); no API Gateway or ALB in front",
                    "ML storage volume and real-time data-processing charges are not in the price sheet",
                    "fleet sized for the peak hour and running 24/7 (no autoscaling)",
                    "billed per second while an instance runs; AWS publishes no minimum per start",
                    _capacity_caveat(point),
                    free_tier_caveat(a, sheet),
                ),
                details=_fleet_details(point) | {"usd_per_hour": ml.usd_per_hour},
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
                load_balancer=False,
                nat=False,
                root_volume=False,
                minimum_billed_seconds=SAGEMAKER_HOSTING_MINIMUM_BILLED_SECONDS,
            )
        )
    best = _cheapest_plan(plans, requests_per_day)
    if best is None:
        return infeasible(SAGEMAKER_REALTIME, None, "no ml.* instance type fits: " + "; ".join(reasons))
    return best


def plan_fargate(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> FleetPlan | OptionCost:
    """The cheapest Fargate task size (smallest memory per vCPU size that holds its processes) and task count."""
    try:
        vcpu_rate = sheet_rate(sheet, "fargate_usd_per_vcpu_hour")
        gb_rate = sheet_rate(sheet, "fargate_usd_per_gb_hour")
        support = SupportRates.from_sheet(
            sheet, alb=True, nat=a.use_nat_gateway, public_ipv4=True, free_tier=a.apply_free_tiers
        )
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
        point = _serving_point(profile, a, vcpu, gb * MB_PER_GB)
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
                    "tasks in private subnets behind an ALB; egress (image pulls, logs) through a NAT gateway",
                    "Linux/x86 rates; 20 GB ephemeral storage included",
                    "fleet sized for the peak hour and running 24/7 (no autoscaling); each task start is "
                    "billed at least 1 minute",
                    _capacity_caveat(point),
                    free_tier_caveat(a, sheet),
                ),
                details=_fleet_details(point) | {"vcpu": vcpu, "memory_gb": gb},
                unit_rates=(
                    UnitRate(f"Fargate vCPU ({vcpu:g} per task)", "AmazonECS", "vCPU-hours", vcpu, vcpu_rate),
                    UnitRate(f"Fargate memory ({gb:g} GB per task)", "AmazonECS", "GB-hours", gb, gb_rate),
                ),
                capacity_rps=point.capacity_rps,
                latency_p95_seconds=point.latency_p95_seconds,
                root_volume=False,
                minimum_billed_seconds=FARGATE_MINIMUM_BILLED_SECONDS,
            )
        )
    best = _cheapest_plan(plans, requests_per_day)
    if best is None:
        return infeasible(FARGATE, None, "no Fargate task size fits: " + "; ".join(reasons))
    return best


# -- per-request platforms ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaPlan(OptionPlan):
    """A per-request platform: each request is billed its own duration, so the bill follows the mean."""

    memory_mb: float = 0.0
    duration_seconds: float = 0.0  # mean at the configured memory, nominal (what each request bills)
    latency_p95_seconds: float = 0.0
    usd_per_million_requests: float = 0.0
    gb_second_tiers: tuple[PriceTier, ...] = ()
    free_requests: float = 0.0  # a month, when the free tier is applied
    free_gb_seconds: float = 0.0
    platform_log_bytes: float = LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST
    data_processed_usd_per_gb: float | None = None  # SageMaker serverless only
    service: str = "AWSLambda"

    def billed_ms(self, drivers: Drivers) -> Number:
        """Mean billed duration of a request: the mean duration, each request rounded up to 1 ms."""
        return billing.expected_billed_ms(
            self.duration_seconds * 1000.0 * drivers.latency_factor, LAMBDA_BILLING_GRANULARITY_MS
        )

    def evaluate(self, drivers: Drivers) -> Evaluation:
        a = self.assumptions
        requests = self._requests_per_month(drivers)
        lines = []
        if self.usd_per_million_requests:
            lines += self._tiered_lines(
                drivers,
                "Requests",
                self.service,
                "1M requests",
                requests / 1e6,
                (PriceTier(0.0, math.inf, self.usd_per_million_requests),),
                free=self.free_requests / 1e6,
                free_label=f"{billing.amount_label(self.free_requests)} requests",
            )
        lines += self._tiered_lines(
            drivers,
            f"Compute ({self.memory_mb:,.0f} MB x mean billed duration)",
            self.service,
            "GB-seconds",
            inference.gb_seconds(requests, self.billed_ms(drivers), self.memory_mb),
            self.gb_second_tiers,
            free=self.free_gb_seconds,
        )
        if self.data_processed_usd_per_gb is not None:
            processed = requests * (a.request_bytes + a.response_bytes) / BYTES_PER_GB
            lines.append(
                Line(
                    "Data processed (in + out)",
                    self.service,
                    "GB",
                    processed,
                    self._price(self.data_processed_usd_per_gb, drivers),
                )
            )
        lines += self._metrics_lines(drivers, float(a.custom_metrics_per_service))
        lines += self._logs_lines(drivers, a.log_bytes_per_request + self.platform_log_bytes)
        lines += self._egress_lines(drivers)
        lines += self._artifact_lines(drivers)
        return Evaluation(
            lines=lines, latency_p95_seconds=self.latency_p95_seconds * drivers.latency_factor, units=0.0
        )


def plan_lambda(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> LambdaPlan | OptionCost:
    """A container-image function (x86) with the smallest memory that holds the model and meets the SLO."""
    try:
        per_million = sheet_rate(sheet, "lambda_usd_per_million_requests")
        gb_second_tiers = sheet_tiers(sheet, "lambda_x86_gb_seconds")
        support = SupportRates.from_sheet(sheet, free_tier=a.apply_free_tiers)
    except MissingRate as exc:
        return infeasible(LAMBDA, None, str(exc))
    slo = a.latency_slo_ms / 1000.0
    memory = inference.lambda_memory_mb(profile, tokens=a.tokens_per_request, latency_slo_seconds=slo)
    if isinstance(memory, str):
        return infeasible(LAMBDA, None, memory)
    duration = inference.memory_proportional_seconds(profile, memory, a.tokens_per_request, percentile="mean")
    latency = inference.memory_proportional_seconds(profile, memory, a.tokens_per_request, percentile="p95")
    caveats = [
        "invoked through a Lambda function URL (no API Gateway, no extra charge)",
        "cold starts (loading torch and the model: seconds) are not modelled; no provisioned concurrency",
        f"CPU share grows with memory (1 vCPU per 1,769 MB); duration scaled from the {profile.benchmark_cpus}-CPU "
        "benchmark",
        _mean_caveat(profile),
        free_tier_caveat(a, sheet),
    ]
    concurrency = inference.peak_requests_per_second(requests_per_day, a.peak_factor) * duration
    if concurrency > LAMBDA_DEFAULT_CONCURRENCY_LIMIT:
        caveats.append(
            f"peak concurrency {concurrency:,.0f} exceeds the default {LAMBDA_DEFAULT_CONCURRENCY_LIMIT:,} "
            "per region: request a quota increase"
        )
    return LambdaPlan(
        option=LAMBDA,
        instance_type=f"{memory:,} MB",
        config=f"{memory:,} MB x86, {duration * 1000:,.0f} ms/request",
        model_file_bytes=profile.model_file_bytes,
        support=support,
        assumptions=a,
        caveats=tuple(caveats),
        details={
            "memory_mb": memory,
            "duration_ms": duration * 1000.0,
            "latency_p95_ms": latency * 1000.0,
            "peak_concurrency": concurrency,
        },
        memory_mb=float(memory),
        duration_seconds=duration,
        latency_p95_seconds=latency,
        usd_per_million_requests=per_million,
        gb_second_tiers=gb_second_tiers,
        free_requests=support.free_tier.lambda_requests_per_month if support.free_tier else 0.0,
        free_gb_seconds=support.free_tier.lambda_gb_seconds_per_month if support.free_tier else 0.0,
    )


def _mean_caveat(profile: ModelProfile) -> str:
    if profile.latency_mean_ms is None:
        return "billed at the median duration: the benchmark recorded no mean (each request bills its own)"
    return (
        f"each request bills its own duration: priced at the mean ({profile.latency_mean_ms:,.1f} ms per "
        f"{profile.completion_chars} chars on the benchmark host, median {profile.latency_p50_ms:,.1f} ms), "
        "rounded up to 1 ms per request"
    )


def plan_sagemaker_serverless(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> LambdaPlan | OptionCost:
    """Serverless endpoint with the smallest memory size (1-6 GB) that holds the model and meets the SLO."""
    try:
        per_gb_second = sheet_rate(sheet, "sagemaker_serverless_usd_per_gb_second")
        per_gb_processed = sheet_rate(sheet, "sagemaker_serverless_usd_per_gb_processed")
        support = SupportRates.from_sheet(sheet, free_tier=a.apply_free_tiers)
    except MissingRate as exc:
        return infeasible(SAGEMAKER_SERVERLESS, None, str(exc))
    slo = a.latency_slo_ms / 1000.0
    memory = inference.lambda_memory_mb(
        profile,
        tokens=a.tokens_per_request,
        latency_slo_seconds=slo,
        floor_mb=SAGEMAKER_SERVERLESS_MEMORY_MB[0],
        max_mb=SAGEMAKER_SERVERLESS_MEMORY_MB[-1],
        mb_per_vcpu=SAGEMAKER_SERVERLESS_MB_PER_VCPU,
        step_mb=1024,
    )
    if isinstance(memory, str):
        return infeasible(SAGEMAKER_SERVERLESS, None, memory)
    duration = inference.memory_proportional_seconds(
        profile, memory, a.tokens_per_request, percentile="mean", mb_per_vcpu=SAGEMAKER_SERVERLESS_MB_PER_VCPU
    )
    latency = inference.memory_proportional_seconds(
        profile, memory, a.tokens_per_request, percentile="p95", mb_per_vcpu=SAGEMAKER_SERVERLESS_MB_PER_VCPU
    )
    caveats = [
        "AWS does not publish a serverless endpoint's vCPU share: 1 vCPU per 1,769 MB assumed (as Lambda)",
        "cold starts are not modelled; no provisioned concurrency",
        "invoked through the SageMaker Runtime API (SigV4)",
        _mean_caveat(profile),
        free_tier_caveat(a, sheet),
    ]
    concurrency = inference.peak_requests_per_second(requests_per_day, a.peak_factor) * duration
    if concurrency > SAGEMAKER_SERVERLESS_MAX_CONCURRENCY:
        caveats.append(
            f"peak concurrency {concurrency:,.0f} exceeds the {SAGEMAKER_SERVERLESS_MAX_CONCURRENCY} "
            "per-endpoint maximum: needs several endpoints"
        )
    return LambdaPlan(
        option=SAGEMAKER_SERVERLESS,
        instance_type=f"{memory:,} MB",
        config=f"{memory:,} MB, {duration * 1000:,.0f} ms/request",
        model_file_bytes=profile.model_file_bytes,
        support=support,
        assumptions=a,
        caveats=tuple(caveats),
        details={
            "memory_mb": memory,
            "duration_ms": duration * 1000.0,
            "latency_p95_ms": latency * 1000.0,
            "peak_concurrency": concurrency,
        },
        memory_mb=float(memory),
        duration_seconds=duration,
        latency_p95_seconds=latency,
        gb_second_tiers=(PriceTier(0.0, math.inf, per_gb_second),),
        platform_log_bytes=0.0,
        data_processed_usd_per_gb=per_gb_processed,
        service="AmazonSageMaker",
    )


@dataclass(frozen=True)
class WorkersPlan(OptionPlan):
    cpu_ms_per_request: float = 0.0  # nominal
    latency_p95_seconds: float = 0.0
    monthly_base_usd: float = 0.0
    included_requests: float = 0.0
    usd_per_million_requests: float = 0.0
    included_cpu_ms: float = 0.0
    usd_per_million_cpu_ms: float = 0.0

    def evaluate(self, drivers: Drivers) -> Evaluation:
        requests = self._requests_per_month(drivers)
        cpu_ms = requests * self.cpu_ms_per_request * drivers.latency_factor
        lines = [
            Line(
                "Workers Paid subscription",
                "CloudflareWorkers",
                "months",
                1.0,
                self._price(self.monthly_base_usd, drivers),
            ),
            Line(
                f"Requests beyond {self.included_requests / 1e6:g}M included",
                "CloudflareWorkers",
                "1M requests",
                inference.maximum(requests - self.included_requests, 0.0) / 1e6,
                self._price(self.usd_per_million_requests, drivers),
            ),
            Line(
                f"CPU time beyond {self.included_cpu_ms / 1e6:g}M ms included",
                "CloudflareWorkers",
                "1M CPU-ms",
                inference.maximum(cpu_ms - self.included_cpu_ms, 0.0) / 1e6,
                self._price(self.usd_per_million_cpu_ms, drivers),
            ),
        ]
        return Evaluation(
            lines=lines, latency_p95_seconds=self.latency_p95_seconds * drivers.latency_factor, units=0.0
        )


def plan_cloudflare_workers(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> WorkersPlan | OptionCost:
    """Workers Paid, standard usage model; requires re-implementing the model outside torch."""
    rates = sheet.cloudflare_workers
    port = (
        "requires re-implementation: torch does not run in Workers; the model would be ported to JS/WASM "
        "(e.g. ONNX Runtime Web) and is assumed to run as fast per CPU as torch did on the benchmark host"
    )
    if rates is None:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"price sheet {sheet.snapshot_id} has no Cloudflare Workers rates",
            caveats=(port,),
            drop_in=False,
        )
    memory_mb = profile.model_file_bytes * WORKERS_MEMORY_PER_MODEL_BYTE / (1024 * 1024)
    if memory_mb > rates.max_memory_mb:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"model needs ~{memory_mb:,.0f} MB, above the {rates.max_memory_mb:,.0f} MB isolate limit",
            caveats=(port,),
            drop_in=False,
        )
    # one isolate is single-threaded: it spends the CPU time the benchmark spent on all its CPUs; CPU time
    # is billed per request, so at the mean
    single_cpu_seconds = profile.billed_seconds_per_request(a.tokens_per_request) * profile.benchmark_cpus
    cpu_ms = single_cpu_seconds * 1000.0
    latency = profile.latency_p95_seconds(1, a.tokens_per_request) * profile.benchmark_cpus
    if cpu_ms > rates.max_cpu_ms_per_request:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"{cpu_ms:,.0f} CPU-ms per request exceeds the {rates.max_cpu_ms_per_request:,.0f} ms limit",
            caveats=(port,),
            drop_in=False,
        )
    if latency > a.latency_slo_ms / 1000.0:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"p95 latency {latency * 1000:,.0f} ms on one CPU exceeds the {a.latency_slo_ms:,.0f} ms SLO",
            caveats=(port,),
            drop_in=False,
        )
    return WorkersPlan(
        option=CLOUDFLARE_WORKERS,
        instance_type=None,
        config=f"{cpu_ms:,.0f} CPU-ms/request, ~{memory_mb:,.0f} MB",
        model_file_bytes=profile.model_file_bytes,
        support=SupportRates(),
        assumptions=a,
        caveats=(
            port,
            "the subscription fee is counted in full; egress is free on Cloudflare",
            f"prices from {rates.source_url} as of {rates.as_of.isoformat()}",
        ),
        drop_in=False,
        details={"cpu_ms_per_request": cpu_ms, "memory_mb": memory_mb, "latency_p95_ms": latency * 1000.0},
        cpu_ms_per_request=cpu_ms,
        latency_p95_seconds=latency,
        monthly_base_usd=rates.monthly_base_usd,
        included_requests=rates.included_requests_per_month,
        usd_per_million_requests=rates.usd_per_million_requests,
        included_cpu_ms=rates.included_cpu_ms_per_month,
        usd_per_million_cpu_ms=rates.usd_per_million_cpu_ms,
    )


# -- scenarios ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioPlans:
    """Every alternative planned for one request volume: plans to evaluate, or the reason it can't run."""

    region: str
    requests_per_day: float
    plans: tuple[OptionPlan, ...]
    infeasible: tuple[OptionCost, ...]

    def best_plans(self) -> list[OptionPlan]:
        """Per alternative, the variant (instance type) with the lowest nominal monthly cost."""
        best: dict[str, tuple[float, str, OptionPlan]] = {}
        nominal = Drivers(requests_per_day=self.requests_per_day)
        for plan in self.plans:
            candidate = (float(plan.evaluate(nominal).usd_per_month), plan.key, plan)
            if plan.option not in best or candidate[:2] < best[plan.option][:2]:
                best[plan.option] = candidate
        return [best[name][2] for name in OPTIONS if name in best]

    def plan(self, key: str) -> OptionPlan:
        for plan in self.plans:
            if plan.key == key:
                return plan
        raise KeyError(
            f"no feasible option {key!r} at {self.requests_per_day:g} requests/day; feasible: "
            f"{', '.join(p.key for p in self.plans)}"
        )

    def result(self) -> ScenarioResult:
        priced = {plan.key: plan.to_option_cost(self.requests_per_day) for plan in self.plans}
        refused = {cost.key: cost for cost in self.infeasible}
        ordered = sorted(
            {**refused, **priced}.values(), key=lambda o: (OPTIONS.index(o.option), o.instance_type or "")
        )
        return ScenarioResult.build(self.requests_per_day, ordered)


def _check_requests(requests_per_day: float) -> float:
    if (
        isinstance(requests_per_day, bool)
        or not isinstance(requests_per_day, int | float)
        or not math.isfinite(requests_per_day)
        or not 0 < requests_per_day <= MAX_REQUESTS_PER_DAY
    ):
        raise ValueError(
            f"requests_per_day={requests_per_day!r} must be a positive number of requests per day, "
            f"at most {MAX_REQUESTS_PER_DAY:,.0f}"
        )
    return float(requests_per_day)


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


def plan_scenario(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: float,
    *,
    assumptions: ServingAssumptions | None = None,
    instance_types: Sequence[str] | None = None,
    ec2_plans: Sequence[OptionPlan | OptionCost] | None = None,
) -> ScenarioPlans:
    """Plan every alternative for ``requests_per_day`` (pass ``ec2_plans`` to reuse them across scenarios)."""
    a = assumptions or ServingAssumptions()
    rpd = _check_requests(requests_per_day)
    planned: list[OptionPlan | OptionCost] = list(
        ec2_plans if ec2_plans is not None else plan_ec2_fleet(profile, sheet, a, instance_types)
    )
    planned += [
        plan_lambda(profile, sheet, a, rpd),
        plan_sagemaker_realtime(profile, sheet, a, rpd),
        plan_sagemaker_serverless(profile, sheet, a, rpd),
        plan_fargate(profile, sheet, a, rpd),
        plan_cloudflare_workers(profile, sheet, a, rpd),
    ]
    return ScenarioPlans(
        region=sheet.region,
        requests_per_day=rpd,
        plans=tuple(p for p in planned if isinstance(p, OptionPlan)),
        infeasible=tuple(p for p in planned if isinstance(p, OptionCost)),
    )


def cost_scenario(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: float,
    *,
    assumptions: ServingAssumptions | None = None,
    instance_types: Sequence[str] | None = None,
) -> ScenarioResult:
    """Every alternative's monthly cost at one request volume."""
    return plan_scenario(
        profile, sheet, requests_per_day, assumptions=assumptions, instance_types=instance_types
    ).result()


def plan_grid(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: Sequence[float] = DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    *,
    assumptions: ServingAssumptions | None = None,
    instance_types: Sequence[str] | None = None,
) -> list[ScenarioPlans]:
    a = assumptions or ServingAssumptions()
    if not requests_per_day:
        raise ValueError("requests_per_day is empty: give at least one scenario (requests per day)")
    ec2 = plan_ec2_fleet(profile, sheet, a, instance_types)
    return [plan_scenario(profile, sheet, rpd, assumptions=a, ec2_plans=ec2) for rpd in requests_per_day]


def cost_grid(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: Sequence[float] = DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    *,
    assumptions: ServingAssumptions | None = None,
    instance_types: Sequence[str] | None = None,
) -> GridResult:
    """Every alternative x every instance type x every scenario, on one price sheet."""
    a = assumptions or ServingAssumptions()
    scenarios = tuple(
        plans.result()
        for plans in plan_grid(profile, sheet, requests_per_day, assumptions=a, instance_types=instance_types)
    )
    return GridResult(
        region=sheet.region,
        snapshot_id=sheet.snapshot_id,
        prices_as_of=sheet.prices_as_of,
        profile=profile,
        assumptions=a,
        scenarios=scenarios,
        sheet_notes=tuple(sheet.notes),
        source_ages=tuple(sheet.source_ages),
    )


def with_assumptions(assumptions: ServingAssumptions | None, **changes: Any) -> ServingAssumptions:
    """``assumptions`` (or the defaults) with ``changes`` applied, skipping ``None`` values."""
    return replace(assumptions or ServingAssumptions(), **{k: v for k, v in changes.items() if v is not None})
