"""Training cost, in one home: what a training run costs, was billed, or is expected to cost.

* :mod:`~costing.model.training.run_cost` - one run's instance cost: a run measured elsewhere priced
  *as if* on an instance type (:func:`estimate_training_cost`), or a cloud run billed from its
  instance attempts (:func:`spot_training_cost`), and where each billed second went
  (:func:`account_spot_run`).
* :mod:`~costing.model.training.plan` - a run's expected cost on a price sheet under spot
  interruptions, with storage (:func:`plan_training`, :func:`training_run_cost`).
* :mod:`~costing.model.training.preflight` - the budget guard's estimate of a run from its
  configuration, priced by the same plan (:func:`preflight_estimate`).
* :mod:`~costing.model.training.overhead` - the boot and upload a cloud run bills outside its training
  process: from the spot ledger of earlier attempts (:func:`overhead_from_ledger`), else
  :data:`DEFAULT_RUN_OVERHEAD`, labelled as not measured on this account.
* :mod:`~costing.model.training.rules` - what they share: billed seconds with the per-launch minimum,
  the steps a run takes (:func:`training_steps`), the checkpoints it writes (:func:`checkpoint_writes`).
* :mod:`~costing.model.training.storage` - S3 storage and requests, the EBS volume of a cloud run
  (:func:`storage_cost`).

The pipeline (``pipeline.spot``) imports these rules; it does not restate them.
"""

from costing.model.training.overhead import (
    DEFAULT_RUN_OVERHEAD,
    DEFAULT_RUN_OVERHEAD_SECONDS,
    OverheadSample,
    RunOverhead,
    overhead_from_ledger,
    overhead_samples,
)
from costing.model.training.plan import (
    TrainingPlan,
    TrainingRunCost,
    billed_run_with_storage,
    expected_lost_work_seconds,
    expected_wall_seconds,
    mean_time_between_interruptions_seconds,
    plan_run,
    plan_training,
    training_run_cost,
    young_daly_interval_seconds,
)
from costing.model.training.preflight import PreflightEstimate, Throughput, preflight_estimate
from costing.model.training.rules import (
    billed_run_seconds,
    checkpoint_writes,
    steps_per_epoch,
    training_steps,
    training_tokens,
)
from costing.model.training.run_cost import (
    MARKET_MIXED,
    AttemptSeconds,
    AttemptTimings,
    InstanceAttempt,
    SpotAccounting,
    TrainingCost,
    account_spot_run,
    attempt_usd,
    billed_seconds,
    billed_seconds_for,
    estimate_training_cost,
    split_attempt_seconds,
    spot_training_cost,
)
from costing.model.training.storage import S3Usage, StorageCost, StorageRates, run_s3_usage, storage_cost

__all__ = [
    "DEFAULT_RUN_OVERHEAD",
    "DEFAULT_RUN_OVERHEAD_SECONDS",
    "MARKET_MIXED",
    "AttemptSeconds",
    "AttemptTimings",
    "InstanceAttempt",
    "OverheadSample",
    "PreflightEstimate",
    "RunOverhead",
    "S3Usage",
    "SpotAccounting",
    "StorageCost",
    "StorageRates",
    "Throughput",
    "TrainingCost",
    "TrainingPlan",
    "TrainingRunCost",
    "account_spot_run",
    "attempt_usd",
    "billed_run_seconds",
    "billed_run_with_storage",
    "billed_seconds",
    "billed_seconds_for",
    "checkpoint_writes",
    "estimate_training_cost",
    "expected_lost_work_seconds",
    "expected_wall_seconds",
    "mean_time_between_interruptions_seconds",
    "overhead_from_ledger",
    "overhead_samples",
    "plan_run",
    "plan_training",
    "preflight_estimate",
    "run_s3_usage",
    "split_attempt_seconds",
    "spot_training_cost",
    "steps_per_epoch",
    "storage_cost",
    "training_run_cost",
    "training_steps",
    "training_tokens",
    "young_daly_interval_seconds",
]
