"""The serving platforms the grid prices, in display order: one entry per platform module.

Adding a platform: a choice in :mod:`costing.choices` (its key and label), a module in this package with
a planner, and one :class:`Platform` entry below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from costing.choices import (
    CLOUDFLARE_WORKERS,
    EC2_OPTIONS,
    FARGATE,
    LAMBDA,
    OPTIONS,
    SAGEMAKER_REALTIME,
    SAGEMAKER_SERVERLESS,
)
from costing.model.assumptions import ServingAssumptions
from costing.model.platforms import cloudflare_workers, ec2, fargate, lambda_, sagemaker
from costing.model.platforms.base import OptionPlan
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost
from costing.pricing.sheet import PriceSheet

Planned = OptionPlan | OptionCost  # a plan to evaluate, or why the option cannot run


@dataclass(frozen=True)
class PlanRequest:
    """What a planner gets: the model, the prices, the assumptions, one request volume (``None`` when
    only volume-independent platforms are planned)."""

    profile: ModelProfile
    sheet: PriceSheet
    assumptions: ServingAssumptions
    requests_per_day: float | None
    instance_types: Sequence[str] | None = None  # EC2 types to price (None: every type in the sheet)


@dataclass(frozen=True)
class Platform:
    """A serving platform: the options (:mod:`costing.choices`) it prices and how it plans them."""

    options: tuple[str, ...]
    plan: Callable[[PlanRequest], Sequence[Planned]]
    # True: the plans do not change with the request volume, so a grid plans them once for every volume
    volume_independent: bool = False


def _ec2(r: PlanRequest) -> list[Planned]:
    return ec2.plan_ec2_fleet(r.profile, r.sheet, r.assumptions, r.instance_types)


def _one(
    planner: Callable[[ModelProfile, PriceSheet, ServingAssumptions, float], Planned],
) -> Callable[[PlanRequest], list[Planned]]:
    """A planner of one option at one volume, as a registry planner."""

    def plan(r: PlanRequest) -> list[Planned]:
        if r.requests_per_day is None:
            raise ValueError(f"{planner.__name__} plans for a request volume: requests_per_day is None")
        return [planner(r.profile, r.sheet, r.assumptions, r.requests_per_day)]

    return plan


PLATFORMS: tuple[Platform, ...] = (
    Platform(EC2_OPTIONS, _ec2, volume_independent=True),
    Platform((LAMBDA,), _one(lambda_.plan_lambda)),
    Platform((SAGEMAKER_REALTIME,), _one(sagemaker.plan_sagemaker_realtime)),
    Platform((SAGEMAKER_SERVERLESS,), _one(sagemaker.plan_sagemaker_serverless)),
    Platform((FARGATE,), _one(fargate.plan_fargate)),
    Platform((CLOUDFLARE_WORKERS,), _one(cloudflare_workers.plan_cloudflare_workers)),
)

_registered = tuple(option for platform in PLATFORMS for option in platform.options)
if _registered != OPTIONS:  # the choices offered and the platforms priced are one list, in one order
    raise RuntimeError(
        f"costing.choices.OPTIONS {OPTIONS} and the registered platforms {_registered} differ: "
        "register every choice's platform here, in the same order"
    )


def plan_platforms(request: PlanRequest, *, volume_independent: bool | None = None) -> list[Planned]:
    """Every registered platform's plans (only the volume-(in)dependent ones when that is given)."""
    return [
        planned
        for platform in PLATFORMS
        if volume_independent is None or platform.volume_independent == volume_independent
        for planned in platform.plan(request)
    ]
