"""Result types of the cost model and their exports (versioned JSON, pandas DataFrame).

The JSON shape follows Infracost's breakdown: each priced thing lists ``cost_components`` with a
``unit``, a ``monthly_quantity``, a ``price`` (USD per unit) and a ``monthly_cost``, so a reader can
re-add every total by hand. Every document carries ``schema`` and ``schema_version``; a reader checks
both. Schemas (all version 1):

* ``rnn-cost-grid`` - :meth:`GridResult.to_json_dict`: serving cost of every alternative at each scenario.
* ``rnn-cost-tco`` - :meth:`costing.model.tco.TcoResult.to_json_dict`.
* ``rnn-cost-sensitivity`` - :meth:`costing.model.sensitivity.SensitivityResult.to_json_dict`.
* ``rnn-cost-analysis`` - :meth:`costing.model.analysis.Analysis.to_json_dict`: all of the above together.
* ``rnn-price-sheet`` - :func:`price_sheet_to_json_dict`: the rates a computation used.

DataFrames are built on request only (pandas is imported inside the method); the computations
themselves never touch pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

# the alternatives, in display order (defined in costing.choices: the trigger form reads them at parse time)
from costing.choices import (
    EC2_ON_DEMAND,
    EC2_OPTIONS,
    OPTION_LABELS,
    OPTIONS,
)
from costing.model.assumptions import ServingAssumptions
from costing.model.capacity import CapacityComparison, capacity_comparison
from costing.units import DAYS_PER_MONTH

if TYPE_CHECKING:
    import pandas as pd

    from costing.model.profile import ModelProfile
    from costing.pricing.sheet import PriceSheet

GRID_SCHEMA = "rnn-cost-grid"
TCO_SCHEMA = "rnn-cost-tco"
SENSITIVITY_SCHEMA = "rnn-cost-sensitivity"
ANALYSIS_SCHEMA = "rnn-cost-analysis"
PRICE_SHEET_SCHEMA = "rnn-price-sheet"
RESULT_SCHEMA_VERSION = 1
CURRENCY = "USD"


@dataclass(frozen=True)
class CostComponent:
    """One priced line: quantity per month x USD per unit = USD per month."""

    name: str  # "Instance usage (c7g.large, on-demand)"
    service: str  # "AmazonEC2", "AWSLambda", "AWSELB", ...
    unit: str  # "hours", "GB-seconds", "GB-months", "1M requests", "LCU-hours", ...
    quantity: float  # per month, in ``unit``
    usd_per_unit: float
    usd_per_month: float

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "unit": self.unit,
            "monthly_quantity": self.quantity,
            "price": self.usd_per_unit,
            "monthly_cost": self.usd_per_month,
        }


@dataclass(frozen=True)
class DesignPart:
    """One part of an option's deployable design (costing.model.platforms.design): what was chosen for a
    role (front door, compute, egress, logs and metrics, data transfer out, model storage), what it costs a
    month and which cost components pay for it."""

    role: str
    choice: str
    usd_per_month: float
    components: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "choice": self.choice,
            "monthly_cost": self.usd_per_month,
            "cost_components": list(self.components),
        }


@dataclass(frozen=True)
class CommitmentOwed:
    """A reserved instance or Savings Plans term measured against the horizon (costing.model.commitments):
    what it still owes when the service stops at the horizon, and what serving until then and leaving costs."""

    what: str  # "reserved instances", "Compute Savings Plan", "EC2 Instance Savings Plan"
    term: str  # "3yr/standard/No Upfront"
    term_months: int
    horizon_months: float
    purchase_option: str
    usd_per_month: float  # the fleet's commitment a month, effective (upfront spread over the term)
    upfront_usd: float  # paid at purchase for the term (the payment option's share of the whole term)
    months_owed: float  # of the term running at the horizon, still to run after it
    owed_recurring_usd: float  # months owed x the recurring part a month
    owed_upfront_usd: float  # the upfront fee's unamortised share: paid, not yet used
    cost_if_left_at_horizon_usd: float  # serving the horizon's months (owed share aside) + what is owed
    ranked_on: str  # "horizon": with what is owed; "full-term": used for its whole term (costing.choices)

    @property
    def owed_at_horizon_usd(self) -> float:
        """The cost of leaving at the horizon: the months owed at the effective rate."""
        return self.owed_recurring_usd + self.owed_upfront_usd

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "term": self.term,
            "term_months": self.term_months,
            "horizon_months": self.horizon_months,
            "purchase_option": self.purchase_option,
            "monthly_commitment": self.usd_per_month,
            "upfront_usd": self.upfront_usd,
            "months_owed_at_horizon": self.months_owed,
            "owed_recurring_usd": self.owed_recurring_usd,
            "owed_unamortised_upfront_usd": self.owed_upfront_usd,
            "owed_at_horizon_usd": self.owed_at_horizon_usd,
            "cost_if_left_at_horizon_usd": self.cost_if_left_at_horizon_usd,
            "ranked_on": self.ranked_on,
        }


@dataclass(frozen=True)
class OptionCost:
    """The monthly serving cost of one alternative (one instance type for the instance-based ones)."""

    option: str  # one of OPTIONS
    instance_type: str | None  # EC2 / SageMaker type, Fargate task size, Lambda memory; None if n/a
    feasible: bool
    reason: str  # why it is infeasible; "" when feasible
    components: tuple[CostComponent, ...] = ()
    usd_per_month: float | None = None  # None when infeasible
    usd_per_request: float | None = None
    usd_per_1k_requests: float | None = None
    caveats: tuple[str, ...] = ()
    drop_in: bool = True  # False: runs only after re-implementing the model for the platform
    config: str = ""  # what is deployed, in words: "2 x c7g.large, batch 64"
    details: Mapping[str, Any] = field(default_factory=dict)  # instances, batch_size, memory_mb, ...
    design: tuple[DesignPart, ...] = ()  # the deployable design, part by part (empty when infeasible)
    commitment: CommitmentOwed | None = None  # reserved and Savings Plans: the term against the horizon

    @property
    def key(self) -> str:
        """Unique within a scenario: "ec2-spot:c7g.large", "lambda"."""
        return (
            f"{self.option}:{self.instance_type}"
            if self.instance_type and self.option in EC2_OPTIONS
            else self.option
        )

    @property
    def label(self) -> str:
        base = OPTION_LABELS.get(self.option, self.option)
        return f"{base} {self.instance_type}" if self.instance_type and self.option in EC2_OPTIONS else base

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.label,
            "option": self.option,
            "instance_type": self.instance_type,
            "feasible": self.feasible,
            "reason": self.reason,
            "drop_in": self.drop_in,
            "config": self.config,
            "monthly_cost": self.usd_per_month,
            "usd_per_request": self.usd_per_request,
            "usd_per_1k_requests": self.usd_per_1k_requests,
            "caveats": list(self.caveats),
            "details": _jsonable(dict(self.details)),
            "design": [part.to_json_dict() for part in self.design],
            "commitment": None if self.commitment is None else self.commitment.to_json_dict(),
            "cost_components": [component.to_json_dict() for component in self.components],
        }


def infeasible(
    option: str,
    instance_type: str | None,
    reason: str,
    *,
    caveats: Sequence[str] = (),
    drop_in: bool = True,
    config: str = "",
) -> OptionCost:
    return OptionCost(
        option=option,
        instance_type=instance_type,
        feasible=False,
        reason=reason,
        caveats=tuple(caveats),
        drop_in=drop_in,
        config=config,
    )


def requests_per_month(requests_per_day: float) -> float:
    return requests_per_day * DAYS_PER_MONTH


@dataclass(frozen=True)
class ScenarioResult:
    """Every alternative at one traffic level."""

    requests_per_day: float
    options: tuple[OptionCost, ...]
    cheapest: str | None  # key of the cheapest feasible drop-in option
    cheapest_any: str | None  # key of the cheapest feasible option, re-implementations included

    @classmethod
    def build(cls, requests_per_day: float, options: Sequence[OptionCost]) -> ScenarioResult:
        keys = [option.key for option in options]
        if len(set(keys)) != len(keys):
            duplicated = sorted({key for key in keys if keys.count(key) > 1})
            raise ValueError(f"duplicate option keys in one scenario: {duplicated}")
        feasible = [o for o in options if o.feasible and o.usd_per_month is not None]
        drop_in = [o for o in feasible if o.drop_in]
        return cls(
            requests_per_day=requests_per_day,
            options=tuple(options),
            cheapest=min(drop_in, key=_sort_key).key if drop_in else None,
            cheapest_any=min(feasible, key=_sort_key).key if feasible else None,
        )

    @property
    def requests_per_month(self) -> float:
        return requests_per_month(self.requests_per_day)

    def option(self, key: str) -> OptionCost:
        for option in self.options:
            if option.key == key:
                return option
        raise KeyError(
            f"no option {key!r} at {self.requests_per_day:g} requests/day; "
            f"options: {', '.join(o.key for o in self.options)}"
        )

    @property
    def cheapest_option(self) -> OptionCost | None:
        return self.option(self.cheapest) if self.cheapest else None

    def best_per_option(self) -> dict[str, OptionCost]:
        """Per alternative, its cheapest feasible variant (instance type); an infeasible one if none is."""
        best: dict[str, OptionCost] = {}
        for option in self.options:
            current = best.get(option.option)
            if current is None or _sort_key(option) < _sort_key(current):
                best[option.option] = option
        return {name: best[name] for name in OPTIONS if name in best}

    def like_for_like(self) -> tuple[str | None, dict[str, OptionCost]]:
        """Every EC2 pricing model for one instance type - the cheapest on-demand one - so reserved and
        Savings Plans rows compare with on-demand like for like."""
        on_demand = self.best_per_option().get(EC2_ON_DEMAND)
        if on_demand is None or not on_demand.feasible:
            return None, {}
        instance_type = on_demand.instance_type
        return instance_type, {
            option: self.option(f"{option}:{instance_type}")
            for option in EC2_OPTIONS
            if any(o.key == f"{option}:{instance_type}" for o in self.options)
        }

    def to_json_dict(self) -> dict[str, Any]:
        like_type, like = self.like_for_like()
        return {
            "requests_per_day": self.requests_per_day,
            "requests_per_month": self.requests_per_month,
            "like_for_like": {
                "instance_type": like_type,
                "options": {name: option.usd_per_month for name, option in like.items()},
            },
            "cheapest": self.cheapest,
            "cheapest_including_reimplementations": self.cheapest_any,
            "options": [option.to_json_dict() for option in self.options],
        }


def _sort_key(option: OptionCost) -> tuple[int, float, int, str]:
    """Feasible first, then cheapest; a tie goes to the alternative listed first (reserved before a
    Savings Plan at the same rate)."""
    cost = option.usd_per_month if option.feasible and option.usd_per_month is not None else math.inf
    order = OPTIONS.index(option.option) if option.option in OPTIONS else len(OPTIONS)
    return (0 if option.feasible else 1, cost, order, option.key)


@dataclass(frozen=True)
class GridResult:
    """Every alternative at every scenario, priced on one sheet for one model profile."""

    region: str
    snapshot_id: str
    prices_as_of: date
    profile: ModelProfile
    assumptions: ServingAssumptions
    scenarios: tuple[ScenarioResult, ...]
    sheet_notes: tuple[str, ...] = ()
    source_ages: tuple[Any, ...] = ()  # costing.pricing.freshness.SourceAge of each price source

    def scenario(self, requests_per_day: float) -> ScenarioResult:
        for scenario in self.scenarios:
            if scenario.requests_per_day == requests_per_day:
                return scenario
        raise KeyError(
            f"no scenario at {requests_per_day:g} requests/day; scenarios: "
            f"{', '.join(f'{s.requests_per_day:g}' for s in self.scenarios)}"
        )

    @property
    def capacity(self) -> CapacityComparison:
        """Measured (load test) and formula capacity of one serving process, at these assumptions."""
        a = self.assumptions
        return capacity_comparison(
            self.profile, tokens=a.tokens_per_request, latency_slo_seconds=a.latency_slo_ms / 1000.0
        )

    def header(self) -> dict[str, Any]:
        return {
            "currency": CURRENCY,
            "region": self.region,
            "snapshot_id": self.snapshot_id,
            "prices_as_of": self.prices_as_of.isoformat(),
            "metrics_source": self.profile.source,
            "free_tiers_applied": self.assumptions.apply_free_tiers,
            # what every option's design meets (costing.choices): each option's "design" lists its parts
            "requirement": {
                "exposure": self.assumptions.exposure,
                "availability": self.assumptions.availability,
            },
            # the months the costs are owned over, and how commitments outlasting them rank (costing.choices)
            "horizon": {
                "months": self.assumptions.horizon_months,
                "commitment_use": self.assumptions.commitment_use,
            },
            "price_sources": [age.to_json_dict() for age in self.source_ages],
        }

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema": GRID_SCHEMA,
            "schema_version": RESULT_SCHEMA_VERSION,
            **self.header(),
            "profile": self.profile.summary(),
            "capacity": self.capacity.to_dict(),
            "assumptions": self.assumptions.to_dict(),
            "sheet_notes": list(self.sheet_notes),
            "scenarios": [scenario.to_json_dict() for scenario in self.scenarios],
        }

    def to_dataframe(self, *, components: bool = False) -> pd.DataFrame:
        """One row per scenario x option (``components=False``) or per cost component."""
        import pandas as pd

        rows = []
        for scenario in self.scenarios:
            for option in scenario.options:
                base = {
                    "region": self.region,
                    "snapshot_id": self.snapshot_id,
                    "requests_per_day": scenario.requests_per_day,
                    "key": option.key,
                    "option": option.option,
                    "instance_type": option.instance_type,
                    "feasible": option.feasible,
                    "drop_in": option.drop_in,
                    "cheapest": option.key == scenario.cheapest,
                }
                if components:
                    for component in option.components:
                        rows.append(
                            base
                            | {
                                "component": component.name,
                                "service": component.service,
                                "unit": component.unit,
                                "quantity": component.quantity,
                                "usd_per_unit": component.usd_per_unit,
                                "usd_per_month": component.usd_per_month,
                            }
                        )
                else:
                    rows.append(
                        base
                        | {
                            "usd_per_month": option.usd_per_month,
                            "usd_per_request": option.usd_per_request,
                            "usd_per_1k_requests": option.usd_per_1k_requests,
                            "config": option.config,
                            "reason": option.reason,
                        }
                    )
        return pd.DataFrame(rows)


def check_same_region(*regions: str, what: str = "inputs") -> str:
    """The one region shared by ``regions``; ``ValueError`` naming them when they differ."""
    distinct = sorted(set(regions))
    if len(distinct) != 1:
        raise ValueError(
            f"{what} mix regions {distinct}; price each region on its own sheet and compare the results"
        )
    return distinct[0]


def price_sheet_to_json_dict(sheet: PriceSheet) -> dict[str, Any]:
    """A :class:`~costing.pricing.sheet.PriceSheet` as JSON (schema ``rnn-price-sheet`` v1)."""
    data = _jsonable(asdict(sheet))
    return {
        "schema": PRICE_SHEET_SCHEMA,
        "schema_version": RESULT_SCHEMA_VERSION,
        "currency": CURRENCY,
        **data,
    }


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


jsonable = _jsonable
