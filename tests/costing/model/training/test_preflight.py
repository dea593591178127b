"""The budget guard's pre-flight estimate: a plan from the configuration, priced as the TCO prices a run."""

from __future__ import annotations

import pytest
from model_literals import SHEET, profile

from costing.model.assumptions import TrainingAssumptions
from costing.model.training import (
    RunOverhead,
    Throughput,
    plan_training,
    preflight_estimate,
    training_run_cost,
)
from costing.model.training.preflight import model_file_bytes, preflight_plan

SECONDS_PER_MONTH = 730 * 3600  # 2,628,000
CONFIG = {
    "batch_size": 8,
    "seq_len": 32,
    "epochs": 1,
    "val_fraction": 0.1,
    "max_steps_per_epoch": 0,
    "checkpoint_every_steps": 50,
    "embedding_dim": 128,
    "hidden_size": 460,
    "num_layers": 2,
}
WRITES_2_S = TrainingAssumptions(checkpoint_write_seconds=2.0)
LEDGER = RunOverhead(160.0, "measured on 3 earlier spot attempts on c6i.large: ...", 3)


def estimate(**overrides):
    arguments = {
        "config": CONFIG,
        "dataset_chars": 40_000,
        "vocab_size": 103,
        "throughput": Throughput(256.0, "literal"),
        "sheet": SHEET,
        "instance_type": "c6i.large",
        "market": "spot",
        "assumptions": WRITES_2_S,
    }
    return preflight_estimate(**(arguments | overrides))


def test_the_model_file_of_the_default_configuration():
    assert model_file_bytes(CONFIG, 103) == 2_842_747 * 4


def test_a_spot_run_with_writes_overhead_and_expected_interruptions():
    cost = estimate()
    # 40,000 chars -> 140 steps x 8 x 32 = 35,840 tokens / 256 tok/s = 140 s of work; 140 // 50 + 1 epoch
    # = 3 checkpoint writes of 2 s, one every 50 x 8 x 32 / 256 = 50 s of work. c6i.large: 5 %/month ->
    # M = 52,560,000 s; loss per interruption (50 + 2) / 2 + 180 = 206 s. + the default 300 s overhead.
    expected = (140 + 3 * 2) / (1 - 206 / 52_560_000)
    wall = expected + 300
    assert (cost.tokens, cost.work_seconds, cost.checkpoint_writes) == (35_840, 140, 3)
    assert cost.expected_wall_seconds == pytest.approx(wall)
    assert cost.expected_interruptions == pytest.approx(expected / 52_560_000)
    assert cost.usd == pytest.approx(
        wall / 3600 * 0.04  # the instance at $0.04/h spot
        + 20 * wall / SECONDS_PER_MONTH * 0.08  # 20 GB gp3 while it runs
        + (3 + 2) / 1000 * 0.005  # PUTs: 3 checkpoints, model, metrics
    )
    assert "300 s boot, setup and upload (default 300 s, not measured on this account" in cost.describe()
    measured = estimate(overhead=LEDGER)
    assert measured.expected_wall_seconds == pytest.approx(expected + 160)
    assert "160 s boot, setup and upload (measured on 3 earlier spot attempts" in measured.describe()


def test_on_demand_and_a_type_without_a_spot_price():
    on_demand = estimate(market="on-demand")
    assert on_demand.expected_wall_seconds == pytest.approx(140 + 6 + 300)  # no interruptions on-demand
    assert on_demand.usd_per_hour == 0.10
    # m7g.large has no spot price in the sheet: priced on-demand at $0.08/h, and said so
    unpriced = estimate(instance_type="m7g.large")
    assert (unpriced.market, unpriced.usd_per_hour) == ("on-demand", 0.08)
    assert (
        "no spot price for m7g.large in snapshot literal: priced on-demand (an upper bound)"
        in unpriced.describe()
    )
    with pytest.raises(ValueError, match=r"'r6i\.xlarge' has no price"):
        estimate(instance_type="r6i.xlarge")


def test_the_budget_guard_and_the_cost_model_price_a_run_alike():
    # The same run measured: 146 s of wall time holding its 3 writes of 2 s, 140 steps in 140 s, a
    # checkpoint every 50 steps, 1 epoch, the same model and data sizes.
    measured = profile(
        training_wall_seconds=146.0,
        training_step_seconds=140.0,
        training_global_steps=140,
        training_epochs=1,
        checkpoint_every_steps=50,
        model_file_bytes=model_file_bytes(CONFIG, 103),
        dataset_bytes=40_000,
    )
    tco_run = training_run_cost(
        plan_training(
            measured, SHEET, instance_type="c6i.large", market="spot", assumptions=WRITES_2_S, overhead=LEDGER
        )
    )
    plan, _ = preflight_plan(
        config=CONFIG,
        dataset_chars=40_000,
        vocab_size=103,
        throughput=Throughput(256.0, "literal"),
        sheet=SHEET,
        instance_type="c6i.large",
        market="spot",
        assumptions=WRITES_2_S,
        overhead=LEDGER,
    )
    guard_run = training_run_cost(plan)
    assert [(c.name, c.usd_per_unit) for c in guard_run.components] == [
        (c.name, c.usd_per_unit) for c in tco_run.components
    ]
    assert [c.quantity for c in guard_run.components] == pytest.approx(
        [c.quantity for c in tco_run.components]
    )
    guard = estimate(overhead=LEDGER)  # what pipeline.spot.budget.check_budget compares with the budget
    assert guard.usd == pytest.approx(tco_run.usd)
    assert guard.expected_wall_seconds == pytest.approx(tco_run.expected_wall_seconds)
