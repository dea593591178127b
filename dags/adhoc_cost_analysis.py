"""
### Ad hoc cost analysis: "what if we get 1M requests a day in eu-west-1, public API, multi-AZ?"

Fill in the form (*Trigger* ▸ parameters) and read the answer in the **Cost report** link of the
`render_and_store` task, on the *Cost reports* page, or in your inbox. It prices the latest
registered model (or the reference measurements in `include/` when none is registered) at the newest
pricing snapshot and logs the analysis to the MLflow experiment `rnn-cost-analysis`.

* **analyze** – serving cost per scenario and pricing model, TCO with retraining, break-evens,
  tornado and Monte Carlo band.
* **render_and_store** – the report (HTML, text, CSV, JSON), stored and listed on *Cost reports*.
* **send_email** – email it to the form's recipients; skipped when there are none.

How: [docs/cost-model.md](../docs/cost-model.md) (the analysis and the form),
[docs/reports.md](../docs/reports.md) (the report and email).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from costing.choices import (
    DEFAULT_HORIZON_MONTHS,
    DEFAULT_REGION,
    MAX_HORIZON_MONTHS,
    MIN_HORIZON_MONTHS,
    OPTION_LABELS,
    OPTIONS,
    REFRESH_REGIONS,
)
from pipeline.conf import refuse_bad_conf
from pipeline.mail import recipients_from, report_sender
from pipeline.ui.analysis_params import (
    commitment_params,
    platform_params,
    requirement_params,
    training_instance_params,
)
from pipeline.ui.links import CostReportLink, MlflowRunLink, attach, push_report, push_run_of
from pipeline.ui.params import form_params


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="What if: serving and ownership cost for your traffic, region and pricing models",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["cost", "analysis", "ad hoc"],
    default_args={"pre_execute": refuse_bad_conf, "retries": 1, "retry_delay": timedelta(seconds=30)},
    params=form_params(
        {
            "requests_per_day": Param(
                [100, 10000, 1000000],
                type="array",
                items={"type": "number", "exclusiveMinimum": 0, "maximum": 1e10},
                minItems=1,
                maxItems=12,
                title="Requests per day",
                description="One figure per line; each is a scenario.",
            ),
            "region": Param(
                DEFAULT_REGION,
                type="string",
                enum=list(REFRESH_REGIONS),
                title="AWS region",
                description="Regions with prices in the pricing snapshot.",
            ),
            "instance_types": Param(
                [],
                type="array",
                items={"type": "string", "pattern": r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"},
                title="EC2 instance types",
                description="Empty: every type in the snapshot.",
            ),
            "pricing_models": Param(
                list(OPTIONS),
                type="array",
                items={"type": "string", "enum": list(OPTIONS)},
                values_display=dict(OPTION_LABELS),
                minItems=1,
                title="Pricing models",
                description="Which alternatives to show.",
            ),
            **requirement_params(),
            "horizon_months": Param(
                DEFAULT_HORIZON_MONTHS,
                type="integer",
                minimum=MIN_HORIZON_MONTHS,
                maximum=MAX_HORIZON_MONTHS,
                title="Horizon (months)",
                description="The months the costs are owned over: the TCO's, and what a reserved or Savings "
                "Plans term is measured against.",
            ),
            **commitment_params(),
            "retrain_cadence": Param(
                "weekly", type="string", enum=["daily", "weekly", "monthly"], title="Retrain cadence"
            ),
            **training_instance_params(),
            **platform_params(),
            "latency_slo_ms": Param(
                1000, type="number", minimum=10, maximum=60000, title="Latency SLO, p95 (ms)"
            ),
            "tokens_per_request": Param(
                200, type="integer", minimum=1, maximum=10000, title="Characters per request"
            ),
            "peak_factor": Param(
                3.0,
                type="number",
                minimum=1,
                maximum=20,
                title="Peak factor",
                description="Peak-hour traffic / daily average.",
            ),
            "samples": Param(
                10000,
                type="integer",
                minimum=100,
                maximum=200000,
                title="Monte Carlo samples",
                description="Draws for the cost band; fewer is faster, more is smoother.",
            ),
            "apply_free_tiers": Param(
                False,
                type="boolean",
                title="Apply the AWS free tiers",
                description="Lambda's 1M requests and 400,000 GB-s, 100 GB out, CloudWatch's free metrics: an "
                "account's allowance, not a workload's, so off unless you mean it. The report says which.",
            ),
            "recipients": Param(
                [],
                type="array",
                items={"type": "string", "format": "email"},
                maxItems=20,
                title="Email the report to",
                description="Optional; one address per line.",
            ),
        }
    ),
)
def adhoc_cost_analysis():
    @task(multiple_outputs=False)
    def analyze() -> dict:
        """Cost the requested scenarios for the registered model; log the analysis to MLflow."""
        from pipeline.tasks.cost_analysis import recompute

        context = get_current_context()
        result = recompute(
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            params=dict(context["params"]),
            kind="adhoc",
            allow_reference=True,
        )
        push_run_of(context, result)
        return result

    @task(multiple_outputs=False)
    def render_and_store(analyzed: dict) -> dict:
        """Render the analysis as a report and store it."""
        from pipeline.tasks import cost_report
        from pipeline.tasks.cost_analysis import AnalysisRequest
        from pipeline.tasks.cost_report import adhoc_inputs, stored_analysis

        context = get_current_context()
        params = dict(context["params"])
        document = stored_analysis(analyzed["outputs"])
        stored = cost_report.render_and_store(
            inputs=adhoc_inputs(document, AnalysisRequest.from_params(params).to_dict()),
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            recipients=recipients_from(params["recipients"]),
            sender=report_sender(),
            mlflow_run_id=analyzed["mlflow_run_id"],
        )
        push_report(context, report_path=stored["report_path"])
        push_run_of(context, stored)
        return stored

    @task(multiple_outputs=False, retries=3, retry_delay=timedelta(minutes=1))
    def send_email(stored: dict) -> dict:
        """Email the stored report to the form's recipients; skip when there are none."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.tasks.cost_report import send_stored_email

        push_report(get_current_context(), report_path=stored["report_path"])
        if not stored["recipients"]:
            raise AirflowSkipException("no recipients given: the report is stored, not emailed")
        return send_stored_email(stored=stored)

    analyzed = attach(analyze(), MlflowRunLink)
    stored = attach(render_and_store(analyzed), CostReportLink, MlflowRunLink)
    attach(send_email(stored), CostReportLink)


adhoc_cost_analysis()
