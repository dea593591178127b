"""Monthly budgets: the document, month to date against it, the forecast to month end, and the alerts.

* **The document** (:func:`parse_budgets`): a monthly budget in USD per category (``training``,
  ``serving``, ``platform``, ``total``), the thresholds of actual spend that alert (percent of the budget,
  default 80 and 100), and the request volume the serving and platform designs are read at. One message
  naming the key and what it must be for anything else.
* **Month to date** (:class:`CategoryStatus`): training from the ledger (every training run's cost;
  the bill's figure where reconciliation has one, else the estimate, and the status says how much is
  estimated); serving and platform from their designs (the cheapest design that meets the requirement at
  the planned volume, priced monthly), pro rata for the days gone. Serving and platform are not metered
  by this pipeline: their figures are the design's, and say so.
* **Forecast** (:func:`training_forecast`): the month's training = what was spent + the runs the
  schedules still hold this month, each costing what a recent run cost: the P10-P50-P90 band of the sum
  of that many runs drawn from the recent costs (a seeded bootstrap: the spread of the runs, not a
  normal assumption). Serving and platform: the design's month (a point: P10 = P50 = P90). The total's
  band is the training band plus the two points (exact: only training varies).
* **Alerts** (:func:`budget_alerts`): the forecast (P50) above the budget, and actual at each threshold,
  per category; each has a key that is unique per month, so the caller sends it once per month.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("training", "serving", "platform", "total")
PARTS = ("training", "serving", "platform")  # what the total adds up
DEFAULT_ALERT_AT_PCT = (80.0, 100.0)
BOOTSTRAP_DRAWS = 4_000
KIND_FORECAST = "forecast-over-budget"
KIND_ACTUAL = "actual"


class BudgetError(ValueError):
    """A budget document that cannot be used: the message names the key and what it must be."""


@dataclass(frozen=True)
class Budgets:
    month_usd: dict[str, float]  # category -> USD per calendar month
    alert_at_pct: tuple[float, ...] = DEFAULT_ALERT_AT_PCT
    planned_requests_per_day: float = 10_000.0  # the volume serving and platform are forecast at

    def to_dict(self) -> dict[str, Any]:
        return {
            "month_usd": dict(self.month_usd),
            "alert_at_pct": list(self.alert_at_pct),
            "planned_requests_per_day": self.planned_requests_per_day,
        }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def parse_budgets(document: Any) -> Budgets:
    """The budget document, checked: one :class:`BudgetError` naming the key and the expected type."""
    if not isinstance(document, Mapping):
        raise BudgetError(f"the budget document must be a JSON object, not {type(document).__name__}")
    known = {"month_usd", "alert_at_pct", "planned_requests_per_day"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise BudgetError(f"unknown key {unknown[0]!r}: the document has {', '.join(sorted(known))}")
    month = document.get("month_usd")
    if not isinstance(month, Mapping) or not month:
        raise BudgetError(
            "month_usd must be an object of category -> USD per month, with at least one of "
            f"{', '.join(CATEGORIES)}"
        )
    budgets: dict[str, float] = {}
    for category, value in month.items():
        if category not in CATEGORIES:
            raise BudgetError(f"month_usd.{category}: unknown category; use {', '.join(CATEGORIES)}")
        if not _number(value) or value < 0:
            raise BudgetError(f"month_usd.{category} must be a number of USD >= 0, not {value!r}")
        budgets[category] = float(value)
    thresholds = document.get("alert_at_pct", list(DEFAULT_ALERT_AT_PCT))
    if not isinstance(thresholds, list) or not thresholds:
        raise BudgetError("alert_at_pct must be a non-empty list of percentages (0 < p <= 100)")
    for index, value in enumerate(thresholds):
        if not _number(value) or not 0 < value <= 100:
            raise BudgetError(
                f"alert_at_pct[{index}] must be a percentage above 0 and at most 100, not {value!r}"
            )
    volume = document.get("planned_requests_per_day", 10_000)
    if not _number(volume) or volume <= 0:
        raise BudgetError(f"planned_requests_per_day must be a number of requests above 0, not {volume!r}")
    return Budgets(
        month_usd=budgets,
        alert_at_pct=tuple(sorted({float(v) for v in thresholds})),
        planned_requests_per_day=float(volume),
    )


# -- month to date and forecast -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A forecast: P10, P50, P90 in USD."""

    p10: float
    p50: float
    p90: float

    def __add__(self, other: Band) -> Band:
        return Band(self.p10 + other.p10, self.p50 + other.p50, self.p90 + other.p90)

    @staticmethod
    def point(usd: float) -> Band:
        return Band(usd, usd, usd)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of an ascending sequence."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def training_forecast(
    spent_usd: float, recent_run_usd: Sequence[float], remaining_runs: int, *, seed: int = 0
) -> Band:
    """Month-end training spend: ``spent_usd`` plus ``remaining_runs`` runs, each a draw from
    ``recent_run_usd`` (a seeded bootstrap of their sum). No history: the spend so far (and the caller says
    the band knows no run cost)."""
    if remaining_runs < 0:
        raise ValueError(f"remaining_runs={remaining_runs} must be >= 0")
    costs = [float(c) for c in recent_run_usd if _number(c) and c >= 0]
    if remaining_runs == 0 or not costs:
        return Band.point(spent_usd)
    if len(set(costs)) == 1:
        return Band.point(spent_usd + remaining_runs * costs[0])
    rng = random.Random(seed)
    sums = sorted(sum(rng.choice(costs) for _ in range(remaining_runs)) for _ in range(BOOTSTRAP_DRAWS))
    return Band(*(spent_usd + _quantile(sums, q) for q in (0.10, 0.50, 0.90)))


