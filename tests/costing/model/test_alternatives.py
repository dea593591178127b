"""Every serving alternative against hand-computed numbers, plus properties that hold for any input:
cost never falls as requests grow, spot never costs more than on-demand, more interruptions never
lower the spot cost, and the vectorised grid agrees with the scalar model."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from datetime import date

import pytest
from model_literals import INSTANCES, MEASURED, PROFILE, SHEET, profile, sheet, shipped_sheet

from costing.choices import OPTIONS
from costing.model.assumptions import ServingAssumptions
from costing.model.drivers import Drivers
from costing.model.grid import cost_grid, cost_scenario, plan_scenario
from costing.model.results import GRID_SCHEMA, check_same_region
from costing.pricing.sheet import FreeTierAllowances, PriceTier

GIB = 2**30
DAYS = 365 / 12  # 30.4167 days per month
TEN_MILLION = 10_000_000
FREE_TIER = FreeTierAllowances(
    1_000_000, 400_000, 100, 10, 5, "https://aws.amazon.com/free/", date(2025, 6, 1)
)


@pytest.fixture(scope="module")
def shipped_price_sheet():
    return shipped_sheet()


def components(option) -> dict[str, float]:
    return {c.name: c.usd_per_month for c in option.components}


def quantity(option, prefix: str) -> float:
    return next(c.quantity for c in option.components if c.name.startswith(prefix))


def test_ec2_on_demand_fleet_and_every_supporting_line():
    option = cost_scenario(PROFILE, SHEET, TEN_MILLION).option("ec2-on-demand:c6i.large")
    # capacity: 1 process, batch 64 in 0.4 s -> 160 rps; peak 10M / 86,400 x 3 = 347.22 rps
    # -> ceil(347.22 / (160 x 0.6)) = 4 instances
    assert option.details["instances"] == 4
    assert option.details["batch_size"] == 64
    assert option.config == "4 x c6i.large, batch 64"
    requests = TEN_MILLION * DAYS  # 304,166,667 per month
    mean_rps = TEN_MILLION / 86_400
    expected = {
        "Instance usage (c6i.large, on-demand)": 4 * 730 * 0.10,  # 292.00
        # a weekly deploy starts 4 new instances that overlap 120 s (>= the 60 s minimum): 0.0578
        "Instance usage (c6i.large, on-demand): starts (deploys; >= 60 s billed each)": 4
        * 52
        / 12
        * 120
        / 3600
        * 0.10,
        "EBS gp3 root volume (20 GB each)": 4 * 20 * 0.08,  # 6.40
        # the default requirement (public, multi-AZ): an internet-facing ALB in two zones ...
        "Application Load Balancer": 730 * 0.0225,  # 16.425
        "ALB capacity units": mean_rps / 25 * 730 * 0.008,  # new connections dominate: 27.04
        "Public IPv4 addresses of the ALB (one per zone, x2)": 2 * 730 * 0.005,  # 7.30
        # ... and egress through the instances' own public addresses: $14.60, less than a NAT gateway
        # ($32.85 + its address $3.65 + GB) or 4 interface endpoints in 2 zones ($58.40 + GB)
        "Public IPv4 addresses (one per instance or task)": 4 * 730 * 0.005,
        "CloudWatch custom metrics": (5 + 4 * 2) * 0.30,  # 3.90
        "CloudWatch Logs ingestion": requests * 200 / GIB * 0.50,
        "CloudWatch Logs storage (1 month retention)": requests * 200 / GIB * 0.03,
        "Data transfer out to the internet": requests * (200 + 300) / GIB * 0.09,  # 500 B/response
        "Model file in S3 Standard": 10 / 1024 * 0.023,
    }
    assert components(option) == pytest.approx(expected)
    assert option.usd_per_month == pytest.approx(sum(expected.values()))
    assert option.usd_per_month == pytest.approx(410.49, abs=0.01)
    assert option.usd_per_request == pytest.approx(option.usd_per_month / requests)
    assert option.usd_per_1k_requests == pytest.approx(1000 * option.usd_per_request)


def test_spot_adds_a_buffer_and_replacement_warm_up():
    option = cost_scenario(PROFILE, SHEET, TEN_MILLION).option("ec2-spot:c6i.large")
    # 4 instances + max(1, ceil(10 % of 4)) = 5; 5 x 5 % interruptions x 5 min warm-up = 0.0208 h,
    # plus 5 x 52/12 deploy starts x 120 s = 0.7222 h
    assert option.details["instances"] == 5
    parts = components(option)
    assert parts["Instance usage (c6i.large, spot)"] == pytest.approx(5 * 730 * 0.04)
    starts = "Instance usage (c6i.large, spot): starts (deploys, spot replacements; >= 60 s billed each)"
    assert quantity(option, starts) == pytest.approx(5 * 0.05 * 5 / 60 + 5 * 52 / 12 * 120 / 3600)
    assert parts[starts] == pytest.approx((0.25 / 12 + 0.72222) * 0.04, rel=1e-4)
    assert any("2 minutes' notice" in caveat for caveat in option.caveats)


def test_every_start_bills_at_least_the_platform_minimum():
    short = ServingAssumptions(deploy_overlap_seconds=20.0)
    ec2 = cost_scenario(PROFILE, SHEET, TEN_MILLION, assumptions=short).option("ec2-on-demand:c6i.large")
    # 20 s of overlap bills 60 s on EC2: 4 instances x 52/12 deploys x 60 s = 0.2889 h
    assert quantity(ec2, "Instance usage (c6i.large, on-demand): starts") == pytest.approx(
        4 * 52 / 12 * 60 / 3600
    )
    fargate = cost_scenario(PROFILE, SHEET, 10_000, assumptions=short).option("fargate")
    # Fargate: 1-minute minimum per task: 2 tasks x 52/12 x 60 s x 0.5 vCPU
    assert quantity(fargate, "Fargate vCPU (0.5 per task): starts") == pytest.approx(
        2 * 52 / 12 * 60 / 3600 * 0.5
    )
    sagemaker = cost_scenario(PROFILE, SHEET, 10_000, assumptions=short).option("sagemaker-realtime")
    # SageMaker hosting is billed per second with no minimum: the 20 s count as they are
    assert quantity(sagemaker, "Real-time endpoint instance (ml.c5.large): starts") == pytest.approx(
        2 * 52 / 12 * 20 / 3600
    )


def test_public_ipv4_addresses_of_the_alb_and_every_instance_or_the_nat_gateway():
    option = cost_scenario(PROFILE, SHEET, TEN_MILLION).option("ec2-on-demand:c6i.large")
    assert components(option)["Public IPv4 addresses of the ALB (one per zone, x2)"] == pytest.approx(7.30)
    assert components(option)["Public IPv4 addresses (one per instance or task)"] == pytest.approx(4 * 3.65)
    # the cheapest way out, per volume: 11 instances' addresses (11 x $3.65 = $40.15) cost less than a NAT
    # gateway with its own address ($32.85 + $3.65 + (169.95 GB of logs + 11 x 52/12 GB of images) x $0.045
    # = $46.29) ...
    busy = cost_scenario(PROFILE, SHEET, 30_000_000).option("ec2-on-demand:c6i.large")
    assert busy.details["instances"] == 11
    assert components(busy)["Public IPv4 addresses (one per instance or task)"] == pytest.approx(40.15)
    # ... 22 instances' ($80.30) cost more: $36.50 + (339.90 + 22 x 52/12) GB x $0.045 = $56.09
    huge = cost_scenario(PROFILE, SHEET, 60_000_000).option("ec2-on-demand:c6i.large")
    assert huge.details[
        "instances"
    ] == 22 and "Public IPv4 addresses (one per instance or task)" not in components(huge)
    nat = (
        "NAT gateway",
        "NAT gateway data processed (image pulls, logs)",
        "Public IPv4 address of the NAT gateway (x1)",
    )
    assert sum(components(huge)[name] for name in nat) == pytest.approx(56.09, abs=0.01)
    # without a NAT gateway (use_nat_gateway=False), 4 interface endpoints in 2 zones ($58.40 + 435.2 GB x
    # $0.01 = $62.75) still beat 22 addresses
    no_nat = cost_scenario(
        PROFILE, SHEET, 60_000_000, assumptions=ServingAssumptions(use_nat_gateway=False)
    ).option("ec2-on-demand:c6i.large")
    assert "NAT gateway" not in components(no_nat)
    egress = next(p for p in no_nat.design if p.role == "egress")
    assert egress.choice.startswith("interface endpoints") and egress.usd_per_month == pytest.approx(
        62.75, abs=0.01
    )
    # Lambda and SageMaker hold no address billed to the account
    public = cost_scenario(PROFILE, SHEET, TEN_MILLION)
    for name in ("lambda", "sagemaker-realtime", "sagemaker-serverless"):
        assert not any(c.service == "AmazonVPC" for c in public.option(name).components)
    missing = cost_scenario(PROFILE, sheet(public_ipv4_usd_per_hour=None), 100).option(
        "ec2-on-demand:c6i.large"
    )
    assert not missing.feasible and "has no public_ipv4_usd_per_hour" in missing.reason


def test_reserved_uses_the_effective_rate_or_says_why_not():
    scenario = cost_scenario(PROFILE, SHEET, TEN_MILLION)
    assert components(scenario.option("ec2-reserved-1yr:c6i.large"))[
        "Instance usage (c6i.large, reserved-1yr)"
    ] == pytest.approx(4 * 730 * 0.06)
    assert components(scenario.option("ec2-reserved-3yr:c6i.large"))[
        "Instance usage (c6i.large, reserved-3yr)"
    ] == pytest.approx(4 * 730 * 0.04)
    missing = scenario.option("ec2-reserved-1yr:c6i.xlarge")
    assert not missing.feasible and missing.usd_per_month is None
    assert "no reserved rate '1yr/standard/No Upfront' for c6i.xlarge" in missing.reason
    no_spot = scenario.option("ec2-spot:m7g.large")
    assert not no_spot.feasible and "no spot price for m7g.large" in no_spot.reason


def test_burstable_instances_are_sized_for_their_baseline():
    a = ServingAssumptions(target_utilisation=1.0)
    option = cost_scenario(PROFILE, SHEET, TEN_MILLION, assumptions=a).option("ec2-on-demand:t3.small")
    # peak: ceil(347.22 / 160) = 3; baseline: ceil(115.74 / (160 x 20 %)) = 4
    assert option.details["instances"] == 4
    assert any("20% CPU baseline" in caveat for caveat in option.caveats)


def test_lambda_gb_seconds_requests_and_logs():
    option = cost_scenario(PROFILE, SHEET, 10_000).option("lambda")
    requests = 10_000 * DAYS  # 304,166.67
    # each request bills its own duration, so the mean: 1,024 MB -> 1,024 / 1,769 vCPU -> 110 ms x 2 x
    # 1,769 / 1,024 = 380.06 ms, rounded up per request to 1 ms: 380.56 ms on average
    billed_s = (110 * 2 * 1769 / 1024 + 0.5) / 1000
    assert option.details["memory_mb"] == 1_024
    assert option.details["duration_ms"] == pytest.approx(380.06, abs=0.01)
    expected = {
        "Requests": requests / 1e6 * 0.20,
        "Compute (1,024 MB x mean billed duration)": requests * billed_s * 1.0 * 0.0000166667,
        "CloudWatch custom metrics": 5 * 0.30,
        "CloudWatch Logs ingestion": requests * (200 + 260) / GIB * 0.50,  # + Lambda's START/END/REPORT
        "CloudWatch Logs storage (1 month retention)": requests * 460 / GIB * 0.03,
        "Data transfer out to the internet": requests * 500 / GIB * 0.09,
        "Model file in S3 Standard": 10 / 1024 * 0.023,
        "Lambda function URL (no charge)": 0.0,  # the public front door (design)
    }
    assert components(option) == pytest.approx(expected)
    assert quantity(option, "Compute") == pytest.approx(115_753.4, rel=1e-5)
    # at the median (100 ms, as before the mean was measured) it would be 9.1 % less
    median = cost_scenario(profile(latency_mean_ms=None), SHEET, 10_000).option("lambda")
    assert quantity(median, "Compute") == pytest.approx(requests * (100 * 2 * 1769 / 1024 + 0.5) / 1000)
    assert [p.choice for p in option.design if p.role == "front door"] == ["Lambda function URL"]


def test_sagemaker_realtime_picks_the_cheapest_fitting_type():
    option = cost_scenario(PROFILE, SHEET, 10_000).option("sagemaker-realtime")
    assert option.instance_type == "ml.c5.large"
    assert option.details["instances"] == 2
    assert components(option)["Real-time endpoint instance (ml.c5.large)"] == pytest.approx(2 * 730 * 0.102)
    assert not any(c.service == "AWSELB" for c in option.components)


def test_sagemaker_serverless_bills_memory_seconds_and_data_processed():
    option = cost_scenario(PROFILE, SHEET, 10_000).option("sagemaker-serverless")
    requests = 10_000 * DAYS
    assert option.instance_type == "1,024 MB"
    assert components(option)["Compute (1,024 MB x mean billed duration)"] == pytest.approx(
        requests * (110 * 2 * 1769 / 1024 + 0.5) / 1000 * 0.00002
    )
    assert components(option)["Data processed (in + out)"] == pytest.approx(
        requests * (300 + 500) / GIB * 0.016
    )


def test_fargate_picks_the_cheapest_task_size_that_meets_the_slo():
    option = cost_scenario(PROFILE, SHEET, 10_000).option("fargate")
    # 0.25 vCPU is 8x slower: p95 1.2 s > 1 s; 0.5 vCPU / 1 GB (4x: 0.6 s at batch 1) is the cheapest that fits
    assert option.instance_type == "0.5 vCPU / 1 GB"
    assert option.details["instances"] == 2 and option.details["batch_size"] == 1
    parts = components(option)
    assert parts["Fargate vCPU (0.5 per task)"] == pytest.approx(2 * 730 * 0.5 * 0.04048)
    assert parts["Fargate memory (1 GB per task)"] == pytest.approx(2 * 730 * 1 * 0.004445)
    # public, multi-AZ: an internet-facing ALB, and each task's own public address for image pulls and logs
    assert "Application Load Balancer" in parts and "NAT gateway" not in parts
    assert parts["Public IPv4 addresses (one per instance or task)"] == pytest.approx(2 * 3.65)
    assert "EBS gp3 root volume (20 GB each)" not in parts


def test_cloudflare_workers_is_priced_but_not_a_drop_in():
    option = cost_scenario(PROFILE, SHEET, 1_000_000).option("cloudflare-workers")
    requests = 1_000_000 * DAYS  # 30,416,667
    # one CPU does the work of the 2-CPU benchmark, billed per request so at the mean: 110 ms x 2 = 220 CPU-ms
    assert option.feasible and not option.drop_in
    assert option.details["cpu_ms_per_request"] == pytest.approx(220.0)
    assert components(option) == pytest.approx(
        {
            "Workers Paid subscription": 5.0,
            "Requests beyond 10M included": (requests - 10e6) / 1e6 * 0.30,
            "CPU time beyond 30M ms included": (requests * 220 - 30e6) / 1e6 * 0.02,
        }
    )
    assert option.usd_per_month == pytest.approx(144.36, abs=0.01)
    assert any(caveat.startswith("requires re-implementation") for caveat in option.caveats)
    # a model too large for a Worker isolate (10 MiB x 2 per byte = 20 MB; 100 MiB -> 200 MB > 128 MB)
    too_big = cost_scenario(profile(model_file_bytes=100 * 2**20), SHEET, 100).option("cloudflare-workers")
    assert not too_big.feasible and "128 MB isolate limit" in too_big.reason


def test_cheapest_is_a_feasible_drop_in_option():
    scenario = cost_scenario(PROFILE, SHEET, 10_000)
    feasible = [o for o in scenario.options if o.feasible and o.drop_in]
    assert scenario.cheapest == min(feasible, key=lambda o: o.usd_per_month).key
    assert scenario.cheapest == "lambda"
    best = scenario.best_per_option()
    assert list(best) == list(OPTIONS)
    assert best["ec2-on-demand"].instance_type == "t3.small"


def test_a_missing_rate_makes_an_option_infeasible_never_free():
    scenario = cost_scenario(
        PROFILE,
        sheet(
            alb_usd_per_hour=None,
            lambda_x86_usd_per_gb_second=None,
            cloudflare_workers=None,
            sagemaker_instances={},
        ),
        10_000,
    )
    on_demand = scenario.option("ec2-on-demand:c6i.large")
    assert not on_demand.feasible and "has no alb_usd_per_hour" in on_demand.reason
    assert "has no alb_usd_per_hour" in scenario.option("fargate").reason
    assert "lambda_x86_usd_per_gb_second" in scenario.option("lambda").reason
    assert "no SageMaker real-time instance prices" in scenario.option("sagemaker-realtime").reason
    # a public SageMaker endpoint's front door is a Lambda function: without Lambda's rate it cannot be priced
    serverless = scenario.option("sagemaker-serverless")
    assert not serverless.feasible and "lambda_x86_usd_per_gb_second" in serverless.reason
    assert "(needed for its front door)" in serverless.reason
    assert scenario.cheapest is None
    # reached through an interface endpoint instead (internal), it can
    internal = cost_scenario(
        PROFILE,
        sheet(alb_usd_per_hour=None, lambda_x86_usd_per_gb_second=None, sagemaker_instances={}),
        10_000,
        assumptions=ServingAssumptions(exposure="internal"),
    )
    assert internal.option("sagemaker-serverless").feasible and internal.cheapest == "sagemaker-serverless"


def test_a_process_too_large_for_an_instance_is_infeasible():
    scenario = cost_scenario(profile(peak_rss_bytes=3 * 2**30), SHEET, 100)
    small = scenario.option("ec2-on-demand:t3.small")
    assert not small.feasible and "needs 3,072 MB for one serving process, has 1,536 MB" in small.reason
    assert scenario.option("ec2-on-demand:c6i.xlarge").feasible


def test_latency_slo_limits_batching_or_rules_an_option_out():
    strict = cost_scenario(PROFILE, SHEET, 10_000, assumptions=ServingAssumptions(latency_slo_ms=400))
    assert strict.option("ec2-on-demand:c6i.large").details["batch_size"] == 16  # 0.3 s; batch 64 takes 0.6 s
    impossible = cost_scenario(PROFILE, SHEET, 10_000, assumptions=ServingAssumptions(latency_slo_ms=100))
    assert not impossible.option("ec2-on-demand:c6i.large").feasible
    assert impossible.cheapest is None


@pytest.mark.parametrize("the_sheet", ["literal", "shipped"])
def test_monthly_cost_never_falls_as_requests_grow(the_sheet, shipped_price_sheet):
    price_sheet = SHEET if the_sheet == "literal" else shipped_price_sheet
    volumes = [10 * 1.7**i for i in range(30)]  # 10 ... ~48M requests/day
    grid = cost_grid(PROFILE, price_sheet, volumes)
    keys = {o.key for s in grid.scenarios for o in s.options if o.feasible}
    for key in keys:
        costs = [s.option(key).usd_per_month for s in grid.scenarios if s.option(key).feasible]
        assert all(b >= a - 1e-9 for a, b in itertools.pairwise(costs)), key


@pytest.mark.parametrize("requests_per_day", [100, 10_000, 1_000_000, 30_000_000])
def test_spot_never_costs_more_than_on_demand_for_the_same_type(requests_per_day, shipped_price_sheet):
    """Holds whenever spot/on-demand <= n / (n + buffer): every type in the shipped and literal sheets."""
    for price_sheet in (SHEET, shipped_price_sheet):
        scenario = cost_scenario(PROFILE, price_sheet, requests_per_day)
        for name in price_sheet.instances:
            spot = scenario.option(f"ec2-spot:{name}")
            on_demand = scenario.option(f"ec2-on-demand:{name}")
            if spot.feasible and on_demand.feasible:
                assert spot.usd_per_month <= on_demand.usd_per_month, (name, requests_per_day)


def test_more_interruptions_never_lower_the_spot_serving_cost():
    plan = plan_scenario(PROFILE, SHEET, 1_000_000).plan("ec2-spot:c6i.large")
    costs = [
        float(plan.evaluate(Drivers(1_000_000, interruption_factor=f)).usd_per_month)
        for f in (0, 0.5, 1, 2, 5, 20)
    ]
    assert costs == sorted(costs) and costs[-1] > costs[0]


def test_vectorised_evaluation_matches_the_scalar_one():
    import numpy as np

    plans = plan_scenario(PROFILE, SHEET, 1_000_000)
    volumes = np.array([100.0, 10_000.0, 1_000_000.0, 10_000_000.0])
    for plan in plans.plans:
        vector = plan.evaluate(Drivers(volumes, latency_factor=np.full(4, 1.1))).usd_per_month
        scalar = [float(plan.evaluate(Drivers(v, latency_factor=1.1)).usd_per_month) for v in volumes]
        assert np.allclose(vector, scalar), plan.key


def test_grid_json_is_versioned_infracost_like_and_adds_up():
    grid = cost_grid(PROFILE, SHEET)
    document = json.loads(json.dumps(grid.to_json_dict(), allow_nan=False))
    assert (document["schema"], document["schema_version"]) == (GRID_SCHEMA, 1)
    assert (document["region"], document["snapshot_id"], document["prices_as_of"]) == (
        "us-east-1",
        "literal",
        "2025-06-01",
    )
    assert [s["requests_per_day"] for s in document["scenarios"]] == [100, 10_000, 1_000_000]
    for scenario in document["scenarios"]:
        assert scenario["cheapest"] in {o["key"] for o in scenario["options"] if o["feasible"]}
        for option in scenario["options"]:
            if not option["feasible"]:
                assert option["monthly_cost"] is None and option["reason"]
                continue
            for component in option["cost_components"]:
                assert set(component) == {
                    "name",
                    "service",
                    "unit",
                    "monthly_quantity",
                    "price",
                    "monthly_cost",
                }
                assert component["monthly_cost"] == pytest.approx(
                    component["monthly_quantity"] * component["price"]
                )
            assert option["monthly_cost"] == pytest.approx(
                sum(c["monthly_cost"] for c in option["cost_components"])
            )


def test_grid_dataframes():
    grid = cost_grid(PROFILE, SHEET)
    frame = grid.to_dataframe()
    assert len(frame) == sum(len(s.options) for s in grid.scenarios)
    assert frame["cheapest"].sum() == 3
    parts = grid.to_dataframe(components=True)
    lambda_high = parts[(parts["key"] == "lambda") & (parts["requests_per_day"] == 1_000_000)]
    assert lambda_high["usd_per_month"].sum() == pytest.approx(
        grid.scenario(1_000_000).option("lambda").usd_per_month
    )


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="requests_per_day=0 must be a positive"):
        cost_scenario(PROFILE, SHEET, 0)
    with pytest.raises(ValueError, match=r"not in price sheet literal \(us-east-1\)"):
        cost_scenario(PROFILE, SHEET, 100, instance_types=["x9.huge"])
    with pytest.raises(ValueError, match="mix regions"):
        check_same_region("us-east-1", "eu-west-1", what="the sheets")
    with pytest.raises(ValueError, match="target_utilisation"):
        ServingAssumptions(target_utilisation=1.5)
    assert math.isclose(
        cost_scenario(PROFILE, SHEET, 100, instance_types=["c6i.large"]).requests_per_month, 100 * DAYS
    )


DATA_OUT_TIERS = (
    PriceTier(0, 10_240, 0.09),
    PriceTier(10_240, 51_200, 0.085),
    PriceTier(51_200, 153_600, 0.07),
    PriceTier(153_600, math.inf, 0.05),
)
LAMBDA_TIERS = (
    PriceTier(0, 6e9, 0.0000166667),
    PriceTier(6e9, 15e9, 0.000015),
    PriceTier(15e9, math.inf, 0.0000133334),
)


def test_volume_tiers_are_applied_at_the_volume_reached():
    tiered = sheet(data_transfer_out_tiers=DATA_OUT_TIERS, lambda_x86_gb_second_tiers=LAMBDA_TIERS)
    # 100 kB per response at 10M requests/day: 304,166,667 x 100,000 B / 2^30 = 28,327.5 GB a month
    big = ServingAssumptions(response_overhead_bytes=100_000 - 200)
    option = cost_scenario(PROFILE, tiered, TEN_MILLION, assumptions=big).option("ec2-on-demand:c6i.large")
    gb = TEN_MILLION * DAYS * 100_000 / GIB
    parts = components(option)
    assert parts["Data transfer out to the internet (first 10,240 GB)"] == pytest.approx(10_240 * 0.09)
    assert parts["Data transfer out to the internet (10,240-51,200 GB)"] == pytest.approx(
        (gb - 10_240) * 0.085
    )
    assert not any("over 153,600 GB" in name for name in parts)  # a tier not reached is left out
    # the first tier at any volume (the old rule) would have charged $90.44 more
    assert gb * 0.09 - (10_240 * 0.09 + (gb - 10_240) * 0.085) == pytest.approx(90.44, abs=0.01)
    # Lambda at 1 billion requests a day: 30.4B requests x 0.38056 s x 1 GB = 11.58B GB-seconds
    lam = cost_scenario(PROFILE, tiered, 1e9).option("lambda")
    gb_seconds = 1e9 * DAYS * (110 * 2 * 1769 / 1024 + 0.5) / 1000
    assert quantity(lam, "Compute (1,024 MB x mean billed duration) (first 6B") == pytest.approx(6e9)
    assert components(lam)["Compute (1,024 MB x mean billed duration) (6B-15B GB-seconds)"] == pytest.approx(
        (gb_seconds - 6e9) * 0.000015
    )


def test_free_tiers_are_an_explicit_option_and_every_option_says_so():
    off = cost_scenario(PROFILE, SHEET, 10_000).option("lambda")
    assert "free tiers not applied" in " ".join(off.caveats)
    assert (
        cost_scenario(PROFILE, SHEET, 10_000)
        .option("ec2-on-demand:c6i.large")
        .caveats[-1]
        .startswith("free tiers not applied")
    )
    free = sheet(free_tier=FREE_TIER)
    on = cost_scenario(PROFILE, free, 10_000, assumptions=ServingAssumptions(apply_free_tiers=True))
    lam = on.option("lambda")
    assert any(c.startswith("free tiers applied") for c in lam.caveats)
    parts = components(lam)
    requests = 10_000 * DAYS  # 304,167 < 1M free requests; 115,753 GB-s < 400,000; 0.14 GB < 100 GB
    assert quantity(lam, "Requests, free tier (1M requests a month)") == pytest.approx(requests / 1e6)
    assert parts["Requests"] == 0.0
    assert quantity(lam, "Compute (1,024 MB x mean billed duration), free tier") == pytest.approx(
        requests * (110 * 2 * 1769 / 1024 + 0.5) / 1000
    )
    assert parts["Compute (1,024 MB x mean billed duration)"] == 0.0
    assert parts["Data transfer out to the internet"] == 0.0
    assert parts["CloudWatch custom metrics"] == 0.0  # 5 metrics of the 10 free
    # what is left: log storage and the model file
    assert lam.usd_per_month == pytest.approx(requests * 460 / GIB * 0.03 + 10 / 1024 * 0.023)
    # beyond the allowance only the excess is billed: 1M requests a day -> 30.4M requests, 1M free
    busy = cost_scenario(PROFILE, free, 1_000_000, assumptions=ServingAssumptions(apply_free_tiers=True))
    assert components(busy.option("lambda"))["Requests"] == pytest.approx(
        (1_000_000 * DAYS - 1e6) / 1e6 * 0.20
    )
    # asked for without a table: not applied, and said
    none = cost_scenario(PROFILE, SHEET, 10_000, assumptions=ServingAssumptions(apply_free_tiers=True))
    assert "no free-tier table: not applied" in " ".join(none.option("lambda").caveats)


def test_savings_plans_are_priced_like_for_like_and_derived_rates_say_so():
    c6i = INSTANCES["c6i.large"]
    rates = {"Compute/1yr/No Upfront": 0.07, "EC2Instance/3yr/No Upfront": 0.045}
    planned = sheet(
        instances={
            **INSTANCES,
            "c6i.large": replace(
                c6i, savings_plan_usd_per_hour=rates, derived_rates=frozenset({"Compute/1yr/No Upfront"})
            ),
        }
    )
    scenario = cost_scenario(PROFILE, planned, TEN_MILLION)
    compute = scenario.option("ec2-compute-sp-1yr:c6i.large")
    assert components(compute)["Instance usage (c6i.large, compute-sp-1yr)"] == pytest.approx(4 * 730 * 0.07)
    assert any("1-year Compute Savings Plan" in c and "Fargate and Lambda" in c for c in compute.caveats)
    assert any("DERIVED" in c for c in compute.caveats)
    instance = scenario.option("ec2-instance-sp-3yr:c6i.large")
    assert components(instance)["Instance usage (c6i.large, instance-sp-3yr)"] == pytest.approx(
        4 * 730 * 0.045
    )
    assert any("the c6i family in us-east-1 only" in c for c in instance.caveats)
    assert not any("DERIVED" in c for c in instance.caveats)
    missing = scenario.option("ec2-instance-sp-1yr:c6i.large")
    assert not missing.feasible and "no Savings Plans rate 'EC2Instance/1yr/No Upfront'" in missing.reason
    # like for like: every EC2 pricing model of the cheapest on-demand type
    instance_type, options = scenario.like_for_like()
    assert instance_type == scenario.best_per_option()["ec2-on-demand"].instance_type
    assert {o.instance_type for o in options.values()} == {instance_type}
    assert list(options)[:4] == ["ec2-on-demand", "ec2-spot", "ec2-reserved-1yr", "ec2-reserved-3yr"]


def test_shipped_reserved_rows_compare_the_same_instance_type(shipped_price_sheet):
    """Every type priced on demand has reserved rates, so a commitment used for its whole term is never
    dearer than on-demand of its type; left at a 12-month horizon, a 3-year one is."""
    full_term = ServingAssumptions(commitment_use="full-term")
    scenario = cost_scenario(PROFILE, shipped_price_sheet, 10_000, assumptions=full_term)
    best = scenario.best_per_option()
    for option in ("ec2-reserved-1yr", "ec2-reserved-3yr", "ec2-instance-sp-1yr", "ec2-compute-sp-3yr"):
        assert best[option].usd_per_month < best["ec2-on-demand"].usd_per_month, option
    left = cost_scenario(PROFILE, shipped_price_sheet, 10_000).best_per_option()
    for option in ("ec2-reserved-3yr", "ec2-compute-sp-3yr", "ec2-instance-sp-3yr"):
        assert left[option].usd_per_month > left["ec2-on-demand"].usd_per_month, option
    scenario = cost_scenario(PROFILE, shipped_price_sheet, 10_000)
    for name in shipped_price_sheet.instances:
        on_demand = scenario.option(f"ec2-on-demand:{name}")
        reserved = scenario.option(f"ec2-reserved-1yr:{name}")
        if on_demand.feasible:
            assert reserved.feasible and reserved.usd_per_month < on_demand.usd_per_month, name


def test_fleets_are_sized_from_the_measured_capacity_and_say_so():
    scenario = cost_scenario(MEASURED, SHEET, TEN_MILLION)
    ec2 = scenario.option("ec2-on-demand:c6i.large")
    # the load test: 40 rps per 2-vCPU server -> ceil(347.22 / (40 x 0.6)) = 15 instances (the formula's
    # 160 rps gave 4)
    assert ec2.details["instances"] == 15 and ec2.config == "15 x c6i.large, batch 64"
    assert ec2.details["capacity_source"] == "measured" and ec2.details["capacity_rps_per_instance"] == 40.0
    assert ec2.details["capacity_rps_per_instance_formula"] == pytest.approx(160.0)
    assert ec2.details["capacity_measured_to_formula"] == pytest.approx(0.25)
    assert (
        "capacity 40.0 requests/s per instance: measured on 2 CPUs (load test: 40.0 requests/s at p95 <= "
        "1,000 ms, 200 chars)" in ec2.caveats
    )
    assert components(ec2)["Instance usage (c6i.large, on-demand)"] == pytest.approx(15 * 730 * 0.10)
    # 4 vCPU: two server processes -> 80 rps -> ceil(347.22 / 48) = 8
    assert scenario.option("ec2-on-demand:c6i.xlarge").details["instances"] == 8
    for key in ("sagemaker-realtime", "fargate"):
        assert scenario.option(key).details["capacity_source"] == "measured", key


def test_without_a_load_test_fleets_use_the_formula_and_say_so():
    ec2 = cost_scenario(PROFILE, SHEET, TEN_MILLION).option("ec2-on-demand:c6i.large")
    assert ec2.details["instances"] == 4 and ec2.details["capacity_source"] == "formula"
    assert ec2.details["capacity_measured_to_formula"] is None
    assert "capacity 160.0 requests/s per instance: formula (no load test in metrics.json)" in ec2.caveats


def test_the_grid_document_shows_measured_and_formula_capacity_side_by_side():
    document = cost_grid(MEASURED, SHEET, [TEN_MILLION]).to_json_dict()
    assert document["capacity"]["measured_rps"] == 40.0
    assert document["capacity"]["formula_rps"] == pytest.approx(160.0)
    assert document["capacity"]["ratio"] == pytest.approx(0.25)
    assert document["profile"]["serving"]["max_rps_at_slo"] == 40.0
    assert cost_grid(PROFILE, SHEET, [TEN_MILLION]).to_json_dict()["capacity"]["measured_rps"] is None
