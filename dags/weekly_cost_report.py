"""
### Weekly cost report, by email

Every Monday: the week's training runs from MLflow (cost per run, total, cost against validation
loss, interruptions), the week's price changes (snapshot diffs) and pricing staleness, the latest
`cost_recompute` (scenario × option table with the cheapest marked, TCO with retraining,
break-evens, tornado, Monte Carlo band) and the spot price history of the training instance type.

1. **render_and_store** – HTML (Jinja2 template in `include/templates/`) with inline charts, a
   plain-text part, CSV tables and JSON, stored under `reports/weekly_cost_report/<date>_<run>/`
   in the data root (local or `s3://`) and as MLflow artifacts. Listed on the *Cost reports* page.
2. **send_email** – the stored message through the SMTP connection (`smtp_default`) or SES
   (`RNN_PIPELINE_EMAIL_BACKEND=ses`) to the addresses in the Variable `cost_report_recipients`.
   If mail is down it retries, then fails; the report is already stored.

An empty week still produces a report that says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

from pipeline.ui.links import CostReportLink, MlflowRunLink, attach


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule="0 7 * * 1",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cost", "report", "email"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "days": Param(
            7,
            type="integer",
            minimum=1,
            maximum=92,
            title="Period (days)",
            description="The report covers the days up to the run's date.",
        ),
    },
)
def weekly_cost_report():
    @task(multiple_outputs=False)
    def render_and_store() -> dict:
        from airflow.sdk import Variable

        from pipeline import names
        from pipeline.tasks.cost_report import recipients_from, render_and_store, weekly_inputs
        from pipeline.ui.links import push_report, push_run_of

        context = get_current_context()
        end = context.get("data_interval_end") or context["logical_date"] or context["run_after"]
        recipients = recipients_from(Variable.get(names.VAR_REPORT_RECIPIENTS, default=None)) or list(
            names.DEFAULT_REPORT_RECIPIENTS
        )
        stored = render_and_store(
            inputs=weekly_inputs(end, days=context["params"]["days"]),
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            recipients=recipients,
            sender=Variable.get(names.VAR_REPORT_SENDER, default=names.DEFAULT_REPORT_SENDER),
        )
        push_report(context, report_path=stored["report_path"])
        push_run_of(context, stored)
        return stored

    @task(multiple_outputs=False, retries=3, retry_delay=timedelta(minutes=5))
    def send_email(stored: dict) -> dict:
        from pipeline.tasks.cost_report import send_stored_email
        from pipeline.ui.links import push_report

        push_report(get_current_context(), report_path=stored["report_path"])
        return send_stored_email(stored=stored)

    stored = attach(render_and_store(), CostReportLink, MlflowRunLink)
    attach(send_email(stored), CostReportLink)


weekly_cost_report()
