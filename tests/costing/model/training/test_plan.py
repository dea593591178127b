"""Training under spot interruptions, checkpoint intervals and storage, against hand-computed numbers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from model_literals import PROFILE, SHEET, profile, sheet

from costing.model.assumptions import TrainingAssumptions
from costing.model.drivers import Drivers
from costing.model.training import RunOverhead
from costing.model.training.plan import (
    billed_run_with_storage,
    expected_lost_work_seconds,
    expected_wall_seconds,
    mean_time_between_interruptions_seconds,
    plan_training,
    training_run_cost,
    young_daly_interval_seconds,
)
from costing.model.training.run_cost import TrainingCost

MIB = 2**20
NO_OVERHEAD = RunOverhead(0.0, "literal: none")
SECONDS_PER_MONTH = 730 * 3600  # 2,628,000


def test_mean_time_between_interruptions():
    assert mean_time_between_interruptions_seconds(0.05) == pytest.approx(52_560_000)  # 14,600 h
    assert mean_time_between_interruptions_seconds(0.0) == math.inf


def test_young_daly_interval():
    # sqrt(2 x 0.5 s x 52,560,000 s) = 7,249.8 s
    assert young_daly_interval_seconds(0.5, 52_560_000) == pytest.approx(math.sqrt(52_560_000))
    assert young_daly_interval_seconds(10, 36_000) == pytest.approx(848.53, abs=0.01)
    with pytest.raises(ValueError):
        young_daly_interval_seconds(-1, 100)


def test_expected_wall_time_and_lost_work():
    # W 3,600 s, 6 checkpoints (one every 600 s) taking 10 s each: 3,660 s without interruptions.
    # Each interruption loses (600 + 10) / 2 + 180 s restart = 485 s; M = 36,000 s.
    wall, interruptions = expected_wall_seconds(3_600, 6, 600, 10, 180, 36_000)
    assert wall == pytest.approx(3_660 / (1 - 485 / 36_000))  # 3,709.98 s
    assert interruptions == pytest.approx(wall / 36_000)  # 0.10305
    assert expected_lost_work_seconds(interruptions, 600, 10) == pytest.approx(interruptions * 305)
    assert expected_wall_seconds(3_600, 6, 600, 10, 180, math.inf) == (pytest.approx(3_660), 0.0)
    with pytest.raises(ValueError, match="never finishes"):
        expected_wall_seconds(3_600, 6, 600, 10, 180, 400)


def test_training_plan_defaults_from_the_profile():
    plan = plan_training(PROFILE, SHEET, instance_type="c6i.xlarge")
    assert plan.market == "spot" and plan.usd_per_hour == 0.08 and plan.on_demand_usd_per_hour == 0.20
    assert plan.interruption_rate_per_month == 0.10  # no Spot Advisor bucket: the assumed default, noted
    assert any("10% interruptions/month assumed" in note for note in plan.notes)
    assert plan.checkpoint_interval_seconds == pytest.approx(600)  # 60 steps x 10 s
    assert plan.checkpoint_bytes == 30 * MIB  # weights + two AdamW moments
    assert plan.checkpoint_write_seconds == pytest.approx(0.3)  # 30 MiB at 100 MiB/s


def test_expected_spot_run_cost_with_storage():
    a = TrainingAssumptions(checkpoint_write_seconds=10)
    cost = training_run_cost(plan_training(PROFILE, SHEET, instance_type="c6i.xlarge", assumptions=a))
    mtbi = SECONDS_PER_MONTH / 0.10  # 26,280,000 s
    # The measured 3,600 s hold its 300 // 60 + 3 epochs = 8 checkpoint writes (not recorded: 8 x 10 s
    # assumed), so 3,520 s of work + the plan's 8 writes of 10 s = 3,600 s without interruptions; + the
    # default 300 s of boot, setup and upload once.
    wall = 3_600 / (1 - ((600 + 10) / 2 + 180) / mtbi) + 300
    parts = {c.name: c.usd_per_month for c in cost.components}
    assert parts == pytest.approx(
        {
            "Training instance (c6i.xlarge, spot)": wall / 3_600 * 0.08,
            "EBS gp3 training volume (20 GB while running)": 20 * wall / SECONDS_PER_MONTH * 0.08,
            "S3 PUT requests (checkpoints, model, metrics)": (8 + 2) / 1_000 * 0.005,
        }
    )
    assert cost.work_seconds == pytest.approx(3_520) and cost.checkpoint_writes == 8
    assert cost.usd == pytest.approx(sum(parts.values()))
    assert cost.expected_wall_seconds == pytest.approx(wall)
    assert cost.expected_interruptions == pytest.approx((wall - 300) / mtbi)  # while training, not booting
    # on-demand: 3,900 s, no interruptions, at $0.20/h
    on_demand = 3_900 / 3_600 * 0.20 + 20 * 3_900 / SECONDS_PER_MONTH * 0.08 + 10 / 1_000 * 0.005
    assert cost.on_demand_equivalent_usd == pytest.approx(on_demand)
    assert cost.spot_savings_pct == pytest.approx((on_demand - cost.usd) / on_demand * 100)
    # Young/Daly: sqrt(2 x 10 x 26,280,000) = 22,926 s > the 3,520 s of work: checkpoint only at the end
    assert cost.young_daly_interval_seconds == pytest.approx(math.sqrt(2 * 10 * mtbi))
    assert cost.recommended_checkpoint_interval_seconds == 3_520
    # kept between runs: 1 MiB data + 30 MiB checkpoint + 10 x 10 MiB models = 131 MiB
    assert cost.storage_usd_per_month == pytest.approx(131 / 1024 * 0.023)


def test_checkpoint_writes_in_the_measured_wall_time_are_counted_once():
    # 3,600 s measured, of which its 8 checkpoint writes (300 // 60 + 3 epochs) took 40 s (recorded in
    # training.segments): 3,560 s of work. The plan writes the same 8 checkpoints at 10 s each to S3:
    # 3,560 + 80 = 3,640 s on-demand at $0.20/h = $0.202222. Counting the writes twice, as the measured
    # wall time x (1 + 10 / 600), billed 3,660 s = $0.203333.
    measured = replace(PROFILE, training_checkpoint_seconds=40.0)
    a = TrainingAssumptions(checkpoint_write_seconds=10)
    plan = plan_training(
        measured, SHEET, instance_type="c6i.xlarge", market="on-demand", assumptions=a, overhead=NO_OVERHEAD
    )
    assert (plan.work_seconds, plan.checkpoint_writes) == (3_560, 8)
    cost = training_run_cost(plan)
    assert cost.expected_wall_seconds == pytest.approx(3_640)
    assert cost.components[0].usd_per_month == pytest.approx(0.202222, abs=1e-6)
    assert cost.components[2].quantity == pytest.approx(
        (8 + 2) / 1_000
    )  # one PUT per write + model + metrics
    # Another cadence: one write every 1,000 s of work -> 3,560 // 1,000 + 3 epochs = 6 writes.
    sparse = plan_training(
        measured,
        SHEET,
        instance_type="c6i.xlarge",
        market="on-demand",
        assumptions=a,
        checkpoint_interval_seconds=1_000,
        overhead=NO_OVERHEAD,
    )
    assert sparse.checkpoint_writes == 6
    assert training_run_cost(sparse).expected_wall_seconds == pytest.approx(3_560 + 60)


def test_the_overhead_is_added_once_and_named():
    # 3,600 s on-demand (its 8 writes inside, as measured) + the ledger's 155 s of boot and upload =
    # 3,755 s at $0.20/h; the default adds 300 s instead, and the basis says which it was.
    ledger = RunOverhead(155.0, "measured on 3 earlier spot attempts on c6i.xlarge: ...", 3)
    measured = training_run_cost(
        plan_training(PROFILE, SHEET, instance_type="c6i.xlarge", market="on-demand", overhead=ledger)
    )
    assert measured.expected_wall_seconds == pytest.approx(3_755)
    assert measured.components[0].usd_per_month == pytest.approx(3_755 / 3_600 * 0.20)
    assert (measured.overhead_seconds, measured.overhead_source) == (155.0, ledger.source)
    assert "155 s boot, setup and upload (measured on 3 earlier spot attempts" in measured.basis
    default = training_run_cost(plan_training(PROFILE, SHEET, instance_type="c6i.xlarge", market="on-demand"))
    assert default.expected_wall_seconds == pytest.approx(3_900)
    assert "300 s boot, setup and upload (default 300 s, not measured on this account" in default.basis


def test_short_run_is_billed_the_60_second_minimum():
    cost = training_run_cost(
        plan_training(
            profile(training_wall_seconds=7.3),
            SHEET,
            instance_type="c6i.xlarge",
            market="on-demand",
            overhead=NO_OVERHEAD,
        )
    )
    assert cost.components[0].quantity == pytest.approx(60 / 3_600)
    assert cost.spot_savings_pct == 0.0 and cost.expected_interruptions == 0.0
    assert cost.young_daly_interval_seconds == math.inf


@pytest.mark.parametrize("name", ["c6i.large", "c6i.xlarge", "t3.small"])
def test_more_interruptions_never_lower_the_expected_spot_cost(name):
    base = plan_training(
        PROFILE, SHEET, instance_type=name, assumptions=TrainingAssumptions(checkpoint_write_seconds=5)
    )
    costs = [
        training_run_cost(replace(base, interruption_rate_per_month=rate)).usd
        for rate in (0.0, 0.05, 0.10, 0.15, 0.25, 1.0, 10.0, 100.0)
    ]
    assert costs == sorted(costs) and costs[-1] > costs[0]
    vector = base.run_usd(Drivers(1.0, interruption_factor=np.array([0.0, 1.0, 10.0, 100.0])))
    assert list(vector) == sorted(vector)


def test_spot_training_is_cheaper_than_on_demand_at_realistic_rates():
    for rate in (0.05, 0.10, 0.25):
        plan = replace(
            plan_training(PROFILE, SHEET, instance_type="c6i.large"), interruption_rate_per_month=rate
        )
        cost = training_run_cost(plan)
        assert cost.usd < cost.on_demand_equivalent_usd


def test_billed_run_adds_storage_and_refuses_another_region():
    billed = TrainingCost(
        instance_type="c6i.xlarge",
        region="us-east-1",
        market="spot",
        billed_seconds=3_600,
        usd=0.08,
        on_demand_usd=0.20,
        spot_savings_pct=60.0,
        per_epoch_usd=0.08 / 3,
        usd_per_hour=0.08,
        on_demand_usd_per_hour=0.20,
        basis="billed: 1 attempt",
        is_estimate=False,
        snapshot_id="literal",
        attempts=1,
    )
    plan = plan_training(PROFILE, SHEET, instance_type="c6i.xlarge")
    cost = billed_run_with_storage(billed, plan)
    extra = sum(c.usd_per_month for c in cost.components[1:])
    assert cost.usd == pytest.approx(0.08 + extra)
    assert cost.components[0].usd_per_month == 0.08
    with pytest.raises(ValueError, match="mix regions"):
        billed_run_with_storage(replace(billed, region="eu-west-1"), plan)


def test_training_plan_refuses_what_it_cannot_price():
    with pytest.raises(ValueError, match=r"no spot price for m7g\.large"):
        plan_training(PROFILE, SHEET, instance_type="m7g.large")
    with pytest.raises(ValueError, match="not in price sheet"):
        plan_training(PROFILE, SHEET, instance_type="x9.huge")
    with pytest.raises(ValueError, match="cannot price training storage"):
        plan_training(PROFILE, sheet(s3_put_usd_per_1k_requests=None), instance_type="c6i.large")
    with pytest.raises(ValueError, match="market='cheap'"):
        plan_training(PROFILE, SHEET, instance_type="c6i.large", market="cheap")
