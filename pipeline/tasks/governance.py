"""Spend governance: the month against its budgets, the forecast, and alerts that are sent once.

* :func:`load_budgets` reads the budget document: the Airflow Variable ``rnn_budgets`` (JSON) if set,
  else ``include/budgets.json``; :func:`costing.model.budget.parse_budgets` checks it.
* :func:`month_inputs` gathers the month: every training run's cost from MLflow (``rnn-textgen`` and the
  sweeps' trials; the bill's figure where ``cost_reconcile`` recorded one), the cost of recent runs, the
  retraining runs the schedule still holds this month, and the serving and platform designs of the
  latest ``cost_recompute``.
* :func:`check_budgets` (a task after each cost-producing task, and in the weekly report) computes the
  month's status, raises the alerts it calls for, and sends every alert not sent yet.

**Alerts are spooled like reports.** Each alert is written, as the email it is, to
``<data root>/governance/alerts/<month>/<key>.eml`` before anything is sent; a file that exists means
the alert was raised this month, so it is never raised twice. Sending writes ``<key>.sent`` next to it;
every check sends what has no ``.sent`` yet, so an alert raised while mail was down goes out with the
next check, and nothing is lost or repeated.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from costing.model.budget import (
    BudgetAlert,
    BudgetError,
    Budgets,
    MonthInputs,
    TrainingSpend,
    budget_alerts,
    designs_from_tco,
    month_status,
    parse_budgets,
    status_document,
)
from pipeline import names
from pipeline.alerts import send_spooled, spool_alert
from pipeline.mail import report_recipients, report_sender
from pipeline.tasks.anomalies import run_history
from pipeline.tasks.cost_report import latest_analysis, training_runs
from toolkit.paths import INCLUDE_DIR

log = logging.getLogger(__name__)

BUDGETS_FILE = INCLUDE_DIR / "budgets.json"
RECENT_RUNS = 20  # the runs whose costs give the spread of a run
TRAINING_EXPERIMENTS = (names.TRAINING_EXPERIMENT, names.SWEEP_EXPERIMENT)


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def load_budgets(variable_value: str | None) -> Budgets:
    """The budget document: the ``rnn_budgets`` Variable's JSON if set, else include/budgets.json."""
    source = f"Variable {names.VAR_BUDGETS}" if variable_value else str(BUDGETS_FILE)
    text = variable_value if variable_value else BUDGETS_FILE.read_text()
    try:
        return parse_budgets(json.loads(text))
    except json.JSONDecodeError as error:
        raise _fail(f"budget document ({source}) is not JSON: {error}") from error
    except BudgetError as error:
        raise _fail(f"budget document ({source}): {error}") from error


def month_bounds(now: datetime) -> tuple[datetime, datetime, str]:
    """(first instant of now's month, first instant of the next, "YYYY-MM"), UTC."""
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end, f"{now:%Y-%m}"


def remaining_scheduled_runs(
    now: datetime, month_end: datetime, schedule: str = names.RETRAINING_SCHEDULE
) -> int:
    """Runs ``schedule`` (a cron expression or preset, as the DAG has it) still starts before ``month_end``."""
    from croniter import croniter

    runs, fire = 0, croniter(schedule, now)
    while fire.get_next(datetime) < month_end:
        runs += 1
    return runs


def month_spend(start: datetime, end: datetime) -> list[TrainingSpend]:
    """Every costed training run started in [start, end): its bill where reconciled, else its estimate."""
    spend = []
    for experiment in TRAINING_EXPERIMENTS:
        for run in training_runs(start, end, experiment):
            if run.billed_actual_usd is not None:
                spend.append(TrainingSpend(run.run_name, float(run.billed_actual_usd), billed=True))
            elif run.cost_usd is not None:
                spend.append(TrainingSpend(run.run_name, float(run.cost_usd), billed=False))
    return spend


def recent_run_costs(limit: int = RECENT_RUNS) -> list[float]:
    """``cost.train_usd`` of the latest finished runs (rnn-textgen), newest first: the history the
    anomaly check judges a run against, read the same way."""
    return run_history(names.TRAINING_EXPERIMENT, exclude_run_id="", limit=limit)[0]


def month_inputs(budgets: Budgets, now: datetime) -> MonthInputs:
    start, end, month = month_bounds(now)
    analysis, analysis_run = latest_analysis("recompute")
    source = f"cost_recompute run {analysis_run[:12]}" if analysis_run else "no cost_recompute yet"
    serving, platform = designs_from_tco(
        (analysis or {}).get("tco"), budgets.planned_requests_per_day, source=source
    )
    return MonthInputs(
        month=month,
        elapsed_fraction=(now - start) / (end - start),
        runs=tuple(month_spend(start, now)),
        recent_run_usd=tuple(recent_run_costs()),
        remaining_runs=remaining_scheduled_runs(now, end),
        schedule=f"rnn_retraining {names.RETRAINING_SCHEDULE}",
        serving=serving,
        platform=platform,
    )


# -- alerts: spooled, then sent ------------------------------------------------------------------------------


def raise_alerts(alerts: list[BudgetAlert], month: str, *, sender: str, recipients: list[str]) -> list[str]:
    """Spool each budget alert not raised this month yet; the keys newly raised."""
    return [
        alert.key
        for alert in alerts
        if spool_alert(
            month, alert.key.split("/", 1)[1], alert.subject, alert.body, sender=sender, recipients=recipients
        )
    ]


# -- the task ---------------------------------------------------------------------------------------------------


def check_budgets(
    *, budgets_variable: str | None, recipients: list[str], sender: str, now: datetime | None = None
) -> dict[str, Any]:
    """The month against its budgets; alerts raised (once per month each) and every unsent one sent."""
    now = now or datetime.now(UTC)
    budgets = load_budgets(budgets_variable)
    inputs = month_inputs(budgets, now)
    statuses = month_status(budgets, inputs)
    raised = raise_alerts(
        budget_alerts(inputs.month, budgets, statuses), inputs.month, sender=sender, recipients=recipients
    )
    delivery = send_spooled(inputs.month, recipients)
    document = status_document(budgets, inputs, statuses)
    log.info("%s", document["headline"])
    return {
        **document,
        "alerts_raised": raised,
        "alerts_sent": delivery["sent"],
        "alerts_kept": delivery["kept"],
    }


def check_budgets_task() -> dict[str, Any]:
    """The ``check_budgets`` task of the DAGs that produce or report cost: Variables read when it runs."""
    from airflow.sdk import Variable

    return check_budgets(
        budgets_variable=Variable.get(names.VAR_BUDGETS, default=None),
        recipients=report_recipients(),
        sender=report_sender(),
    )


def training_budget_left_usd(
    budgets_variable: str | None, now: datetime | None = None
) -> tuple[float | None, str]:
    """The training budget left this month (budget - month to date), and how it was reached; None when
    the document sets no training budget."""
    now = now or datetime.now(UTC)
    budgets = load_budgets(budgets_variable)
    budget = budgets.month_usd.get("training")
    if budget is None:
        return None, "no training budget in the budget document"
    start, _, month = month_bounds(now)
    spent = sum(s.usd for s in month_spend(start, now))
    return budget - spent, f"training budget ${budget:,.2f} for {month}, ${spent:,.4f} spent so far"
