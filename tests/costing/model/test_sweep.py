"""A sweep's arithmetic: the Pareto front, the recommendation, feasibility and a trial's monthly cost.

Every front and bar below is worked out by hand in the comments; ``trial_monthly_cost`` runs on the
shipped price sheet and the reference measurements (real numbers, no network).
"""

from __future__ import annotations

import functools
import itertools
import json
import math

import pytest
from model_literals import shipped_sheet

from costing.model.profile import REFERENCE_METRICS_PATH, ModelProfile, profile_from_metrics
from costing.model.sweep import (
    DEFAULT_LOSS_TOLERANCE,
    SweepPoint,
    TrialCost,
    bits_per_char,
    feasibility,
    pareto_front,
    recommend,
    trial_monthly_cost,
)
from costing.model.training.plan import plan_training


def point(trial: int, usd: float | None, bpc: float | None, *, feasible: bool = True) -> SweepPoint:
    """A completed trial at ``usd``/month and ``bpc`` bits/char."""
    return SweepPoint(trial=trial, state="complete", usd_per_month=usd, val_bpc=bpc, feasible=feasible)


def failed(trial: int) -> SweepPoint:
    return SweepPoint(trial=trial, state="failed")


def trials(points: list[SweepPoint]) -> list[int]:
    return [p.trial for p in points]


# -- bits per character ----------------------------------------------------------------------------------


def test_bits_per_char_converts_nats_to_bits() -> None:
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)  # ln 2 nats is one bit
    assert bits_per_char(2 * math.log(2)) == pytest.approx(2.0)
    assert bits_per_char(1.0) == pytest.approx(1.4426950408889634)  # 1 / ln 2
    assert bits_per_char(0.0) == 0.0


# -- the front -------------------------------------------------------------------------------------------


def test_a_point_at_equal_cost_and_lower_loss_dominates() -> None:
    # $10 at 2.0 beats $10 at 2.5 (same cost, less loss); $10 at 2.0 also beats $12 at 2.0 (same loss, dearer)
    front = pareto_front([point(0, 10.0, 2.5), point(1, 10.0, 2.0), point(2, 12.0, 2.0)])
    assert trials(front) == [1]


def test_equal_points_do_not_dominate_each_other() -> None:
    # (10, 2.0) twice: neither is better in either axis, so both stay; (20, 3.0) is dominated by both
    front = pareto_front([point(5, 10.0, 2.0), point(3, 10.0, 2.0), point(7, 20.0, 3.0)])
    assert trials(front) == [3, 5]  # tie on cost and loss: by trial number


def test_a_trade_off_keeps_both_ends_and_drops_what_is_beaten() -> None:
    # cost/loss: A 5/3.0, B 10/2.0, C 20/1.5, D 12/2.5 (B is cheaper and better), E 25/1.5 (C is cheaper)
    front = pareto_front(
        [
            point(0, 20.0, 1.5),
            point(1, 5.0, 3.0),
            point(2, 12.0, 2.5),
            point(3, 10.0, 2.0),
            point(4, 25.0, 1.5),
        ]
    )
    assert trials(front) == [1, 3, 0]  # cheapest first: $5, $10, $20
    assert [p.usd_per_month for p in front] == [5.0, 10.0, 20.0]


def test_infeasible_and_failed_points_never_enter_the_front() -> None:
    # the infeasible (1, 1.0) would dominate everything if it counted; the failed trial has no point at all
    points = [point(0, 10.0, 2.0), point(1, 1.0, 1.0, feasible=False), failed(2), point(3, 20.0, 1.8)]
    front = pareto_front(points)
    assert trials(front) == [0, 3]
    # a failed trial marked feasible by mistake still stays out: only completed trials count
    assert pareto_front([SweepPoint(9, "failed", 1.0, 1.0, feasible=True)]) == []


def test_an_empty_or_all_infeasible_sweep_has_an_empty_front() -> None:
    assert pareto_front([]) == []
    assert pareto_front([point(0, 10.0, 2.0, feasible=False), failed(1)]) == []


# -- the recommendation ----------------------------------------------------------------------------------


def test_with_a_quality_target_the_cheapest_point_within_it_is_chosen() -> None:
    # target 2.0: (5, 2.4) misses it; (8, 2.0) is exactly on it and cheaper than (12, 1.6)
    points = [point(0, 5.0, 2.4), point(1, 8.0, 2.0), point(2, 12.0, 1.6)]
    choice = recommend(points, max_val_bpc=2.0)
    assert choice.point is not None and choice.point.trial == 1
    assert choice.bar_bpc == 2.0
    assert choice.rule.startswith(
        "trial 1: the cheapest feasible trial within the quality target 2 bits/char"
    )
    assert "$8.00/month at 2.0000 bits/char" in choice.rule


