"""What every priced thing in the cost model is made of: the drivers a sensitivity analysis varies,
cost lines (quantity x rate, either may be a numpy array), and rates read from a price sheet.

Shared by the serving platforms (:mod:`costing.model.platforms`) and the training plan
(:mod:`costing.model.training.plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from costing.model.capacity import Number
from costing.pricing.sheet import TIERED_RATES, PriceSheet, PriceTier


@dataclass(frozen=True)
class Drivers:
    """The inputs the sensitivity analysis varies. Each is a float or a numpy array of one shape.

    All but ``requests_per_day`` are multipliers of the nominal value (1.0 = as measured / as priced).
    """

    requests_per_day: Number
    latency_factor: Number = 1.0  # x every measured latency (throughput / this)
    utilisation_factor: Number = 1.0  # x target utilisation, capped at 100 %
    interruption_factor: Number = 1.0  # x the spot interruption rate
    price_factor: Number = 1.0  # x every list price
    spot_price_factor: Number = 1.0  # x spot prices, on top of price_factor
    retrain_factor: Number = 1.0  # x retraining runs per month (used by the TCO)

    def __post_init__(self) -> None:
        for name in (
            "requests_per_day",
            "latency_factor",
            "utilisation_factor",
            "price_factor",
            "spot_price_factor",
        ):
            value = getattr(self, name)
            if not _all_positive(value):
                raise ValueError(f"Drivers.{name}={value!r} must be > 0")
        for name in ("interruption_factor", "retrain_factor"):
            if not _all_non_negative(getattr(self, name)):
                raise ValueError(f"Drivers.{name}={getattr(self, name)!r} must be >= 0")


def _all_positive(value: Number) -> bool:
    if isinstance(value, int | float):  # the common case, without numpy's overhead (nan is refused too)
        return value > 0
    import numpy as np

    return bool(np.all(np.asarray(value) > 0))


def _all_non_negative(value: Number) -> bool:
    if isinstance(value, int | float):
        return value >= 0
    import numpy as np

    return bool(np.all(np.asarray(value) >= 0))


class Line(NamedTuple):
    """A cost line before it becomes a :class:`CostComponent`; quantity and price may be arrays."""

    name: str
    service: str
    unit: str
    quantity: Number
    usd_per_unit: Number
    optional: bool = False  # a volume tier the usage may not reach: left out of a breakdown when it is 0
    role: str = ""  # the part of the design it pays for (costing.model.platforms.design.ROLES)
    choice: str = ""  # what was chosen for that part, in words: "internet-facing ALB", "NAT gateway"

    @property
    def usd_per_month(self) -> Number:
        return self.quantity * self.usd_per_unit


class MissingRate(ValueError):
    """The sheet has no rate for something an alternative needs."""


def sheet_rate(sheet: PriceSheet, name: str) -> float:
    """A rate from the sheet; :class:`MissingRate` (a ``ValueError``) naming the field when it is ``None``."""
    value = getattr(sheet, name)
    if value is None:
        raise MissingRate(f"price sheet {sheet.snapshot_id} ({sheet.region}) has no {name}")
    return float(value)


def sheet_tiers(sheet: PriceSheet, name: str) -> tuple[PriceTier, ...]:
    """A tiered rate's tiers (:data:`~costing.pricing.sheet.TIERED_RATES`); :class:`MissingRate` when absent."""
    tiers = sheet.tiers(name)
    if not tiers:
        raise MissingRate(f"price sheet {sheet.snapshot_id} ({sheet.region}) has no {TIERED_RATES[name][0]}")
    return tiers
