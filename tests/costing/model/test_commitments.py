"""Commitments over their term, against hand-computed numbers (costing.model.commitments).

The literal sheet's c6i.large: $0.10/h on-demand, reserved 1yr $0.06/h and 3yr $0.04/h (No Upfront). At
100 requests/day a public multi-AZ fleet runs 2 instances, so a commitment covers 2 x 730 = 1,460
instance-hours a month: $87.60 a month for 1 year, $58.40 a month for 3 years.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
from model_literals import INSTANCES, PROFILE, sheet, shipped_sheet

from costing.choices import COMMITMENT_USE_FULL_TERM, COMMITMENT_USE_HORIZON, DEFAULT_HORIZON_MONTHS
from costing.model.assumptions import UPFRONT_SHARE_BY_PURCHASE_OPTION, ServingAssumptions
from costing.model.commitments import COMMITMENT_OWED
from costing.model.grid import cost_grid, cost_scenario
from costing.model.results import OptionCost
from costing.model.tco import tco
from costing.model.training.plan import plan_training
from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.snapshot import latest_snapshot_dir

ONE_TYPE = sheet(instances={"c6i.large": INSTANCES["c6i.large"]})
ON_DEMAND, ONE_YEAR, THREE_YEARS = (
    "ec2-on-demand:c6i.large",
    "ec2-reserved-1yr:c6i.large",
    "ec2-reserved-3yr:c6i.large",
)
OWED_LINE = "Commitment still owed at the {h}-month horizon ({owed} of {term} months of {key}), spread over the horizon"


def _ec2(assumptions: ServingAssumptions | None = None) -> dict[str, OptionCost]:
    scenario = cost_scenario(PROFILE, ONE_TYPE, 100, assumptions=assumptions)
    return {key: scenario.option(key) for key in (ON_DEMAND, ONE_YEAR, THREE_YEARS)}


def _ranked(options: dict[str, OptionCost]) -> list[str]:
    return sorted(options, key=lambda key: options[key].usd_per_month)


def _components(option: OptionCost) -> dict[str, float]:
    return {c.name: c.usd_per_month for c in option.components}


def _owed_part(option: OptionCost) -> float | None:
    return next((part.usd_per_month for part in option.design if part.role == COMMITMENT_OWED), None)


def test_the_horizon_defaults_to_twelve_months_and_may_be_left():
    a = ServingAssumptions()
    assert a.horizon_months == DEFAULT_HORIZON_MONTHS == 12
    assert a.commitment_use == COMMITMENT_USE_HORIZON and not a.commitments_used_for_full_term


def test_a_three_year_commitment_on_a_twelve_month_horizon_owes_24_months_and_ranks_with_them():
    options = _ec2()
    three = options[THREE_YEARS]
    c = three.commitment
    assert (c.term_months, c.horizon_months, c.months_owed) == (36, 12, 24)
    # 1,460 instance-hours x $0.04 = $58.40 a month; 24 months still owed = $1,401.60
    assert c.usd_per_month == pytest.approx(58.40)
    assert c.owed_at_horizon_usd == pytest.approx(1_401.60)
    assert (c.owed_recurring_usd, c.owed_upfront_usd, c.upfront_usd) == pytest.approx((1_401.60, 0.0, 0.0))
    # spread over the 12 months: 2,920 instance-hours x $0.04 = $116.80 a month, one line and one design part
    owed_line = OWED_LINE.format(h=12, owed=24, term=36, key="3yr/standard/No Upfront")
    assert _components(three)[owed_line] == pytest.approx(116.80)
    assert _owed_part(three) == pytest.approx(116.80)
    # the instances bill the same $58.40 a month as before: the 3-year rate, 24/7
    assert _components(three)["Instance usage (c6i.large, reserved-3yr)"] == pytest.approx(58.40)
    # without what it owes it would be $87.60 a month cheaper than on-demand on the instances alone
    # ($0.06 x 1,460; $0.0173 more on the deploys' start hours); with it, $29.18 dearer
    assert three.usd_per_month - options[ON_DEMAND].usd_per_month == pytest.approx(
        116.80 - 87.60 - 2 * 52 / 12 * 120 / 3600 * 0.06, abs=1e-9
    )
    assert three.usd_per_month - options[ON_DEMAND].usd_per_month == pytest.approx(29.18, abs=0.005)
    # the cost of leaving at the horizon: 12 months of its running cost + what it owes = 12 x its monthly cost
    assert c.cost_if_left_at_horizon_usd == pytest.approx(12 * three.usd_per_month)
    assert c.cost_if_left_at_horizon_usd == pytest.approx(12 * (three.usd_per_month - 116.80) + 1_401.60)
    assert c.ranked_on == COMMITMENT_USE_HORIZON
    assert _ranked(options) == [ONE_YEAR, ON_DEMAND, THREE_YEARS]
    assert any("24 of its 36 months are still owed" in caveat for caveat in three.caveats)


def test_a_one_year_commitment_on_a_twelve_month_horizon_owes_nothing():
    one = _ec2()[ONE_YEAR]
    c = one.commitment
    assert (c.term_months, c.months_owed, c.owed_at_horizon_usd) == (12, 0, 0)
    assert c.usd_per_month == pytest.approx(87.60)  # 1,460 instance-hours x $0.06
    assert _owed_part(one) is None
    assert not any(name.startswith("Commitment still owed") for name in _components(one))
    # the same cost whether or not it is used for its whole term
    full_term = _ec2(ServingAssumptions(commitment_use=COMMITMENT_USE_FULL_TERM))[ONE_YEAR]
    assert one.usd_per_month == pytest.approx(full_term.usd_per_month)
    assert c.cost_if_left_at_horizon_usd == pytest.approx(12 * one.usd_per_month)


def test_a_36_month_horizon_owes_nothing_and_the_three_year_term_ranks_cheapest():
    options = _ec2(ServingAssumptions(horizon_months=36))
    for key, term in ((ONE_YEAR, 12), (THREE_YEARS, 36)):  # the 1-year term is renewed twice
        c = options[key].commitment
        assert (c.term_months, c.horizon_months, c.months_owed, c.owed_at_horizon_usd) == (term, 36, 0, 0)
        assert _owed_part(options[key]) is None
    assert _ranked(options) == [THREE_YEARS, ONE_YEAR, ON_DEMAND]
    # the instances at $0.04 against $0.06 and $0.10: $29.20 and $87.60 a month apart (+ their start hours)
    starts = 2 * 52 / 12 * 120 / 3600
    assert options[ONE_YEAR].usd_per_month - options[THREE_YEARS].usd_per_month == pytest.approx(
        1_460 * 0.02 + starts * 0.02
    )


def test_an_18_month_horizon_renews_the_one_year_term_and_owes_its_last_6_months():
    options = _ec2(ServingAssumptions(horizon_months=18))
    one, three = options[ONE_YEAR].commitment, options[THREE_YEARS].commitment
    assert (one.months_owed, one.owed_at_horizon_usd) == pytest.approx((6, 6 * 87.60))  # $525.60
    assert (three.months_owed, three.owed_at_horizon_usd) == pytest.approx((18, 18 * 58.40))  # $1,051.20
    assert _owed_part(options[ONE_YEAR]) == pytest.approx(525.60 / 18)  # $29.20 a month


def test_used_for_its_whole_term_a_commitment_ranks_on_its_monthly_cost_and_still_shows_what_it_would_owe():
    horizon = _ec2()
    options = _ec2(ServingAssumptions(commitment_use=COMMITMENT_USE_FULL_TERM))
    three = options[THREE_YEARS]
    assert _owed_part(three) is None
    assert three.usd_per_month == pytest.approx(horizon[THREE_YEARS].usd_per_month - 116.80)
    assert _ranked(options) == [THREE_YEARS, ONE_YEAR, ON_DEMAND]
    c = three.commitment
    assert c.ranked_on == COMMITMENT_USE_FULL_TERM
    assert c.owed_at_horizon_usd == pytest.approx(1_401.60)
    assert c.cost_if_left_at_horizon_usd == pytest.approx(12 * three.usd_per_month + 1_401.60)
    assert any("not counted in its cost" in caveat for caveat in three.caveats)


@pytest.mark.parametrize(
    ("purchase_option", "upfront", "owed_recurring", "owed_upfront"),
    [
        ("No Upfront", 0.0, 1_401.60, 0.0),
        # half of the term's $2,102.40 at purchase; of the 24 months owed, half recurring, half upfront
        ("Partial Upfront", 1_051.20, 700.80, 700.80),
        # the whole term paid at purchase: what is owed is the unused, already paid share
        ("All Upfront", 2_102.40, 0.0, 1_401.60),
    ],
)
def test_the_payment_option_splits_what_is_owed_not_its_amount(
    purchase_option, upfront, owed_recurring, owed_upfront
):
    rates = {f"3yr/standard/{purchase_option}": 0.04}  # the effective rate: upfront spread over the term
    paid = sheet(instances={"c6i.large": replace(INSTANCES["c6i.large"], reserved_usd_per_hour=rates)})
    a = ServingAssumptions(reserved_purchase_option=purchase_option)
    c = cost_scenario(PROFILE, paid, 100, assumptions=a).option(THREE_YEARS).commitment
    assert c.purchase_option == purchase_option
    assert (c.upfront_usd, c.owed_recurring_usd, c.owed_upfront_usd) == pytest.approx(
        (upfront, owed_recurring, owed_upfront)
    )
    assert c.owed_at_horizon_usd == pytest.approx(1_401.60)


def test_the_shipped_reserved_offers_pay_upfront_the_share_their_payment_option_says():
    with open(latest_snapshot_dir(DEFAULT_SNAPSHOT_ROOT) / "prices.csv", newline="") as handle:
        reserved = [row for row in csv.DictReader(handle) if row["term"] == "Reserved"]
    assert {row["purchase_option"] for row in reserved} == set(UPFRONT_SHARE_BY_PURCHASE_OPTION)
    for row in reserved:
        hours = int(row["lease_contract_length"].removesuffix("yr")) * 8_760
        share = float(row["upfront_usd"] or 0) / (float(row["usd_rate"]) * hours)
        assert share == pytest.approx(UPFRONT_SHARE_BY_PURCHASE_OPTION[row["purchase_option"]], abs=1e-4), row


def test_the_default_fleet_left_after_12_months_costs_more_on_a_3_year_commitment_than_on_demand():
    """Issue 19: "leaving after 12 months costs about $1,265 against $1,163" (2 x t3.small behind an ALB and a
    NAT gateway, before the designs). Today's design has no NAT gateway; the $102 between them is the same:
    12 x (on-demand $0.0208 - 3yr $0.008882) x 1,460 h (+ start hours) saved, $311.23 owed."""
    shipped = shipped_sheet()
    scenario = cost_scenario(PROFILE, shipped, 1_000_000, instance_types=["t3.small"])
    best = scenario.best_per_option()
    on_demand, three = best["ec2-on-demand"], best["ec2-reserved-3yr"]
    assert three.config == on_demand.config == "2 x t3.small, batch 64"
    c = three.commitment
    assert c.usd_per_month == pytest.approx(1_460 * 0.008882)  # $12.97
    assert c.owed_at_horizon_usd == pytest.approx(24 * 1_460 * 0.008882)  # $311.23
    saved = 12 * (0.0208 - 0.008882) * (1_460 + 2 * 52 / 12 * 120 / 3600)
    assert c.cost_if_left_at_horizon_usd - 12 * on_demand.usd_per_month == pytest.approx(311.22528 - saved)
    assert c.cost_if_left_at_horizon_usd - 12 * on_demand.usd_per_month == pytest.approx(102.38, abs=0.005)
    # no 3-year option ranks cheapest on the 12-month horizon; used for the whole term, they did
    assert scenario.cheapest == "ec2-reserved-1yr:t3.small"
    full_term = cost_scenario(
        PROFILE,
        shipped,
        1_000_000,
        instance_types=["t3.small"],
        assumptions=ServingAssumptions(commitment_use=COMMITMENT_USE_FULL_TERM),
    )
    assert full_term.cheapest == "ec2-reserved-3yr:t3.small"


def test_the_tco_counts_what_is_owed_over_its_horizon():
    training = plan_training(PROFILE, ONE_TYPE, instance_type="c6i.large")
    result = tco(PROFILE, ONE_TYPE, [100], training=training, breakevens=False)
    (scenario,) = result.scenarios
    options = {o.key: o for o in scenario.options}
    three = options[THREE_YEARS]
    assert three.commitment.owed_at_horizon_usd == pytest.approx(1_401.60)
    # 12 months of serving (its running cost + $116.80 a month) + retraining + storage
    assert three.total_usd == pytest.approx(12 * three.usd_per_month)
    assert three.serving_usd == pytest.approx(three.commitment.cost_if_left_at_horizon_usd)
    assert options[ON_DEMAND].total_usd < three.total_usd
    document = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    [row] = [o for o in document["scenarios"][0]["options"] if o["key"] == THREE_YEARS]
    assert row["commitment"]["owed_at_horizon_usd"] == pytest.approx(1_401.60)
    assert any("commitments outlast the 12-month horizon (terms of 36 months)" in n for n in result.notes)
    # a 36-month horizon: nothing owed, no note
    longer = tco(
        PROFILE,
        ONE_TYPE,
        [100],
        training=training,
        breakevens=False,
        assumptions=ServingAssumptions(horizon_months=36),
    )
    assert longer.horizon_months == 36
    assert not any("outlast" in note for note in longer.notes)


def test_the_grid_json_carries_each_options_commitment_and_the_horizon():
    grid = cost_grid(PROFILE, ONE_TYPE, [100])
    document = json.loads(json.dumps(grid.to_json_dict(), allow_nan=False))
    assert document["horizon"] == {"months": 12, "commitment_use": "horizon"}
    options = {o["key"]: o for o in document["scenarios"][0]["options"]}
    assert options[ON_DEMAND]["commitment"] is None and options["lambda"]["commitment"] is None
    three = options[THREE_YEARS]["commitment"]
    assert {k: three[k] for k in ("term_months", "horizon_months", "owed_at_horizon_usd", "ranked_on")} == {
        "term_months": 36,
        "horizon_months": 12,
        "owed_at_horizon_usd": pytest.approx(1_401.60),
        "ranked_on": "horizon",
    }
    roles = [part["role"] for part in options[THREE_YEARS]["design"]]
    assert roles[:3] == ["front door", "compute", COMMITMENT_OWED]


@pytest.mark.parametrize("months", [0, 0.5, 0.999, -12, 121, float("nan"), float("inf")])
def test_a_horizon_outside_1_to_120_months_is_refused_naming_the_field_and_bound(months):
    with pytest.raises(
        ValueError, match=r"horizon_months=.* must be at least 1 month and at most 120 months"
    ):
        ServingAssumptions(horizon_months=months)


def test_an_unknown_commitment_use_is_refused():
    with pytest.raises(ValueError, match="commitment_use='forever' must be one of horizon, full-term"):
        ServingAssumptions(commitment_use="forever")
