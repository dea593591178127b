"""Total cost of ownership over a horizon, and the break-even points between alternatives.

``TCO = runs over the horizon x cost per training run + serving per month x months
+ storage per month x months``, for each serving alternative, over the horizon of the assumptions
(``ServingAssumptions.horizon_months``, the one the commitments are measured against):

* **Training**: one run's expected cost on the sheet's prices (:mod:`costing.model.training.plan`: the
  measured wall time on the training instance type, spot interruptions, EBS and S3 PUTs), times
  the retraining cadence: ``weekly`` = 52 / 12 = 4.33 runs a month, ``daily`` = 365 / 12,
  ``monthly`` = 1, ``Nd`` = one run every N days (365 / 12 / N a month).
* **Serving**: the alternative's monthly cost (:mod:`costing.model.platforms`, :mod:`costing.model.grid`).
  A reserved or Savings Plans term that outlasts the horizon includes what it still owes there, unless it
  is used for its whole term (:mod:`costing.model.commitments`), so its total is what serving for the
  horizon and then leaving costs.
* **Storage**: dataset, latest checkpoint and retained model versions in S3, per month.
* **Platform**: what runs the pipeline (:mod:`costing.model.pipeline_platform`: Amazon MWAA or the
  self-hosted topology, sized from its measured footprint, times the attribution share), per month; the
  same for every alternative, so it never changes which is cheapest. ``none`` leaves it out.

Break-evens:

* **Request volume** where the cheapest alternative changes: the monthly cost of every
  alternative is scanned over a log-spaced grid of requests/day, and each change of the cheapest
  is narrowed down by bisection (on the log scale) to a relative width of ``rel_tol``.
* **Utilisation** at which a reserved instance beats on-demand: a reservation is paid for every
  hour, on-demand only for the hours an instance runs. Running a fraction ``u`` of the time,
  on-demand costs ``u x on_demand_hourly`` per hour of the term against ``reserved_effective_hourly``,
  so reserved is cheaper above ``u* = reserved_effective_hourly / on_demand_hourly``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from costing.choices import EC2_OPTIONS, OPTION_LABELS
from costing.model.assumptions import (
    DEFAULT_RETRAIN_CADENCE,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    RETRAIN_CADENCES_RUNS_PER_MONTH,
    SAVINGS_PLAN_TERMS,
    ServingAssumptions,
    TrainingAssumptions,
)
from costing.model.capacity import Number
from costing.model.drivers import Drivers
from costing.model.grid import ScenarioPlans, plan_grid, plan_scenario, plan_volume_independent
from costing.model.pipeline_platform import (
    PlatformAssumptions,
    PlatformCost,
    PlatformFootprint,
    price_platform,
)
from costing.model.platforms import OptionPlan
from costing.model.plausibility import check_retraining_cadence
from costing.model.profile import ModelProfile
from costing.model.results import (
    CURRENCY,
    RESULT_SCHEMA_VERSION,
    TCO_SCHEMA,
    CommitmentOwed,
    CostComponent,
    OptionCost,
    check_same_region,
    jsonable,
)
from costing.model.training.plan import TrainingPlan, TrainingRunCost, plan_training, training_run_cost
from costing.pricing import PriceSheet
from costing.units import BYTES_PER_MB, DAYS_PER_YEAR

if TYPE_CHECKING:
    import pandas as pd

_CADENCE_DAYS = re.compile(r"^(\d+(?:\.\d+)?)d$")


def runs_per_month(cadence: str) -> float:
    """Retraining runs per month: "weekly" -> 4.333, "daily" -> 30.42, "monthly" -> 1, "14d" -> 2.173."""
    text = str(cadence).strip().lower()
    if text in RETRAIN_CADENCES_RUNS_PER_MONTH:
        return RETRAIN_CADENCES_RUNS_PER_MONTH[text]
    match = _CADENCE_DAYS.match(text)
    if match and float(match.group(1)) > 0:
        return DAYS_PER_YEAR / 12.0 / float(match.group(1))
    raise ValueError(
        f"retrain cadence {cadence!r} is not one of {', '.join(RETRAIN_CADENCES_RUNS_PER_MONTH)} "
        "or 'Nd' (every N days, e.g. '14d')"
    )


def monthly_ownership_usd(plan: OptionPlan, training: TrainingPlan, runs: float, drivers: Drivers) -> Number:
    """Serving + retraining (runs/month x retrain_factor x cost per run) + storage, per month."""
    return (
        plan.evaluate(drivers).usd_per_month
        + runs * drivers.retrain_factor * training.run_usd(drivers)
        + training.storage_usd_per_month(drivers)
    )


@dataclass(frozen=True)
class TcoOption:
    """One alternative's cost of ownership over the horizon."""

    key: str
    label: str
    option: str
    instance_type: str | None
    feasible: bool
    reason: str
    drop_in: bool
    serving_usd_per_month: float | None
    training_usd_per_month: float
    storage_usd_per_month: float
    usd_per_month: float | None  # serving + training + storage (+ platform)
    total_usd: float | None  # over the horizon
    training_usd: float  # over the horizon
    serving_usd: float | None
    storage_usd: float
    components: tuple[CostComponent, ...] = ()  # per month
    caveats: tuple[str, ...] = ()
    commitment: CommitmentOwed | None = None  # a reserved or Savings Plans term against the horizon
    platform_usd_per_month: float | None = None  # the share charged to this model; None: no platform priced
    platform_usd: float | None = None  # over the horizon

    def to_json_dict(self) -> dict[str, Any]:
        skip = ("components", "commitment") + (
            () if self.platform_usd_per_month is not None else PLATFORM_FIELDS
        )
        data = {k: jsonable(v) for k, v in self.__dict__.items() if k not in skip}
        data["commitment"] = None if self.commitment is None else self.commitment.to_json_dict()
        data["cost_components"] = [c.to_json_dict() for c in self.components]
        return data


