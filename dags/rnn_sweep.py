"""
### Sweep: the cheapest model that is good enough

On demand, from the trigger form: search model sizes and training settings for the configuration with
the lowest **monthly cost at a target volume** (serving on the cheapest option that meets the p95 SLO,
plus retraining at the cadence, plus storage) against **validation loss** (bits per character), with
Optuna (multi-objective TPE; the study in SQLite, or Postgres in production). Every trial trains on the
same validated corpus, is scored on the same evaluation sample, and runs `rnn_retraining`'s own
training, benchmark, load test and costing.

* **start** – check the form, validate the corpus once (Great Expectations), open the parent MLflow run
  (experiment `rnn-textgen-sweeps`) and the study.
* **estimate_sweep_cost** – before the first round, a bound of the whole sweep's training: `max_trials`
  trials at the search space's costliest configuration, at most `budget_usd`; held against
  `approval_threshold_usd`.
* **approval_gate** – at or under the threshold straight on to the rounds (recorded as "under
  threshold"); above it, to the approval.
* **approve_sweep** – waits for a person (Required Actions, or the REST API) with the estimate, its
  inputs and the budget left; Approve runs the rounds, Reject or no answer within
  `approval_timeout_minutes` skips every round and records why on the parent MLflow run.
* **plan_round_N** – check the budget against this round's pre-flight estimate and ask the study for
  trials; over budget (or at the trial limit) the round does not start, and nor does any later one.
* **trials_round_N** (`compute=local`) – one mapped task per trial (spread over the workers): train,
  benchmark, load-test, cost, in a child MLflow run; a retried trial resumes from its checkpoint.
* **spot_trials_round_N** (`compute=ec2_spot`; with `local` these are skipped, and with `ec2_spot` the
  workers' `trials_round_N` are) – one mapped group per trial: `prepare_trial` (its child
  run), `train_ec2_spot` (rnn_retraining's spot operator: its own instance and S3 prefix, relaunched from
  the checkpoint after interruptions, billed), `finish_trial` (benchmark, load test, cost on the worker).
  `sweep_stale_instances` runs before the first round and `cleanup_ec2_instances` after the last,
  whatever happened.
* **tell_round_N** – tell the study each trial's outcome; a failed trial is recorded with its reason and
  the sweep goes on; a trial that misses the SLO is infeasible, not lost.
* **summarize** – the Pareto front (`pareto/` on the parent run: chart and CSVs), the recommendation,
  the sweep's own spend, and the saving against the champion at the target volume.
* **check_budgets** – the month against its budgets with the sweep's training in it (alerts, once).
* **promote** – with `promote_recommended`, the recommended trial goes through `rnn_retraining`'s
  champion gate (never around it).

How: [docs/sweep.md](../docs/sweep.md); the approval: [docs/governance.md](../docs/governance.md).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task, task_group

from costing.choices import (
    DEFAULT_LOSS_TOLERANCE,
    DEFAULT_REGION,
    DEFAULT_RETRAIN_CADENCE,
    RETRAIN_CADENCE_PATTERN,
)
from pipeline import names
from pipeline.approval.operators import TrainingApprovalOperator
from pipeline.conf import refuse_bad_conf
from pipeline.spot.cleanup import cleanup_task
from pipeline.spot.operators import SpotTrainingOperator
from pipeline.sweep_space import (
    DEFAULT_SPACE,
    MAX_REQUESTS_PER_DAY,
    MAX_ROUNDS,
    MAX_TRIALS,
    MAX_TRIALS_PER_ROUND,
    MIN_REQUESTS_PER_DAY,
    space_schema,
)
from pipeline.ui.approval_params import approval_params
from pipeline.ui.compute_params import REGION_PATTERN, compute_params, spot_operator_arguments, spot_params
from pipeline.ui.params import form_params


def _record_training_failure(context: dict) -> None:
    """A spot trial's training failed: its reason for tell_round (the task module loads on failure)."""
    from pipeline.tasks import sweep

    sweep.on_training_failure(context)


