"""Trigger-form Params that ``cost_recompute`` and ``adhoc_cost_analysis`` share: one definition of each.

The requirement every option's design meets (exposure, availability), how commitments outlasting the
horizon rank, the instance type retraining is priced on, and the platform that runs the pipeline;
choices and defaults from costing.choices.
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
    DEFAULT_DB_INSTANCE_CLASS,
    DEFAULT_EXPOSURE,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_PLATFORM_DESIGN,
    DEFAULT_PLATFORM_SHARE,
    DEFAULT_PLATFORM_WORKERS,
    DEFAULT_REDIS_PLACEMENT,
    EXPOSURE_DESCRIPTIONS,
    EXPOSURES,
    MWAA_CLASS_AUTO,
    MWAA_ENVIRONMENT_CLASSES,
    PLATFORM_DESCRIPTIONS,
    PLATFORM_DESIGNS,
    REDIS_PLACEMENTS,
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


def platform_params() -> dict[str, Param]:
    """``platform_design``, ``platform_share``, ``platform_workers``, ``db_instance_class``, ``redis`` and
    ``mwaa_environment_class``."""
    section = "Platform (what runs the pipeline)"
    return {
        "platform_design": Param(
            DEFAULT_PLATFORM_DESIGN,
            type="string",
            enum=list(PLATFORM_DESIGNS),
            values_display={name: f"{name}: {text}" for name, text in PLATFORM_DESCRIPTIONS.items()},
            title="Platform design",
            description="The Airflow, MLflow, database, Redis, bucket and mail that run this pipeline, priced "
            "beside training and serving (docs/cost-model.md). none leaves it out.",
            section=section,
        ),
        "platform_share": Param(
            DEFAULT_PLATFORM_SHARE,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            title="Share of the platform charged to this model",
            description="1: the platform runs only this pipeline; 0.25: it is shared four ways.",
            section=section,
        ),
        "platform_workers": Param(
            DEFAULT_PLATFORM_WORKERS,
            type="integer",
            minimum=1,
            maximum=25,
            title="Celery workers",
            description="Self-hosted: worker instances; MWAA: the concurrency they give (MWAA adds workers).",
            section=section,
        ),
        "db_instance_class": Param(
            DEFAULT_DB_INSTANCE_CLASS,
            type="string",
            pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$",
            title="RDS PostgreSQL class",
            description="The database of Airflow and MLflow (self-hosted) or of MLflow (MWAA); a class the "
            "snapshot does not price is refused, naming the ones it does.",
            section=section,
        ),
        "redis": Param(
            DEFAULT_REDIS_PLACEMENT,
            type="string",
            enum=list(REDIS_PLACEMENTS),
            title="Redis (self-hosted)",
            description="co-located: on the control instance, as docker-compose.yaml runs it; elasticache: a node.",
            section=section,
        ),
        "mwaa_environment_class": Param(
            MWAA_CLASS_AUTO,
            type="string",
            enum=[MWAA_CLASS_AUTO, *MWAA_ENVIRONMENT_CLASSES],
            title="MWAA environment class",
            description="auto: the smallest class the snapshot prices that holds the DAGs, tasks and worker memory.",
            section=section,
        ),
    }