PLATFORM_FIELDS = ("platform_usd_per_month", "platform_usd")


@dataclass(frozen=True)
class TcoScenario:
    requests_per_day: float
    options: tuple[TcoOption, ...]  # the best variant of each alternative
    cheapest: str | None  # key, drop-in options only

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "requests_per_day": self.requests_per_day,
            "cheapest": self.cheapest,
            "options": [o.to_json_dict() for o in self.options],
        }


@dataclass(frozen=True)
class BreakEven:
    """Around ``requests_per_day`` the cheapest alternative changes from one to another."""

    requests_per_day: float
    below_key: str
    below_label: str
    above_key: str
    above_label: str
    below_usd_per_month: float  # of the cheaper-below option, just below the point
    above_usd_per_month: float  # of the cheaper-above option, just above it


@dataclass(frozen=True)
class ReservedBreakEven:
    """Reserved beats on-demand for an instance running more than ``utilisation`` of the time."""

    instance_type: str
    term: str  # "1yr/standard/No Upfront"
    reserved_usd_per_hour: float
    on_demand_usd_per_hour: float
    utilisation: float  # reserved / on-demand; > 1 means never


@dataclass(frozen=True)
class TcoResult:
    region: str
    snapshot_id: str
    prices_as_of: str
    horizon_months: float
    retrain_cadence: str
    runs_per_month: float
    training: TrainingRunCost
    scenarios: tuple[TcoScenario, ...]
    breakevens: tuple[BreakEven, ...] = ()
    reserved_breakevens: tuple[ReservedBreakEven, ...] = ()
    notes: tuple[str, ...] = field(default=())
    platform: PlatformCost | None = None  # what runs the pipeline; None: left out (design "none")

    def to_json_dict(self) -> dict[str, Any]:
        platform = {} if self.platform is None else {"platform": self.platform.to_json_dict()}
        return {
            "schema": TCO_SCHEMA,
            "schema_version": RESULT_SCHEMA_VERSION,
            "currency": CURRENCY,
            "region": self.region,
            "snapshot_id": self.snapshot_id,
            "prices_as_of": self.prices_as_of,
            "horizon_months": self.horizon_months,
            "retrain_cadence": self.retrain_cadence,
            "runs_per_month": self.runs_per_month,
            "training_run": self.training.to_json_dict(),
            "scenarios": [s.to_json_dict() for s in self.scenarios],
            "breakevens": [jsonable(b.__dict__) for b in self.breakevens],
            "reserved_breakevens": [jsonable(b.__dict__) for b in self.reserved_breakevens],
            "notes": list(self.notes),
            **platform,
        }

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            {
                "region": self.region,
                "snapshot_id": self.snapshot_id,
                "requests_per_day": s.requests_per_day,
                "horizon_months": self.horizon_months,
                "retrain_cadence": self.retrain_cadence,
                "cheapest": o.key == s.cheapest,
                **{
                    k: v
                    for k, v in o.__dict__.items()
                    if k not in ("components", "caveats", "commitment")
                    and (self.platform is not None or k not in PLATFORM_FIELDS)
                },
                "owed_at_horizon_usd": None if o.commitment is None else o.commitment.owed_at_horizon_usd,
            }
            for s in self.scenarios
            for o in s.options
        ]
        return pd.DataFrame(rows)