def test_without_a_target_the_bar_is_the_best_loss_plus_the_tolerance() -> None:
    # best feasible loss 2.0, tolerance 5 %: bar 2.0 * 1.05 = 2.1; the infeasible 1.0 does not set the best
    points = [
        point(0, 30.0, 2.0),
        point(1, 10.0, 2.1),
        point(2, 5.0, 2.5),
        point(3, 1.0, 1.0, feasible=False),
    ]
    choice = recommend(points, loss_tolerance=0.05)
    assert choice.bar_bpc == pytest.approx(2.1)
    assert choice.point is not None and choice.point.trial == 1  # 2.1 is on the bar: it qualifies
    assert "5% of the best loss (2.0000 -> 2.1000 bits/char)" in choice.rule


def test_a_loss_just_above_the_bar_does_not_qualify() -> None:
    # bar 2.1 again: 2.1001 is above it, so the cheaper trial 1 loses to the $30 trial at the best loss
    choice = recommend([point(0, 30.0, 2.0), point(1, 10.0, 2.1001)], loss_tolerance=0.05)
    assert choice.point is not None and choice.point.trial == 0


def test_a_zero_tolerance_takes_the_cheapest_point_at_the_best_loss() -> None:
    # bar = best = 2.0: of the two at 2.0 the $20 one; the $5 point at 2.01 is out
    points = [point(0, 30.0, 2.0), point(1, 20.0, 2.0), point(2, 5.0, 2.01)]
    choice = recommend(points, loss_tolerance=0.0)
    assert choice.bar_bpc == 2.0
    assert choice.point is not None and choice.point.trial == 1


def test_the_default_tolerance_is_five_percent() -> None:
    assert DEFAULT_LOSS_TOLERANCE == 0.05
    # best 4.0 -> bar 4.2: (10, 4.2) qualifies at the default
    choice = recommend([point(0, 50.0, 4.0), point(1, 10.0, 4.2)])
    assert choice.point is not None and choice.point.trial == 1


@pytest.mark.parametrize(
    ("points", "kwargs", "chosen"),
    [
        # bar 2.1: (10, 2.1) and the $10 twin at 2.05: equal cost, lower loss wins -> trial 2
        ([point(0, 30.0, 2.0), point(1, 10.0, 2.1), point(2, 10.0, 2.05)], {}, 2),
        # target 3.0: cheapest at or below 3.0 is (7, 2.9); (3, 3.5) is above; failed trials ignored
        ([point(0, 3.0, 3.5), point(1, 7.0, 2.9), point(2, 9.0, 2.0), failed(3)], {"max_val_bpc": 3.0}, 1),
        # bar 1.5 * 1.2 = 1.8: (4, 1.7) beats (6, 1.5); the infeasible (1, 1.0) is skipped
        (
            [point(0, 6.0, 1.5), point(1, 4.0, 1.7), point(2, 1.0, 1.0, feasible=False)],
            {"loss_tolerance": 0.2},
            1,
        ),
        # equal points: the lower trial number
        ([point(4, 10.0, 2.0), point(2, 10.0, 2.0)], {}, 2),
    ],
)
def test_the_recommendation_is_always_on_the_front(points, kwargs, chosen) -> None:
    choice = recommend(points, **kwargs)
    assert choice.point is not None and choice.point.trial == chosen
    assert choice.point in pareto_front(points)


def test_no_feasible_trial_gives_no_point_and_counts_why() -> None:
    points = [failed(0), point(1, 10.0, 2.0, feasible=False), failed(2), point(3, None, None, feasible=False)]
    choice = recommend(points, max_val_bpc=1.5)
    assert choice.point is None
    assert choice.bar_bpc == 1.5
    assert choice.rule == "no feasible trial (4 trials: 2 failed, 2 infeasible)"
    assert choice.to_json_dict() == {"trial": None, "point": None, "bar_bpc": 1.5, "rule": choice.rule}
    assert recommend([]).rule == "no feasible trial (0 trials: 0 failed, 0 infeasible)"


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="loss_tolerance must be >= 0"):
        recommend([point(0, 10.0, 2.0)], loss_tolerance=-0.01)


def test_the_recommendation_serialises_with_its_trial() -> None:
    p = SweepPoint(4, "complete", 10.0, 2.0, True, "feasible", (("hidden_size", 128),))
    document = recommend([p]).to_json_dict()
    assert document["trial"] == 4
    assert document["point"]["params"] == {"hidden_size": 128}
    assert document["bar_bpc"] == pytest.approx(2.1)


