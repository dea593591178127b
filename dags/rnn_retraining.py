"""
### Retrain the character-level LSTM and cost the run

Weekly, and on demand from the trigger form:

1. **validate_dataset** – Great Expectations suite from `include/expectations/` on the corpus
   (size, UTF-8, printable share, vocabulary, line lengths, duplicate lines). A failing corpus
   stops the run here; the validation report is an artifact of the MLflow run.
2. **train** – `python -m rnn train --resume` on the worker (`compute=local`); a retried task
   continues from the last checkpoint. MLflow system metrics are recorded while it runs.
3. **benchmark** – inference latency p50/p95/p99 and throughput at batch 1/16/64.
4. **log_to_mlflow** – per-epoch and instrumentation metrics, `metrics.json`, the model.
5. **cost** – the run priced from the pricing snapshot: local runs are an *estimate* as if on the
   chosen instance type, region and market (`cost.train_usd`, `cost.train_on_demand_usd`,
   `cost.spot_savings_pct`, `cost.per_epoch_usd`).
6. **register** – a new version of `rnn-textgen` only if its validation loss beats the best
   registered version; otherwise skipped, with the reason on the MLflow run. Publishes the
   `rnn_textgen_model` asset.

Corpus: the `corpus_uri` param, else the Airflow Variable `rnn_corpus_uri`, else the built-in
corpus made from the Python standard library's help topics.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline import names

MODEL_ASSET = Asset(name=names.MODEL_ASSET_NAME, uri=names.MODEL_ASSET_URI)


def _on_failure(context):
    from pipeline.retraining import on_task_failure

    on_task_failure(context)


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["rnn", "training", "cost"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "on_failure_callback": _on_failure},
    params={
        "corpus_uri": Param("", type="string", title="Corpus",
                            description="Path, s3:// or https:// URL of a UTF-8 text file. Empty: the "
                                        "rnn_corpus_uri Variable, else the built-in stdlib corpus."),
        "epochs": Param(3, type="integer", minimum=1, maximum=200, title="Epochs"),
        "hidden_size": Param(460, type="integer", minimum=8, maximum=4096, title="Model size: LSTM units",
                             description="460 units x 2 layers is ~2.84M parameters."),
        "num_layers": Param(2, type="integer", minimum=1, maximum=6, title="Model size: LSTM layers"),
        "embedding_dim": Param(128, type="integer", minimum=4, maximum=1024, title="Embedding size"),
        "seq_len": Param(128, type="integer", minimum=4, maximum=1024, title="Sequence length (chars)"),
        "batch_size": Param(32, type="integer", minimum=1, maximum=1024, title="Batch size"),
        "max_steps_per_epoch": Param(0, type="integer", minimum=0, title="Max steps per epoch",
                                     description="0 trains on the whole corpus each epoch."),
        "learning_rate": Param(0.002, type="number", exclusiveMinimum=0, maximum=1, title="Learning rate"),
        "seed": Param(1337, type="integer", minimum=0, title="Seed"),
        "min_corpus_chars": Param(0, type="integer", minimum=0, title="Minimum corpus size (chars)",
                                  description="0 uses the expectation suite's minimum."),
        "compute": Param("local", type="string", enum=["local"], title="Compute backend"),
        "instance_type": Param("r6i.xlarge", type="string", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                               title="Instance type", description="Priced (local) or launched (cloud)."),
        "region": Param("us-east-1", type="string", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", title="AWS region"),
        "market": Param("spot", type="string", enum=["spot", "on-demand"], title="Market"),
    },
)
def rnn_retraining():
    @task(multiple_outputs=False)
    def validate_dataset() -> dict:
        from airflow.sdk import Variable

        from pipeline.retraining import validate_dataset as run

        context = get_current_context()
        return run(dag_id=context["dag"].dag_id, run_id=context["run_id"], params=dict(context["params"]),
                   corpus_variable=Variable.get(names.VAR_CORPUS_URI, default=None))

    @task(multiple_outputs=False, execution_timeout=timedelta(hours=6))
    def train(validated: dict) -> dict:
        from pipeline.retraining import train as run

        return run(validated=validated)

    @task(multiple_outputs=False)
    def benchmark(trained: dict) -> dict:
        from pipeline.retraining import benchmark as run

        return run(trained=trained)

    @task(multiple_outputs=False)
    def log_to_mlflow(benchmarked: dict) -> dict:
        from pipeline.retraining import log_to_mlflow as run

        return run(benchmarked=benchmarked)

    @task(multiple_outputs=False)
    def cost(logged: dict) -> dict:
        from pipeline.retraining import cost as run

        return run(logged=logged)

    @task(multiple_outputs=False, outlets=[MODEL_ASSET])
    def register(costed: dict) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.retraining import register as run

        result = run(costed=costed)
        if not result["registry"]["registered"]:
            raise AirflowSkipException(f"not registered: {result['registry']['reason']}")
        return result

    register(cost(log_to_mlflow(benchmark(train(validate_dataset())))))


rnn_retraining()
