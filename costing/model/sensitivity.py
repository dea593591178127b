"""How much the monthly cost of ownership moves with its uncertain inputs.

The metric is an alternative's **monthly cost of ownership**: serving + retraining (runs per
month x expected cost per run) + storage (:func:`costing.model.tco.monthly_ownership_usd`). Each
alternative keeps the discrete choices made at the nominal inputs (batch size, memory size, task
size): the analysis asks "what if the world differs from the measurement", not "what would we
re-provision".

* **Tornado** (one at a time): each factor is multiplied by ``1 - X`` and ``1 + X`` with the others
  at nominal; bars are sorted by swing. Factors: prices (every list price, spot included), request
  volume, latency (throughput moves inversely), target utilisation (capped at 100 %), spot
  interruption rate, retraining cadence.
* **Monte Carlo** (``N`` samples, ``numpy.random.default_rng(seed)``, vectorised: every alternative
  is evaluated once on arrays of ``N``): the distributions below, centred on the nominal values.
  Reports P10 / P50 / P90 of the monthly cost per alternative, the share of samples in which its
  p95 latency meets the SLO, and how often it is the cheapest drop-in alternative.

Distributions (:class:`MonteCarloSpec`, median 1 = nominal):

========================  ==========================================  ======================================
input                     distribution                                why
========================  ==========================================  ======================================
list prices               lognormal, sigma 0.05                       AWS list prices move a few % a year
spot prices               lognormal, sigma 0.25 (on top)              spot moves with demand
requests per day          lognormal, sigma 0.5                        traffic forecasts are rough (P10-P90 ~ x0.53-x1.9)
latency                   lognormal, sigma 0.15                       other hosts, other CPUs, noisy neighbours
target utilisation        triangular(0.75, 1, 1.25), capped at 100 %  operators differ in headroom
interruption rate         lognormal, sigma 0.5                        a Spot Advisor bucket is a range
========================  ==========================================  ======================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from costing.choices import OPTION_LABELS
from costing.model.drivers import Drivers
from costing.model.grid import ScenarioPlans
from costing.model.platforms import OptionPlan
from costing.model.plausibility import check_retraining_cadence
from costing.model.results import (
    CURRENCY,
    RESULT_SCHEMA_VERSION,
    SENSITIVITY_SCHEMA,
    check_same_region,
    jsonable,
)
from costing.model.tco import monthly_ownership_usd, runs_per_month
from costing.model.training.plan import TrainingPlan

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_TORNADO_PCT = 20.0
DEFAULT_SAMPLES = 10_000
# Memory grows linearly with the samples (every cost line is an array of them): 200,000 samples keep
# the Monte Carlo over every variant (--every-variant, 35 types x 8 EC2 markets) under 1.5 GB;
# P10/P50/P90 are stable to well under 1 % long before that.
MAX_SAMPLES = 200_000
DEFAULT_SEED = 0

# factor name -> the Drivers field it multiplies
TORNADO_FACTORS: dict[str, str] = {
    "prices": "price_factor",
    "requests_per_day": "requests_per_day",
    "latency": "latency_factor",
    "utilisation": "utilisation_factor",
    "interruption_rate": "interruption_factor",
    "retrain_cadence": "retrain_factor",
}


def _label(plan: OptionPlan) -> str:
    base = OPTION_LABELS.get(plan.option, plan.option)
    return f"{base} {plan.instance_type}" if plan.instance_type else base


@dataclass(frozen=True)
class TornadoBar:
    factor: str
    low_multiplier: float
    high_multiplier: float
    low_usd_per_month: float
    high_usd_per_month: float

    @property
    def swing_usd_per_month(self) -> float:
        return abs(self.high_usd_per_month - self.low_usd_per_month)


@dataclass(frozen=True)
class Tornado:
    key: str
    label: str
    requests_per_day: float
    pct: float
    base_usd_per_month: float
    bars: tuple[TornadoBar, ...]  # largest swing first

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "requests_per_day": self.requests_per_day,
            "pct": self.pct,
            "base_usd_per_month": self.base_usd_per_month,
            "bars": [asdict(bar) | {"swing_usd_per_month": bar.swing_usd_per_month} for bar in self.bars],
        }


def _cheapest_drop_in(plans: ScenarioPlans, training: TrainingPlan, runs: float) -> OptionPlan:
    nominal = Drivers(requests_per_day=plans.requests_per_day)
    candidates = [p for p in plans.plans if p.drop_in]
    if not candidates:
        raise ValueError(f"no feasible drop-in alternative at {plans.requests_per_day:g} requests/day")
    return min(candidates, key=lambda p: (float(monthly_ownership_usd(p, training, runs, nominal)), p.key))


def tornado(
    plans: ScenarioPlans,
    training: TrainingPlan,
    runs_per_month: float,
    *,
    pct: float = DEFAULT_TORNADO_PCT,
    option_key: str | None = None,
) -> Tornado:
    """One-at-a-time +-``pct`` % on each factor for one alternative (default: the cheapest drop-in one)."""
    import numpy as np

    if not 0 < pct < 100:
        raise ValueError(
            f"pct={pct!r} must be in (0, 100): the factors are scaled by 1 - pct/100 and 1 + pct/100"
        )
    check_same_region(training.region, plans.region, what="the training plan and the scenario")
    plan = plans.plan(option_key) if option_key else _cheapest_drop_in(plans, training, runs_per_month)
    x = pct / 100.0
    low, high = 1.0 - x, 1.0 + x
    names = list(TORNADO_FACTORS)
    # one vectorised evaluation: element 0 nominal, then (low, high) per factor
    columns: dict[str, np.ndarray] = {
        field_: np.ones(1 + 2 * len(names)) for field_ in TORNADO_FACTORS.values()
    }
    for index, name in enumerate(names):
        columns[TORNADO_FACTORS[name]][1 + 2 * index] = low
        columns[TORNADO_FACTORS[name]][2 + 2 * index] = high
    columns["requests_per_day"] = columns["requests_per_day"] * plans.requests_per_day
    usd = np.asarray(monthly_ownership_usd(plan, training, runs_per_month, Drivers(**columns)), dtype=float)
    bars = [
        TornadoBar(
            factor=name,
            low_multiplier=low,
            high_multiplier=high,
            low_usd_per_month=float(usd[1 + 2 * index]),
            high_usd_per_month=float(usd[2 + 2 * index]),
        )
        for index, name in enumerate(names)
    ]
    bars.sort(key=lambda bar: (-bar.swing_usd_per_month, bar.factor))
    return Tornado(
        key=plan.key,
        label=_label(plan),
        requests_per_day=plans.requests_per_day,
        pct=pct,
        base_usd_per_month=float(usd[0]),
        bars=tuple(bars),
    )


@dataclass(frozen=True)
class MonteCarloSpec:
    """Distributions of the sampled inputs (multipliers with median 1); see the module docstring."""

    samples: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED
    price_sigma: float = 0.05
    spot_price_sigma: float = 0.25
    requests_sigma: float = 0.5
    latency_sigma: float = 0.15
    utilisation_low: float = 0.75
    utilisation_high: float = 1.25
    interruption_sigma: float = 0.5

    def __post_init__(self) -> None:
        if (
            isinstance(self.samples, bool)
            or not isinstance(self.samples, int)
            or not 1 <= self.samples <= MAX_SAMPLES
        ):
            raise ValueError(f"samples={self.samples!r} must be an integer from 1 to {MAX_SAMPLES:,}")
        for name in (
            "price_sigma",
            "spot_price_sigma",
            "requests_sigma",
            "latency_sigma",
            "interruption_sigma",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"MonteCarloSpec.{name}={getattr(self, name)!r} must be >= 0")
        if not 0 < self.utilisation_low <= 1.0 <= self.utilisation_high:
            raise ValueError(
                f"utilisation range ({self.utilisation_low}, {self.utilisation_high}) must satisfy "
                "0 < low <= 1 <= high"
            )

    def sample(self, requests_per_day: float) -> Drivers:
        import numpy as np

        rng = np.random.default_rng(self.seed)
        n = self.samples

        def lognormal(sigma: float) -> np.ndarray:
            return np.exp(sigma * rng.standard_normal(n))

        price = lognormal(self.price_sigma)
        spot = lognormal(self.spot_price_sigma)
        requests = requests_per_day * lognormal(self.requests_sigma)
        latency = lognormal(self.latency_sigma)
        if self.utilisation_low < self.utilisation_high:
            utilisation = rng.triangular(self.utilisation_low, 1.0, self.utilisation_high, n)
        else:
            utilisation = np.ones(n)
        interruption = lognormal(self.interruption_sigma)
        return Drivers(
            requests_per_day=requests,
            latency_factor=latency,
            utilisation_factor=utilisation,
            interruption_factor=interruption,
            price_factor=price,
            spot_price_factor=spot,
        )


@dataclass(frozen=True)
class OptionDistribution:
    key: str
    label: str
    option: str
    instance_type: str | None
    drop_in: bool
    nominal_usd_per_month: float
    p10_usd_per_month: float
    p50_usd_per_month: float
    p90_usd_per_month: float
    mean_usd_per_month: float
    serving_p50_usd_per_month: float
    slo_met_fraction: float  # samples whose p95 latency meets the SLO
    cheapest_fraction: float  # samples in which it is the cheapest drop-in alternative evaluated


@dataclass(frozen=True)
class MonteCarloResult:
    requests_per_day: float
    spec: MonteCarloSpec
    options: tuple[OptionDistribution, ...]  # by P50

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "requests_per_day": self.requests_per_day,
            "spec": asdict(self.spec),
            "options": [asdict(o) for o in self.options],
        }


def monte_carlo(
    plans: ScenarioPlans,
    training: TrainingPlan,
    runs_per_month: float,
    *,
    spec: MonteCarloSpec | None = None,
    option_keys: Sequence[str] | None = None,
) -> MonteCarloResult:
    """P10/P50/P90 of the monthly cost of ownership of each alternative (default: every feasible one)."""
    import numpy as np

    spec = spec or MonteCarloSpec()
    check_same_region(training.region, plans.region, what="the training plan and the scenario")
    selected = [plans.plan(key) for key in option_keys] if option_keys else list(plans.plans)
    if not selected:
        raise ValueError(f"no feasible alternative to sample at {plans.requests_per_day:g} requests/day")
    drivers = spec.sample(plans.requests_per_day)
    nominal = Drivers(requests_per_day=plans.requests_per_day)
    training_usd = runs_per_month * drivers.retrain_factor * training.run_usd(
        drivers
    ) + training.storage_usd_per_month(drivers)
    totals = np.empty((len(selected), spec.samples))
    serving_p50 = np.empty(len(selected))
    slo_met = np.empty(len(selected))
    slo = None
    for row, plan in enumerate(selected):
        evaluation = plan.evaluate(drivers)
        serving = np.broadcast_to(np.asarray(evaluation.usd_per_month, dtype=float), (spec.samples,))
        totals[row] = serving + training_usd
        serving_p50[row] = np.percentile(serving, 50)
        slo = plan.assumptions.latency_slo_ms / 1000.0
        latency = np.broadcast_to(np.asarray(evaluation.latency_p95_seconds, dtype=float), (spec.samples,))
        slo_met[row] = float(np.mean(latency <= slo))
    p10, p50, p90 = np.percentile(totals, [10, 50, 90], axis=1)
    drop_in = np.array([plan.drop_in for plan in selected])
    cheapest_share = np.zeros(len(selected))
    if drop_in.any():
        masked = np.where(drop_in[:, None], totals, np.inf)
        winners = np.argmin(masked, axis=0)
        cheapest_share = np.bincount(winners, minlength=len(selected)) / spec.samples
    options = [
        OptionDistribution(
            key=plan.key,
            label=_label(plan),
            option=plan.option,
            instance_type=plan.instance_type,
            drop_in=plan.drop_in,
            nominal_usd_per_month=float(monthly_ownership_usd(plan, training, runs_per_month, nominal)),
            p10_usd_per_month=float(p10[row]),
            p50_usd_per_month=float(p50[row]),
            p90_usd_per_month=float(p90[row]),
            mean_usd_per_month=float(totals[row].mean()),
            serving_p50_usd_per_month=float(serving_p50[row]),
            slo_met_fraction=float(slo_met[row]),
            cheapest_fraction=float(cheapest_share[row]),
        )
        for row, plan in enumerate(selected)
    ]
    options.sort(key=lambda o: (o.p50_usd_per_month, o.key))
    return MonteCarloResult(requests_per_day=plans.requests_per_day, spec=spec, options=tuple(options))


@dataclass(frozen=True)
class SensitivityResult:
    region: str
    snapshot_id: str
    prices_as_of: str
    retrain_cadence: str
    runs_per_month: float
    tornados: tuple[Tornado, ...]
    monte_carlo: tuple[MonteCarloResult, ...]
    notes: tuple[str, ...] = field(default=())

    def to_json_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "schema": SENSITIVITY_SCHEMA,
                "schema_version": RESULT_SCHEMA_VERSION,
                "currency": CURRENCY,
                "region": self.region,
                "snapshot_id": self.snapshot_id,
                "prices_as_of": self.prices_as_of,
                "retrain_cadence": self.retrain_cadence,
                "runs_per_month": self.runs_per_month,
                "metric": "monthly cost of ownership: serving + retraining + storage (USD per month)",
                "tornados": [t.to_json_dict() for t in self.tornados],
                "monte_carlo": [m.to_json_dict() for m in self.monte_carlo],
                "notes": list(self.notes),
            }
        )

    def to_dataframe(self) -> pd.DataFrame:
        """One row per scenario x alternative with the Monte Carlo percentiles."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "region": self.region,
                    "snapshot_id": self.snapshot_id,
                    "requests_per_day": m.requests_per_day,
                    **asdict(o),
                }
                for m in self.monte_carlo
                for o in m.options
            ]
        )

    def tornado_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "requests_per_day": t.requests_per_day,
                    "key": t.key,
                    "pct": t.pct,
                    "base_usd_per_month": t.base_usd_per_month,
                    **asdict(bar),
                    "swing_usd_per_month": bar.swing_usd_per_month,
                }
                for t in self.tornados
                for bar in t.bars
            ]
        )


