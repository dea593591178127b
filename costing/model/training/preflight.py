"""The budget guard's estimate of a spot run before anything is launched, priced as the cost model prices it.

From a training configuration (not a measured run), step by step:

1. **tokens**: the steps ``rnn.data`` cuts from the corpus (:func:`~costing.model.training.rules.training_steps`)
   x ``batch_size`` x ``seq_len``;
2. **work** = tokens / the throughput of a comparable run (the pipeline finds one, or assumes one;
   :class:`Throughput` says which);
3. **checkpoint writes**: :func:`~costing.model.training.rules.checkpoint_writes` of those steps, each
   as long as the cost model's write of a model of this configuration's size;
4. a :class:`~costing.model.training.plan.TrainingPlan` of that work, those writes and the run's
   boot, setup and upload overhead (:class:`~costing.model.training.overhead.RunOverhead`), priced by
   :func:`~costing.model.training.plan.training_run_cost` - the function the TCO prices a retraining
   run with: expected interruptions at the Spot Advisor rate, billed seconds with the per-launch
   minimum, the EBS volume and the S3 PUTs. A spot run of a type the snapshot has no spot price for is
   priced on-demand (an upper bound), and the estimate says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from costing.model.assumptions import TrainingAssumptions
from costing.model.training.overhead import DEFAULT_RUN_OVERHEAD, RunOverhead
from costing.model.training.plan import TrainingPlan, plan_run, training_run_cost
from costing.model.training.rules import checkpoint_writes, training_steps
from costing.pricing import MARKET_ON_DEMAND, MARKET_SPOT, PriceSheet
from toolkit import lstm

BYTES_PER_PARAMETER = 4  # fp32 weights in model.pt


@dataclass(frozen=True)
class Throughput:
    tokens_per_s: float
    source: str  # in words, for the message
    mlflow_run_id: str | None = None


@dataclass(frozen=True)
class PreflightEstimate:
    instance_type: str
    region: str
    market: str  # the market it was priced at
    tokens: int
    throughput: Throughput
    work_seconds: float
    checkpoint_writes: float
    overhead_seconds: float
    expected_wall_seconds: float  # with the overhead
    expected_interruptions: float
    interruption_rate_per_month: float
    usd_per_hour: float
    usd: float  # instance, EBS and S3 requests of one run
    snapshot_id: str
    overhead_source: str = DEFAULT_RUN_OVERHEAD.source
    notes: tuple[str, ...] = field(default=())

    @property
    def overhead_factor(self) -> float:
        base = self.work_seconds + self.overhead_seconds
        return self.expected_wall_seconds / base if base else 1.0

    def describe(self) -> str:
        notes = "".join(f"; {note}" for note in self.notes)
        return (
            f"{self.tokens:,} tokens at {self.throughput.tokens_per_s:,.0f} tokens/s ({self.throughput.source}) = "
            f"{self.work_seconds:,.0f} s of training + {self.overhead_seconds:,.0f} s boot, setup and upload "
            f"({self.overhead_source}), {self.checkpoint_writes:g} checkpoint writes, "
            f"x{self.overhead_factor:.3f} for writes and expected interruptions ({self.interruption_rate_per_month:.0%}/month, "
            f"{self.expected_interruptions:.3f} expected) = {self.expected_wall_seconds:,.0f} s of {self.instance_type} "
            f"{self.market} in {self.region} at ${self.usd_per_hour:.4f}/h, with its EBS volume and S3 requests "
            f"(snapshot {self.snapshot_id}){notes}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "notes": list(self.notes),
            "overhead_factor": self.overhead_factor,
            "description": self.describe(),
        }


def model_file_bytes(config: Mapping[str, Any], vocab_size: int) -> int:
    """About the size of model.pt for ``config``: its parameters in fp32."""
    parameters = lstm.parameter_count(
        vocab_size=vocab_size,
        embedding_dim=int(config["embedding_dim"]),
        hidden_size=int(config["hidden_size"]),
        num_layers=int(config["num_layers"]),
    )
    return parameters * BYTES_PER_PARAMETER


def preflight_plan(
    *,
    config: Mapping[str, Any],
    dataset_chars: int,
    vocab_size: int,
    throughput: Throughput,
    sheet: PriceSheet,
    instance_type: str,
    market: str,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
    assumptions: TrainingAssumptions | None = None,
) -> tuple[TrainingPlan, int]:
    """The plan of one run of ``config`` (and the tokens it trains on), priced as the TCO prices a run."""
    if instance_type not in sheet.instances:
        raise ValueError(
            f"instance type {instance_type!r} has no price in snapshot {sheet.snapshot_id} "
            f"({sheet.region}); priced types: {', '.join(sorted(sheet.instances)) or 'none'}"
        )
    notes = []
    if market == MARKET_SPOT and sheet.instances[instance_type].spot_usd_per_hour is None:
        market = MARKET_ON_DEMAND
        notes.append(
            f"no spot price for {instance_type} in snapshot {sheet.snapshot_id}: priced on-demand (an upper bound)"
        )
    steps = training_steps(config, dataset_chars)
    batch, seq_len = int(config["batch_size"]), int(config["seq_len"])
    tokens = steps * batch * seq_len
    every_steps = int(config.get("checkpoint_every_steps", 50))
    epochs = int(config["epochs"])
    plan = plan_run(
        sheet,
        instance_type=instance_type,
        market=market,
        work_seconds=tokens / throughput.tokens_per_s,
        checkpoint_writes=checkpoint_writes(steps, every_steps, epochs),
        checkpoint_interval_seconds=max(every_steps * batch * seq_len / throughput.tokens_per_s, 1.0),
        epochs=epochs,
        model_file_bytes=model_file_bytes(config, vocab_size),
        dataset_bytes=dataset_chars,
        assumptions=assumptions,
        overhead=overhead,
        notes=tuple(notes),
    )
    return plan, tokens


def preflight_estimate(
    *,
    config: Mapping[str, Any],
    dataset_chars: int,
    vocab_size: int,
    throughput: Throughput,
    sheet: PriceSheet,
    instance_type: str,
    market: str,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
    assumptions: TrainingAssumptions | None = None,
) -> PreflightEstimate:
    """What the budget guard compares with ``max_budget_usd`` (module docstring)."""
    plan, tokens = preflight_plan(
        config=config,
        dataset_chars=dataset_chars,
        vocab_size=vocab_size,
        throughput=throughput,
        sheet=sheet,
        instance_type=instance_type,
        market=market,
        overhead=overhead,
        assumptions=assumptions,
    )
    run = training_run_cost(plan)
    return PreflightEstimate(
        instance_type=run.instance_type,
        region=run.region,
        market=run.market,
        tokens=tokens,
        throughput=throughput,
        work_seconds=run.work_seconds,
        checkpoint_writes=run.checkpoint_writes,
        overhead_seconds=run.overhead_seconds,
        expected_wall_seconds=run.expected_wall_seconds,
        expected_interruptions=run.expected_interruptions,
        interruption_rate_per_month=plan.interruption_rate_per_month,
        usd_per_hour=plan.usd_per_hour,
        usd=run.usd,
        snapshot_id=run.snapshot_id,
        overhead_source=run.overhead_source,
        notes=run.notes,
    )
