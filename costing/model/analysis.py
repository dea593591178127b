"""Everything at once: the scenario grid, the TCO with break-evens, and the sensitivity analysis.

:func:`analyze` plans the alternatives once and hands the same plans to each part, so the three
answers agree with each other. :meth:`Analysis.to_json_dict` nests the three documents under one
``rnn-cost-analysis`` v1 envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from costing.choices import TRAINING_ON_BEST, TRAINING_ON_CONFIGURED
from costing.model.assumptions import (
    DEFAULT_RETRAIN_CADENCE,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    ServingAssumptions,
    TrainingAssumptions,
)
from costing.model.grid import plan_grid
from costing.model.pipeline_platform import PlatformAssumptions
from costing.model.profile import ModelProfile
from costing.model.request import AnalysisRequest
from costing.model.resources import best_training_instance
from costing.model.results import ANALYSIS_SCHEMA, CURRENCY, RESULT_SCHEMA_VERSION, GridResult
from costing.model.sensitivity import DEFAULT_TORNADO_PCT, MonteCarloSpec, SensitivityResult, sensitivity
from costing.model.tco import TcoResult, tco
from costing.model.training import DEFAULT_RUN_OVERHEAD, RunOverhead, TrainingPlan, plan_training
from costing.pricing import DEFAULT_INSTANCE_TYPE, PriceSheet


@dataclass(frozen=True)
class Analysis:
    grid: GridResult
    tco: TcoResult
    sensitivity: SensitivityResult

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema": ANALYSIS_SCHEMA,
            "schema_version": RESULT_SCHEMA_VERSION,
            **self.grid.header(),
            "currency": CURRENCY,
            "grid": self.grid.to_json_dict(),
            "tco": self.tco.to_json_dict(),
            "sensitivity": self.sensitivity.to_json_dict(),
        }


def training_plan_for(
    profile: ModelProfile,
    sheet: PriceSheet,
    *,
    instance_type: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    market: str | None = None,
    assumptions: TrainingAssumptions | None = None,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
    wall_seconds: float | None = None,
) -> TrainingPlan:
    """The retraining run the TCO prices, on the instance type asked for, with a note saying which and why.

    ``instance_type``: a type; None or ``"configured"`` for the one the run was configured with
    (``metrics.json`` compute), else :data:`~costing.choices.DEFAULT_INSTANCE_TYPE`; ``"best"`` for
    the type the resource mapping chooses for training (:func:`~costing.model.resources.best_training_instance`,
    which needs the run's ``metrics``).
    """
    configured = profile.compute_instance_type or DEFAULT_INSTANCE_TYPE
    if instance_type == TRAINING_ON_BEST:
        if metrics is None:
            raise ValueError(
                f"training instance {TRAINING_ON_BEST!r} needs the run's metrics.json for the resource mapping"
            )
        best = best_training_instance(metrics, profile, sheet, overhead=overhead)
        chosen = best.instance_type
        note = (
            f"training priced on {chosen}, the resource mapping's cheapest type that qualifies for a run "
            f"(asked for with {TRAINING_ON_BEST!r}); configured: {configured}"
        )
    else:
        chosen = configured if instance_type in (None, TRAINING_ON_CONFIGURED) else instance_type
        why = "configured" if instance_type in (None, TRAINING_ON_CONFIGURED) else "asked for"
        note = f"training priced on {chosen} ({why}; {TRAINING_ON_BEST!r} prices it on the resource mapping's pick)"
    plan = plan_training(
        profile,
        sheet,
        instance_type=chosen,
        market=market,
        assumptions=assumptions,
        overhead=overhead,
        wall_seconds=wall_seconds,
    )
    return replace(plan, notes=(note, *plan.notes))


def analyze(
    profile: ModelProfile,
    sheet: PriceSheet,
    requests_per_day: Sequence[float] = DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    *,
    assumptions: ServingAssumptions | None = None,
    training_assumptions: TrainingAssumptions | None = None,
    retrain_cadence: str = DEFAULT_RETRAIN_CADENCE,
    pct: float = DEFAULT_TORNADO_PCT,
    spec: MonteCarloSpec | None = None,
    instance_types: Sequence[str] | None = None,
    training_instance_type: str | None = None,
    training_market: str | None = None,
    training_overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
    training: TrainingPlan | None = None,
    option_key: str | None = None,
    every_variant: bool = False,
    platform: PlatformAssumptions | None = None,
) -> Analysis:
    """Scenarios, TCO and sensitivity from one set of plans. ``training`` overrides the training plan
    built from the profile (``training_instance_type``, ``training_market``, ``training_assumptions``,
    ``training_overhead``: the boot and upload of a cloud run, from the spot ledger or the default).
    The horizon (and how commitments outlasting it rank) is the assumptions'. ``platform`` adds what runs the
    pipeline to the TCO (None: left out); the sensitivity analysis varies serving and training only."""
    a = assumptions or ServingAssumptions()
    plans = plan_grid(profile, sheet, requests_per_day, assumptions=a, instance_types=instance_types)
    training = training or training_plan_for(
        profile,
        sheet,
        instance_type=training_instance_type,
        market=training_market,
        assumptions=training_assumptions,
        overhead=training_overhead,
    )
    grid = GridResult(
        region=sheet.region,
        snapshot_id=sheet.snapshot_id,
        prices_as_of=sheet.prices_as_of,
        profile=profile,
        assumptions=a,
        scenarios=tuple(p.result() for p in plans),
        sheet_notes=tuple(sheet.notes),
        source_ages=tuple(sheet.source_ages),
    )
    ownership = tco(
        profile,
        sheet,
        requests_per_day,
        retrain_cadence=retrain_cadence,
        assumptions=a,
        training=training,
        instance_types=instance_types,
        scenario_plans=plans,
        platform=platform,
    )
    sensitive = sensitivity(
        plans,
        training,
        retrain_cadence=retrain_cadence,
        pct=pct,
        spec=spec,
        option_key=option_key,
        every_variant=every_variant,
        snapshot_id=sheet.snapshot_id,
        prices_as_of=sheet.prices_as_of.isoformat(),
    )
    return Analysis(grid=grid, tco=ownership, sensitivity=sensitive)


def request_training_plan(
    profile: ModelProfile,
    sheet: PriceSheet,
    request: AnalysisRequest,
    *,
    metrics: Mapping[str, Any] | None = None,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> TrainingPlan:
    """The retraining run ``request`` asks the TCO to price (:func:`training_plan_for`), on the market the
    run was recorded on unless the request names one; ``metrics``: the run's document (for ``best``)."""
    compute = (metrics or {}).get("compute") or {}
    return training_plan_for(
        profile,
        sheet,
        instance_type=request.training_instance,
        metrics=metrics,
        market=request.training_market or compute.get("market"),
        overhead=overhead,
        wall_seconds=request.training_seconds,
    )


def analyze_request(
    profile: ModelProfile,
    sheet: PriceSheet,
    request: AnalysisRequest,
    *,
    metrics: Mapping[str, Any] | None = None,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
    option_key: str | None = None,
    every_variant: bool = False,
) -> Analysis:
    """:func:`analyze` of one :class:`~costing.model.request.AnalysisRequest`: what the CLI's ``analyze``
    and the pipeline's cost analysis both run. ``sheet`` holds the request's region's prices."""
    return analyze(
        profile,
        sheet,
        request.requests_per_day,
        assumptions=request.serving_assumptions(),
        retrain_cadence=request.retrain_cadence,
        pct=request.sensitivity_pct,
        spec=request.monte_carlo(),
        instance_types=request.instance_types,
        training=request_training_plan(profile, sheet, request, metrics=metrics, overhead=overhead),
        option_key=option_key,
        every_variant=every_variant,
        platform=request.platform_assumptions(),
    )