@dataclass(frozen=True)
class CategoryStatus:
    category: str
    budget_usd: float | None  # None: no budget for this category
    actual_usd: float  # month to date
    estimated_usd: float  # the part of actual_usd that is an estimate (not from the bill)
    forecast: Band  # month end
    basis: str  # how actual and forecast were reached, for the reader
    driver: str  # the largest contributor, in words

    @property
    def actual_pct(self) -> float | None:
        return None if not self.budget_usd else 100.0 * self.actual_usd / self.budget_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "budget_usd": self.budget_usd,
            "actual_usd": self.actual_usd,
            "estimated_usd": self.estimated_usd,
            "actual_pct": self.actual_pct,
            "forecast_p10_usd": self.forecast.p10,
            "forecast_p50_usd": self.forecast.p50,
            "forecast_p90_usd": self.forecast.p90,
            "basis": self.basis,
            "driver": self.driver,
        }


@dataclass(frozen=True)
class TrainingSpend:
    """One training run of the month: what it cost, and whether the bill says so."""

    run_name: str
    usd: float
    billed: bool  # the figure is the bill's (reconciled), not an estimate


@dataclass(frozen=True)
class DesignCost:
    """Serving or platform: the design the forecast prices, a month of it."""

    label: str
    usd_per_month: float
    source: str  # "cost_recompute of 2026-12-01 at 10,000 requests/day" or why there is none


@dataclass(frozen=True)
class MonthInputs:
    month: str  # "2026-12"
    elapsed_fraction: float  # of the month gone, 0..1
    runs: tuple[TrainingSpend, ...]
    recent_run_usd: tuple[float, ...]  # cost per run of recent runs (the spread of a run)
    remaining_runs: int  # scheduled training runs left this month
    schedule: str  # the schedules they come from, in words
    serving: DesignCost | None
    platform: DesignCost | None
    notes: tuple[str, ...] = field(default_factory=tuple)


def designs_from_tco(
    tco: Mapping[str, Any] | None, requests_per_day: float, *, source: str
) -> tuple[DesignCost | None, DesignCost | None]:
    """(serving, platform) of the cheapest design that meets the requirement, in a TCO document
    (``costing.model.tco.TcoResult.to_json_dict``), at the scenario nearest ``requests_per_day``."""
    scenarios = [s for s in (tco or {}).get("scenarios") or [] if s.get("cheapest")]
    if not scenarios:
        return None, None
    scenario = min(scenarios, key=lambda s: abs(float(s["requests_per_day"]) - requests_per_day))
    option = next(o for o in scenario["options"] if o["key"] == scenario["cheapest"])
    where = f"{source}, cheapest at {float(scenario['requests_per_day']):,.0f} requests/day"
    serving = (
        DesignCost(option["label"], float(option["serving_usd_per_month"]), where)
        if _number(option.get("serving_usd_per_month"))
        else None
    )
    platform_doc = (tco or {}).get("platform") or {}
    platform = (
        DesignCost(
            str(platform_doc.get("label") or platform_doc.get("design") or "platform"),
            float(option["platform_usd_per_month"]),
            f"{source}, the share charged to this model",
        )
        if _number(option.get("platform_usd_per_month"))
        else None
    )
    return serving, platform


