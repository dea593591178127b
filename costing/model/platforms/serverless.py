"""Per-request platforms billed memory x duration (Lambda, SageMaker serverless): one plan and one
planner, parameterised by a :class:`ServerlessPlatform` that holds what differs between them.

Each request bills its own duration, so the bill follows the *mean* duration at the configured memory's
CPU share (rounded up to 1 ms per request); the SLO is checked against the p95 of all requests, cold
starts included (:mod:`costing.model.cold_starts`). The memory is the smallest size (in the platform's
steps) that holds the serving process and meets the SLO warm; when cold starts then miss it, the plan
carries the cheapest fix that meets it (a keep-warm ping or provisioned concurrency), or the option is
infeasible and says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from costing.model import billing, cold_starts
from costing.model import capacity as inference
from costing.model.assumptions import LAMBDA_BILLING_GRANULARITY_MS, KeepWarm, ServingAssumptions
from costing.model.capacity import Number
from costing.model.cold_starts import KEEP_WARM_PING, PROVISIONED_CONCURRENCY, ColdStart
from costing.model.drivers import Drivers, Line, MissingRate
from costing.model.platforms.base import Evaluation, OptionPlan, SupportRates, free_tier_caveat
from costing.model.platforms.design import FrontDoor
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost, infeasible
from costing.pricing.sheet import FreeTierAllowances, PriceSheet, PriceTier
from costing.units import BYTES_PER_GB, MB_PER_GB, SECONDS_PER_MONTH

MANAGED_PLACEMENT = "AWS-managed across the region's zones (either availability)"
SHARE_SHOWN = 1e-9  # a cold share below this bills no init worth a line (1e-9 of 1M requests/day is none)


@dataclass(frozen=True)
class ServerlessRates:
    """A serverless platform's own rates, read from the sheet."""

    gb_second_tiers: tuple[PriceTier, ...]
    usd_per_million_requests: float = 0.0  # 0: the platform bills no request charge
    data_processed_usd_per_gb: float | None = None  # None: no data-processing charge
    free_requests: float = 0.0  # a month, when the free tier is applied
    free_gb_seconds: float = 0.0


@dataclass(frozen=True)
class ProvisionedRates:
    """Provisioned concurrency: per GB-second an environment is kept initialised, and per GB-second of the
    requests it serves (instead of the on-demand rate)."""

    usd_per_gb_second: float
    duration_usd_per_gb_second: float


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
    keep_warm: KeepWarm  # how long an idle environment is kept, and what the platform's own start adds
    provisioned_rates: Callable[[PriceSheet], ProvisionedRates]  # raises MissingRate
    # the cost lines of a month of keep-warm pings at (memory MB, pings a month), the schedule's aside
    # (raises MissingRate)
    ping_lines: Callable[[PriceSheet, float, float], tuple[Line, ...]]


