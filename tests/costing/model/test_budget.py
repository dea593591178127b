"""Budgets: the document's checks, month to date and the forecast band on literal figures, the alerts."""

from __future__ import annotations

import pytest

from costing.model.budget import (
    Band,
    BudgetError,
    DesignCost,
    MonthInputs,
    TrainingSpend,
    budget_alerts,
    headline,
    month_status,
    parse_budgets,
    training_forecast,
)

DOCUMENT = {
    "month_usd": {"training": 10, "serving": 40, "platform": 100, "total": 150},
    "alert_at_pct": [100, 80],
    "planned_requests_per_day": 10_000,
}


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ({"month_usd": {"training": -1}}, "month_usd.training must be a number of USD >= 0"),
        ({"month_usd": {"gpu": 5}}, "month_usd.gpu: unknown category"),
        ({"month_usd": {"total": 5}, "alert_at_pct": [80, 120]}, "alert_at_pct[1] must be a percentage"),
        ({"month_usd": {"total": 5}, "alert_at_pct": [0]}, "alert_at_pct[0] must be a percentage"),
        ({"month_usd": {"total": "5"}}, "month_usd.total must be a number of USD >= 0, not '5'"),
        ({"month_usd": {"total": True}}, "month_usd.total must be a number"),
        ({"month_usd": {}}, "month_usd must be an object"),
        ({"month_usd": {"total": 5}, "budget": 3}, "unknown key 'budget'"),
        ({"month_usd": {"total": 5}, "planned_requests_per_day": 0}, "planned_requests_per_day must be"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_a_bad_document_is_refused_naming_the_key(document, names) -> None:
    with pytest.raises(BudgetError, match=__import__("re").escape(names)):
        parse_budgets(document)


def test_the_document_parses_with_sorted_thresholds() -> None:
    budgets = parse_budgets(DOCUMENT)
    assert budgets.month_usd == {"training": 10.0, "serving": 40.0, "platform": 100.0, "total": 150.0}
    assert budgets.alert_at_pct == (80.0, 100.0)


def test_the_forecast_band_is_the_spend_plus_the_remaining_runs() -> None:
    assert training_forecast(2.0, [0.5, 0.5], 3) == Band.point(3.5)  # no spread: exact
    assert training_forecast(2.0, [], 3) == Band.point(2.0)  # nothing known about a run
    assert training_forecast(2.0, [1.0, 9.0], 0) == Band.point(2.0)
    band = training_forecast(0.0, [1.0, 3.0], 2)  # sums of two draws: 2, 4, 4, 6 (each 1/4, 1/2, 1/4)
    assert 2.0 <= band.p10 <= band.p50 <= band.p90 <= 6.0
    assert band.p50 == 4.0 and band.p10 == 2.0 and band.p90 == 6.0
    assert training_forecast(0.0, [1.0, 3.0], 2) == band  # seeded: the same band every time


def month(**overrides) -> MonthInputs:
    values = dict(
        month="2026-12",
        elapsed_fraction=0.25,
        runs=(TrainingSpend("run a", 3.0, billed=True), TrainingSpend("run b", 1.0, billed=False)),
        recent_run_usd=(2.0,),
        remaining_runs=3,
        schedule="rnn_retraining @weekly",
        serving=DesignCost("Lambda 512 MB", 20.0, "cost_recompute"),
        platform=DesignCost("self-hosted on EC2", 100.0, "cost_recompute"),
    )
    return MonthInputs(**{**values, **overrides})


def test_month_to_date_and_forecast_per_category() -> None:
    statuses = {s.category: s for s in month_status(parse_budgets(DOCUMENT), month())}
    training = statuses["training"]
    assert (training.actual_usd, training.estimated_usd) == (4.0, 1.0)
    assert training.forecast == Band.point(4.0 + 3 * 2.0)
    assert "run a" in training.driver and "1 from the bill, 1 estimated" in training.basis
    assert statuses["serving"].actual_usd == 5.0 and statuses["serving"].forecast == Band.point(20.0)
    assert "not metered" in statuses["platform"].basis
    total = statuses["total"]
    assert total.actual_usd == 4.0 + 5.0 + 25.0
    assert total.forecast == Band.point(10.0 + 20.0 + 100.0)
    assert total.driver.startswith("platform")


def test_alerts_name_the_category_the_figures_and_the_driver() -> None:
    budgets = parse_budgets(DOCUMENT)
    statuses = month_status(budgets, month())
    alerts = {a.key: a for a in budget_alerts("2026-12", budgets, statuses)}
    # training: forecast $10 is not above $10; actual $4 is under 80 %. Platform: $25 of $100 so far
    assert set(alerts) == set()
    statuses = month_status(budgets, month(runs=(TrainingSpend("big run", 9.0, billed=False),)))
    alerts = {a.key: a for a in budget_alerts("2026-12", budgets, statuses)}
    assert set(alerts) == {"2026-12/training/actual-80pct", "2026-12/training/forecast-over-budget"}
    forecast = alerts["2026-12/training/forecast-over-budget"]
    assert "$15.00" in forecast.subject and "budget $10.00" in forecast.subject
    assert "big run" in forecast.body and "of which $9.00 estimated" in forecast.body
    statuses = month_status(budgets, month(runs=(TrainingSpend("big run", 10.0, billed=True),)))
    keys = {a.key for a in budget_alerts("2026-12", budgets, statuses)}
    assert {"2026-12/training/actual-80pct", "2026-12/training/actual-100pct"} <= keys


def test_the_headline_states_the_forecast_against_the_budget() -> None:
    budgets = parse_budgets(DOCUMENT)
    line = headline(month_status(budgets, month()), "2026-12")
    assert (
        line
        == "2026-12 forecast: $130.00 (P10-P90 $130.00-$130.00), within the budget of $150.00; $34.00 so far."
    )
