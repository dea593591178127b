"""Billing rules on literal numbers: volume tiers, free allowances, minimum billed seconds, rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from costing.model.billing import (
    after_allowance,
    billed_start_seconds,
    check_tiers,
    expected_billed_ms,
    tier_label,
    tier_quantities,
    tiered_usd,
)
from costing.pricing.sheet import PriceTier

DATA_OUT = (
    PriceTier(0, 10_240, 0.09),
    PriceTier(10_240, 51_200, 0.085),
    PriceTier(51_200, 153_600, 0.07),
    PriceTier(153_600, math.inf, 0.05),
)


def test_usage_is_split_over_the_tiers_it_reaches():
    assert tier_quantities(12_000, DATA_OUT) == [10_240, 1_760, 0, 0]
    assert tiered_usd(12_000, DATA_OUT) == pytest.approx(10_240 * 0.09 + 1_760 * 0.085)  # 1,071.20
    assert tiered_usd(200_000, DATA_OUT) == pytest.approx(
        10_240 * 0.09 + 40_960 * 0.085 + 102_400 * 0.07 + 46_400 * 0.05
    )
    assert tiered_usd(500, DATA_OUT) == pytest.approx(45.0)  # the first tier only
    vector = tiered_usd(np.array([500.0, 12_000.0]), DATA_OUT)
    assert vector == pytest.approx([45.0, 1_071.2])


def test_free_allowances_come_off_before_the_tiers():
    assert after_allowance(130.0, 100.0) == 30.0
    assert after_allowance(60.0, 100.0) == 0.0
    assert list(after_allowance(np.array([60.0, 130.0]), 100.0)) == [0.0, 30.0]


def test_starts_bill_at_least_the_minimum_and_requests_round_up_on_average():
    assert billed_start_seconds(20.0, 60.0) == 60.0  # EC2 / Fargate: 60 s per start
    assert billed_start_seconds(300.0, 60.0) == 300.0
    assert billed_start_seconds(20.0, 0.0) == 20.0  # SageMaker hosting: per second, no minimum
    assert expected_billed_ms(380.06, 1.0) == pytest.approx(380.56)


def test_tiers_must_chain_from_zero_to_infinity():
    check_tiers(DATA_OUT)
    with pytest.raises(ValueError, match="gap or overlap"):
        check_tiers((PriceTier(0, 10, 1.0), PriceTier(20, math.inf, 0.5)))
    with pytest.raises(ValueError, match="must be open-ended"):
        check_tiers((PriceTier(0, 10, 1.0),))
    with pytest.raises(ValueError, match="begin < end"):
        PriceTier(10, 5, 1.0)
    assert tier_label(DATA_OUT[0], "GB") == "first 10,240 GB"
    assert tier_label(DATA_OUT[1], "GB") == "10,240-51,200 GB"
    assert tier_label(DATA_OUT[3], "GB") == "over 153,600 GB"
    assert tier_label(PriceTier(6e9, 1.5e10, 1.5e-05), "GB-seconds") == "6B-15B GB-seconds"