def _tco_option(
    option: OptionCost, run: TrainingRunCost, runs: float, months: float, platform: PlatformCost | None = None
) -> TcoOption:
    training_month = run.usd * runs
    storage_month = run.storage_usd_per_month
    serving = option.usd_per_month
    platform_month = None if platform is None else platform.usd_per_month
    monthly = None if serving is None else serving + training_month + storage_month + (platform_month or 0.0)
    components: tuple[CostComponent, ...] = ()
    if option.feasible:
        components = (
            *option.components,
            CostComponent(
                f"Retraining ({run.instance_type} {run.market}, expected per run)",
                "AmazonEC2",
                "runs",
                runs,
                run.usd,
                training_month,
            ),
            *run.storage_components,
            *(() if platform is None else platform.charged_components()),
        )
    return TcoOption(
        key=option.key,
        label=option.label,
        option=option.option,
        instance_type=option.instance_type,
        feasible=option.feasible,
        reason=option.reason,
        drop_in=option.drop_in,
        serving_usd_per_month=serving,
        training_usd_per_month=training_month,
        storage_usd_per_month=storage_month,
        usd_per_month=monthly,
        total_usd=None if monthly is None else monthly * months,
        training_usd=training_month * months,
        serving_usd=None if serving is None else serving * months,
        storage_usd=storage_month * months,
        components=components,
        caveats=option.caveats,
        commitment=option.commitment,
        platform_usd_per_month=platform_month,
        platform_usd=None if platform_month is None else platform_month * months,
    )


