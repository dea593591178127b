"""The arithmetic every training estimate and bill shares.

One definition each, used by the local estimate, the expected cost under interruptions, the spot
bill and the budget guard's pre-flight estimate (``pipeline.spot``):

* **billed seconds**: EC2 Linux bills per second with a minimum of
  :data:`~costing.pricing.defaults.MINIMUM_BILLED_SECONDS` per instance launch
  (:func:`costing.model.billing.billed_start_seconds`, the rule every platform's start uses).
"""

from __future__ import annotations

import math

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
