"""Per-request platforms billed memory x duration (Lambda, SageMaker serverless): one plan and one
planner, parameterised by a :class:`ServerlessPlatform` that holds what differs between them.

Each request bills its own duration, so the bill follows the *mean* duration at the configured memory's
CPU share (rounded up to 1 ms per request); the SLO is checked against the p95. The memory is the
smallest size (in the platform's steps) that holds the serving process and meets the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from costing.model import billing
from costing.model import capacity as inference
from costing.model.assumptions import LAMBDA_BILLING_GRANULARITY_MS, ServingAssumptions
from costing.model.capacity import Number
from costing.model.drivers import Drivers, Line, MissingRate
from costing.model.platforms.base import Evaluation, OptionPlan, SupportRates, free_tier_caveat
from costing.model.platforms.design import FrontDoor
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost, infeasible
from costing.pricing.sheet import FreeTierAllowances, PriceSheet, PriceTier
from costing.units import BYTES_PER_GB

MANAGED_PLACEMENT = "AWS-managed across the region's zones (either availability)"


@dataclass(frozen=True)
class ServerlessRates:
    """A serverless platform's own rates, read from the sheet."""

    gb_second_tiers: tuple[PriceTier, ...]
    usd_per_million_requests: float = 0.0  # 0: the platform bills no request charge
    data_processed_usd_per_gb: float | None = None  # None: no data-processing charge
    free_requests: float = 0.0  # a month, when the free tier is applied
    free_gb_seconds: float = 0.0


@dataclass(frozen=True)
class ServerlessPlatform:
    """What one memory x duration platform publishes and how we describe it.

    ``caveats`` come first in every priced option (``{benchmark_cpus}`` is filled in); the billed-duration
    and free-tier caveats follow. ``concurrency_caveat`` is added when the peak concurrency exceeds
    ``max_concurrency`` (``{concurrency}``, ``{limit}``). ``config`` names the deployment
    (``{memory_mb}``, ``{duration_ms}``).
    """

    option: str
    service: str  # the AWS service code of its cost lines
    # its rates from the sheet, given the free tier when it applies; raises MissingRate
    rates: Callable[[PriceSheet, FreeTierAllowances | None], ServerlessRates]
    memory_floor_mb: int
    memory_max_mb: int
    memory_step_mb: int
    mb_per_vcpu: float
    platform_log_bytes: float  # log bytes the platform itself writes per request
    config: str
    caveats: tuple[str, ...]
    max_concurrency: int
    concurrency_caveat: str
    # how callers reach it under the requirement (raises MissingRate)
    front_door: Callable[[PriceSheet, ServingAssumptions], FrontDoor]


@dataclass(frozen=True)
class ServerlessPlan(OptionPlan):
    """A per-request platform: each request is billed its own duration, so the bill follows the mean."""

    memory_mb: float = 0.0
    duration_seconds: float = 0.0  # mean at the configured memory, nominal (what each request bills)
    latency_p95_seconds: float = 0.0
    usd_per_million_requests: float = 0.0
    gb_second_tiers: tuple[PriceTier, ...] = ()
    free_requests: float = 0.0  # a month, when the free tier is applied
    free_gb_seconds: float = 0.0
    platform_log_bytes: float = 0.0
    data_processed_usd_per_gb: float | None = None
    service: str = ""

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
        lines += self._front_door_lines(
            drivers, units=0.0, seconds=self.duration_seconds * drivers.latency_factor
        )
        lines += self._common_lines(
            drivers,
            metrics=float(a.custom_metrics_per_service),
            log_bytes_per_request=a.log_bytes_per_request + self.platform_log_bytes,
        )
        return Evaluation(
            lines=lines, latency_p95_seconds=self.latency_p95_seconds * drivers.latency_factor, units=0.0
        )


def mean_caveat(profile: ModelProfile) -> str:
    """Which duration a per-request bill is priced at (the mean, or the median when none was measured)."""
    if profile.latency_mean_ms is None:
        return "billed at the median duration: the benchmark recorded no mean (each request bills its own)"
    return (
        f"each request bills its own duration: priced at the mean ({profile.latency_mean_ms:,.1f} ms per "
        f"{profile.completion_chars} chars on the benchmark host, median {profile.latency_p50_ms:,.1f} ms), "
        "rounded up to 1 ms per request"
    )


def plan_serverless(
    platform: ServerlessPlatform,
    profile: ModelProfile,
    sheet: PriceSheet,
    a: ServingAssumptions,
    requests_per_day: float,
) -> ServerlessPlan | OptionCost:
    """``platform`` with the smallest memory that holds the model and meets the SLO."""
    try:
        rates = platform.rates(sheet, sheet.free_tier if a.apply_free_tiers else None)
        support = SupportRates.from_sheet(sheet, free_tier=a.apply_free_tiers)
    except MissingRate as exc:
        return infeasible(platform.option, None, str(exc))
    try:
        door = platform.front_door(sheet, a)
    except MissingRate as exc:
        return infeasible(platform.option, None, f"{exc} (needed for its front door)")
    memory = inference.lambda_memory_mb(
        profile,
        tokens=a.tokens_per_request,
        latency_slo_seconds=a.latency_slo_ms / 1000.0,
        floor_mb=platform.memory_floor_mb,
        max_mb=platform.memory_max_mb,
        mb_per_vcpu=platform.mb_per_vcpu,
        step_mb=platform.memory_step_mb,
    )
    if isinstance(memory, str):
        return infeasible(platform.option, None, memory)
    duration, latency = (
        inference.memory_proportional_seconds(
            profile, memory, a.tokens_per_request, percentile=percentile, mb_per_vcpu=platform.mb_per_vcpu
        )
        for percentile in ("mean", "p95")
    )
    caveats = [
        *(caveat.format(benchmark_cpus=profile.benchmark_cpus) for caveat in platform.caveats),
        mean_caveat(profile),
        free_tier_caveat(a, sheet),
    ]
    concurrency = inference.peak_requests_per_second(requests_per_day, a.peak_factor) * duration
    if concurrency > platform.max_concurrency:
        caveats.append(
            platform.concurrency_caveat.format(concurrency=concurrency, limit=platform.max_concurrency)
        )
    return ServerlessPlan(
        option=platform.option,
        instance_type=f"{memory:,} MB",
        config=platform.config.format(memory_mb=memory, duration_ms=duration * 1000),
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
        usd_per_million_requests=rates.usd_per_million_requests,
        gb_second_tiers=rates.gb_second_tiers,
        free_requests=rates.free_requests,
        free_gb_seconds=rates.free_gb_seconds,
        platform_log_bytes=platform.platform_log_bytes,
        data_processed_usd_per_gb=rates.data_processed_usd_per_gb,
        service=platform.service,
        front_door=door,
        placement=MANAGED_PLACEMENT,
    )