def tco(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: Sequence[float] = DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    *,
    retrain_cadence: str = DEFAULT_RETRAIN_CADENCE,
    assumptions: ServingAssumptions | None = None,
    training_assumptions: TrainingAssumptions | None = None,
    training: TrainingPlan | None = None,
    training_run: TrainingRunCost | None = None,
    instance_types: Sequence[str] | None = None,
    scenario_plans: Sequence[ScenarioPlans] | None = None,
    breakevens: bool = True,
    platform: PlatformAssumptions | None = None,
    footprint: PlatformFootprint | None = None,
) -> TcoResult:
    """Cost of ownership of every alternative (its best variant) at each request volume, plus break-evens.

    A run is priced from the profile's measured wall time on ``sheet`` (``training``, built by
    :func:`~costing.model.training.plan.plan_training` if not given): the lifecycle is recomputed at fresh
    prices. Pass ``training_run`` (e.g. :func:`~costing.model.training.plan.billed_run_with_storage` of a
    real spot run) to use that cost per run instead. The horizon is the assumptions' (``horizon_months``),
    the one ``scenario_plans``, when given, were planned with. ``platform`` (None: design ``none``) adds what
    runs the pipeline, sized from ``footprint`` (None: ``include/platform_footprint.json``).
    """
    a = assumptions or ServingAssumptions()
    months = float(a.horizon_months)
    if training_run is None:
        training = training or plan_training(profile, sheet, assumptions=training_assumptions)
        check_same_region(training.region, sheet.region, what="the training plan and the price sheet")
        run = training_run_cost(training)
    else:
        check_same_region(training_run.region, sheet.region, what="the training run and the price sheet")
        run = training_run
    runs = check_retraining_cadence(
        retrain_cadence, runs_per_month(retrain_cadence), run.expected_wall_seconds
    )
    platform_cost = (
        None
        if platform is None
        else price_platform(
            platform,
            sheet,
            runs_per_month=runs,
            run_wall_seconds=run.expected_wall_seconds,
            training_peak_rss_mb=profile.peak_rss_bytes / BYTES_PER_MB,
            footprint=footprint,
        )
    )
    plans = (
        list(scenario_plans)
        if scenario_plans is not None
        else plan_grid(profile, sheet, requests_per_day, assumptions=a, instance_types=instance_types)
    )
    scenarios = []
    for scenario_plans_ in plans:
        result = scenario_plans_.result()
        options = tuple(
            _tco_option(o, run, runs, months, platform_cost) for o in result.best_per_option().values()
        )
        candidates = [o for o in options if o.feasible and o.drop_in and o.total_usd is not None]
        cheapest = min(candidates, key=lambda o: (o.total_usd, o.key)).key if candidates else None
        scenarios.append(
            TcoScenario(requests_per_day=result.requests_per_day, options=options, cheapest=cheapest)
        )
    volumes = [s.requests_per_day for s in scenarios]
    found: tuple[BreakEven, ...] = ()
    if breakevens and len(volumes) >= 2 and min(volumes) < max(volumes):
        found = tuple(
            cheapest_breakevens(
                profile, sheet, min(volumes), max(volumes), assumptions=a, instance_types=instance_types
            )
        )
    notes = list(run.notes)
    if profile.compute_billed_usd is not None:
        notes.append(
            f"the measured run itself was recorded at ${profile.compute_billed_usd:.4f} "
            f"({profile.compute_instance_type} {profile.compute_market}, prices of its day); this TCO "
            f"reprices its wall time on snapshot {sheet.snapshot_id}"
        )
    notes += _commitment_notes(scenarios, a)
    return TcoResult(
        region=sheet.region,
        snapshot_id=sheet.snapshot_id,
        prices_as_of=sheet.prices_as_of.isoformat(),
        horizon_months=months,
        retrain_cadence=str(retrain_cadence),
        runs_per_month=runs,
        training=run,
        scenarios=tuple(scenarios),
        breakevens=found,
        platform=platform_cost,
        reserved_breakevens=tuple(
            reserved_breakeven_utilisation(
                sheet,
                instance_types=instance_types or _chosen_ec2_types(scenarios),
                terms=_commitment_terms(a),
            )
        ),
        notes=tuple(notes),
    )


def _commitment_notes(scenarios: Sequence[TcoScenario], a: ServingAssumptions) -> list[str]:
    """What the commitments that outlast the horizon still owe there, and whether their totals include it."""
    owing = sorted(
        {
            o.commitment.term_months
            for s in scenarios
            for o in s.options
            if o.commitment is not None and o.commitment.months_owed
        }
    )
    if not owing:
        return []
    terms = " and ".join(f"{months}" for months in owing)
    counted = (
        "their totals include what they still owe at the horizon (the service may stop then), spread over it"
        if not a.commitments_used_for_full_term
        else "their totals leave out what they would owe at the horizon: they are used for their whole term"
    )
    return [
        f"commitments outlast the {a.horizon_months:g}-month horizon (terms of {terms} months): {counted}; "
        "each option's commitment says what is owed and what serving until the horizon, then leaving, costs"
    ]


def _chosen_ec2_types(scenarios: Sequence[TcoScenario]) -> list[str]:
    """The instance types the scenarios' EC2 options chose (where a commitment would be bought)."""
    return sorted(
        {o.instance_type for s in scenarios for o in s.options if o.option in EC2_OPTIONS and o.instance_type}
    )


def _commitment_terms(a: ServingAssumptions) -> list[str]:
    """The reserved and Savings Plans terms the alternatives price (the assumptions' class and payment)."""
    return [a.reserved_key(1), a.reserved_key(3)] + [
        a.savings_plan_key(plan_type, years) for plan_type, years in SAVINGS_PLAN_TERMS.values()
    ]


