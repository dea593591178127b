"""Training cost against hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from costing.model.training import DEFAULT_RUN_OVERHEAD, RunOverhead
from costing.model.training.run_cost import (
    InstanceAttempt,
    TrainingCost,
    billed_seconds,
    estimate_training_cost,
    spot_training_cost,
)
from costing.pricing.parse import SpotPricePoint


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def catalog(make_catalog):
    # r6i.xlarge in us-east-1: on-demand $0.252/h; spot latest $0.080 in 1a and $0.100 in 1b (mean $0.090).
    return make_catalog(
        {("us-east-1", "r6i.xlarge"): "0.2520000000"},
        spot=[
            SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0720, utc(2025, 5, 1)),
            SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0800, utc(2025, 5, 10, 12)),
            SpotPricePoint("r6i.xlarge", "us-east-1b", 0.1000, utc(2025, 5, 1)),
        ],
    )


NONE = RunOverhead(0.0, "literal: none")


def estimate(catalog, **overrides) -> TrainingCost:
    arguments = {
        "duration_seconds": 1500,  # + the default 300 s overhead = half an hour
        "epochs": 3,
        "instance_type": "r6i.xlarge",
        "region": "us-east-1",
        "market": "on-demand",
        "catalog": catalog,
    }
    return estimate_training_cost(**(arguments | overrides))


def test_half_an_hour_on_demand(catalog):
    cost = estimate(catalog)
    assert cost.billed_seconds == 1800  # 1,500 s measured + 300 s boot, setup and upload
    assert cost.usd == pytest.approx(0.126)  # 0.5 h x $0.252/h
    assert cost.on_demand_usd == pytest.approx(0.126)
    assert cost.per_epoch_usd == pytest.approx(0.042)
    assert cost.usd_per_hour == pytest.approx(0.252)
    assert cost.on_demand_usd_per_hour == pytest.approx(0.252)
    assert cost.spot_savings_pct == pytest.approx(0.0)
    assert cost.market == "on-demand"
    assert cost.is_estimate
    assert cost.snapshot_id == "test"
    assert cost.overhead_seconds == 300 and cost.overhead_source == DEFAULT_RUN_OVERHEAD.source
    assert cost.basis == (
        f"estimate: local run of 1,500.0 s + 300 s boot, setup and upload ({DEFAULT_RUN_OVERHEAD.source}), "
        "priced as if on r6i.xlarge on-demand in us-east-1 (on-demand rate, snapshot test)"
    )
    assert "default 300 s, not measured on this account" in cost.basis


def test_a_short_run_is_billed_the_60_second_minimum(catalog):
    cost = estimate(catalog, duration_seconds=30, epochs=1, overhead=NONE)
    assert cost.billed_seconds == 60
    assert cost.usd == pytest.approx(0.0042)  # 60 s x $0.252/h


def test_spot_uses_the_mean_of_each_azs_latest_price(catalog):
    cost = estimate(catalog, duration_seconds=3300, market="spot")  # + 300 s overhead
    assert cost.usd_per_hour == pytest.approx(0.09)  # (0.08 + 0.10) / 2
    assert cost.usd == pytest.approx(0.09)
    assert cost.on_demand_usd == pytest.approx(0.252)
    assert cost.spot_savings_pct == pytest.approx((0.252 - 0.09) / 0.252 * 100)  # 64.2857...
    assert cost.per_epoch_usd == pytest.approx(0.03)
    assert cost.basis.endswith(
        "priced as if on r6i.xlarge spot in us-east-1 (mean of AZ prices, snapshot test)"
    )


def test_to_dict_is_flat_and_complete(catalog):
    data = estimate(catalog, market="spot").to_dict()
    assert set(data) == {
        "instance_type",
        "region",
        "market",
        "billed_seconds",
        "usd",
        "on_demand_usd",
        "spot_savings_pct",
        "per_epoch_usd",
        "usd_per_hour",
        "on_demand_usd_per_hour",
        "basis",
        "is_estimate",
        "snapshot_id",
        "attempts",
        "overhead_seconds",
        "overhead_source",
    }
    assert data["usd"] == pytest.approx(0.045)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration_seconds": 0}, "duration_seconds=0 "),
        ({"duration_seconds": -12.5}, "duration_seconds=-12.5 "),
        ({"duration_seconds": math.nan}, "duration_seconds=nan "),
        ({"duration_seconds": "1800"}, "duration_seconds='1800' "),
        ({"epochs": 0}, "epochs=0 "),
        ({"epochs": 2.5}, "epochs=2.5 "),
        ({"epochs": True}, "epochs=True "),
        ({"market": "reserved"}, "market='reserved' is not one of 'spot', 'on-demand'"),
        ({"market": "ondemand"}, "market='ondemand'"),
    ],
)
def test_bad_inputs_are_refused_naming_the_value(catalog, overrides, message):
    with pytest.raises(ValueError) as error:
        estimate(catalog, **overrides)
    assert message in str(error.value)


def test_unknown_region_or_type_is_refused(catalog):
    with pytest.raises(ValueError, match=r"eu-west-3.*available regions: us-east-1"):
        estimate(catalog, region="eu-west-3")


def test_the_shipped_default_costs_half_an_hour_at_0_126_on_demand(shipped_catalog):
    from costing.pricing.defaults import DEFAULT_INSTANCE_TYPE, DEFAULT_MARKET, DEFAULT_REGION

    on_demand = estimate(shipped_catalog, instance_type=DEFAULT_INSTANCE_TYPE, region=DEFAULT_REGION)
    assert on_demand.usd == pytest.approx(0.126)
    spot = estimate(shipped_catalog, market=DEFAULT_MARKET)
    assert 0 < spot.usd < on_demand.usd
    assert 30 <= spot.spot_savings_pct <= 70
    assert spot.snapshot_id == "2025-06-01"


def test_a_local_run_is_priced_with_the_overhead_a_spot_run_bills(catalog):
    # An 86 s local run at $0.09/h spot. Its training seconds alone bill 86 s: $0.00215.
    alone = estimate(catalog, duration_seconds=86, market="spot", overhead=NONE)
    assert alone.usd == pytest.approx(86 / 3600 * 0.09)
    # Nothing measured yet: + the default 300 s = 386 s, $0.00965 (4.5x), labelled as the default.
    default = estimate(catalog, duration_seconds=86, market="spot")
    assert default.billed_seconds == 386 and default.usd == pytest.approx(386 / 3600 * 0.09)
    assert "not measured on this account" in default.basis
    # Measured on earlier spot attempts: 130 s boot + 25 s upload -> 86 + 155 = 241 s, $0.006025.
    ledger = RunOverhead(
        155.0, "measured on 3 earlier spot attempts on r6i.xlarge: median boot 130 s + ...", 3
    )
    measured = estimate(catalog, duration_seconds=86, market="spot", overhead=ledger)
    assert measured.billed_seconds == 241 and measured.usd == pytest.approx(0.006025)
    assert measured.overhead_source.startswith("measured on 3 earlier spot attempts")
    assert "+ 155 s boot, setup and upload (measured on 3 earlier spot attempts" in measured.basis


def test_a_local_run_is_priced_on_the_configured_instance_type(make_catalog):
    catalog = make_catalog(
        {("us-east-1", "r6i.xlarge"): "0.2520000000", ("us-east-1", "c5.large"): "0.0850000000"}
    )
    cost = estimate(catalog, instance_type="c5.large")
    assert (cost.instance_type, cost.usd_per_hour) == ("c5.large", 0.085)
    assert cost.usd == pytest.approx(0.5 * 0.085)  # 1,500 + 300 s
    assert "as if on c5.large on-demand" in cost.basis


# -- attempt-level billing ---------------------------------------------------------------------------


def attempt(az: str, launch: datetime, seconds: float, **kwargs) -> InstanceAttempt:
    return InstanceAttempt(
        instance_type="r6i.xlarge",
        availability_zone=az,
        market=kwargs.pop("market", "spot"),
        launch_time=launch,
        terminate_time=launch + timedelta(seconds=seconds),
        **kwargs,
    )


def test_billed_seconds_per_attempt():
    assert billed_seconds(attempt("us-east-1a", utc(2025, 5, 5), 30)) == 60
    assert billed_seconds(attempt("us-east-1a", utc(2025, 5, 5), 61.25)) == pytest.approx(61.25)


def test_spot_attempts_pay_the_price_in_force_while_they_ran(catalog):
    attempts = [
        # Interrupted after 1 h in 1a, across the change at 12:00 from $0.072 to $0.080: 0.5 h at each.
        attempt("us-east-1a", utc(2025, 5, 10, 11, 30), 3600, interrupted=True, instance_id="i-1"),
        # Retried in 1b for 2 h at $0.100.
        attempt("us-east-1b", utc(2025, 5, 10, 12, 40), 7200, instance_id="i-2"),
    ]
    cost = spot_training_cost(attempts, catalog, epochs=4)
    expected_usd = 0.5 * 0.072 + 0.5 * 0.080 + 2 * 0.100  # = 0.276
    assert cost.usd == pytest.approx(expected_usd)
    assert cost.billed_seconds == 3 * 3600
    assert cost.on_demand_usd == pytest.approx(3 * 0.252)
    assert cost.usd_per_hour == pytest.approx(expected_usd / 3)
    assert cost.spot_savings_pct == pytest.approx((0.756 - 0.276) / 0.756 * 100)
    assert cost.per_epoch_usd == pytest.approx(0.276 / 4)
    assert cost.attempts == 2
    assert cost.market == "spot"
    assert not cost.is_estimate
    assert "2 attempt(s)" in cost.basis and "1 interrupted" in cost.basis


def test_a_fallback_to_on_demand_is_a_mixed_market(catalog):
    attempts = [
        attempt("us-east-1a", utc(2025, 5, 11), 20, interrupted=True),  # billed 60 s at $0.080
        attempt("us-east-1a", utc(2025, 5, 11, 1), 3600, market="on-demand"),
    ]
    cost = spot_training_cost(attempts, catalog, epochs=1)
    assert cost.market == "mixed"
    assert cost.billed_seconds == 3660
    assert cost.usd == pytest.approx(60 / 3600 * 0.080 + 0.252)


def test_attempts_are_validated(catalog):
    with pytest.raises(ValueError, match="attempts is empty"):
        spot_training_cost([], catalog, epochs=1)
    with pytest.raises(ValueError, match="before launch_time"):
        attempt("us-east-1a", utc(2025, 5, 11), -5)
    with pytest.raises(ValueError, match="timezone-aware"):
        InstanceAttempt("r6i.xlarge", "us-east-1a", "spot", datetime(2025, 5, 11), datetime(2025, 5, 12))
    with pytest.raises(ValueError, match="market='preemptible'"):
        attempt("us-east-1a", utc(2025, 5, 11), 5, market="preemptible")
    mixed = [attempt("us-east-1a", utc(2025, 5, 11), 60), attempt("eu-west-1a", utc(2025, 5, 11), 60)]
    with pytest.raises(ValueError, match="mix instance types"):
        spot_training_cost(mixed, catalog, epochs=1)


# -- spot-true accounting ------------------------------------------------------------------------------------


def test_an_interrupted_attempt_splits_into_training_waste_and_overhead() -> None:
    from costing.model.training.run_cost import AttemptTimings, split_attempt_seconds

    attempt = InstanceAttempt(
        "r6i.xlarge", "us-east-1a", "spot", utc(2026, 3, 2, 10), utc(2026, 3, 2, 10, 25), interrupted=True
    )
    timings = AttemptTimings(
        started_at=utc(2026, 3, 2, 10, 1, 30),  # 90 s boot
        setup_seconds=20.0,
        restore_seconds=10.0,
        work_seconds=1048.0,
        checkpoint_seconds=32.0,  # the 4 writes before the last: 8 s each
        checkpoints=5,
        last_checkpoint_at=utc(2026, 3, 2, 10, 20),
        finished_at=None,
    )
    split = split_attempt_seconds(attempt, timings)
    assert split.billable_seconds == 1500
    assert split.training_seconds == 1048
    assert split.wasted_seconds == pytest.approx(292)  # 10:20:08 -> 10:25:00
    assert split.startup_seconds == 120 and split.checkpoint_seconds == 40
    assert split.other_overhead_seconds == pytest.approx(0)
    assert split.training_seconds + split.wasted_seconds + split.overhead_seconds == pytest.approx(1500)


def test_a_finished_attempt_wastes_nothing_and_the_tail_is_overhead() -> None:
    from costing.model.training.run_cost import AttemptTimings, split_attempt_seconds

    attempt = InstanceAttempt(
        "r6i.xlarge", "us-east-1a", "spot", utc(2026, 3, 2, 11), utc(2026, 3, 2, 11, 10)
    )
    timings = AttemptTimings(
        started_at=utc(2026, 3, 2, 11, 1),  # 60 s boot
        setup_seconds=5.0,
        restore_seconds=15.0,
        work_seconds=480.0,
        checkpoint_seconds=20.0,
        checkpoints=4,
        last_checkpoint_at=utc(2026, 3, 2, 11, 9, 30),
        finished_at=utc(2026, 3, 2, 11, 9, 40),
    )
    split = split_attempt_seconds(attempt, timings)
    assert (split.billable_seconds, split.training_seconds, split.wasted_seconds) == (600, 480, 0)
    assert split.startup_seconds == 80 and split.checkpoint_seconds == 20
    assert split.other_overhead_seconds == pytest.approx(20)  # the rest: model upload, shutdown


def test_an_attempt_that_left_no_checkpoint_bought_nothing() -> None:
    from costing.model.training.run_cost import AttemptTimings, split_attempt_seconds

    # reclaimed 30 s after launch: billed the 60-second minimum, no process timings survived
    attempt = InstanceAttempt(
        "r6i.xlarge", "us-east-1a", "spot", utc(2026, 3, 2, 9), utc(2026, 3, 2, 9, 0, 30), interrupted=True
    )
    unmeasured = split_attempt_seconds(attempt, None)
    assert (unmeasured.billable_seconds, unmeasured.wasted_seconds, unmeasured.training_seconds) == (
        60,
        60,
        0,
    )
    assert not unmeasured.measured

    # a process that trained but was killed before its first checkpoint: its work is wasted too
    started = AttemptTimings(utc(2026, 3, 2, 9, 0, 10), 5.0, 0.0, 12.0, 0.0, 0, None, None)
    split = split_attempt_seconds(attempt, started)
    assert split.training_seconds == 0
    assert split.wasted_seconds == pytest.approx(15)  # from the end of setup (9:00:15) to 9:00:30
    assert split.startup_seconds == 15 and split.other_overhead_seconds == pytest.approx(30)  # the minimum


def test_parts_beyond_the_bill_are_trimmed_from_overhead_first() -> None:
    from costing.model.training.run_cost import AttemptTimings, split_attempt_seconds

    # the instance clock runs 10 s ahead of EC2's: the parts add up to 610 s of a 600 s bill
    attempt = InstanceAttempt(
        "r6i.xlarge", "us-east-1a", "spot", utc(2026, 3, 2, 11), utc(2026, 3, 2, 11, 10)
    )
    timings = AttemptTimings(
        utc(2026, 3, 2, 11, 0, 30),
        10.0,
        0.0,
        550.0,
        20.0,
        3,
        utc(2026, 3, 2, 11, 9),
        utc(2026, 3, 2, 11, 9, 50),
    )
    split = split_attempt_seconds(attempt, timings)
    assert split.startup_seconds == 30 and split.checkpoint_seconds == 20  # 40 of startup trimmed by 10
    assert split.training_seconds == 550 and split.other_overhead_seconds == 0
    assert split.training_seconds + split.wasted_seconds + split.overhead_seconds == pytest.approx(600)


def test_run_accounting_prices_each_part_and_the_effective_savings(catalog) -> None:
    from costing.model.training.run_cost import AttemptTimings, account_spot_run

    # both attempts in us-east-1a at $0.080/h (in force since 2025-05-10 12:00); on-demand $0.252/h
    first = InstanceAttempt(
        "r6i.xlarge", "us-east-1a", "spot", utc(2025, 5, 11, 10), utc(2025, 5, 11, 10, 30), interrupted=True
    )
    second = InstanceAttempt(
        "r6i.xlarge", "us-east-1a", "spot", utc(2025, 5, 11, 11), utc(2025, 5, 11, 11, 30)
    )
    timings = [
        # boot 60, setup 40 -> startup 100; work 1,500; 3 writes started, 2 done (20 s): last 10 s;
        # last checkpoint 10:27:10 + 10 s -> wasted 160 s; 1,800 = 1,500 + 160 + 130 + 10 other
        AttemptTimings(
            utc(2025, 5, 11, 10, 1), 40.0, 0.0, 1500.0, 20.0, 3, utc(2025, 5, 11, 10, 27, 10), None
        ),
        # boot 60, setup 40, restore 20 -> startup 120; work 1,600; writes 30; the other 50 s: the tail
        AttemptTimings(
            utc(2025, 5, 11, 11, 1),
            40.0,
            20.0,
            1600.0,
            30.0,
            4,
            utc(2025, 5, 11, 11, 29),
            utc(2025, 5, 11, 11, 29, 40),
        ),
    ]
    accounting = account_spot_run([first, second], timings, catalog)
    a, b = accounting.attempts
    assert (a.training_seconds, a.wasted_seconds, a.startup_seconds, a.checkpoint_seconds) == (
        1500,
        160,
        100,
        30,
    )
    assert a.other_overhead_seconds == pytest.approx(10)
    assert (b.training_seconds, b.wasted_seconds, b.startup_seconds, b.checkpoint_seconds) == (
        1600,
        0,
        120,
        30,
    )
    assert b.other_overhead_seconds == pytest.approx(50)
    rate = 0.080 / 3600
    assert accounting.billed_usd == pytest.approx(3600 * rate)
    assert accounting.training_usd == pytest.approx(3100 * rate)
    assert accounting.wasted_usd == pytest.approx(160 * rate)
    assert accounting.overhead_usd == pytest.approx((140 + 200) * rate)
    # on one uninterrupted on-demand instance: 3,600 billed - 160 wasted - 120 startup of the resume
    assert accounting.on_demand_equivalent_seconds == pytest.approx(3320)
    assert accounting.on_demand_equivalent_usd == pytest.approx(3320 / 3600 * 0.252)
    assert accounting.effective_savings_pct == pytest.approx((1 - 0.080 * 3600 / (0.252 * 3320)) * 100)
