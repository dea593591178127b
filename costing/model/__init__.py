"""The cost model: what training, retraining and serving this model cost, from measurements and a price sheet.

Inputs are a :class:`ModelProfile` (measured numbers from ``metrics.json``: :func:`resolve_metrics`
picks the document - the registered champion by default - and names it in every output),
the :class:`ServingAssumptions` / :class:`TrainingAssumptions` that are not prices, and a
:class:`~costing.pricing.PriceSheet`. Out come a training run's cost (:func:`estimate_training_cost`,
:func:`spot_training_cost`, :func:`plan_training`), the serving grid (:func:`plan_grid`,
:func:`cost_grid`), total cost of ownership with break-evens (:func:`tco`), sensitivity
(:func:`sensitivity`), all three at once (:func:`analyze`), and which instance types fit the model
(:func:`map_resources`). Pure functions of plain values: the
model never calls AWS (docs/cost-model.md).
"""

from costing.choices import OPTION_LABELS, OPTIONS
from costing.model.analysis import analyze, analyze_request, request_training_plan, training_plan_for
from costing.model.assumptions import (
    DEFAULT_HORIZON_MONTHS,
    DEFAULT_RETRAIN_CADENCE,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    ServingAssumptions,
    TrainingAssumptions,
)
from costing.model.grid import cost_grid, plan_grid, with_assumptions
from costing.model.model_source import (
    CHAMPION_MODEL_URI,
    MetricsSource,
    default_metrics_source,
    load_profile,
    resolve_metrics,
)
from costing.model.profile import (
    REFERENCE_LABEL,
    REFERENCE_METRICS_PATH,
    ModelProfile,
    profile_from_metrics,
)
from costing.model.request import AnalysisRequest
from costing.model.resources import ModelArchitecture, ResourceMapping, map_resources, parameter_count
from costing.model.results import GridResult, jsonable, price_sheet_to_json_dict
from costing.model.sensitivity import (
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    DEFAULT_TORNADO_PCT,
    MonteCarloSpec,
    SensitivityResult,
    sensitivity,
)
from costing.model.tco import TcoResult, tco
from costing.model.training import (
    AttemptSeconds,
    AttemptTimings,
    InstanceAttempt,
    SpotAccounting,
    TrainingCost,
    TrainingPlan,
    account_spot_run,
    attempt_usd,
    billed_seconds,
    estimate_training_cost,
    expected_wall_seconds,
    mean_time_between_interruptions_seconds,
    plan_training,
    split_attempt_seconds,
    spot_training_cost,
)

__all__ = [
    "CHAMPION_MODEL_URI",
    "DEFAULT_HORIZON_MONTHS",
    "DEFAULT_RETRAIN_CADENCE",
    "DEFAULT_SAMPLES",
    "DEFAULT_SCENARIOS_REQUESTS_PER_DAY",
    "DEFAULT_SEED",
    "DEFAULT_TORNADO_PCT",
    "OPTIONS",
    "OPTION_LABELS",
    "REFERENCE_LABEL",
    "REFERENCE_METRICS_PATH",
    "AnalysisRequest",
    "AttemptSeconds",
    "AttemptTimings",
    "GridResult",
    "InstanceAttempt",
    "MetricsSource",
    "ModelArchitecture",
    "ModelProfile",
    "MonteCarloSpec",
    "ResourceMapping",
    "SensitivityResult",
    "ServingAssumptions",
    "SpotAccounting",
    "TcoResult",
    "TrainingAssumptions",
    "TrainingCost",
    "TrainingPlan",
    "account_spot_run",
    "analyze",
    "analyze_request",
    "attempt_usd",
    "billed_seconds",
    "cost_grid",
    "default_metrics_source",
    "estimate_training_cost",
    "expected_wall_seconds",
    "jsonable",
    "load_profile",
    "map_resources",
    "mean_time_between_interruptions_seconds",
    "parameter_count",
    "plan_grid",
    "plan_training",
    "price_sheet_to_json_dict",
    "profile_from_metrics",
    "request_training_plan",
    "resolve_metrics",
    "sensitivity",
    "split_attempt_seconds",
    "spot_training_cost",
    "tco",
    "training_plan_for",
    "with_assumptions",
]