def reserved_breakeven_utilisation(
    sheet: PriceSheet, instance_types: Sequence[str] | None = None, terms: Sequence[str] | None = None
) -> list[ReservedBreakEven]:
    """For every reserved and Savings Plans rate in the sheet (or only ``terms``): the utilisation above
    which it beats on-demand.

    Example: m5.large $0.06/h (1yr No Upfront) against $0.096/h on-demand -> 0.625.
    """
    names = sorted(sheet.instances) if instance_types is None else list(instance_types)
    wanted = set(terms) if terms is not None else None
    found = []
    for name in names:
        rates = sheet.instances.get(name)
        if rates is None:
            continue
        committed = {**rates.reserved_usd_per_hour, **rates.savings_plan_usd_per_hour}
        for term, usd in sorted(committed.items()):
            if wanted is not None and term not in wanted:
                continue
            found.append(
                ReservedBreakEven(
                    instance_type=name,
                    term=term,
                    reserved_usd_per_hour=usd,
                    on_demand_usd_per_hour=rates.on_demand_usd_per_hour,
                    utilisation=usd / rates.on_demand_usd_per_hour,
                )
            )
    return found


def _cheapest(plans: ScenarioPlans) -> tuple[str, str, float] | None:
    best = None
    nominal = Drivers(requests_per_day=plans.requests_per_day)
    for plan in plans.plans:
        if not plan.drop_in:
            continue
        usd = float(plan.evaluate(nominal).usd_per_month)
        if best is None or (usd, plan.key) < (best[2], best[0]):
            best = (plan.key, _label(plan), usd)
    return best


def _label(plan: OptionPlan) -> str:
    base = OPTION_LABELS.get(plan.option, plan.option)
    return f"{base} {plan.instance_type}" if plan.instance_type else base


def cheapest_breakevens(
    profile: ModelProfile,
    sheet: PriceSheet,
    low_requests_per_day: float,
    high_requests_per_day: float,
    *,
    assumptions: ServingAssumptions | None = None,
    instance_types: Sequence[str] | None = None,
    points: int = 25,
    rel_tol: float = 0.005,
) -> list[BreakEven]:
    """Request volumes in [low, high] where the cheapest drop-in alternative changes.

    A change between two adjacent grid points is narrowed by bisection; two changes closer than
    one grid step may show as one (raise ``points`` to separate them).
    """
    if not 0 < low_requests_per_day < high_requests_per_day:
        raise ValueError(
            f"need 0 < low < high requests/day, got {low_requests_per_day!r}, {high_requests_per_day!r}"
        )
    a = assumptions or ServingAssumptions()
    fixed = plan_volume_independent(profile, sheet, a, instance_types)

    def cheapest_at(rpd: float) -> tuple[str, str, float] | None:
        return _cheapest(plan_scenario(profile, sheet, rpd, assumptions=a, volume_independent_plans=fixed))

    log_low, log_high = math.log(low_requests_per_day), math.log(high_requests_per_day)
    grid = [math.exp(log_low + (log_high - log_low) * i / (points - 1)) for i in range(points)]
    values = [cheapest_at(rpd) for rpd in grid]
    found = []
    for (lo, lo_best), (hi, hi_best) in itertools.pairwise(zip(grid, values, strict=True)):
        if lo_best is None or hi_best is None or lo_best[0] == hi_best[0]:
            continue
        while hi / lo > 1.0 + rel_tol:
            mid = math.sqrt(lo * hi)
            mid_best = cheapest_at(mid)
            if mid_best is not None and mid_best[0] == lo_best[0]:
                lo, lo_best = mid, mid_best
            else:
                hi, hi_best = mid, mid_best if mid_best is not None else hi_best
        found.append(
            BreakEven(
                requests_per_day=math.sqrt(lo * hi),
                below_key=lo_best[0],
                below_label=lo_best[1],
                above_key=hi_best[0],
                above_label=hi_best[1],
                below_usd_per_month=lo_best[2],
                above_usd_per_month=hi_best[2],
            )
        )
    return found
