"""How AWS turns usage into a bill: volume tiers, free allowances, billing increments. Pure maths.

Every function works on plain floats *and* numpy arrays of one shape (the Monte Carlo passes arrays),
like :mod:`costing.model.capacity`.

* **Volume tiers** (data transfer out, Lambda GB-seconds, S3 storage, CloudWatch metrics): a month's
  usage is split over the published tiers, each part at its own rate, the first units at the first
  tier's rate (:func:`tier_quantities`). Tiers count this workload's usage only: an account with other
  usage of the same meter reaches the cheaper tiers sooner.
* **Free allowances** (an account's, not a workload's: applied only when asked): the allowance is
  taken off the month's usage before the tiers (:func:`after_allowance`).
* **Billing increments**: EC2 and Fargate bill per second with a 60-second minimum per instance or
  task start (:func:`billed_start_seconds`); Lambda and SageMaker serverless round each request's
  duration up to the next millisecond, on average half a millisecond above its measured duration
  (:func:`expected_billed_ms`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from costing.model.capacity import maximum, minimum
from costing.pricing.sheet import PriceTier

Number = Any  # float or numpy array


def after_allowance(quantity: Number, allowance: float) -> Number:
    """Usage left to bill after a free allowance: ``max(quantity - allowance, 0)``.

    Example: 130 GB out of the region, 100 GB free -> 30 GB billed.
    """
    return maximum(quantity - allowance, 0.0)


def within_allowance(quantity: Number, allowance: float) -> Number:
    """The part of the usage the allowance covers: ``min(quantity, allowance)``."""
    return minimum(quantity, allowance)


def highest(quantity: Number) -> float:
    """The largest value of a float or an array (the volume the Monte Carlo's busiest sample reaches)."""
    import numpy as np

    return float(np.max(quantity)) if isinstance(quantity, np.ndarray) else float(quantity)


def tier_quantities(quantity: Number, tiers: Sequence[PriceTier]) -> list[Number]:
    """How much of ``quantity`` falls in each tier: ``clip(quantity - begin, 0, end - begin)``.

    Example (data transfer out, 0-10,240 / 10,240-51,200 / ... GB): 12,000 GB -> [10,240, 1,760, 0, 0].
    """
    check_tiers(tiers)
    parts = []
    for tier in tiers:
        above = maximum(quantity - tier.begin, 0.0)
        parts.append(above if math.isinf(tier.end) else minimum(above, tier.end - tier.begin))
    return parts


def tiered_usd(quantity: Number, tiers: Sequence[PriceTier]) -> Number:
    """The cost of ``quantity`` over the tiers. Example: 12,000 GB -> 10,240 x 0.09 + 1,760 x 0.085 = $1,071.20."""
    return sum(
        part * tier.usd_per_unit for part, tier in zip(tier_quantities(quantity, tiers), tiers, strict=True)
    )


def check_tiers(tiers: Sequence[PriceTier]) -> None:
    """Tiers start at 0, follow each other without gaps or overlaps, and the last one is open-ended."""
    if not tiers:
        raise ValueError("no price tiers: a tiered rate needs at least one tier")
    if tiers[0].begin != 0:
        raise ValueError(f"the first price tier starts at {tiers[0].begin:g}, not 0")
    for before, after in itertools.pairwise(tiers):
        if before.end != after.begin:
            raise ValueError(f"price tiers {before} and {after} leave a gap or overlap")
    if not math.isinf(tiers[-1].end):
        raise ValueError(f"the last price tier ends at {tiers[-1].end:g}; it must be open-ended")


def billed_start_seconds(running_seconds: Number, minimum_seconds: Number) -> Number:
    """Seconds billed for an instance or task that runs ``running_seconds`` after it starts: at least the minimum.

    Example: a replacement that warms up for 20 s before the old one drains bills 60 s on EC2.
    """
    import numpy as np

    return maximum(
        running_seconds,
        minimum_seconds if isinstance(minimum_seconds, np.ndarray) else float(minimum_seconds),
    )


def expected_billed_ms(duration_ms: Number, increment_ms: float) -> Number:
    """Mean billed duration when each request is rounded up to ``increment_ms``: duration + increment / 2.

    Exact on average when durations spread over many increments (here: hundreds of 1 ms increments).
    Example: a mean of 380.06 ms, rounded up per request to 1 ms -> 380.56 ms billed on average.
    """
    return duration_ms + increment_ms / 2.0


def amount_label(value: float) -> str:
    """Compact tier bounds for line names: 10240 -> "10,240", 6e9 -> "6B", 1.5e6 -> "1.5M"."""
    if value >= 1e9:
        return f"{value / 1e9:g}B"
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    return f"{value:,.0f}"


def tier_label(tier: PriceTier, unit: str) -> str:
    """ "first 10,240 GB", "10,240-51,200 GB", "over 153,600 GB"."""
    if tier.begin == 0:
        return f"first {amount_label(tier.end)} {unit}" if not math.isinf(tier.end) else f"any {unit}"
    if math.isinf(tier.end):
        return f"over {amount_label(tier.begin)} {unit}"
    return f"{amount_label(tier.begin)}-{amount_label(tier.end)} {unit}"
