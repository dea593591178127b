"""
### Reconcile the cost of each cloud training run with the AWS bill

Daily: reads the bill - the AWS Data Export (FOCUS 1.2 or CUR 2.0, Parquet) in the S3 bucket and
prefix of the `export_uri` param or the `rnn_billing_export_uri` Variable, or Cost Explorer grouped by
the run tag when neither is set - matches its lines to the `rnn-textgen` runs of the lookback window
by the cost allocation tag `rnn:mlflow_run_id`, and logs on each training run `cost.billed_actual_usd`,
`cost.estimate_error_pct` and `cost.basis = invoice` (the estimate `cost.train_usd` stays beside it).
Exports arrive 24-48 h late and are restated: runs not in the bill yet stay pending until a later
run; a restated period is reconciled again from its newest delivery; a re-run changes nothing.

* **gather_runs** – the spot training runs of the lookback window and what was estimated for them.
* **fetch_bill** – the newest delivery of each billing period (or Cost Explorer), summed per run tag.
* **record** – log the bill beside the estimate on each matched run; list the pending ones.
* **detect_reconciliation_anomalies** – an estimate-vs-bill error outside its usual band: an anomaly.
* **sweep_leaked_instances** – instances of this pipeline with no active DAG run: terminated, and an
  anomaly that says what they cost ([docs/governance.md](../docs/governance.md)).

**Deadline**: a run not finished when the bill for the usage up to when it was queued has arrived
(`BILL_DELIVERY_DELAY` later; `pipeline/deadlines.py`) emails the `cost_report_recipients` which run is
late and what to do.

How: [docs/cost-reconciliation.md](../docs/cost-reconciliation.md) (pointing it at a real Data Export,
activating the cost allocation tags, what is compared).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from pipeline import names
from pipeline.conf import refuse_bad_conf
from pipeline.deadlines import RECONCILE, deadline_alert
from pipeline.ui.params import form_params


def _now():
    context = get_current_context()
    return context.get("data_interval_end") or context["logical_date"] or context["run_after"]


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="Match the AWS bill (Data Export or Cost Explorer) to training runs by tag; log billed beside estimated",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    deadline=deadline_alert(RECONCILE),
    tags=["cost", "finops", "aws"],
    default_args={"pre_execute": refuse_bad_conf, "retries": 2, "retry_delay": timedelta(minutes=10)},
    params=form_params(
        {
            "export_uri": Param(
                "",
                type="string",
                pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?)?$",
                title="Data Export location",
                description=f"s3://bucket/prefix of the AWS Data Export. Empty: the {names.VAR_BILLING_EXPORT_URI} "
                "Variable; both empty: Cost Explorer.",
            ),
            "lookback_days": Param(
                45,
                type="integer",
                minimum=1,
                maximum=400,
                title="Lookback (days)",
                description="Training runs started this many days back are matched (restatements change past months).",
            ),
            "aws_conn_id": Param("aws_default", type="string", minLength=1, title="AWS connection"),
        }
    ),
)
def cost_reconcile():
    @task(multiple_outputs=False)
    def gather_runs() -> list:
        """The spot training runs of the lookback window and their estimates."""
        from pipeline.tasks import reconcile

        context = get_current_context()
        return reconcile.gather_runs(now=_now(), lookback_days=context["params"]["lookback_days"])

    @task(multiple_outputs=False)
    def fetch_bill() -> dict:
        """The bill per run tag, from the Data Export's newest deliveries or Cost Explorer."""
        from airflow.sdk import Variable

        from pipeline.tasks import reconcile

        params = get_current_context()["params"]
        export_uri = params["export_uri"] or Variable.get(names.VAR_BILLING_EXPORT_URI, default="") or ""
        return reconcile.fetch_bill(
            export_uri=export_uri,
            now=_now(),
            lookback_days=params["lookback_days"],
            aws_conn_id=params["aws_conn_id"],
        )

    @task(multiple_outputs=False)
    def record(runs: list, bill: dict) -> dict:
        """Log billed beside estimated on each matched run; list the pending ones."""
        from pipeline.tasks import reconcile

        return reconcile.record(runs=runs, bill=bill, now=_now())

    @task(multiple_outputs=False)
    def detect_reconciliation_anomalies(recorded: dict) -> dict:
        """Runs whose estimate-vs-bill error is outside its usual band: an anomaly, alerted once."""
        from pipeline.tasks import anomalies

        return anomalies.detect_reconciliation_anomalies(
            recorded=recorded, detected_by="cost_reconcile.detect_reconciliation_anomalies"
        )

    @task
    def sweep_leaked_instances() -> list:
        """Instances of this pipeline still running with no active DAG run: terminated, alerted with their cost."""
        from pipeline.tasks import anomalies

        return anomalies.sweep_and_report(
            get_current_context(), detected_by="cost_reconcile.sweep_leaked_instances"
        )

    detect_reconciliation_anomalies(record(gather_runs(), fetch_bill()))
    sweep_leaked_instances()


cost_reconcile()
