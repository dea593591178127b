"""A sweep's arithmetic: each trial's monthly cost at the target volume, the Pareto front of cost against
quality, and the recommendation.

* **Cost of a trial** (:func:`trial_monthly_cost`): the TCO of the trial's model at one request volume
  (:func:`costing.model.tco.tco`): serving on the cheapest drop-in option that meets the p95 latency SLO
  with the trial's measured capacity and cold starts, plus retraining at the cadence (its measured wall
  time, priced on the training instance type), plus storage. The platform that runs the pipeline is the
  same for every trial, so it is left out of the objective (it never changes which trial is cheaper).
* **Quality**: validation loss in bits per character (:func:`bits_per_char`), every trial scored on the
  same deterministic sample of the same held-out split.
* **Feasible**: the trial completed, its server kept the SLO at some rate, an option serves the volume,
  and (when a quality target is set) its loss is at most the target. A failed trial has no point; an
  infeasible one keeps its point but never enters the front.
* **Front** (:func:`pareto_front`): the feasible trials no other feasible trial dominates (at most as
  expensive and at most as lossy, and better in one of the two). Sorted by cost.
* **Recommendation** (:func:`recommend`): the cheapest feasible trial whose loss is within the quality
  target (``max_val_bpc``) when one is given, else within ``loss_tolerance`` (relative) of the best
  feasible loss. Always a member of the front (a cheaper point within the bar would dominate it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from costing.choices import DEFAULT_LOSS_TOLERANCE
from costing.model.assumptions import DEFAULT_RETRAIN_CADENCE, ServingAssumptions
from costing.model.grid import with_assumptions
from costing.model.profile import ModelProfile
from costing.model.tco import tco
from costing.model.training import TrainingPlan
from costing.pricing import PriceSheet


def bits_per_char(loss_nats: float) -> float:
    """Cross-entropy per character in bits (the loss is in nats)."""
    return loss_nats / math.log(2)


@dataclass(frozen=True)
class TrialCost:
    """One trial's monthly cost at the target volume (serving + retraining + storage), and what it is."""

    requests_per_day: float
    usd_per_month: float | None  # None: no option serves the volume within the SLO
    serving_usd_per_month: float | None
    training_usd_per_month: float
    storage_usd_per_month: float
    training_run_usd: float
    option_key: str | None
    option_label: str | None
    reason: str  # why infeasible, or what serves it

    def to_json_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def trial_monthly_cost(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: float,
    *,
    training: TrainingPlan,
    slo_ms: float,
    retrain_cadence: str = DEFAULT_RETRAIN_CADENCE,
    assumptions: ServingAssumptions | None = None,
) -> TrialCost:
    """The TCO of one trial's model at one volume, on the cheapest drop-in option that meets ``slo_ms``."""
    a = with_assumptions(assumptions, latency_slo_ms=float(slo_ms))
    result = tco(
        profile,
        sheet,
        [float(requests_per_day)],
        retrain_cadence=retrain_cadence,
        assumptions=a,
        training=training,
        breakevens=False,
    )
    scenario = result.scenarios[0]
    training_monthly = result.runs_per_month * result.training.usd
    best = next((o for o in scenario.options if o.key == scenario.cheapest), None)
    if best is None or best.usd_per_month is None:
        reasons = sorted({o.reason for o in scenario.options if not o.feasible and o.reason})
        return TrialCost(
            requests_per_day=float(requests_per_day),
            usd_per_month=None,
            serving_usd_per_month=None,
            training_usd_per_month=training_monthly,
            storage_usd_per_month=0.0,
            training_run_usd=result.training.usd,
            option_key=None,
            option_label=None,
            reason="no option serves the volume within the SLO: " + ("; ".join(reasons[:3]) or "none priced"),
        )
    return TrialCost(
        requests_per_day=float(requests_per_day),
        usd_per_month=float(best.usd_per_month),
        serving_usd_per_month=best.serving_usd_per_month,
        training_usd_per_month=best.training_usd_per_month,
        storage_usd_per_month=best.storage_usd_per_month,
        training_run_usd=result.training.usd,
        option_key=best.key,
        option_label=best.label,
        reason=f"served by {best.label}",
    )


