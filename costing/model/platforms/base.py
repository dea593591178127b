"""What every serving platform shares: the rates of the supporting services, a plan's evaluation into
cost lines, and the lines every option carries (CloudWatch metrics and logs, data transfer out, the
model file in S3) with volume tiers and free tiers applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costing.choices import EC2_OPTIONS
from costing.model import billing
from costing.model.assumptions import ServingAssumptions
from costing.model.capacity import Number
from costing.model.commitments import Commitment
from costing.model.drivers import Drivers, Line, sheet_rate, sheet_tiers
from costing.model.platforms.design import (
    COMPUTE,
    FRONT_DOOR,
    INTERNAL_TRANSFER,
    OBSERVABILITY,
    ROLES,
    STORAGE,
    TRANSFER,
    FrontDoor,
)
from costing.model.results import CostComponent, DesignPart, OptionCost
from costing.pricing.sheet import FreeTierAllowances, PriceSheet, PriceTier
from costing.units import BYTES_PER_GB, DAYS_PER_MONTH

CLOUDWATCH = "CloudWatch"

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
class SupportRates:
    """Rates of the supporting services, copied from the sheet when an alternative needs them."""

    cloudwatch_metric_tiers: tuple[PriceTier, ...] = ()
    logs_ingest_usd_per_gb: float = 0.0
    logs_storage_usd_per_gb_month: float = 0.0
    data_transfer_out_tiers: tuple[PriceTier, ...] = ()
    s3_storage_tiers: tuple[PriceTier, ...] = ()
    ebs_usd_per_gb_month: float = 0.0
    free_tier: FreeTierAllowances | None = None  # only when the assumptions apply the free tiers

    @classmethod
    def from_sheet(
        cls,
        sheet: PriceSheet,
        *,
        ebs: bool = False,
        free_tier: bool = False,
    ) -> SupportRates:
        """Raises :class:`MissingRate` when a needed rate is ``None``."""
        return cls(
            cloudwatch_metric_tiers=sheet_tiers(sheet, "cloudwatch_metrics"),
            logs_ingest_usd_per_gb=sheet_rate(sheet, "cloudwatch_logs_ingest_usd_per_gb"),
            logs_storage_usd_per_gb_month=sheet_rate(sheet, "cloudwatch_logs_storage_usd_per_gb_month"),
            data_transfer_out_tiers=sheet_tiers(sheet, "data_transfer_out"),
            s3_storage_tiers=sheet_tiers(sheet, "s3_standard_storage"),
            ebs_usd_per_gb_month=sheet_rate(sheet, "ebs_gp3_usd_per_gb_month") if ebs else 0.0,
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
    front_door: FrontDoor | None = None  # how callers reach it (None: the platform's own, see design_notes)
    placement: str = ""  # where the compute runs: "across 2 zones", "AWS-managed across the region's zones"
    # what a part of the design is when no cost line pays for it (role -> choice)
    design_notes: Mapping[str, str] = field(default_factory=dict)
    commitment: Commitment | None = None  # a reserved or Savings Plans term (costing.model.commitments)

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
        role: str = COMPUTE,
        choice: str = "",
    ) -> list[Line]:
        """``quantity`` over the volume tiers (one line per tier), after a free allowance (a $0 line); every
        line pays for ``role`` of the design (``choice`` names it)."""
        lines = []
        if free > 0:
            lines.append(
                Line(
                    f"{name}, free tier ({free_label or f'{billing.amount_label(free)} {unit}'} a month)",
                    service,
                    unit,
                    billing.within_allowance(quantity, free),
                    0.0,
                    role=role,
                    choice=choice,
                )
            )
            quantity = billing.after_allowance(quantity, free)
        if len(tiers) == 1:
            price = self._price(tiers[0].usd_per_unit, drivers)
            return [*lines, Line(name, service, unit, quantity, price, role=role, choice=choice)]
        # tiers the usage never reaches (in any sample) add nothing: leave them out of the arithmetic
        reached = billing.highest(quantity)
        parts = billing.tier_quantities(quantity, tiers)
        for index, (part, tier) in enumerate(zip(parts, tiers, strict=True)):
            if index and tier.begin >= reached:
                break
            label = f"{name} ({billing.tier_label(tier, unit)})"
            price = self._price(tier.usd_per_unit, drivers)
            lines.append(Line(label, service, unit, part, price, index > 0, role=role, choice=choice))
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
                role=OBSERVABILITY,
                choice=CLOUDWATCH,
            ),
            Line(
                f"CloudWatch Logs storage ({a.log_retention_months:g} month retention)",
                "AmazonCloudWatch",
                "GB-months",
                ingest_gb * a.log_retention_months,
                self._price(s.logs_storage_usd_per_gb_month, drivers),
                role=OBSERVABILITY,
                choice=CLOUDWATCH,
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
            role=OBSERVABILITY,
            choice=CLOUDWATCH,
        )

    def _transfer_out_lines(self, drivers: Drivers) -> list[Line]:
        """Answers sent to clients on the internet (public designs; an internal one's stay in the VPC)."""
        if not self.assumptions.public:
            return []
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
            role=TRANSFER,
            choice="to the internet",
        )

    def _artifact_lines(self, drivers: Drivers) -> list[Line]:
        return self._tiered_lines(
            drivers,
            "Model file in S3 Standard",
            "AmazonS3",
            "GB-months",
            self.model_file_bytes / BYTES_PER_GB,
            self.support.s3_storage_tiers,
            role=STORAGE,
            choice="S3 Standard",
        )

    def _front_door_lines(self, drivers: Drivers, *, units: Number, seconds: Number) -> list[Line]:
        if self.front_door is None:
            return []
        return self.front_door.lines(self, drivers, units=units, seconds=seconds)

    def _common_lines(self, drivers: Drivers, *, metrics: Number, log_bytes_per_request: float) -> list[Line]:
        """What every AWS design carries after its compute, front door and egress: CloudWatch metrics and
        logs (the front door's own log lines included), data transfer out, the model file in S3."""
        door_log_bytes = self.front_door.log_bytes_per_request if self.front_door else 0.0
        return [
            *self._metrics_lines(drivers, metrics),
            *self._logs_lines(drivers, log_bytes_per_request + door_log_bytes),
            *self._transfer_out_lines(drivers),
            *self._artifact_lines(drivers),
        ]

    def _design(
        self, lines: Sequence[Line], components: Sequence[CostComponent], config: str
    ) -> tuple[DesignPart, ...]:
        """The design's parts in :data:`ROLES` order, each with what was chosen and what it costs
        (``components`` are ``lines`` priced at the nominal inputs)."""
        compute = f"{config}, {self.placement}" if self.placement else config
        by_role: dict[str, dict[str, list[CostComponent]]] = {}
        for line, component in zip(lines, components, strict=True):
            role = line.role or COMPUTE
            choice = compute if role == COMPUTE else line.choice
            by_role.setdefault(role, {}).setdefault(choice, []).append(component)
        notes = dict(self.design_notes)
        if self.front_door is not None and self.front_door.fallback:
            notes.setdefault(FRONT_DOOR, self.front_door.fallback)
        if not self.assumptions.public:
            notes.setdefault(TRANSFER, INTERNAL_TRANSFER)
        designed = []
        for role in ROLES:
            chosen = by_role.get(role) or ({notes[role]: []} if role in notes else {})
            designed += [
                DesignPart(
                    role=role,
                    choice=choice,
                    usd_per_month=sum(c.usd_per_month for c in grouped),
                    components=tuple(c.name for c in grouped),
                )
                for choice, grouped in chosen.items()
            ]
        return tuple(designed)

    def to_option_cost(self, requests_per_day: float) -> OptionCost:
        """Price the plan at ``requests_per_day`` with nominal drivers."""
        evaluation = self.evaluate(Drivers(requests_per_day=requests_per_day))
        shown = [line for line in evaluation.lines if not (line.optional and float(line.quantity) == 0)]
        components = tuple(
            CostComponent(
                name=line.name,
                service=line.service,
                unit=line.unit,
                quantity=float(line.quantity),
                usd_per_unit=float(line.usd_per_unit),
                usd_per_month=float(line.usd_per_month),
            )
            for line in shown
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
            design=self._design(shown, components, config),
            commitment=None
            if self.commitment is None
            else self.commitment.at_horizon(float(evaluation.units), total),
        )