def _local_trials_id(round_index: int) -> str:
    return f"trials_round_{round_index + 1}"


def _spot_trials_id(round_index: int) -> str:
    return f"spot_trials_round_{round_index + 1}"


def _plan_id(round_index: int) -> str:
    return f"plan_round_{round_index + 1}"


def _trains_on(backend: str) -> None:
    """Skip this trial task unless the sweep's ``compute`` is ``backend``: every round maps both the
    workers' and the spot trials over its plan, and only one of them trains. (A branch cannot choose
    between them: a mapped task it skipped before its round was planned is expanded, and run, anyway.)"""
    from airflow.sdk.exceptions import AirflowSkipException

    compute = get_current_context()["params"]["compute"]
    if compute != backend:
        raise AirflowSkipException(f"compute={compute!r}: trials train on {compute}, not {backend}")


def _context() -> tuple[dict, str, str]:
    context = get_current_context()
    return context, context["dag"].dag_id, context["run_id"]


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="Search model sizes for the cheapest model that is good enough (Optuna, cost vs loss)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["rnn", "training", "cost", "sweep"],
    default_args={"pre_execute": refuse_bad_conf, "retries": 2, "retry_delay": timedelta(seconds=30)},
    params=form_params(
        {
            "corpus_uri": Param(
                "",
                type="string",
                title="Corpus",
                description="Path, s3:// or https:// URL of a UTF-8 text file. Empty: the rnn_corpus_uri "
                "Variable, else the built-in corpus. Validated once; every trial trains on these bytes.",
            ),
            "search_space": Param(
                DEFAULT_SPACE,
                **space_schema(),
                title="Search space",
                section="Search",
                description="Each key a list of values or a range {'low': a, 'high': b, 'log': true}. Keys: "
                "hidden_size, num_layers, embedding_dim, seq_len, batch_size, learning_rate, epochs, "
                "max_steps_per_epoch. Anything not named keeps rnn_retraining's default.",
            ),
            "max_trials": Param(
                6,
                type="integer",
                minimum=1,
                maximum=MAX_TRIALS,
                title="Trial limit",
                section="Search",
            ),
            "trials_per_round": Param(
                3,
                type="integer",
                minimum=1,
                maximum=MAX_TRIALS_PER_ROUND,
                title="Trials per round",
                section="Search",
                description=f"Run in parallel; the study learns between rounds (at most {MAX_ROUNDS} rounds).",
            ),
            "seed": Param(0, type="integer", minimum=0, title="Sampler seed", section="Search"),
            "requests_per_day": Param(
                1_000_000,
                type="number",
                minimum=MIN_REQUESTS_PER_DAY,
                maximum=MAX_REQUESTS_PER_DAY,
                title="Target: requests per day",
                section="Target",
            ),
            "region": Param(
                DEFAULT_REGION,
                type="string",
                pattern=REGION_PATTERN,
                title="Target: AWS region",
                section="Target",
                description="Where the model is served and priced, and where spot trials train.",
            ),
            "retrain_cadence": Param(
                DEFAULT_RETRAIN_CADENCE,
                type="string",
                pattern=RETRAIN_CADENCE_PATTERN,
                title="Target: retraining cadence",
                description="daily, weekly, monthly, or every N days (e.g. 10d)",
                section="Target",
            ),
            "slo_ms": Param(
                1000,
                type="number",
                minimum=10,
                maximum=60_000,
                title="Constraint: p95 latency SLO (ms)",
                section="Constraints",
            ),
            "max_val_bpc": Param(
                None,
                type=["number", "null"],
                exclusiveMinimum=0,
                title="Constraint: maximum validation loss (bits/char)",
                section="Constraints",
                description="Empty: the recommendation is the cheapest trial within the tolerance of the best loss.",
            ),
            "loss_tolerance": Param(
                DEFAULT_LOSS_TOLERANCE,
                type="number",
                minimum=0,
                maximum=1,
                title="Good enough: within this fraction of the best loss",
                section="Constraints",
            ),
            "budget_usd": Param(
                1.0,
                type="number",
                exclusiveMinimum=0,
                maximum=10_000,
                title="Budget for the sweep's training (USD)",
                section="Budget",
                description="A round whose pre-flight estimate would take the spend above this does not start.",
            ),
            "load_test_seconds": Param(
                15,
                type="integer",
                minimum=0,
                maximum=600,
                title="Load test per trial (s)",
                section="Budget",
                description="0 skips it: serving is then sized by the capacity formula (no measured SLO).",
            ),
            **compute_params(),
            **spot_params(with_budget=False),  # budget_usd guards the whole sweep
            **approval_params(what="the whole sweep's estimate (at most budget_usd)"),
            "promote_recommended": Param(
                False,
                type="boolean",
                title="Promote the recommendation",
                description="Send the recommended trial through rnn_retraining's champion gate.",
            ),
        }
    ),
)
def rnn_sweep():
    @task(multiple_outputs=False)
    def start() -> dict:
        """Check the form, validate the corpus once, open the parent MLflow run and the study."""
        from airflow.sdk import Variable

        from pipeline.tasks import sweep

        context, dag_id, run_id = _context()
        return sweep.start(
            dag_id=dag_id,
            run_id=run_id,
            params=dict(context["params"]),
            corpus_variable=Variable.get(names.VAR_CORPUS_URI, default=None),
        )

    @task(multiple_outputs=False)
    def estimate_sweep_cost(validated: dict) -> dict:
        """Bound the whole sweep's training before the first round; above approval_threshold_usd it waits."""
        from airflow.sdk import Variable

        from pipeline.tasks import approval, governance

        context, dag_id, run_id = _context()
        budget_left_usd, budget_left_how = governance.training_budget_left_usd(
            Variable.get(names.VAR_BUDGETS, default=None)
        )
        return approval.sweep_request(
            validated=validated,
            params=dict(context["params"]),
            dag_id=dag_id,
            run_id=run_id,
            budget_left_usd=budget_left_usd,
            budget_left_how=budget_left_how,
        )

    @task.branch
    def approval_gate(request: dict) -> list[str]:
        """Wait for approval above the threshold; else straight on to the first round."""
        return ["approve_sweep"] if request["waits"] else ["sweep_stale_instances", _plan_id(0)]

    @task(multiple_outputs=False)
    def plan_round(validated: dict, round_index: int) -> list:
        """Budget check, then ask the study for this round's trials (none: stop)."""
        from pipeline.tasks import sweep

        return sweep.plan_round(validated=validated, round_index=round_index)

    @task(
        multiple_outputs=False,
        execution_timeout=timedelta(hours=6),
        max_active_tis_per_dagrun=MAX_TRIALS_PER_ROUND,
    )
    def run_trial(validated: dict, spec: dict) -> dict:
        """Train, benchmark, load-test and cost one trial (rnn_retraining's bodies), in a child run."""
        from pipeline.tasks import sweep

        _trains_on(names.COMPUTE_LOCAL)
        _, dag_id, run_id = _context()
        return sweep.run_trial(validated=validated, spec=spec, dag_id=dag_id, run_id=run_id)

    @task(multiple_outputs=False)
    def prepare_trial(validated: dict, spec: dict) -> dict:
        """A spot trial's child MLflow run and training config."""
        from pipeline.tasks import sweep

        _trains_on(names.COMPUTE_EC2_SPOT)  # else its instance and finish_trial are skipped with it
        _, dag_id, run_id = _context()
        return sweep.prepare_trial(validated=validated, spec=spec, dag_id=dag_id, run_id=run_id)

    @task(multiple_outputs=False, execution_timeout=timedelta(hours=1))
    def finish_trial(trained: dict, spec: dict) -> dict:
        """Benchmark, load-test, log and cost a spot trial's model on the worker; score it."""
        from pipeline.tasks import sweep

        return sweep.finish_trial(trained=trained, spec=spec)

    @task_group
    def spot_trial(validated: dict, spec: dict) -> None:
        """One trial trained on spot EC2 (its own instance and S3 prefix), finished on the worker."""
        prepared = prepare_trial(validated, spec)
        trained = SpotTrainingOperator(
            task_id="train_ec2_spot",
            validated=prepared,
            on_failure_callback=_record_training_failure,
            **spot_operator_arguments(),
        )
        finish_trial(trained.output, spec)

    @task(trigger_rule="none_failed_min_one_success")  # after the approval, or without one
    def sweep_stale_instances() -> list:
        """Before any spot trial: terminate training instances of DAG runs that are no longer running."""
        from pipeline.tasks import anomalies

        _trains_on(names.COMPUTE_EC2_SPOT)
        return anomalies.sweep_and_report(
            get_current_context(), detected_by="rnn_sweep.sweep_stale_instances"
        )

    @task(trigger_rule="all_done", pre_execute=None)  # runs whatever happened, even on a refused conf
    def cleanup_ec2_instances() -> dict:
        """Terminate this sweep's training instances, whatever happened."""
        return cleanup_task(get_current_context())

    @task(multiple_outputs=False, trigger_rule="all_done")
    def tell_round(validated: dict, planned: list | None) -> list:
        """Tell the study each trial's outcome; failed trials with their reason (the sweep goes on)."""
        from pipeline.tasks import sweep

        _, dag_id, run_id = _context()
        return sweep.tell_round(validated=validated, planned=planned, dag_id=dag_id, run_id=run_id)

    @task(multiple_outputs=False)
    def summarize(validated: dict) -> dict:
        """Pareto front, recommendation, spend, saving against the champion (parent MLflow run)."""
        from pipeline.tasks import sweep

        return sweep.summarize(validated=validated)

    @task(multiple_outputs=False)
    def check_budgets(summary: dict) -> dict:
        """The month against its budgets with the sweep's training in it; alerts raised once and sent."""
        from pipeline.tasks import governance

        return governance.check_budgets_task()

    @task(multiple_outputs=False)
    def promote(summary: dict) -> dict:
        """The recommended trial through the champion gate, when asked; else skipped."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.tasks import sweep

        if not get_current_context()["params"]["promote_recommended"]:
            raise AirflowSkipException("promote_recommended is off")
        decision = sweep.promote(summary=summary)
        if not decision["registered"]:
            raise AirflowSkipException(f"not registered: {decision['reason']}")
        return decision

    validated = start()
    request = estimate_sweep_cost(validated)
    gate = approval_gate(request)
    approval = TrainingApprovalOperator(task_id="approve_sweep", approval_request=request)
    gate >> approval
    stale = sweep_stale_instances()
    [gate, approval] >> stale
    # round 1 starts after the approval (or without one) and, for spot trials, the stale sweep
    previous, cleanup = [gate, approval, stale], cleanup_ec2_instances()
    for index in range(MAX_ROUNDS):
        # the first round starts after the approval, or without one; a later one after the last round
        rule = "none_failed_min_one_success" if index == 0 else "all_success"
        planned = plan_round.override(task_id=_plan_id(index), trigger_rule=rule)(validated, index)
        previous >> planned
        local = (
            run_trial.override(task_id=_local_trials_id(index))
            .partial(validated=validated)
            .expand(spec=planned)
        )
        on_spot = (
            spot_trial.override(group_id=_spot_trials_id(index))
            .partial(validated=validated)
            .expand(spec=planned)
        )
        told = tell_round.override(task_id=f"tell_round_{index + 1}")(validated, planned)
        [local, on_spot] >> told
        on_spot >> cleanup
        previous = told
    summary = summarize(validated)
    previous >> [summary, cleanup]
    promote(summary)
    check_budgets(summary)


rnn_sweep()