@dataclass(frozen=True)
class ServerlessPlan(OptionPlan):
    """A per-request platform: each request is billed its own duration, so the bill follows the mean."""

    memory_mb: float = 0.0
    duration_seconds: float = 0.0  # mean at the configured memory, nominal (what each request bills)
    latency_p50_seconds: float = 0.0  # warm, at the configured memory
    latency_p95_seconds: float = 0.0  # warm, at the configured memory
    usd_per_million_requests: float = 0.0
    gb_second_tiers: tuple[PriceTier, ...] = ()
    free_requests: float = 0.0  # a month, when the free tier is applied
    free_gb_seconds: float = 0.0
    platform_log_bytes: float = 0.0
    data_processed_usd_per_gb: float | None = None
    service: str = ""
    cold_start: ColdStart | None = None  # None: cold starts not modelled (a literal plan in a test)
    provisioned_usd_per_gb_second: float = 0.0  # > 0 with provisioned concurrency
    ping_lines: tuple[Line, ...] = ()  # a month of keep-warm pings (nominal prices)

    def cold_share(self, drivers: Drivers) -> Number:
        return 0.0 if self.cold_start is None else self.cold_start.share(drivers.requests_per_day)

    def p95_seconds(self, drivers: Drivers) -> Number:
        """The p95 of all requests, cold starts included."""
        factor = drivers.latency_factor
        if self.cold_start is None:
            return self.latency_p95_seconds * factor
        return cold_starts.p95_with_cold_starts(
            self.latency_p50_seconds * factor,
            self.latency_p95_seconds * factor,
            self.cold_start.added_seconds(factor),
            self.cold_share(drivers),
        )

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
        gb_seconds = inference.gb_seconds(requests, self.billed_ms(drivers), self.memory_mb)
        compute = f"Compute ({self.memory_mb:,.0f} MB x mean billed duration"
        cold = self.cold_start
        share = self.cold_share(drivers)
        if cold is not None and cold.keep_warm.init_billed and float(billing.highest(share)) > SHARE_SHOWN:
            # each cold start's init (our handler's imports and model load) is billed as duration too
            cold_requests = requests * share
            init_seconds = cold.handler_added_seconds * drivers.latency_factor
            gb_seconds = gb_seconds + cold_requests * init_seconds * self.memory_mb / MB_PER_GB
            compute += " + cold-start init"
        lines += self._tiered_lines(
            drivers,
            compute + ")",
            self.service,
            "GB-seconds",
            gb_seconds,
            self.gb_second_tiers,
            free=self.free_gb_seconds,
        )
        if cold is not None and cold.fix == PROVISIONED_CONCURRENCY:
            lines.append(
                Line(
                    f"Provisioned concurrency ({cold.provisioned_environments} x {self.memory_mb:,.0f} MB, 24/7)",
                    self.service,
                    "GB-seconds",
                    cold.provisioned_environments * self.memory_mb / MB_PER_GB * SECONDS_PER_MONTH,
                    self._price(self.provisioned_usd_per_gb_second, drivers),
                )
            )
        lines += [
            line._replace(usd_per_unit=self._price(line.usd_per_unit, drivers)) for line in self.ping_lines
        ]
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
        return Evaluation(lines=lines, latency_p95_seconds=self.p95_seconds(drivers), units=0.0)


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
    duration, latency_p50, latency = (
        inference.memory_proportional_seconds(
            profile, memory, a.tokens_per_request, percentile=percentile, mb_per_vcpu=platform.mb_per_vcpu
        )
        for percentile in ("mean", "p50", "p95")
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
    handler_added, basis = cold_starts.handler_cold_start(profile)
    plan = ServerlessPlan(
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
        latency_p50_seconds=latency_p50,
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
        cold_start=ColdStart(keep_warm=platform.keep_warm, handler_added_seconds=handler_added, basis=basis),
    )
    return with_cold_starts(plan, platform, sheet, requests_per_day, concurrency)


def with_cold_starts(
    plan: ServerlessPlan,
    platform: ServerlessPlatform,
    sheet: PriceSheet,
    requests_per_day: float,
    concurrency: float,
) -> ServerlessPlan | OptionCost:
    """``plan`` as it is when its p95 with cold starts meets the SLO; else the cheapest fix that meets it
    (a keep-warm ping, provisioned concurrency for the peak); else infeasible, saying why."""
    a, cold = plan.assumptions, plan.cold_start
    if cold is None:
        raise ValueError(f"{plan.key}: a plan without a cold-start model has nothing to fix")
    slo = a.latency_slo_ms / 1000.0
    nominal = Drivers(requests_per_day=requests_per_day)
    unfixed = plan.evaluate(nominal)
    unfixed_p95 = float(unfixed.latency_p95_seconds)
    candidates: list[tuple[ColdStart, ServerlessPlan]] = []
    why_not: list[str] = []
    if unfixed_p95 > slo:
        if a.allow_keep_warm_ping:
            try:
                candidates.append(_pinged(plan, cold, platform, sheet))
            except MissingRate as exc:
                why_not.append(f"keep-warm ping: {exc}")
        else:
            why_not.append("keep-warm ping: not allowed (ServingAssumptions.allow_keep_warm_ping)")
        try:
            rates = platform.provisioned_rates(sheet)
        except MissingRate as exc:
            why_not.append(f"provisioned concurrency: {exc}")
        else:
            environments = max(1, math.ceil(concurrency - 1e-9))
            candidates.append(_provisioned(plan, cold, rates, environments=environments))
    evaluated = [(fix, c, c.evaluate(nominal)) for fix, c in candidates]
    meeting = [(fix, c, e) for fix, c, e in evaluated if float(e.latency_p95_seconds) <= slo]
    why_not += [
        f"{fix.fix_label}: p95 still above the SLO" for fix, _, e in evaluated if e.latency_p95_seconds > slo
    ]
    fixed, chosen, evaluation = (
        min(meeting, key=lambda found: float(found[2].usd_per_month)) if meeting else (cold, plan, unfixed)
    )
    share = float(cold.share(requests_per_day))
    details = {
        "share_without_fix": share,
        "share": float(chosen.cold_share(nominal)),
        "idle_minutes": cold.keep_warm.idle_seconds / 60.0,
        "added_seconds": float(cold.added_seconds()),
        "handler_added_seconds": cold.handler_added_seconds,
        "platform_init_seconds": cold.keep_warm.platform_init_seconds,
        "basis": cold.basis,
        "warm_p95_ms": plan.latency_p95_seconds * 1000.0,
        "p95_ms_without_fix": unfixed_p95 * 1000.0,
        "p95_ms": float(evaluation.latency_p95_seconds) * 1000.0,
        "slo_ms": a.latency_slo_ms,
        "fix": fixed.fix_label,
        "fix_usd_per_month": float(evaluation.usd_per_month) - float(unfixed.usd_per_month),
        "assumptions_as_of": cold.keep_warm.as_of,
    }
    if unfixed_p95 > slo and not meeting:
        return infeasible(
            plan.option,
            None,
            f"p95 with cold starts {unfixed_p95 * 1000:,.0f} ms misses the {a.latency_slo_ms:,.0f} ms SLO "
            f"({share:.1%} of requests start cold, +{details['added_seconds']:.2f} s each) and no fix meets it: "
            + "; ".join(why_not),
            caveats=plan.caveats,
            config=plan.config,
        )
    caveats = [
        *chosen.caveats,
        cold_starts.summary(details),
        f"cold-start model: Poisson arrivals at the daily mean rate, one environment kept warm "
        f"{details['idle_minutes']:g} min after a request, the platform's own start "
        f"+{cold.keep_warm.platform_init_seconds:g} s (assumed as of {cold.keep_warm.as_of}: "
        f"{cold.keep_warm.source}); our handler's: {cold.basis}",
        "cold starts not counted: new environments as concurrency climbs to the peak (scale-out), and quieter "
        "hours than the daily mean",
    ]
    if fixed.fix == KEEP_WARM_PING:
        caveats.append(
            "the ping keeps one environment warm; AWS may still recycle it now and then (not published), and "
            "concurrent requests beyond it start their own"
        )
        if sheet.eventbridge_scheduler_usd_per_million_invocations is None:
            caveats.append(
                f"the schedule's {fixed.pings_per_month:,.0f} invocations a month are not priced: price sheet "
                f"{sheet.snapshot_id} has no EventBridge Scheduler rate"
            )
    elif fixed.fix == PROVISIONED_CONCURRENCY:
        caveats.append(
            f"provisioned concurrency {fixed.provisioned_environments} covers the peak concurrency "
            f"{concurrency:.2f}, kept 24/7 (no free tier with it); scheduled for busy hours only it would cost less"
        )
    return replace(
        chosen,
        config=chosen.config + (f", {fixed.fix_label}" if fixed.fix else ""),
        caveats=tuple(caveats),
        details={**chosen.details, "latency_p95_ms": details["p95_ms"], "cold_start": details},
    )


def _pinged(
    plan: ServerlessPlan, cold: ColdStart, platform: ServerlessPlatform, sheet: PriceSheet
) -> tuple[ColdStart, ServerlessPlan]:
    """``plan`` with a keep-warm ping: the platform's ping lines, and the schedule's when the sheet prices it."""
    cold = cold.fixed(KEEP_WARM_PING)
    lines = list(platform.ping_lines(sheet, plan.memory_mb, cold.pings_per_month))
    scheduler = sheet.eventbridge_scheduler_usd_per_million_invocations
    if scheduler is not None:
        lines.append(
            Line(
                f"Keep-warm schedule (EventBridge Scheduler, every {cold.ping_minutes:g} min)",
                "AWSEvents",
                "1M invocations",
                cold.pings_per_month / 1e6,
                scheduler,
            )
        )
    return cold, replace(plan, cold_start=cold, ping_lines=tuple(lines))


def _provisioned(
    plan: ServerlessPlan, cold: ColdStart, rates: ProvisionedRates, *, environments: int
) -> tuple[ColdStart, ServerlessPlan]:
    """``plan`` with provisioned concurrency: environments kept initialised, requests served at the provisioned
    duration rate, no free tier (AWS applies none to a function with provisioned concurrency)."""
    cold = cold.fixed(PROVISIONED_CONCURRENCY, environments=environments)
    return cold, replace(
        plan,
        cold_start=cold,
        provisioned_usd_per_gb_second=rates.usd_per_gb_second,
        gb_second_tiers=(PriceTier(0.0, math.inf, rates.duration_usd_per_gb_second),),
        free_requests=0.0,
        free_gb_seconds=0.0,
    )
