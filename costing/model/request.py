"""One analysis request: what to cost and under which assumptions, the same for the CLI and the pipeline.

``python -m costing`` builds it from its flags (:func:`costing.cli.request_from_args`), the
``cost_recompute`` and ``adhoc_cost_analysis`` tasks from their trigger-form Params
(:meth:`AnalysisRequest.from_params`); :func:`costing.model.analysis.analyze_request` answers it for
both. Every default is the model's own (:mod:`costing.choices`, :mod:`costing.model.assumptions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from costing.choices import (
    DEFAULT_AVAILABILITY,
    DEFAULT_COMMITMENT_USE,
    DEFAULT_EXPOSURE,
    DEFAULT_HORIZON_MONTHS,
    DEFAULT_PLATFORM_DESIGN,
    DEFAULT_PLATFORM_SHARE,
    DEFAULT_PLATFORM_WORKERS,
    DEFAULT_REGION,
    MWAA_CLASS_AUTO,
    PLATFORM_NONE,
    TRAINING_ON_CONFIGURED,
)
from costing.model.assumptions import (
    DEFAULT_RETRAIN_CADENCE,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    ServingAssumptions,
)
from costing.model.grid import with_assumptions
from costing.model.pipeline_platform import PlatformAssumptions
from costing.model.sensitivity import DEFAULT_SAMPLES, DEFAULT_SEED, DEFAULT_TORNADO_PCT, MonteCarloSpec


@dataclass(frozen=True)
class AnalysisRequest:
    region: str = DEFAULT_REGION
    requests_per_day: tuple[float, ...] = DEFAULT_SCENARIOS_REQUESTS_PER_DAY
    # the months the costs are owned over, and whether a commitment outlasting them is used for its whole term
    horizon_months: float = DEFAULT_HORIZON_MONTHS
    commitment_use: str = DEFAULT_COMMITMENT_USE
    retrain_cadence: str = DEFAULT_RETRAIN_CADENCE
    samples: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED
    sensitivity_pct: float = DEFAULT_TORNADO_PCT
    instance_types: tuple[str, ...] | None = None  # None: every type in the snapshot
    # the traffic figures; None keeps the assumption's default
    latency_slo_ms: float | None = None
    tokens_per_request: int | None = None
    peak_factor: float | None = None
    target_utilisation: float | None = None
    min_instances: int | None = None
    options: tuple[str, ...] | None = None  # pricing models to show; None: all
    # the training run the TCO prices: the configured type, "best" (the resource mapping's pick) or a type
    training_instance: str = TRAINING_ON_CONFIGURED
    training_market: str | None = None  # None: the market the run was recorded on
    training_seconds: float | None = None  # None: the measured wall time
    apply_free_tiers: bool = False  # an account's allowance, not a workload's: off unless asked
    exposure: str = DEFAULT_EXPOSURE  # the requirement every option's design meets (costing.choices)
    availability: str = DEFAULT_AVAILABILITY
    use_nat_gateway: bool | None = None  # None: the design chooses its egress
    # the platform that runs the pipeline (costing.model.pipeline_platform): design, share, workers, MWAA class
    platform_design: str = DEFAULT_PLATFORM_DESIGN
    platform_share: float = DEFAULT_PLATFORM_SHARE
    platform_workers: int = DEFAULT_PLATFORM_WORKERS
    mwaa_environment_class: str | None = None  # None: the smallest priced class that fits
    db_instance_class: str = PlatformAssumptions.db_instance_class  # RDS PostgreSQL for Airflow and MLflow
    redis: str = PlatformAssumptions.redis  # co-located on the control instance, or ElastiCache

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AnalysisRequest:
        """The request of a trigger form's Params (``cost_recompute``, ``adhoc_cost_analysis``)."""

        def opt(key: str) -> Any:
            value = params.get(key)
            return None if value in (None, "", []) else value

        return cls(
            region=params.get("region", cls.region),
            requests_per_day=tuple(float(x) for x in params.get("requests_per_day", cls.requests_per_day)),
            horizon_months=float(params.get("horizon_months", cls.horizon_months)),
            commitment_use=str(params.get("commitment_use") or cls.commitment_use),
            retrain_cadence=str(params.get("retrain_cadence", cls.retrain_cadence)),
            samples=int(params.get("samples", cls.samples)),
            seed=int(params.get("seed", cls.seed)),
            sensitivity_pct=float(params.get("sensitivity_pct", cls.sensitivity_pct)),
            instance_types=tuple(opt("instance_types")) if opt("instance_types") else None,
            latency_slo_ms=opt("latency_slo_ms"),
            tokens_per_request=opt("tokens_per_request"),
            peak_factor=opt("peak_factor"),
            target_utilisation=opt("target_utilisation"),
            options=tuple(opt("pricing_models")) if opt("pricing_models") else None,
            apply_free_tiers=bool(params.get("apply_free_tiers", False)),
            exposure=str(params.get("exposure") or cls.exposure),
            availability=str(params.get("availability") or cls.availability),
            training_instance=str(params.get("training_instance") or TRAINING_ON_CONFIGURED),
            platform_design=str(params.get("platform_design") or cls.platform_design),
            platform_share=float(params.get("platform_share", cls.platform_share)),
            platform_workers=int(params.get("platform_workers", cls.platform_workers)),
            mwaa_environment_class=None
            if opt("mwaa_environment_class") in (None, MWAA_CLASS_AUTO)
            else str(params["mwaa_environment_class"]),
            db_instance_class=str(params.get("db_instance_class") or cls.db_instance_class),
            redis=str(params.get("redis") or cls.redis),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            key: (list(value) if isinstance(value, tuple) else value) for key, value in self.__dict__.items()
        }

    def serving_assumptions(self) -> ServingAssumptions:
        """The model's assumptions for this request: the requirement, the horizon and commitments, free
        tiers, and the traffic figures the request sets (the rest keep their defaults)."""
        return with_assumptions(
            None,
            latency_slo_ms=self.latency_slo_ms,
            tokens_per_request=self.tokens_per_request,
            peak_factor=self.peak_factor,
            target_utilisation=self.target_utilisation,
            min_instances=self.min_instances,
            use_nat_gateway=self.use_nat_gateway,
            apply_free_tiers=self.apply_free_tiers,
            exposure=self.exposure,
            availability=self.availability,
            horizon_months=self.horizon_months,
            commitment_use=self.commitment_use,
        )

    def platform_assumptions(self) -> PlatformAssumptions | None:
        """The platform this request prices (None for ``none``); a bad value raises one message naming it."""
        assumptions = PlatformAssumptions(
            design=self.platform_design,
            attribution_share=self.platform_share,
            workers=self.platform_workers,
            mwaa_environment_class=self.mwaa_environment_class,
            db_instance_class=self.db_instance_class,
            redis=self.redis,
        )
        return None if assumptions.design == PLATFORM_NONE else assumptions

    def monte_carlo(self) -> MonteCarloSpec:
        return MonteCarloSpec(samples=self.samples, seed=self.seed)
