"""Every serving platform planned at each request volume: the scenario grid.

Two steps per alternative, so one implementation serves the scenario grid, the tornado and the
Monte Carlo:

1. **Plan** (each platform's planner, :mod:`costing.model.platforms`): the discrete decisions, made once
   at the nominal inputs - which batch size, which Lambda memory size, which Fargate task size or
   SageMaker instance type - and the rates copied from the :class:`~costing.pricing.sheet.PriceSheet`.
   A rate the sheet lacks (``None``) makes the alternative infeasible with a reason; it is never priced
   at zero.
2. **Evaluate** (:meth:`~costing.model.platforms.OptionPlan.evaluate`): quantities x rates as a
   function of :class:`~costing.model.drivers.Drivers` - request volume, latency, utilisation,
   interruption rate and price multipliers - which may be floats or numpy arrays (one element per
   Monte Carlo sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from costing.choices import OPTIONS
from costing.model.assumptions import (
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    MAX_REQUESTS_PER_DAY,
    ServingAssumptions,
)
from costing.model.drivers import Drivers
from costing.model.platforms import OptionPlan, Planned, PlanRequest, plan_platforms
from costing.model.profile import ModelProfile
from costing.model.results import GridResult, OptionCost, ScenarioResult
from costing.pricing.sheet import PriceSheet


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


def plan_volume_independent(
    profile: ModelProfile,
    sheet: PriceSheet,
    a: ServingAssumptions,
    instance_types: Sequence[str] | None = None,
) -> list[Planned]:
    """The plans that do not depend on the request volume (EC2: every instance type x market), made once
    and reused across scenarios."""
    request = PlanRequest(profile, sheet, a, None, instance_types)
    return plan_platforms(request, volume_independent=True)


def plan_scenario(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: float,
    *,
    assumptions: ServingAssumptions | None = None,
    instance_types: Sequence[str] | None = None,
    volume_independent_plans: Sequence[Planned] | None = None,
) -> ScenarioPlans:
    """Plan every alternative for ``requests_per_day`` (pass ``volume_independent_plans`` to reuse them
    across scenarios)."""
    a = assumptions or ServingAssumptions()
    rpd = _check_requests(requests_per_day)
    planned: list[Planned] = list(
        volume_independent_plans
        if volume_independent_plans is not None
        else plan_volume_independent(profile, sheet, a, instance_types)
    )
    planned += plan_platforms(PlanRequest(profile, sheet, a, rpd, instance_types), volume_independent=False)
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
    fixed = plan_volume_independent(profile, sheet, a, instance_types)
    return [
        plan_scenario(profile, sheet, rpd, assumptions=a, volume_independent_plans=fixed)
        for rpd in requests_per_day
    ]


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
