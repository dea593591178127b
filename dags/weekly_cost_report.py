"""
### Weekly cost report, by email

Every Monday at 07:00 UTC: the week's training runs and their cost (from MLflow), the week's price
changes and pricing staleness, the latest `cost_recompute` and the spot price history, as HTML with
charts, plain text and CSV. The report is stored before it is sent, so a mail outage loses nothing;
an empty week still produces a report that says so.

* **check_budgets** – the month against its budgets: actual so far, the forecast to month end (P10–P90),
  alerts (once per threshold per month, spooled like reports); the report's headline and budget chart.
* **render_and_store** – render the report and store it (data root and MLflow); *Cost reports* page;
  with it the period's costs as FOCUS 1.2 rows (`focus.csv`, `focus.parquet`).
* **send_email** – send the stored message to the Variable `cost_report_recipients`; retries, then fails.

**Deadline**: a run not finished within `WEEKLY_REPORT_DUE_AFTER` of being queued (a scheduled run: Monday
07:00 UTC; `pipeline/deadlines.py`) emails the same recipients which run is late and what to do.

How: [docs/reports.md](../docs/reports.md) (contents, storage, email settings),
[docs/cost-reconciliation.md](../docs/cost-reconciliation.md) (the FOCUS export, estimate vs bill).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from pipeline.conf import refuse_bad_conf
from pipeline.deadlines import WEEKLY_REPORT, deadline_alert
from pipeline.mail import report_recipients, report_sender
from pipeline.ui.links import CostReportLink, MlflowRunLink, attach, push_report, push_run_of
from pipeline.ui.params import form_params


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="Weekly cost report from MLflow and the pricing snapshots, stored and emailed",
    schedule="0 7 * * 1",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    deadline=deadline_alert(WEEKLY_REPORT),
    tags=["cost", "report", "email"],
    default_args={"pre_execute": refuse_bad_conf, "retries": 2, "retry_delay": timedelta(minutes=2)},
    params=form_params(
        {
            "days": Param(
                7,
                type="integer",
                minimum=1,
                maximum=92,
                title="Period (days)",
                description="The report covers the days up to the run's date.",
            ),
        }
    ),
)
def weekly_cost_report():
    @task(multiple_outputs=False)
    def check_budgets() -> dict:
        """The month against its budgets; alerts raised once and sent (or spooled)."""
        from pipeline.tasks import governance

        return governance.check_budgets_task()

    @task(multiple_outputs=False)
    def render_and_store(budget: dict) -> dict:
        """Gather the period's runs, prices and analyses; render the report and store it."""
        from pipeline.tasks import cost_report
        from pipeline.tasks.anomalies import anomalies_of_period
        from pipeline.tasks.cost_report import weekly_focus_files, weekly_inputs

        context = get_current_context()
        end = context.get("data_interval_end") or context.get("logical_date") or context["dag_run"].run_after
        recipients = report_recipients()
        days = context["params"]["days"]
        stored = cost_report.render_and_store(
            inputs=weekly_inputs(end, days=days, budget=budget, anomalies=anomalies_of_period(end, days)),
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            recipients=recipients,
            sender=report_sender(),
            extra_files=weekly_focus_files(end, days=days),
        )
        push_report(context, report_path=stored["report_path"])
        push_run_of(context, stored)
        return stored

    @task(multiple_outputs=False, retries=3, retry_delay=timedelta(minutes=5))
    def send_email(stored: dict) -> dict:
        """Send the stored report email through SMTP or SES."""
        from pipeline.tasks.cost_report import send_stored_email

        push_report(get_current_context(), report_path=stored["report_path"])
        return send_stored_email(stored=stored)

    stored = attach(render_and_store(check_budgets()), CostReportLink, MlflowRunLink)
    attach(send_email(stored), CostReportLink)


weekly_cost_report()
