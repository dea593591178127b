"""Budget guard: estimate a spot run before launching anything, refuse it above ``max_budget_usd``.

The estimate is :func:`costing.model.training.preflight_estimate`: the run's tokens (the steps
``rnn.data`` cuts from the validated corpus), its checkpoint writes and the boot, setup and upload
overhead, priced by the plan the TCO prices a retraining run with (expected interruptions, billed
seconds with the per-launch minimum, EBS and S3 requests). What it needs from outside, found here:

* **throughput**: ``train.tokens_per_s`` of the latest FINISHED MLflow run in ``rnn-textgen`` with
  the same model shape (hidden_size, num_layers, embedding_dim, seq_len, batch_size), preferring
  one trained on this instance type with ``ec2_spot``; if there is none,
  :data:`DEFAULT_TOKENS_PER_S`, and the message says so;
* **overhead**: :func:`pipeline.spot.ledger.run_overhead`, measured on the attempts of earlier spot
  runs (same instance type preferred), else the cost model's labelled default; the message says which;
* **prices**: the newest pricing snapshot (spot: the mean of the region's AZs).
"""

from __future__ import annotations

import logging
from typing import Any

from costing.model.training import PreflightEstimate, Throughput, preflight_estimate
from costing.pricing import build_price_sheet
from pipeline import names, tracking
from pipeline.price_store import newest_snapshot_dir
from pipeline.spot import layout as spot
from pipeline.spot.ledger import run_overhead
from pipeline.spot.policy import within_budget
from rnn.corpus import read_corpus_bytes

log = logging.getLogger(__name__)

# Conservative when nothing comparable was measured: the default 2.84M-parameter model trains at
# about 12,000 tokens/s on 2 CPU cores (README); assume a sixth of that.
DEFAULT_TOKENS_PER_S = 2_000.0
SHAPE_KEYS = ("hidden_size", "num_layers", "embedding_dim", "seq_len", "batch_size")


def comparable_throughput(config: dict[str, Any], *, instance_type: str) -> Throughput | None:
    """``train.tokens_per_s`` of the latest finished run with this model shape (MLflow ``rnn-textgen``)."""
    from mlflow import MlflowClient

    settings = tracking.configure()
    shape = " and ".join(f"params.`config.{key}` = '{config[key]}'" for key in SHAPE_KEYS)
    runs = MlflowClient().search_runs(
        [tracking.experiment_id(names.TRAINING_EXPERIMENT, settings)],
        filter_string=f"attributes.status = 'FINISHED' and {shape}",
        order_by=["attributes.start_time DESC"],
        max_results=100,
    )
    measured = [r for r in runs if r.data.metrics.get(names.TRAIN_TOKENS_PER_S, 0) > 0]
    if not measured:
        return None
    same_host = [
        r
        for r in measured
        if r.data.params.get("compute.instance_type") == instance_type
        and r.data.params.get("compute.backend") == spot.BACKEND
    ]
    run = (same_host or measured)[0]
    params = run.data.params
    return Throughput(
        tokens_per_s=float(run.data.metrics[names.TRAIN_TOKENS_PER_S]),
        source=f"last comparable run {run.info.run_id[:12]}, backend {params.get('compute.backend', '?')}"
        + ("" if same_host else ", not measured on this instance type"),
        mlflow_run_id=run.info.run_id,
    )


def estimate_training(validated: dict[str, Any], config: dict[str, Any] | None = None) -> PreflightEstimate:
    """The pre-flight estimate of training ``config`` (default: the validated run's) on the run's
    instance type, market and region: the budget guard's arithmetic, in one place (``rnn_retraining``'s
    guard and every round of ``rnn_sweep`` call it). ValueError when it cannot be estimated."""
    config = validated["config"] if config is None else config
    compute = validated["compute"]
    dataset_chars, vocab_size = validated.get("dataset_chars"), validated.get("dataset_vocab_size")
    if dataset_chars is None or vocab_size is None:  # a result of an older version: read the corpus
        text = read_corpus_bytes(config["corpus_uri"]).decode("utf-8")
        dataset_chars, vocab_size = len(text), len(set(text))
    throughput = comparable_throughput(config, instance_type=compute["instance_type"]) or Throughput(
        DEFAULT_TOKENS_PER_S,
        f"no comparable finished run in MLflow; conservative default {DEFAULT_TOKENS_PER_S:,.0f}",
    )
    sheet = build_price_sheet(
        newest_snapshot_dir(), compute["region"], instance_types=[compute["instance_type"]]
    )
    return preflight_estimate(
        config=config,
        dataset_chars=int(dataset_chars),
        vocab_size=int(vocab_size),
        throughput=throughput,
        sheet=sheet,
        instance_type=compute["instance_type"],
        market=compute["market"],
        overhead=run_overhead(compute["instance_type"]),
    )


def check_budget(*, validated: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The ``check_spot_budget`` task: estimate, record it on the MLflow run, refuse above the budget."""
    import mlflow
    from airflow.sdk.exceptions import AirflowFailException

    budget = float(params["max_budget_usd"])
    try:
        estimate = estimate_training(validated)
    except ValueError as error:
        raise AirflowFailException(f"cannot estimate this spot run, nothing was launched: {error}") from error
    allowed = within_budget(estimate.usd, budget)
    verdict = "within" if allowed else "above"
    with tracking.task_run(validated["mlflow_run_id"]):
        mlflow.set_tags(
            {
                "spot.preflight_estimate_usd": f"{estimate.usd:.6f}",
                "spot.max_budget_usd": f"{budget:g}",
                "spot.preflight": f"{verdict} budget: {estimate.describe()}"[:5000],
            }
        )
    log.info(
        "pre-flight estimate $%.6f (%s max_budget_usd $%g): %s",
        estimate.usd,
        verdict,
        budget,
        estimate.describe(),
    )
    if not allowed:
        raise AirflowFailException(
            f"pre-flight estimate ${estimate.usd:.4f} is above max_budget_usd ${budget:g}; nothing was launched. "
            f"Estimate: {estimate.describe()}. Raise max_budget_usd, train less (epochs, max_steps_per_epoch) or "
            "choose a cheaper instance_type."
        )
    return estimate.to_dict()
