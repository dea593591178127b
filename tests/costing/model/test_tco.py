"""Total cost of ownership, retraining cadence and break-evens against hand-computed numbers."""

from __future__ import annotations

import json

import pytest
from model_literals import INSTANCES, PROFILE, SHEET, sheet

from costing.model.assumptions import ServingAssumptions
from costing.model.grid import cost_scenario
from costing.model.results import TCO_SCHEMA
from costing.model.tco import cheapest_breakevens, reserved_breakeven_utilisation, runs_per_month, tco
from costing.model.training.plan import plan_training, training_run_cost

GIB = 2**30
DAYS = 365 / 12


@pytest.mark.parametrize(
    ("cadence", "runs"),
    [("weekly", 52 / 12), ("daily", 365 / 12), ("monthly", 1.0), ("14d", 365 / 12 / 14), ("Weekly", 52 / 12)],
)
def test_runs_per_month(cadence, runs):
    assert runs_per_month(cadence) == pytest.approx(runs)


@pytest.mark.parametrize("cadence", ["fortnightly", "0d", "-3d", ""])
def test_unknown_cadence_is_refused(cadence):
    with pytest.raises(ValueError, match="retrain cadence"):
        runs_per_month(cadence)


def test_tco_adds_training_serving_and_storage_over_the_horizon():
    training = plan_training(PROFILE, SHEET, instance_type="c6i.xlarge")
    result = tco(
        PROFILE,
        SHEET,
        [10_000],
        assumptions=ServingAssumptions(horizon_months=12),
        retrain_cadence="weekly",
        training=training,
    )
    run = training_run_cost(training)
    serving = cost_scenario(PROFILE, SHEET, 10_000).option("lambda").usd_per_month
    (scenario,) = result.scenarios
    option = next(o for o in scenario.options if o.key == "lambda")
    assert scenario.cheapest == "lambda"
    assert option.training_usd_per_month == pytest.approx(run.usd * 52 / 12)
    assert option.storage_usd_per_month == pytest.approx(run.storage_usd_per_month)
    assert option.usd_per_month == pytest.approx(serving + run.usd * 52 / 12 + run.storage_usd_per_month)
    assert option.total_usd == pytest.approx(12 * option.usd_per_month)
    assert option.training_usd == pytest.approx(12 * 52 / 12 * run.usd)  # 52 runs a year
    assert sum(c.usd_per_month for c in option.components) == pytest.approx(option.usd_per_month)
    assert result.breakevens == ()  # a single scenario has nothing to cross
    assert result.training.usd == run.usd


def test_reserved_breakeven_utilisation():
    found = {(b.instance_type, b.term): b.utilisation for b in reserved_breakeven_utilisation(SHEET)}
    # $0.06 / $0.10 and $0.04 / $0.10: reserved wins for instances running over 60 % / 40 % of the time
    assert found == pytest.approx(
        {("c6i.large", "1yr/standard/No Upfront"): 0.6, ("c6i.large", "3yr/standard/No Upfront"): 0.4}
    )


def test_breakeven_between_lambda_and_an_on_demand_fleet():
    """Only Lambda and on-demand c6i.large can run, so the crossover is a line-crossing by hand."""
    two = sheet(
        instances={
            "c6i.large": INSTANCES["c6i.large"].__class__(
                "c6i.large", 2, 4.0, "x86_64", 0.10, None, None, {}, None
            )
        },
        sagemaker_instances={},
        sagemaker_serverless_usd_per_gb_second=None,
        fargate_usd_per_vcpu_hour=None,
        cloudflare_workers=None,
    )
    s3_model = 10 / 1024 * 0.023
    # EC2 (public, multi-AZ): 2 instances (peak stays under 2 x 96 rps) and their weekly deploy starts
    # (120 s each), root volumes, an internet-facing ALB, 4 public IPv4 addresses (the ALB's 2, and one per
    # instance for image pulls and logs: cheaper than a NAT gateway), 9 metrics
    fixed_ec2 = (
        2 * 730 * 0.10
        + 2 * 52 / 12 * 120 / 3600 * 0.10
        + 2 * 20 * 0.08
        + 730 * 0.0225
        + 4 * 730 * 0.005
        + 9 * 0.30
        + s3_model
    )
    # per request: LCU-hours (new connections / 25 per s), log bytes, data transfer out
    per_request_ec2 = 730 * 0.008 / (25 * 86_400) / DAYS + 200 / GIB * (0.50 + 0.03) + 500 / GIB * 0.09
    fixed_lambda = 5 * 0.30 + s3_model
    # Lambda bills the mean duration: 110 ms x 2 x 1,769 / 1,024 + 0.5 ms rounding = 380.56 ms at 1 GB
    billed_s = (110 * 2 * 1769 / 1024 + 0.5) / 1000
    per_request_lambda = billed_s * 0.0000166667 + 0.20 / 1e6 + 460 / GIB * (0.50 + 0.03) + 500 / GIB * 0.09
    expected = (fixed_ec2 - fixed_lambda) / (per_request_lambda - per_request_ec2) / DAYS  # ~0.91M/day
    (found,) = cheapest_breakevens(PROFILE, two, 100_000, 10_000_000)
    assert found.requests_per_day == pytest.approx(expected, rel=0.005)
    assert (found.below_key, found.above_key) == ("lambda", "ec2-on-demand:c6i.large")
    assert found.above_label == "EC2 on-demand c6i.large"


def test_tco_breakevens_and_json():
    training = plan_training(PROFILE, SHEET, instance_type="c6i.large")
    result = tco(
        PROFILE,
        SHEET,
        assumptions=ServingAssumptions(horizon_months=24),
        retrain_cadence="daily",
        training=training,
    )
    assert [s.requests_per_day for s in result.scenarios] == [100, 10_000, 1_000_000]
    for b in result.breakevens:
        assert 100 <= b.requests_per_day <= 1_000_000
        assert b.below_key != b.above_key
    document = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    assert (document["schema"], document["schema_version"], document["horizon_months"]) == (TCO_SCHEMA, 1, 24)
    assert document["runs_per_month"] == pytest.approx(365 / 12)
    assert document["training_run"]["cost_components"][0]["unit"] == "hours"
    assert any("36 months" in note for note in document["notes"])
    frame = result.to_dataframe()
    assert len(frame) == sum(len(s.options) for s in result.scenarios)
    assert frame["cheapest"].sum() == 3


def test_tco_refuses_mixed_regions_and_bad_horizons():
    other = plan_training(PROFILE, sheet(region="eu-west-1"), instance_type="c6i.large")
    with pytest.raises(ValueError, match="mix regions"):
        tco(PROFILE, SHEET, [100], training=other)
    for months in (0, 0.5, 121, float("nan"), True):
        with pytest.raises(ValueError, match=r"horizon_months=.* must be (at least 1 month|a number)"):
            tco(PROFILE, SHEET, [100], assumptions=ServingAssumptions(horizon_months=months))


def test_tco_can_use_a_billed_training_run():
    from costing.model.training.plan import billed_run_with_storage
    from costing.model.training.run_cost import TrainingCost

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
    run = billed_run_with_storage(billed, plan_training(PROFILE, SHEET, instance_type="c6i.xlarge"))
    result = tco(PROFILE, SHEET, [100], training_run=run, retrain_cadence="monthly")
    option = next(o for o in result.scenarios[0].options if o.key == "lambda")
    assert option.training_usd_per_month == pytest.approx(run.usd)
    assert result.training is run
