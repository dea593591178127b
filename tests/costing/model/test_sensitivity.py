"""Tornado and Monte Carlo: hand-checkable linear cases, seeding, and agreement with the scalar model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_literals import PROFILE, SHEET

from costing.model.drivers import Drivers
from costing.model.grid import plan_grid, plan_scenario
from costing.model.results import SENSITIVITY_SCHEMA
from costing.model.sensitivity import TORNADO_FACTORS, MonteCarloSpec, monte_carlo, sensitivity, tornado
from costing.model.tco import monthly_ownership_usd
from costing.model.training.plan import plan_training

RUNS = 52 / 12


@pytest.fixture(scope="module")
def training():
    return plan_training(PROFILE, SHEET, instance_type="c6i.large")


@pytest.fixture(scope="module")
def medium():
    return plan_scenario(PROFILE, SHEET, 10_000)


def test_tornado_on_the_cheapest_option(medium, training):
    result = tornado(medium, training, RUNS, pct=20)
    assert result.key == "lambda"
    lam = medium.plan("lambda")
    base = float(monthly_ownership_usd(lam, training, RUNS, Drivers(10_000)))
    assert result.base_usd_per_month == pytest.approx(base)
    bars = {bar.factor: bar for bar in result.bars}
    assert set(bars) == set(TORNADO_FACTORS)
    # every cost line is quantity x list price: prices x0.8 / x1.2 move the total by exactly that
    assert (bars["prices"].low_usd_per_month, bars["prices"].high_usd_per_month) == (
        pytest.approx(0.8 * base),
        pytest.approx(1.2 * base),
    )
    # retraining: 20 % fewer / more runs of the same cost
    run = float(training.run_usd())
    assert bars["retrain_cadence"].low_usd_per_month == pytest.approx(base - 0.2 * RUNS * run)
    assert bars["retrain_cadence"].high_usd_per_month == pytest.approx(base + 0.2 * RUNS * run)
    # a function has no fleet: target utilisation changes nothing
    assert bars["utilisation"].swing_usd_per_month == 0
    assert bars["requests_per_day"].low_usd_per_month < base < bars["requests_per_day"].high_usd_per_month
    swings = [bar.swing_usd_per_month for bar in result.bars]
    assert swings == sorted(swings, reverse=True)


def test_tornado_for_a_chosen_option_and_bad_inputs(medium, training):
    fleet = tornado(medium, training, RUNS, pct=50, option_key="ec2-on-demand:c6i.large")
    bars = {bar.factor: bar for bar in fleet.bars}
    # at 10,000/day the fleet is the 2-instance minimum whatever the utilisation or latency
    assert bars["utilisation"].swing_usd_per_month == 0
    assert bars["interruption_rate"].low_usd_per_month <= bars["interruption_rate"].high_usd_per_month
    with pytest.raises(ValueError, match="pct=0"):
        tornado(medium, training, RUNS, pct=0)
    with pytest.raises(KeyError, match="no feasible option 'nope'"):
        tornado(medium, training, RUNS, option_key="nope")


def test_monte_carlo_is_seeded_and_ordered(medium, training):
    spec = MonteCarloSpec(samples=2_000, seed=7)
    first = monte_carlo(medium, training, RUNS, spec=spec)
    again = monte_carlo(medium, training, RUNS, spec=spec)
    assert first == again
    other = monte_carlo(medium, training, RUNS, spec=MonteCarloSpec(samples=2_000, seed=8))
    assert other != first
    for option in first.options:
        assert option.p10_usd_per_month <= option.p50_usd_per_month <= option.p90_usd_per_month
        assert 0 <= option.slo_met_fraction <= 1
    assert sum(o.cheapest_fraction for o in first.options if o.drop_in) == pytest.approx(1.0)
    assert all(o.cheapest_fraction == 0 for o in first.options if not o.drop_in)
    p50 = [o.p50_usd_per_month for o in first.options]
    assert p50 == sorted(p50)


def test_monte_carlo_without_spread_returns_the_nominal_cost(medium, training):
    still = MonteCarloSpec(
        samples=50,
        price_sigma=0,
        spot_price_sigma=0,
        requests_sigma=0,
        latency_sigma=0,
        utilisation_low=1.0,
        utilisation_high=1.0,
        interruption_sigma=0,
    )
    result = monte_carlo(medium, training, RUNS, spec=still)
    for option in result.options:
        nominal = float(monthly_ownership_usd(medium.plan(option.key), training, RUNS, Drivers(10_000)))
        assert option.nominal_usd_per_month == pytest.approx(nominal)
        assert option.p10_usd_per_month == pytest.approx(nominal)
        assert option.p90_usd_per_month == pytest.approx(nominal)


def test_monte_carlo_samples_match_the_scalar_model(medium, training):
    spec = MonteCarloSpec(samples=5, seed=3)
    drivers = spec.sample(10_000)
    for plan in medium.plans:
        vector = np.asarray(plan.evaluate(drivers).usd_per_month) * np.ones(5)
        for i in range(5):
            one = Drivers(
                float(drivers.requests_per_day[i]),
                latency_factor=float(drivers.latency_factor[i]),
                utilisation_factor=float(drivers.utilisation_factor[i]),
                interruption_factor=float(drivers.interruption_factor[i]),
                price_factor=float(drivers.price_factor[i]),
                spot_price_factor=float(drivers.spot_price_factor[i]),
            )
            assert vector[i] == pytest.approx(float(plan.evaluate(one).usd_per_month)), plan.key


def test_monte_carlo_spec_is_validated():
    with pytest.raises(ValueError, match="samples"):
        MonteCarloSpec(samples=0)
    with pytest.raises(ValueError, match="utilisation range"):
        MonteCarloSpec(utilisation_low=1.2)


def test_sensitivity_document_and_frames(training):
    plans = plan_grid(PROFILE, SHEET)
    result = sensitivity(plans, training, retrain_cadence="weekly", spec=MonteCarloSpec(samples=500))
    assert len(result.tornados) == len(result.monte_carlo) == 3
    assert len(result.monte_carlo[0].options) == 9  # the best variant of each alternative
    document = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    assert (document["schema"], document["schema_version"]) == (SENSITIVITY_SCHEMA, 1)
    assert len(result.to_dataframe()) == 27
    assert len(result.tornado_dataframe()) == 3 * len(TORNADO_FACTORS)
    every = sensitivity(
        plans[:1], training, retrain_cadence="weekly", spec=MonteCarloSpec(samples=100), every_variant=True
    )
    assert len(every.monte_carlo[0].options) == len(plans[0].plans)
