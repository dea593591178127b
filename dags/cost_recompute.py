"""
### Recompute what the model costs at today's prices

Runs whenever a new pricing snapshot (`pricing_refresh`) or a newly registered model
(`rnn_retraining`) is published. For the latest registered `rnn-textgen` version's measured
numbers (training wall time, inference latency and throughput from its `metrics.json`) and the
newest pricing snapshot it computes:

* serving cost at 100 / 10,000 / 1,000,000 requests a day on every alternative (EC2 on-demand,
  spot, reserved 1/3 yr, Lambda, SageMaker real-time and serverless, Fargate, Cloudflare Workers),
  with the cheapest marked;
* total cost of ownership over 12 months with weekly retraining, and the break-even points;
* a tornado (±20 %) and a 10,000-sample Monte Carlo band (P10/P50/P90).

JSON and CSV go under a run-scoped path; one run is logged to the MLflow experiment
`rnn-cost-analysis`. The cost recorded on the training run stays the price paid; the training cost
"at today's prices" is recorded on this analysis run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

from pipeline import assets
from pipeline.ui.links import MlflowRunLink, attach


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=(assets.PRICING_SNAPSHOT | assets.MODEL),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cost", "analysis"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "region": Param("us-east-1", type="string", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", title="AWS region"),
        "requests_per_day": Param(
            [100, 10000, 1000000],
            type="array",
            items={"type": "number", "exclusiveMinimum": 0},
            minItems=1,
            title="Requests per day",
        ),
        "horizon_months": Param(
            12, type="number", exclusiveMinimum=0, maximum=120, title="TCO horizon (months)"
        ),
        "retrain_cadence": Param(
            "weekly", type="string", pattern=r"^(daily|weekly|monthly|[1-9][0-9]*d)$", title="Retrain cadence"
        ),
        "samples": Param(10000, type="integer", minimum=100, maximum=200000, title="Monte Carlo samples"),
    },
)
def cost_recompute():
    @task(multiple_outputs=False)
    def recompute() -> dict:
        from pipeline.tasks.cost_analysis import recompute as run
        from pipeline.ui.links import push_run_of

        context = get_current_context()
        result = run(dag_id=context["dag"].dag_id, run_id=context["run_id"], params=dict(context["params"]))
        push_run_of(context, result)
        return result

    attach(recompute(), MlflowRunLink)


cost_recompute()