def sensitivity(
    plans: Sequence[ScenarioPlans],
    training: TrainingPlan,
    *,
    retrain_cadence: str,
    pct: float = DEFAULT_TORNADO_PCT,
    spec: MonteCarloSpec | None = None,
    option_key: str | None = None,
    every_variant: bool = False,
    snapshot_id: str = "",
    prices_as_of: str = "",
) -> SensitivityResult:
    """Tornado (cheapest drop-in alternative, or ``option_key``) and Monte Carlo per scenario.

    The Monte Carlo covers the best variant of each alternative, or every feasible variant
    (every instance type x market) with ``every_variant=True``.
    """

    if not plans:
        raise ValueError("no scenarios to analyse")
    region = check_same_region(
        training.region, *(p.region for p in plans), what="the scenarios and training plan"
    )
    runs = check_retraining_cadence(
        retrain_cadence, runs_per_month(retrain_cadence), float(training.wall_seconds()[0])
    )
    tornados, sampled = [], []
    notes = list(training.notes)
    for scenario in plans:
        if option_key is None and not any(p.drop_in for p in scenario.plans):
            notes.append(
                f"{scenario.requests_per_day:g} requests/day: no feasible drop-in alternative, "
                "so no tornado and no Monte Carlo band"
            )
            continue
        tornados.append(tornado(scenario, training, runs, pct=pct, option_key=option_key))
        keys = None if every_variant else [p.key for p in scenario.best_plans()]
        sampled.append(monte_carlo(scenario, training, runs, spec=spec, option_keys=keys))
    return SensitivityResult(
        region=region,
        snapshot_id=snapshot_id or training.snapshot_id,
        prices_as_of=prices_as_of,
        retrain_cadence=retrain_cadence,
        runs_per_month=runs,
        tornados=tuple(tornados),
        monte_carlo=tuple(sampled),
        notes=tuple(notes),
    )
