"""
### Recompute what the model costs at today's prices

Runs whenever `pricing_refresh` publishes a new pricing snapshot or `rnn_retraining` registers a new
model (the `pricing_snapshot` and `rnn_textgen_model` assets). It prices the latest registered
`rnn-textgen` version's measured numbers at the newest snapshot's prices and logs one run to the
MLflow experiment `rnn-cost-analysis`; the cost recorded on the training run stays the price paid.

* **recompute** – serving cost at each requests-per-day figure on every alternative (cheapest
  marked), TCO with retraining and break-evens, a tornado and a Monte Carlo band.

How: [docs/cost-model.md](../docs/cost-model.md) (the cost model and what this run records).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from costing.choices import (
    DEFAULT_HORIZON_MONTHS,
    DEFAULT_REGION,
    DEFAULT_RETRAIN_CADENCE,
    MAX_HORIZON_MONTHS,
    MIN_HORIZON_MONTHS,
    RETRAIN_CADENCE_PATTERN,
)
from pipeline import assets
from pipeline.conf import refuse_bad_conf
from pipeline.ui.analysis_params import (
    commitment_params,
    platform_params,
    requirement_params,
    training_instance_params,
)
from pipeline.ui.compute_params import REGION_PATTERN
from pipeline.ui.links import MlflowRunLink, attach, push_run_of
from pipeline.ui.params import form_params


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="Recompute serving, TCO and sensitivity at today's prices when prices or the model change",
    schedule=(assets.PRICING_SNAPSHOT | assets.MODEL),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cost", "analysis"],
    default_args={"pre_execute": refuse_bad_conf, "retries": 2, "retry_delay": timedelta(minutes=1)},
    params=form_params(
        {
            "region": Param(DEFAULT_REGION, type="string", pattern=REGION_PATTERN, title="AWS region"),
            "requests_per_day": Param(
                [100, 10000, 1000000],
                type="array",
                items={"type": "number", "exclusiveMinimum": 0, "maximum": 1e10},
                minItems=1,
                title="Requests per day",
            ),
            **requirement_params(),
            "horizon_months": Param(
                DEFAULT_HORIZON_MONTHS,
                type="number",
                minimum=MIN_HORIZON_MONTHS,
                maximum=MAX_HORIZON_MONTHS,
                title="Horizon (months)",
                description="The months the costs are owned over: the TCO's, and what a reserved or Savings "
                "Plans term is measured against.",
            ),
            **commitment_params(),
            "retrain_cadence": Param(
                DEFAULT_RETRAIN_CADENCE,
                type="string",
                pattern=RETRAIN_CADENCE_PATTERN,
                title="Retrain cadence",
            ),
            **training_instance_params(),
            **platform_params(),
            "samples": Param(10000, type="integer", minimum=100, maximum=200000, title="Monte Carlo samples"),
            "apply_free_tiers": Param(
                False, type="boolean", title="Apply the AWS free tiers (an account's, not a workload's)"
            ),
        }
    ),
)
def cost_recompute():
    @task(multiple_outputs=False)
    def recompute() -> dict:
        """Cost the registered model at the newest snapshot's prices; log it to rnn-cost-analysis."""
        from pipeline.tasks import cost_analysis

        context = get_current_context()
        result = cost_analysis.recompute(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], params=dict(context["params"])
        )
        push_run_of(context, result)
        return result

    attach(recompute(), MlflowRunLink)


cost_recompute()