# -- feasibility -----------------------------------------------------------------------------------------


def test_a_trial_that_never_kept_the_slo_is_infeasible_first() -> None:
    # the SLO is checked before anything else: even with no cost and no loss the reason is the SLO
    ok, reason = feasibility(usd_per_month=None, val_bpc=None, slo_met=False, max_val_bpc=None)
    assert not ok
    assert reason == "infeasible: its server kept the p95 SLO at no request rate"


def test_no_serving_option_makes_a_trial_infeasible_with_the_cost_reason() -> None:
    ok, reason = feasibility(usd_per_month=None, val_bpc=2.0, slo_met=True, max_val_bpc=None)
    assert (ok, reason) == (False, "infeasible: no option serves the volume")
    ok, reason = feasibility(
        usd_per_month=None, val_bpc=2.0, slo_met=True, max_val_bpc=None, cost_reason="too slow everywhere"
    )
    assert (ok, reason) == (False, "infeasible: too slow everywhere")


@pytest.mark.parametrize("bpc", [None, float("nan"), float("inf")])
def test_a_trial_without_a_finite_loss_is_infeasible(bpc) -> None:
    ok, reason = feasibility(usd_per_month=10.0, val_bpc=bpc, slo_met=True, max_val_bpc=None)
    assert (ok, reason) == (False, "infeasible: no finite validation loss")


def test_a_loss_above_the_target_is_infeasible_and_one_on_it_is_not() -> None:
    ok, reason = feasibility(usd_per_month=10.0, val_bpc=2.5, slo_met=True, max_val_bpc=2.0)
    assert not ok
    assert reason == "infeasible: validation loss 2.500 bits/char above the target 2"
    assert feasibility(usd_per_month=10.0, val_bpc=2.0, slo_met=True, max_val_bpc=2.0) == (True, "feasible")


def test_a_trial_that_meets_everything_is_feasible() -> None:
    assert feasibility(usd_per_month=10.0, val_bpc=2.5, slo_met=True, max_val_bpc=None) == (True, "feasible")
    assert feasibility(usd_per_month=0.0, val_bpc=1.0, slo_met=True, max_val_bpc=3.0) == (True, "feasible")


# -- a trial's monthly cost on the shipped sheet ---------------------------------------------------------


@functools.cache
def reference_profile() -> ModelProfile:
    return profile_from_metrics(json.loads(REFERENCE_METRICS_PATH.read_text()))


def cost_at(requests_per_day: float, *, slo_ms: float = 1000.0) -> TrialCost:
    profile, sheet = reference_profile(), shipped_sheet()
    return trial_monthly_cost(
        profile, sheet, requests_per_day, training=plan_training(profile, sheet), slo_ms=slo_ms
    )


def test_the_monthly_cost_is_serving_plus_training_plus_storage() -> None:
    for volume in (1_000, 100_000, 10_000_000):
        cost = cost_at(volume)
        assert cost.usd_per_month is not None and cost.serving_usd_per_month is not None
        assert math.isclose(
            cost.usd_per_month,
            cost.serving_usd_per_month + cost.training_usd_per_month + cost.storage_usd_per_month,
            rel_tol=1e-9,
        )
        assert cost.training_usd_per_month > 0 and cost.storage_usd_per_month > 0
        assert cost.option_key is not None and cost.reason == f"served by {cost.option_label}"
        assert cost.requests_per_day == float(volume)


def test_an_slo_no_option_can_meet_leaves_the_trial_without_a_cost() -> None:
    cost = cost_at(1_000, slo_ms=0.001)
    assert cost.usd_per_month is None and cost.serving_usd_per_month is None
    assert cost.option_key is None and cost.option_label is None
    assert cost.reason.startswith("no option serves the volume")
    assert "SLO" in cost.reason
    assert cost.training_usd_per_month > 0  # retraining still costs what it costs
    assert cost.to_json_dict()["usd_per_month"] is None


def test_a_higher_volume_never_costs_less() -> None:
    volumes = [1, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]
    costs = [cost_at(v).usd_per_month for v in volumes]
    assert all(c is not None for c in costs)
    assert all(lower <= higher for lower, higher in itertools.pairwise(costs))
    assert costs[-1] > costs[0]  # and the range actually moves


def test_a_target_below_every_feasible_loss_recommends_nothing_and_says_so() -> None:
    # feasibility was judged without the target (another caller): 2.0 bits/char is above the 1.0 target
    choice = recommend([SweepPoint(0, "complete", 1.0, 2.0, True)], max_val_bpc=1.0)
    assert choice.point is None
    assert choice.rule == "no feasible trial within the quality target 1 bits/char"