@dataclass(frozen=True)
class SweepPoint:
    """One trial as the front sees it. ``state`` is ``complete`` or ``failed``."""

    trial: int
    state: str
    usd_per_month: float | None = None
    val_bpc: float | None = None
    feasible: bool = False
    reason: str = ""
    params: tuple[tuple[str, Any], ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "params"}, "params": dict(self.params)}


def feasibility(
    *,
    usd_per_month: float | None,
    val_bpc: float | None,
    slo_met: bool,
    max_val_bpc: float | None,
    cost_reason: str = "",
) -> tuple[bool, str]:
    """Whether a completed trial may enter the front, and why not."""
    if not slo_met:
        return False, "infeasible: its server kept the p95 SLO at no request rate"
    if usd_per_month is None:
        return False, f"infeasible: {cost_reason or 'no option serves the volume'}"
    if val_bpc is None or not math.isfinite(val_bpc):
        return False, "infeasible: no finite validation loss"
    if max_val_bpc is not None and val_bpc > max_val_bpc:
        return False, f"infeasible: validation loss {val_bpc:.3f} bits/char above the target {max_val_bpc:g}"
    return True, "feasible"


def _dominates(a: SweepPoint, b: SweepPoint) -> bool:
    assert a.usd_per_month is not None and a.val_bpc is not None
    assert b.usd_per_month is not None and b.val_bpc is not None
    return (
        a.usd_per_month <= b.usd_per_month
        and a.val_bpc <= b.val_bpc
        and (a.usd_per_month < b.usd_per_month or a.val_bpc < b.val_bpc)
    )


def pareto_front(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """The feasible points no other feasible point dominates, cheapest first (ties by loss, then trial)."""
    feasible = [p for p in points if p.state == "complete" and p.feasible]
    front = [p for p in feasible if not any(_dominates(q, p) for q in feasible if q is not p)]
    return sorted(front, key=lambda p: (p.usd_per_month, p.val_bpc, p.trial))


@dataclass(frozen=True)
class Recommendation:
    point: SweepPoint | None
    bar_bpc: float | None  # the loss the recommendation had to stay within
    rule: str  # the sentence a reader sees

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "trial": None if self.point is None else self.point.trial,
            "point": None if self.point is None else self.point.to_json_dict(),
            "bar_bpc": self.bar_bpc,
            "rule": self.rule,
        }


def recommend(
    points: Sequence[SweepPoint],
    *,
    max_val_bpc: float | None = None,
    loss_tolerance: float = DEFAULT_LOSS_TOLERANCE,
) -> Recommendation:
    """The cheapest feasible trial good enough (module docstring); None when no trial is feasible."""
    if loss_tolerance < 0:
        raise ValueError(f"loss_tolerance must be >= 0, got {loss_tolerance}")
    feasible = [p for p in points if p.state == "complete" and p.feasible]
    if not feasible:
        failed = sum(p.state != "complete" for p in points)
        return Recommendation(
            None,
            max_val_bpc,
            f"no feasible trial ({len(points)} trials: {failed} failed, {len(points) - failed} infeasible)",
        )
    if max_val_bpc is not None:
        bar, why = max_val_bpc, f"the quality target {max_val_bpc:g} bits/char"
    else:
        best = min(p.val_bpc for p in feasible if p.val_bpc is not None)
        bar = best * (1 + loss_tolerance)
        why = f"{loss_tolerance * 100:g}% of the best loss ({best:.4f} -> {bar:.4f} bits/char)"
    within = [p for p in feasible if p.val_bpc is not None and p.val_bpc <= bar]
    if not within:  # a target below every loss the feasibility check let through
        return Recommendation(None, bar, f"no feasible trial within {why}")
    chosen = min(within, key=lambda p: (p.usd_per_month, p.val_bpc, p.trial))
    return Recommendation(
        chosen,
        bar,
        f"trial {chosen.trial}: the cheapest feasible trial within {why}: "
        f"${chosen.usd_per_month:,.2f}/month at {chosen.val_bpc:.4f} bits/char",
    )
