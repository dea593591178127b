"""The arithmetic every training estimate and bill shares.

One definition each, used by the local estimate, the expected cost under interruptions, the spot
bill and the budget guard's pre-flight estimate (``pipeline.spot``):

* **billed seconds**: EC2 Linux bills per second with a minimum of
  :data:`~costing.pricing.defaults.MINIMUM_BILLED_SECONDS` per instance launch
  (:func:`costing.model.billing.billed_start_seconds`, the rule every platform's start uses);
* **steps** of a run, as ``rnn.data`` cuts the corpus (without loading it): the last
  ``int(chars x val_fraction)`` characters are held out, the rest is cut into ``batch_size`` streams,
  each into windows of ``seq_len``; ``max_steps_per_epoch`` caps an epoch. ``costing`` may not import
  ``rnn``: a test holds the two to the same answer;
* **checkpoint writes**, as ``rnn.train`` makes them: one every ``checkpoint_every_steps`` global
  steps, one at the end of every epoch (also when it falls on a cadence step: then two are written),
  one when the process is stopped for an interruption.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from costing.model.billing import billed_start_seconds
from costing.model.capacity import Number
from costing.pricing.defaults import MINIMUM_BILLED_SECONDS


def billed_seconds_for(duration_seconds: float) -> float:
    """Seconds billed for one instance launch that ran ``duration_seconds``: the minimum applies,
    fractional seconds are kept (EC2 bills per second; the difference is below 1 s).

    Example: 30 s -> 60 s; 61.25 s -> 61.25 s.
    """
    if not math.isfinite(duration_seconds) or duration_seconds < 0:
        raise ValueError(f"duration_seconds={duration_seconds!r} must be a finite number of seconds >= 0")
    return float(billed_start_seconds(duration_seconds, MINIMUM_BILLED_SECONDS))


def billed_run_seconds(wall_seconds: Number, launches: Number) -> Number:
    """Seconds billed for a run of ``wall_seconds`` over ``launches`` instance launches (floats or arrays):
    at least the minimum for each launch. Example: 100 s over 1 launch -> 100 s; over 2 -> 120 s."""
    return billed_start_seconds(wall_seconds, MINIMUM_BILLED_SECONDS * launches)


def steps_per_epoch(
    dataset_chars: int,
    *,
    batch_size: int,
    seq_len: int,
    val_fraction: float,
    max_steps_per_epoch: int = 0,
) -> int:
    """Steps in one epoch over a corpus of ``dataset_chars`` characters (``rnn.data.split_tokens``,
    ``batchify``, ``steps_per_epoch``; ``rnn.train.set_up``'s cap).

    Example: 101 chars, val_fraction 0.1 -> 10 held out, 91 train; batch 1, seq_len 10 -> (91 - 1) // 10 = 9.
    """
    train_chars = dataset_chars - int(dataset_chars * val_fraction)
    steps = max((train_chars // batch_size - 1) // seq_len, 0)
    return min(steps, max_steps_per_epoch) if max_steps_per_epoch else steps


def training_steps(config: Mapping[str, Any], dataset_chars: int) -> int:
    """Global steps of a whole run of ``config`` (a ``TrainConfig`` dict): steps per epoch x epochs."""
    per_epoch = steps_per_epoch(
        dataset_chars,
        batch_size=int(config["batch_size"]),
        seq_len=int(config["seq_len"]),
        val_fraction=float(config.get("val_fraction", 0.1)),
        max_steps_per_epoch=int(config.get("max_steps_per_epoch") or 0),
    )
    return per_epoch * int(config["epochs"])


def training_tokens(config: Mapping[str, Any], dataset_chars: int) -> int:
    """Tokens a run of ``config`` trains on: its steps x ``batch_size`` x ``seq_len``."""
    return training_steps(config, dataset_chars) * int(config["batch_size"]) * int(config["seq_len"])


def checkpoint_writes(global_steps: int, every_steps: int, epochs: int, interruptions: int = 0) -> int:
    """Checkpoints a run writes: ``global_steps // every_steps`` on the cadence, one per epoch, one per
    interruption. Each is counted once: the write at the end of the last, partial cadence segment is
    the epoch's.

    Example: 20 steps, every 50, 1 epoch -> 0 + 1 = 1 write; 300 steps, every 60, 3 epochs -> 5 + 3 = 8.
    """
    if every_steps < 1:
        raise ValueError(f"checkpoint_every_steps={every_steps!r} must be >= 1")
    return global_steps // every_steps + epochs + interruptions
