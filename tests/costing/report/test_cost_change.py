"""The week's change in cost split into usage, mix and price; the median absolute estimate error."""

from __future__ import annotations

import pytest

from costing.report.cost_change import UsageLine, decompose_cost_change, median_absolute_error_pct


def test_change_splits_exactly_into_usage_mix_and_price() -> None:
    previous = [UsageLine("r6i.xlarge spot", 10, 1.00), UsageLine("c7g.large on-demand", 10, 2.50)]
    current = [UsageLine("r6i.xlarge spot", 20, 1.60), UsageLine("r6i.xlarge spot", 10, 0.80),
               UsageLine("c7g.large on-demand", 10, 2.50)]  # fmt: skip
    change = decompose_cost_change(previous, current)
    # 20 h at a mean $0.175 -> 40 h: usage +$3.50; 75/25 instead of 50/50 at old prices: mix -$1.50;
    # the spot hours at $0.08 instead of $0.10: price 30 x -0.02 = -$0.60; together +$1.40
    assert (change.previous_usd, change.current_usd) == pytest.approx((3.50, 4.90))
    assert change.usage_usd == pytest.approx(3.50)
    assert change.mix_usd == pytest.approx(-1.50)
    assert change.price_usd == pytest.approx(-0.60)
    assert change.usage_usd + change.mix_usd + change.price_usd == pytest.approx(change.change_usd)
    spot = next(g for g in change.groups if g["group"] == "r6i.xlarge spot")
    assert (spot["previous_usd_per_hour"], spot["current_usd_per_hour"]) == pytest.approx((0.10, 0.08))


def test_a_new_group_is_usage_and_mix_never_price() -> None:
    change = decompose_cost_change(
        [UsageLine("a", 10, 1.0)], [UsageLine("a", 10, 1.0), UsageLine("b", 10, 3.0)]
    )
    assert change.price_usd == 0
    assert change.usage_usd == pytest.approx(10 * 0.10)  # 10 more hours at last week's $0.10 mean
    assert change.mix_usd == pytest.approx(
        20 * ((0.5 - 1) * 0.10 + (0.5 - 0) * 0.30)
    )  # b at its own price: +$2.00
    assert change.usage_usd + change.mix_usd == pytest.approx(3.0)


def test_an_empty_week_is_all_usage() -> None:
    change = decompose_cost_change([UsageLine("a", 4, 0.4)], [])
    assert (change.usage_usd, change.mix_usd, change.price_usd) == pytest.approx((-0.4, 0.0, 0.0))


def test_cost_without_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="without usage hours"):
        decompose_cost_change([], [UsageLine("a", 0, 1.0)])


def test_median_absolute_error() -> None:
    assert median_absolute_error_pct([-1.0, 3.0, -0.5]) == 1.0
    assert median_absolute_error_pct([2.0, -4.0]) == 3.0
    assert median_absolute_error_pct([]) is None
