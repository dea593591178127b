"""Recording a training run's cost: MLflow metrics and tags, ``cost.json`` and ``metrics.json``.

One place for both compute backends: ``pipeline.tasks.retraining.cost`` calls it for local runs
(an estimate) and ``pipeline.spot.billing`` for spot runs (billed from the attempts).
"""

from __future__ import annotations

from typing import Any

from costing.units import MICRO_USD_PER_USD
from pipeline import names
from rnn.metrics import write_metrics


def record_cost(
    cost_dict: dict[str, Any],
    *,
    interruptions: int,
    metrics: dict[str, Any],
    metrics_uri: str,
    compute: dict[str, Any],
) -> None:
    """The run's cost on its (open) MLflow run and in metrics.json ``compute.cost``: one place for both backends."""
    import mlflow

    mlflow.log_metrics(
        {
            names.COST_TRAIN_USD: cost_dict["usd"],
            names.COST_TRAIN_ON_DEMAND_USD: cost_dict["on_demand_usd"],
            names.COST_TRAIN_MICRO_USD: round(cost_dict["usd"] * MICRO_USD_PER_USD, 1),
            names.COST_TRAIN_ON_DEMAND_MICRO_USD: round(cost_dict["on_demand_usd"] * MICRO_USD_PER_USD, 1),
            names.COST_SPOT_SAVINGS_PCT: cost_dict["spot_savings_pct"],
            names.COST_PER_EPOCH_USD: cost_dict["per_epoch_usd"],
            names.COST_USD_PER_HOUR: cost_dict["usd_per_hour"],
            names.COST_BILLED_SECONDS: cost_dict["billed_seconds"],
            names.TRAIN_INTERRUPTIONS: float(interruptions),
        }
    )
    tokens = float((metrics.get("training") or {}).get("tokens_processed") or 0)
    if tokens > 0:  # what a unit of training costs: separates "a longer run" from "a dearer run"
        mlflow.log_metric(names.COST_USD_PER_MILLION_TOKENS, cost_dict["usd"] / tokens * 1e6)
    accounting = cost_dict.get("accounting")
    if accounting:  # cloud runs: where the instance seconds went
        mlflow.log_metrics(
            {
                names.COST_TRAINING_USD: accounting["training_usd"],
                names.COST_WASTED_USD: accounting["wasted_usd"],
                names.COST_OVERHEAD_USD: accounting["overhead_usd"],
                names.COST_ON_DEMAND_EQUIVALENT_USD: accounting["on_demand_equivalent_usd"],
                names.COST_EFFECTIVE_SAVINGS_PCT: accounting["effective_savings_pct"],
            }
        )
    mlflow.log_dict(cost_dict, names.TRAINING_COST_ARTIFACT)
    mlflow.set_tags(
        {
            names.TAG_COST_BASIS: "estimate" if cost_dict["is_estimate"] else "billed-estimate",
            names.TAG_COST_DESCRIPTION: cost_dict["basis"][:5000],
            names.TAG_SNAPSHOT_ID: cost_dict["snapshot_id"],
            names.TAG_COST_ARTIFACT: names.TRAINING_COST_ARTIFACT,  # after the file: the ledger trusts it
        }
    )
    metrics["compute"] = {**compute, "cost": cost_dict}
    write_metrics(metrics_uri, metrics)
    mlflow.log_dict(metrics, "metrics.json")
