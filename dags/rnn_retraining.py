"""
### Retrain the character-level LSTM and cost the run

Weekly, and on demand from the trigger form: validate the corpus, train on the Airflow worker or on a
spot EC2 instance (the `compute` param), benchmark, load-test the model behind the real inference
server, log to the MLflow experiment `rnn-textgen`, cost the run and promote the model to `champion` if
it beats the champion on the same evaluation data, which publishes the `rnn_textgen_model` asset (and
so schedules `cost_recompute`).

* **validate_dataset** – Great Expectations checks on the corpus; a failing corpus stops the run here.
* **estimate_training_cost** – the pre-flight estimate of this run (local runs priced as if on the
  instance type), held against `approval_threshold_usd`.
* **approval_gate** – at or under the threshold straight on to training (recorded as "under threshold");
  above it, to the approval.
* **approve_training** – waits for a person (Required Actions, or the REST API) with the estimate, its
  inputs and the budget left; Approve trains, Reject or no answer within `approval_timeout_minutes`
  skips everything after it and records why on the MLflow run.
* **choose_backend** – `compute=local` runs `train_local`, `compute=ec2_spot` the spot branch.
* **train_local** – train on the worker; a retried task resumes from the last checkpoint.
* **sweep_stale_instances** – terminate training instances left by DAG runs that are over.
* **check_spot_budget** – refuse to launch when the pre-flight estimate is above `max_budget_usd`.
* **train_ec2_spot** – train on spot EC2 (deferrable), relaunching from the checkpoint after interruptions.
* **cleanup_ec2_instances** – terminate this run's instances, whatever happened.
* **training_result** – the result of whichever branch ran.
* **benchmark** – inference latency and throughput of the fast generator.
* **load_test** – serve the model on a free 127.0.0.1 port and find the highest request rate it keeps
  within the p95 SLO (`load_test_seconds`, 0 skips it); the cost model sizes fleets from it. Requests
  continue `load_test_prompt`, by default the model's own prompt (from the model, in its own script).
  Then its cold starts: a new server to ready and its first request, fresh serverless-style handler
  processes from spawn to their first answer (`python -m rnn coldstart`); the cost model prices Lambda's
  and SageMaker serverless's cold starts from them.
* **log_to_mlflow** – metrics, `metrics.json` and the model.
* **cost** – the run's cost: an *estimate* (local) or a *billed estimate* (spot EC2).
* **watch_spend** – this run's cost and cost per token against the runs before it (anomalies), and the
  month against its budgets; each alert once.
* **register** – champion and challenger scored on the same evaluation split; a better challenger
  becomes a new `rnn-textgen` version with the alias `champion`; skipped otherwise, saying why. With
  `replace_champion_reason` (a deliberate corpus change), a model of another corpus is judged on its own
  corpus against a quality bar instead, and the reason is recorded on the version.

How: [docs/training.md](../docs/training.md) (model, corpus, each step),
[docs/spot-ec2.md](../docs/spot-ec2.md) (spot EC2 and the AWS resources it needs),
[docs/governance.md](../docs/governance.md) (approval before expensive work),
[docs/serving.md](../docs/serving.md) (the server and its load test),
[docs/mlflow.md](../docs/mlflow.md) (what is logged).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from costing.choices import DEFAULT_REGION
from pipeline import assets, names
from pipeline.approval.operators import TrainingApprovalOperator
from pipeline.conf import refuse_bad_conf
from pipeline.registry import QUALITY_BAR_FRACTION, REPLACE_REASON_MAX_CHARS
from pipeline.spot.cleanup import cleanup_task
from pipeline.spot.operators import SpotTrainingOperator
from pipeline.ui.approval_params import approval_params
from pipeline.ui.compute_params import REGION_PATTERN, compute_params, spot_operator_arguments, spot_params
from pipeline.ui.links import MlflowRunLink, attach, push_run_of
from pipeline.ui.params import form_params
from rnn.config import TrainConfig, parameter_count
from rnn.serving.loadtest import LoadTestConfig

# The form starts where `python -m rnn train` and `python -m rnn loadtest` start: their dataclasses' defaults
TRAIN_DEFAULTS = TrainConfig()
LOAD_TEST_DEFAULTS = {f.name: f.default for f in fields(LoadTestConfig)}
TYPICAL_VOCAB_SIZE = 100  # distinct characters of an English corpus (the built-in one has 103)


def _on_task_failure(context: dict) -> None:
    """Close the run's MLflow run as FAILED if a dying task left it RUNNING (the task module loads on failure)."""
    from pipeline.tasks import retraining

    retraining.on_task_failure(context)


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="Retrain the character-level LSTM, log it to MLflow, cost the run, promote a better champion",
    schedule=names.RETRAINING_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["rnn", "training", "cost"],
    default_args={
        "pre_execute": refuse_bad_conf,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": _on_task_failure,
    },
    params=form_params(
        {
            "corpus_uri": Param(
                "",
                type="string",
                title="Corpus",
                description="Path, s3:// or https:// URL of a UTF-8 text file. Empty: the "
                "rnn_corpus_uri Variable, else the built-in stdlib corpus.",
            ),
            "eval_corpus_uri": Param(
                "",
                type="string",
                title="Evaluation corpus",
                description="Champion and challenger are compared on the evaluation split of this corpus. "
                "Empty: the rnn_eval_corpus_uri Variable, else the corpus the champion was accepted on. "
                "Name a new corpus here to move the model to new data.",
            ),
            "replace_champion_reason": Param(
                "",
                type="string",
                maxLength=REPLACE_REASON_MAX_CHARS,
                title="Replace the champion: why (a corpus change)",
                description="Empty: a model replaces the champion only by beating it on the same data, and one "
                "trained on another corpus is refused. A reason (e.g. 'move to the 2027 support tickets'): a "
                "model trained on a corpus other than the champion's is judged on its own corpus's evaluation "
                f"split instead, and replaces the champion if its loss is below {QUALITY_BAR_FRACTION:.0%} of a "
                "unigram baseline's there; the reason, both corpora and both scores go into the new version.",
            ),
            "epochs": Param(TRAIN_DEFAULTS.epochs, type="integer", minimum=1, maximum=200, title="Epochs"),
            "hidden_size": Param(
                TRAIN_DEFAULTS.hidden_size,
                type="integer",
                minimum=8,
                maximum=4096,
                title="Model size: LSTM units",
                description=f"{TRAIN_DEFAULTS.hidden_size} units x {TRAIN_DEFAULTS.num_layers} layers is "
                f"~{parameter_count(TRAIN_DEFAULTS, TYPICAL_VOCAB_SIZE) / 1e6:.2f}M parameters.",
            ),
            "num_layers": Param(
                TRAIN_DEFAULTS.num_layers,
                type="integer",
                minimum=1,
                maximum=6,
                title="Model size: LSTM layers",
            ),
            "embedding_dim": Param(
                TRAIN_DEFAULTS.embedding_dim, type="integer", minimum=4, maximum=1024, title="Embedding size"
            ),
            "seq_len": Param(
                TRAIN_DEFAULTS.seq_len,
                type="integer",
                minimum=4,
                maximum=1024,
                title="Sequence length (chars)",
            ),
            "batch_size": Param(
                TRAIN_DEFAULTS.batch_size, type="integer", minimum=1, maximum=1024, title="Batch size"
            ),
            "max_steps_per_epoch": Param(
                TRAIN_DEFAULTS.max_steps_per_epoch,
                type="integer",
                minimum=0,
                title="Max steps per epoch",
                description="0 trains on the whole corpus each epoch.",
            ),
            "eval_chars": Param(
                TRAIN_DEFAULTS.eval_chars,
                type="integer",
                minimum=0,
                title="Validation sample (chars)",
                description="Characters of the held-out tail scored for the validation loss each epoch: a "
                "fixed, evenly spread sample, so a large corpus is not read whole every epoch. 0 scores all of it.",
            ),
            "learning_rate": Param(
                TRAIN_DEFAULTS.learning_rate,
                type="number",
                exclusiveMinimum=0,
                maximum=1,
                title="Learning rate",
            ),
            "seed": Param(TRAIN_DEFAULTS.seed, type="integer", minimum=0, title="Seed"),
            "checkpoint_every_steps": Param(
                TRAIN_DEFAULTS.checkpoint_every_steps,
                type="integer",
                minimum=1,
                title="Checkpoint every (steps)",
                description="Also at every epoch end; a retried task resumes from the last one.",
            ),
            "min_corpus_chars": Param(
                0,
                type="integer",
                minimum=0,
                title="Minimum corpus size (chars)",
                description="0 uses the expectation suite's minimum.",
            ),
            **compute_params(),
            "region": Param(DEFAULT_REGION, type="string", pattern=REGION_PATTERN, title="AWS region"),
            # -- the load test of the inference server --------------------------------------------------------
            "load_test_seconds": Param(
                int(LOAD_TEST_DEFAULTS["max_seconds"]),
                type="integer",
                minimum=0,
                maximum=1800,
                title="Load test: time budget (s)",
                section="Serving load test",
                description="Bound of the capacity search against the real server. 0 skips it and the cold-start "
                "measurement: serving is then costed with the capacity formula and the default cold start.",
            ),
            "load_test_slo_ms": Param(
                int(LOAD_TEST_DEFAULTS["slo_ms"]),
                type="integer",
                minimum=10,
                maximum=60_000,
                title="Load test: p95 latency SLO (ms)",
                section="Serving load test",
            ),
            "load_test_chars": Param(
                LOAD_TEST_DEFAULTS["chars"],
                type="integer",
                minimum=1,
                maximum=2000,
                title="Load test: characters per request",
                section="Serving load test",
            ),
            "load_test_prompt": Param(
                "",
                type=["string", "null"],
                maxLength=200,
                title="Load test: prompt",
                section="Serving load test",
                description="Text every request continues. Empty (the default): the model's own prompt, from "
                "the model itself, so a corpus in any script is load-tested as it is. Characters the model "
                "never saw fail the task before the server starts.",
            ),
            # -- compute=ec2_spot only ------------------------------------------------------------------------
            **spot_params(),
            # -- approval before expensive work -------------------------------------------------------------
            **approval_params(what="the run's pre-flight estimate"),
        }
    ),
)
def rnn_retraining():
    @task(multiple_outputs=False)
    def validate_dataset() -> dict:
        """Validate the corpus with Great Expectations; open the MLflow run."""
        from airflow.sdk import Variable

        from pipeline.tasks import retraining

        context = get_current_context()
        return push_run_of(
            context,
            retraining.validate_dataset(
                dag_id=context["dag"].dag_id,
                run_id=context["run_id"],
                params=dict(context["params"]),
                corpus_variable=Variable.get(names.VAR_CORPUS_URI, default=None),
            ),
        )

    @task(multiple_outputs=False)
    def estimate_training_cost(validated: dict) -> dict:
        """Pre-flight estimate of this run; above approval_threshold_usd it waits for approval."""
        from airflow.sdk import Variable

        from pipeline.tasks import approval, governance

        context = get_current_context()
        budget_left_usd, budget_left_how = governance.training_budget_left_usd(
            Variable.get(names.VAR_BUDGETS, default=None)
        )
        return approval.retraining_request(
            validated=validated,
            params=dict(context["params"]),
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            budget_left_usd=budget_left_usd,
            budget_left_how=budget_left_how,
        )

    @task.branch
    def approval_gate(request: dict) -> str:
        """Wait for approval above the threshold; else straight on to training."""
        return "approve_training" if request["waits"] else "choose_backend"

    @task.branch(trigger_rule="none_failed_min_one_success")  # after the approval, or without one
    def choose_backend() -> str:
        """Pick the training branch from the `compute` param."""
        compute = get_current_context()["params"]["compute"]
        return "train_local" if compute == "local" else "sweep_stale_instances"

    @task(multiple_outputs=False, execution_timeout=timedelta(hours=6))
    def train_local(validated: dict) -> dict:
        """Train on this worker, resuming from the last checkpoint."""
        from pipeline.tasks import retraining

        return push_run_of(get_current_context(), retraining.train(validated=validated))

    @task
    def sweep_stale_instances() -> list:
        """Terminate training instances of DAG runs that are no longer running (an anomaly, with its cost)."""
        from pipeline.tasks import anomalies

        return anomalies.sweep_and_report(
            get_current_context(), detected_by="rnn_retraining.sweep_stale_instances"
        )

    @task(multiple_outputs=False)
    def check_spot_budget(validated: dict) -> dict:
        """Estimate the spot run; fail, launching nothing, above max_budget_usd."""
        from pipeline.tasks import retraining

        return retraining.check_spot_budget(validated=validated, params=dict(get_current_context()["params"]))

    @task(trigger_rule="all_done", pre_execute=None)  # runs whatever happened, even on a refused conf
    def cleanup_ec2_instances() -> dict:
        """Terminate this DAG run's training instances, whatever happened."""

        return cleanup_task(get_current_context())

    @task(multiple_outputs=False, trigger_rule="none_failed_min_one_success")
    def training_result(local: dict | None, ec2_spot: dict | None) -> dict:
        """The result of whichever training branch ran."""
        return local if local is not None else ec2_spot

    @task(multiple_outputs=False)
    def benchmark(trained: dict) -> dict:
        """Measure inference latency and throughput of the trained model."""
        from pipeline.tasks import retraining

        return retraining.benchmark(trained=trained)

    @task(multiple_outputs=False, execution_timeout=timedelta(hours=1))
    def load_test(benchmarked: dict) -> dict:
        """Serve the model on 127.0.0.1 and measure its requests/s at the p95 SLO; stop the server."""
        from pipeline.tasks import retraining

        context = get_current_context()
        params = context["params"]
        return push_run_of(
            context,
            retraining.load_test(
                benchmarked=benchmarked,
                seconds=params["load_test_seconds"],
                slo_ms=params["load_test_slo_ms"],
                chars=params["load_test_chars"],
                prompt=params["load_test_prompt"] or "",
            ),
        )

    @task(multiple_outputs=False)
    def log_to_mlflow(benchmarked: dict) -> dict:
        """Log metrics, metrics.json and the model to the MLflow run."""
        from pipeline.tasks import retraining

        return push_run_of(get_current_context(), retraining.log_to_mlflow(benchmarked=benchmarked))

    @task(multiple_outputs=False)
    def cost(logged: dict) -> dict:
        """Price the training run and record the cost on its MLflow run."""
        from pipeline.tasks import retraining

        return push_run_of(get_current_context(), retraining.cost(logged=logged))

    @task(multiple_outputs=False)
    def watch_spend(costed: dict) -> dict:
        """This run's cost against the runs before it (anomalies), and the month against its budgets;
        each alert raised once and sent."""
        from pipeline.tasks import anomalies, governance

        return {
            "anomalies": anomalies.detect_run_anomalies(
                costed=costed, detected_by="rnn_retraining.watch_spend"
            ),
            "budgets": governance.check_budgets_task(),
        }

    @task(multiple_outputs=False, outlets=[assets.MODEL])
    def register(costed: dict) -> dict:
        """Promote the model to champion if it beats the champion on the same data (or clears the
        quality bar on a corpus change with a reason); else skip."""
        from airflow.sdk import Variable
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.tasks import retraining

        context = get_current_context()
        eval_corpus = context["params"]["eval_corpus_uri"] or Variable.get(
            names.VAR_EVAL_CORPUS_URI, default=""
        )
        result = push_run_of(
            context,
            retraining.register(
                costed=costed,
                eval_corpus_uri=eval_corpus,
                replace_champion_reason=context["params"]["replace_champion_reason"],
            ),
        )
        if not result["registry"]["registered"]:
            raise AirflowSkipException(f"not registered: {result['registry']['reason']}")
        return result

    validated = attach(validate_dataset(), MlflowRunLink)
    request = estimate_training_cost(validated)
    approval = TrainingApprovalOperator(task_id="approve_training", approval_request=request)
    backend = choose_backend()
    approval_gate(request) >> [approval, backend]
    approval >> backend
    local = attach(train_local(validated), MlflowRunLink)
    budget = check_spot_budget(validated)
    on_spot = SpotTrainingOperator(
        task_id="train_ec2_spot",
        validated=validated,
        **spot_operator_arguments(),
    )
    sweep = sweep_stale_instances()
    cleanup = cleanup_ec2_instances()
    backend >> [local, sweep]
    sweep >> budget >> on_spot >> cleanup
    trained = training_result(local, on_spot.output)
    benchmarked = benchmark(trained)
    served = attach(load_test(benchmarked), MlflowRunLink)
    logged = attach(log_to_mlflow(served), MlflowRunLink)
    costed = attach(cost(logged), MlflowRunLink)
    attach(register(costed), MlflowRunLink)
    watch_spend(costed)


rnn_retraining()
