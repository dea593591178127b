"""Trigger-form Params that ``cost_recompute`` and ``adhoc_cost_analysis`` share: one definition of each.

The requirement every option's design meets (exposure, availability), how commitments outlasting the
horizon rank, and the instance type retraining is priced on; choices and defaults from costing.choices.
"""

from __future__ import annotations

from airflow.sdk import Param

from costing.choices import (
    AVAILABILITIES,
    AVAILABILITY_DESCRIPTIONS,
    COMMITMENT_USE_DESCRIPTIONS,
    COMMITMENT_USES,
    DEFAULT_AVAILABILITY,
    DEFAULT_COMMITMENT_USE,
    DEFAULT_EXPOSURE,
    DEFAULT_INSTANCE_TYPE,
    EXPOSURE_DESCRIPTIONS,
    EXPOSURES,
    TRAINING_INSTANCE_CHOICES,
    TRAINING_ON_CONFIGURED,
)


def requirement_params() -> dict[str, Param]:
    """``exposure`` and ``availability``."""
    return {
        "exposure": Param(
            DEFAULT_EXPOSURE,
            type="string",
            enum=list(EXPOSURES),
            values_display={name: f"{name}: {text}" for name, text in EXPOSURE_DESCRIPTIONS.items()},
            title="Exposure",
            description="Who calls the inference API. Every option is priced as the cheapest design that "
            "meets it (front door, egress, instances, logs), shown part by part.",
        ),
        "availability": Param(
            DEFAULT_AVAILABILITY,
            type="string",
            enum=list(AVAILABILITIES),
            values_display={name: f"{name}: {text}" for name, text in AVAILABILITY_DESCRIPTIONS.items()},
            title="Availability",
            description="What the service survives: multi-az runs at least one instance per zone.",
        ),
    }


def commitment_params() -> dict[str, Param]:
    """``commitment_use``: how a term that outlasts the horizon ranks."""
    return {
        "commitment_use": Param(
            DEFAULT_COMMITMENT_USE,
            type="string",
            enum=list(COMMITMENT_USES),
            values_display={name: f"{name}: {text}" for name, text in COMMITMENT_USE_DESCRIPTIONS.items()},
            title="Commitments",
            description="A 3-year term on a shorter horizon still owes its remaining months when the service "
            "stops: ranked with what it owes, unless it will be used for its whole term.",
        ),
    }


def training_instance_params() -> dict[str, Param]:
    """``training_instance``: the type retraining is priced on."""
    return {
        "training_instance": Param(
            TRAINING_ON_CONFIGURED,
            type="string",
            enum=list(TRAINING_INSTANCE_CHOICES),
            title="Retraining priced on",
            description="configured: the instance type the model was trained on (its metrics.json), else "
            f"{DEFAULT_INSTANCE_TYPE}; best: the type the resource mapping finds cheapest for a training run. "
            "The TCO says which it used.",
        ),
    }
