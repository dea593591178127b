"""Budget guard: estimate a spot run before launching anything, refuse it above ``max_budget_usd``.

The pre-flight estimate, step by step:

1. **tokens** the run will train on (:func:`costing.model.training.training_tokens`: the steps
   ``rnn.data`` cuts from the validated corpus size, x ``batch_size`` x ``seq_len``);
2. **throughput**: ``train.tokens_per_s`` of the latest FINISHED MLflow run in ``rnn-textgen`` with
   the same model shape (hidden_size, num_layers, embedding_dim, seq_len, batch_size), preferring
   one trained on this instance type with ``ec2_spot``; if there is none,
   :data:`DEFAULT_TOKENS_PER_S`, and the message says so;
3. **work** = tokens / throughput, plus the boot, setup and upload overhead once
   (:func:`pipeline.spot.ledger.run_overhead`: measured on the attempts of earlier spot runs,
   preferring the same instance type, else the cost model's labelled default), and the message says which;
4. **expected interruption overhead** from the cost model
   (:func:`costing.model.training.plan.expected_wall_seconds`: Poisson interruptions at the Spot Advisor
   rate of the instance type, half a checkpoint interval of lost work plus a restart per
   interruption);
5. **price**: the billed seconds (with the per-launch minimum) at the current spot price (mean over the
   region's AZs) from the newest pricing snapshot - on-demand when ``market`` is on-demand.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from costing.model import TrainingAssumptions, expected_wall_seconds, mean_time_between_interruptions_seconds
from costing.model.training import (
    DEFAULT_RUN_OVERHEAD,
    RunOverhead,
    billed_run_seconds,
    checkpoint_writes,
    training_steps,
    training_tokens,
)
from costing.pricing import MARKET_SPOT, build_price_sheet
from costing.units import SECONDS_PER_HOUR
from pipeline import names, tracking
from pipeline.price_store import newest_snapshot_dir
from pipeline.spot import layout as spot
from pipeline.spot.ledger import run_overhead
from pipeline.spot.policy import within_budget
from rnn.corpus import read_corpus_bytes

if TYPE_CHECKING:
    from costing.pricing.sheet import PriceSheet

log = logging.getLogger(__name__)

# Conservative when nothing comparable was measured: the default 2.84M-parameter model trains at
# about 12,000 tokens/s on 2 CPU cores (README); assume a sixth of that.
DEFAULT_TOKENS_PER_S = 2_000.0
# Writing one checkpoint to S3 (weights + AdamW moments of a few-MB model).
CHECKPOINT_WRITE_SECONDS = 2.0
SHAPE_KEYS = ("hidden_size", "num_layers", "embedding_dim", "seq_len", "batch_size")


@dataclass(frozen=True)
class Throughput:
    tokens_per_s: float
    source: str  # in words, for the message
    mlflow_run_id: str | None = None


@dataclass(frozen=True)
class PreflightEstimate:
    instance_type: str
    region: str
    market: str
    tokens: int
    throughput: Throughput
    work_seconds: float
    overhead_seconds: float
    expected_wall_seconds: float
    expected_interruptions: float
    interruption_rate_per_month: float
    usd_per_hour: float
    usd: float
    snapshot_id: str
    overhead_source: str = DEFAULT_RUN_OVERHEAD.source

    @property
    def overhead_factor(self) -> float:
        base = self.work_seconds + self.overhead_seconds
        return self.expected_wall_seconds / base if base else 1.0

    def describe(self) -> str:
        return (
            f"{self.tokens:,} tokens at {self.throughput.tokens_per_s:,.0f} tokens/s ({self.throughput.source}) = "
            f"{self.work_seconds:,.0f} s of training + {self.overhead_seconds:,.0f} s boot, setup and upload "
            f"({self.overhead_source}), "
            f"x{self.overhead_factor:.3f} for expected interruptions ({self.interruption_rate_per_month:.0%}/month, "
            f"{self.expected_interruptions:.3f} expected) = {self.expected_wall_seconds:,.0f} s of {self.instance_type} "
            f"{self.market} in {self.region} at ${self.usd_per_hour:.4f}/h (snapshot {self.snapshot_id})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overhead_factor": self.overhead_factor, "description": self.describe()}


def preflight_estimate(
    *,
    config: dict[str, Any],
    dataset_chars: int,
    throughput: Throughput,
    sheet: PriceSheet,
    instance_type: str,
    market: str,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> PreflightEstimate:

    if instance_type not in sheet.instances:
        raise ValueError(
            f"instance type {instance_type!r} has no price in snapshot {sheet.snapshot_id} "
            f"({sheet.region}); priced types: {', '.join(sorted(sheet.instances)) or 'none'}"
        )
    rates, assumptions = sheet.instances[instance_type], TrainingAssumptions()
    if market == MARKET_SPOT and rates.spot_usd_per_hour is not None:
        usd_per_hour = rates.spot_usd_per_hour
        rate = rates.interruption_rate_per_month
        rate = assumptions.default_interruption_rate_per_month if rate is None else rate
    else:
        usd_per_hour, rate = rates.on_demand_usd_per_hour, 0.0
    tokens = training_tokens(config, dataset_chars)
    work = tokens / throughput.tokens_per_s
    every_steps = int(config.get("checkpoint_every_steps", 50))
    writes = checkpoint_writes(training_steps(config, dataset_chars), every_steps, int(config["epochs"]))
    interval = max(
        every_steps * int(config["batch_size"]) * int(config["seq_len"]) / throughput.tokens_per_s,
        1.0,
    )
    wall, interruptions = expected_wall_seconds(
        work + overhead.seconds,
        writes,
        interval,
        CHECKPOINT_WRITE_SECONDS,
        assumptions.restart_overhead_seconds,
        mean_time_between_interruptions_seconds(rate),
    )
    billed = float(billed_run_seconds(wall, 1.0))
    return PreflightEstimate(
        instance_type=instance_type,
        region=sheet.region,
        market=market,
        tokens=tokens,
        throughput=throughput,
        work_seconds=work,
        overhead_seconds=overhead.seconds,
        overhead_source=overhead.source,
        expected_wall_seconds=float(wall),
        expected_interruptions=float(interruptions),
        interruption_rate_per_month=float(rate),
        usd_per_hour=usd_per_hour,
        usd=billed / SECONDS_PER_HOUR * usd_per_hour,
        snapshot_id=sheet.snapshot_id,
    )


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


def check_budget(*, validated: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The ``check_spot_budget`` task: estimate, record it on the MLflow run, refuse above the budget."""
    import mlflow
    from airflow.sdk.exceptions import AirflowFailException

    config, compute = validated["config"], validated["compute"]
    budget = float(params["max_budget_usd"])
    dataset_chars = validated.get("dataset_chars")
    if dataset_chars is None:
        dataset_chars = len(read_corpus_bytes(config["corpus_uri"]).decode("utf-8"))
    throughput = comparable_throughput(config, instance_type=compute["instance_type"]) or Throughput(
        DEFAULT_TOKENS_PER_S,
        f"no comparable finished run in MLflow; conservative default {DEFAULT_TOKENS_PER_S:,.0f}",
    )
    overhead = run_overhead(compute["instance_type"])
    sheet = build_price_sheet(
        newest_snapshot_dir(), compute["region"], instance_types=[compute["instance_type"]]
    )
    try:
        estimate = preflight_estimate(
            config=config,
            dataset_chars=int(dataset_chars),
            throughput=throughput,
            sheet=sheet,
            instance_type=compute["instance_type"],
            market=compute["market"],
            overhead=overhead,
        )
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
