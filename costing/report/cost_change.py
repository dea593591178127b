"""Why the week's cost changed (price, usage, mix) and how far estimates were from the bill.

**Price / usage / mix.** Each period's training cost is a sum over groups (an instance type on a
market): cost_g = hours_g x price_g. With Q the total hours, s_g = hours_g / Q the mix and p_g the
price per hour, the change from period 0 to period 1 splits exactly into

* usage = (Q1 - Q0) x sum_g s0_g p0_g - more (or fewer) hours at last period's mix and prices;
* mix   = Q1 x sum_g (s1_g - s0_g) p0_g - hours moved between groups, at last period's prices;
* price = sum_g hours1_g x (p1_g - p0_g) - the same hours at a different price per hour;

and usage + mix + price = cost1 - cost0. A group new this period is taken at its own price (no price
effect); a group gone has no price effect either.

**Estimate vs bill.** The median of |estimate error %| over the reconciled runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class UsageLine:
    """Cost and usage of one group in one period (e.g. r6i.xlarge spot: 3.2 h, $0.27)."""

    group: str
    hours: float
    usd: float

    def __post_init__(self) -> None:
        if self.hours < 0 or self.usd < 0:
            raise ValueError(f"{self.group}: hours={self.hours} and usd={self.usd} must be >= 0")


@dataclass(frozen=True)
class CostChange:
    previous_usd: float
    current_usd: float
    previous_hours: float
    current_hours: float
    usage_usd: float
    mix_usd: float
    price_usd: float
    groups: tuple[dict, ...]  # per group: hours and USD per hour both periods, and its price effect

    @property
    def change_usd(self) -> float:
        return self.current_usd - self.previous_usd


def _totals(lines: Iterable[UsageLine]) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for line in lines:
        hours, usd = totals.get(line.group, (0.0, 0.0))
        totals[line.group] = (hours + line.hours, usd + line.usd)
    return totals


def decompose_cost_change(previous: Sequence[UsageLine], current: Sequence[UsageLine]) -> CostChange:
    """Split current - previous into usage, mix and price effects (module docstring).

    Example: A 10 h at $0.10 and B 10 h at $0.25 ($3.50), then A 30 h at $0.08 and B 10 h at $0.25
    ($4.90): usage 20 h x $0.175 = +$3.50, mix 40 h x (0.25 x 0.10 - 0.25 x 0.25) = -$1.50,
    price 30 h x -$0.02 = -$0.60; together +$1.40.
    """
    before, after = _totals(previous), _totals(current)
    q0 = sum(h for h, _ in before.values())
    q1 = sum(h for h, _ in after.values())

    def price(totals: Mapping[str, tuple[float, float]], group: str) -> float | None:
        hours, usd = totals.get(group, (0.0, 0.0))
        return usd / hours if hours > 0 else None

    groups, usage, mix, price_effect = [], 0.0, 0.0, 0.0
    for group in sorted(set(before) | set(after)):
        p0, p1 = price(before, group), price(after, group)
        reference = p0 if p0 is not None else (p1 or 0.0)  # a new group: its own price
        s0 = before.get(group, (0.0, 0.0))[0] / q0 if q0 else 0.0
        s1 = after.get(group, (0.0, 0.0))[0] / q1 if q1 else 0.0
        usage += (q1 - q0) * s0 * reference
        mix += q1 * (s1 - s0) * reference
        group_price = after.get(group, (0.0, 0.0))[0] * ((p1 if p1 is not None else reference) - reference)
        price_effect += group_price
        groups.append(
            {
                "group": group,
                "previous_hours": before.get(group, (0.0, 0.0))[0],
                "current_hours": after.get(group, (0.0, 0.0))[0],
                "previous_usd_per_hour": p0,
                "current_usd_per_hour": p1,
                "price_usd": group_price,
            }
        )
    previous_usd = sum(u for _, u in before.values())
    current_usd = sum(u for _, u in after.values())
    # hours at zero cost or cost without hours would break the identity: say so instead
    leftover = (current_usd - previous_usd) - (usage + mix + price_effect)
    if abs(leftover) > 1e-9 * max(1.0, abs(current_usd), abs(previous_usd)):
        raise ValueError(
            f"cost without usage hours cannot be split into price, usage and mix (unexplained {leftover:.6g} USD)"
        )
    return CostChange(
        previous_usd=previous_usd,
        current_usd=current_usd,
        previous_hours=q0,
        current_hours=q1,
        usage_usd=usage,
        mix_usd=mix,
        price_usd=price_effect,
        groups=tuple(groups),
    )


def median_absolute_error_pct(errors_pct: Iterable[float]) -> float | None:
    """The median of |error| (None without reconciled runs). Example: -1, +3, -0.5 -> 1.0."""
    values = [abs(e) for e in errors_pct]
    return statistics.median(values) if values else None