def month_status(budgets: Budgets, inputs: MonthInputs) -> list[CategoryStatus]:
    """Each category's month to date and forecast against its budget (``total`` last)."""
    if not 0 <= inputs.elapsed_fraction <= 1:
        raise ValueError(f"elapsed_fraction={inputs.elapsed_fraction} must be within 0..1")
    spent = sum(r.usd for r in inputs.runs)
    estimated = sum(r.usd for r in inputs.runs if not r.billed)
    billed_count = sum(1 for r in inputs.runs if r.billed)
    top = max(inputs.runs, key=lambda r: r.usd, default=None)
    per_run = (
        f"a run's cost drawn from the last {len(inputs.recent_run_usd)} runs"
        if inputs.recent_run_usd
        else "no run cost recorded yet, so the band holds no further runs"
    )
    training = CategoryStatus(
        category="training",
        budget_usd=budgets.month_usd.get("training"),
        actual_usd=spent,
        estimated_usd=estimated,
        forecast=training_forecast(spent, inputs.recent_run_usd, inputs.remaining_runs),
        basis=(
            f"{len(inputs.runs)} runs this month ({billed_count} from the bill, "
            f"{len(inputs.runs) - billed_count} estimated); {inputs.remaining_runs} more scheduled "
            f"({inputs.schedule}), {per_run}"
        ),
        driver=(
            f"{inputs.remaining_runs} scheduled runs to come"
            if top is None
            else f"the largest run, {top.run_name} (${top.usd:,.4f}), of {len(inputs.runs)}"
        ),
    )
    statuses = [training]
    for category, design in (("serving", inputs.serving), ("platform", inputs.platform)):
        monthly = design.usd_per_month if design else 0.0
        statuses.append(
            CategoryStatus(
                category=category,
                budget_usd=budgets.month_usd.get(category),
                actual_usd=monthly * inputs.elapsed_fraction,
                estimated_usd=monthly * inputs.elapsed_fraction,
                forecast=Band.point(monthly),
                basis=(
                    f"from the design ({design.source}), pro rata for {inputs.elapsed_fraction:.0%} of the "
                    "month; not metered"
                    if design
                    else f"no design priced yet: {category} is counted as $0"
                ),
                driver=design.label if design else "none priced",
            )
        )
    forecast = statuses[0].forecast + statuses[1].forecast + statuses[2].forecast
    largest = max(statuses, key=lambda s: s.forecast.p50)
    statuses.append(
        CategoryStatus(
            category="total",
            budget_usd=budgets.month_usd.get("total"),
            actual_usd=sum(s.actual_usd for s in statuses),
            estimated_usd=sum(s.estimated_usd for s in statuses),
            forecast=forecast,
            basis="training + serving + platform",
            driver=f"{largest.category} (${largest.forecast.p50:,.2f} of the forecast): {largest.driver}",
        )
    )
    return statuses


# -- alerts -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetAlert:
    key: str  # unique per month: "2026-12/training/actual-80pct"
    category: str
    kind: str  # KIND_FORECAST | KIND_ACTUAL
    threshold_pct: float | None
    subject: str
    body: str


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _figures(status: CategoryStatus) -> str:
    band = status.forecast
    estimated = f" (of which {_usd(status.estimated_usd)} estimated)" if status.estimated_usd else ""
    return (
        f"budget {_usd(status.budget_usd)}; month to date {_usd(status.actual_usd)}{estimated}; "
        f"forecast to month end {_usd(band.p50)} (P10-P90 {_usd(band.p10)}-{_usd(band.p90)}).\n"
        f"How: {status.basis}.\nMain driver: {status.driver}."
    )


def budget_alerts(month: str, budgets: Budgets, statuses: Sequence[CategoryStatus]) -> list[BudgetAlert]:
    """The alerts the month's figures call for (the caller sends each key once per month)."""
    alerts = []
    for status in statuses:
        budget = status.budget_usd
        if budget is None:
            continue
        if status.forecast.p50 > budget:
            alerts.append(
                BudgetAlert(
                    key=f"{month}/{status.category}/{KIND_FORECAST}",
                    category=status.category,
                    kind=KIND_FORECAST,
                    threshold_pct=None,
                    subject=(
                        f"[budget] {status.category} {month}: forecast {_usd(status.forecast.p50)} is above "
                        f"the budget {_usd(budget)}"
                    ),
                    body=f"The {status.category} forecast for {month} is above its budget.\n{_figures(status)}",
                )
            )
        for threshold in budgets.alert_at_pct:
            if status.actual_usd >= budget * threshold / 100.0 and (budget > 0 or status.actual_usd > 0):
                alerts.append(
                    BudgetAlert(
                        key=f"{month}/{status.category}/{KIND_ACTUAL}-{threshold:g}pct",
                        category=status.category,
                        kind=KIND_ACTUAL,
                        threshold_pct=threshold,
                        subject=(
                            f"[budget] {status.category} {month}: {_usd(status.actual_usd)} spent, "
                            f"{threshold:g}% of the budget {_usd(budget)}"
                        ),
                        body=(
                            f"{status.category} spend for {month} has reached {threshold:g}% of its budget.\n"
                            f"{_figures(status)}"
                        ),
                    )
                )
    return alerts


def headline(statuses: Sequence[CategoryStatus], month: str) -> str | None:
    """The report's sentence: the month's total forecast against its budget."""
    total = next((s for s in statuses if s.category == "total"), None)
    if total is None:
        return None
    band = total.forecast
    against = (
        "no total budget"
        if total.budget_usd is None
        else f"{'above' if band.p50 > total.budget_usd else 'within'} the budget of {_usd(total.budget_usd)}"
    )
    return (
        f"{month} forecast: {_usd(band.p50)} (P10-P90 {_usd(band.p10)}-{_usd(band.p90)}), {against}; "
        f"{_usd(total.actual_usd)} so far."
    )


def status_document(
    budgets: Budgets, inputs: MonthInputs, statuses: Sequence[CategoryStatus]
) -> dict[str, Any]:
    """The month's status as JSON: what the report's budget section and chart show."""
    return {
        "month": inputs.month,
        "elapsed_fraction": inputs.elapsed_fraction,
        "budgets": budgets.to_dict(),
        "categories": [s.to_dict() for s in statuses],
        "headline": headline(statuses, inputs.month),
    }
