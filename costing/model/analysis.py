"""Everything at once: the scenario grid, the TCO with break-evens, and the sensitivity analysis.

:func:`analyze` plans the alternatives once and hands the same plans to each part, so the three
answers agree with each other. :meth:`Analysis.to_json_dict` nests the three documents under one
``rnn-cost-analysis`` v1 envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from costing.model.assumptions import (
    DEFAULT_RETRAIN_CADENCE,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    ServingAssumptions,
    TrainingAssumptions,
)
from costing.model.grid import plan_grid
from costing.model.profile import ModelProfile
from costing.model.results import ANALYSIS_SCHEMA, CURRENCY, RESULT_SCHEMA_VERSION, GridResult
from costing.model.sensitivity import DEFAULT_TORNADO_PCT, MonteCarloSpec, SensitivityResult, sensitivity
from costing.model.tco import TcoResult, tco
from costing.model.training_plan import TrainingPlan, plan_training
from costing.pricing import PriceSheet


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
    training: TrainingPlan | None = None,
    option_key: str | None = None,
    every_variant: bool = False,
) -> Analysis:
    """Scenarios, TCO and sensitivity from one set of plans. ``training`` overrides the training plan
    built from the profile (``training_instance_type``, ``training_market``, ``training_assumptions``).
    The horizon (and how commitments outlasting it rank) is the assumptions'."""
    a = assumptions or ServingAssumptions()
    plans = plan_grid(profile, sheet, requests_per_day, assumptions=a, instance_types=instance_types)
    training = training or plan_training(
        profile,
        sheet,
        instance_type=training_instance_type,
        market=training_market,
        assumptions=training_assumptions,
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
