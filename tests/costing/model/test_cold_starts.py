"""Cold starts of Lambda and SageMaker serverless against hand-computed numbers: the share of requests that
start cold, the p95 of warm and cold requests together, the fix chosen when it misses the SLO, and the
option that no fix can save.

The literal profile (tests/model_literals.py) at Lambda's 1,024 MB: 1,024 / 1,769 = 0.57886 vCPU, so 3.45508x
the 2-CPU benchmark: a warm request's p50 100 ms -> 345.508 ms, p95 150 ms -> 518.262 ms, mean 110 ms ->
380.059 ms. With no cold start measured, our handler's is the default 1.4 s; Lambda's platform adds 1 s,
SageMaker serverless's 2 s; an idle environment lives 10 minutes.
"""

from __future__ import annotations

import math

import pytest
from model_literals import PROFILE, metrics_dict, profile, sheet

from costing.model.assumptions import (
    DEFAULT_COLD_START_ADDED_SECONDS,
    LAMBDA_KEEP_WARM,
    SAGEMAKER_SERVERLESS_KEEP_WARM,
    ServingAssumptions,
)
from costing.model.cold_starts import cold_share, p95_with_cold_starts
from costing.model.drivers import Drivers
from costing.model.grid import cost_scenario, plan_scenario
from costing.model.profile import ColdStartMeasurement, profile_from_metrics

DAYS = 365 / 12
# the literal sheet has no fix rates: these are the shipped snapshot's for us-east-1
FIXABLE = sheet(
    lambda_provisioned_usd_per_gb_second=0.0000041667,
    lambda_provisioned_duration_usd_per_gb_second=0.0000097222,
    sagemaker_serverless_provisioned_usd_per_gb_second=0.000005,
    sagemaker_serverless_provisioned_duration_usd_per_gb_second=0.00001165,
    eventbridge_scheduler_usd_per_million_invocations=1.0,
)
WARM_P50, WARM_P95, WARM_MEAN = 0.345508, 0.518262, 0.380059  # seconds at 1,024 MB (module docstring)
PINGS = 2_628_000 / 300  # a month of pings every 5 minutes: 8,760


def components(option) -> dict[str, float]:
    return {c.name: c.usd_per_month for c in option.components}


def test_the_share_of_cold_requests_at_100_10k_and_1m_a_day():
    # exp(-λ x 600 s), λ = requests / 86,400 s
    assert cold_share(100, 600) == pytest.approx(0.4993518, rel=1e-6)  # exp(-0.694444): every other one
    assert cold_share(10_000, 600) == pytest.approx(6.9288e-31, rel=1e-4)  # exp(-69.4444)
    assert cold_share(1_000_000, 600) == 0.0  # exp(-6,944.4) underflows
    assert cold_share(1_440, 60) == pytest.approx(math.exp(-1.0))  # one a minute, kept a minute
    assert LAMBDA_KEEP_WARM.idle_seconds == SAGEMAKER_SERVERLESS_KEEP_WARM.idle_seconds == 600
    for requests, share in ((100, 0.4993518), (10_000, 0.0), (1_000_000, 0.0)):
        option = cost_scenario(PROFILE, FIXABLE, requests).option("lambda")
        assert option.details["cold_start"]["share_without_fix"] == pytest.approx(share, abs=1e-7)


def test_the_p95_of_warm_and_cold_requests_together():
    # warm: lognormal with median 0.1 s and p95 0.2 s (sigma = ln 2 / 1.64485 = 0.421404); a cold one adds 2 s
    # 10 % cold: the p95 is a cold request's median, 1 - 0.05 / 0.10 = 0.5 of them: 2 + 0.1 = 2.1 s
    assert p95_with_cold_starts(0.1, 0.2, 2.0, 0.10) == pytest.approx(2.1, rel=1e-7)
    # 2 % cold: a warm quantile, F(x) = 0.95 / 0.98 = 0.969388 -> z = 1.871871 -> 0.1 x e^(0.421404 x 1.871871)
    assert p95_with_cold_starts(0.1, 0.2, 2.0, 0.02) == pytest.approx(0.2200783, rel=1e-6)
    assert p95_with_cold_starts(0.1, 0.2, 2.0, 0.0) == 0.2  # all warm: the warm p95
    assert p95_with_cold_starts(0.1, 0.2, 2.0, 1.0) == pytest.approx(2.2, rel=1e-7)  # all cold: 2 s + the p95
    # vectorised (the Monte Carlo): each element as alone
    import numpy as np

    shares = np.array([0.0, 0.02, 0.10, 1.0])
    assert p95_with_cold_starts(0.1, 0.2, 2.0, shares) == pytest.approx([0.2, 0.2200783, 2.1, 2.2], rel=1e-6)


def test_at_100_a_day_lambda_misses_the_slo_cold_and_a_keep_warm_ping_fixes_it():
    option = cost_scenario(PROFILE, FIXABLE, 100).option("lambda")
    cold = option.details["cold_start"]
    # a cold start adds the default 1.4 s (our handler, not measured here) + 1 s (Lambda's own start)
    assert (cold["added_seconds"], cold["handler_added_seconds"]) == (2.4, DEFAULT_COLD_START_ADDED_SECONDS)
    assert cold["basis"].startswith("DEFAULT 1.4 s, not measured for this model")
    # 49.935 % cold: the p95 is a cold request's, 2.4 s + the warm quantile 1 - 0.05 / 0.49935 = 0.899870:
    # z = 1.280812 -> 345.508 ms x e^(0.246505 x 1.280812) = 473.852 ms -> 2,873.78 ms, far above 1,000 ms
    assert cold["p95_ms_without_fix"] == pytest.approx(2_873.78, rel=1e-6)
    assert cold["warm_p95_ms"] == pytest.approx(518.262, rel=1e-6)
    # the fix: a ping every 5 minutes keeps an environment; no idle-gap cold starts, the warm p95 again
    assert cold["fix"] == "keep-warm ping every 5 min" and option.config.endswith(
        ", keep-warm ping every 5 min"
    )
    assert (cold["share"], cold["p95_ms"]) == (0.0, pytest.approx(518.262, rel=1e-6))
    assert option.details["latency_p95_ms"] == pytest.approx(518.262, rel=1e-6)
    lines = components(option)
    assert lines["Keep-warm pings (requests)"] == pytest.approx(PINGS / 1e6 * 0.20)  # $0.001752
    assert lines["Keep-warm pings (1,024 MB x 10 ms each)"] == pytest.approx(PINGS * 0.010 * 0.0000166667)
    assert lines["Keep-warm schedule (EventBridge Scheduler, every 5 min)"] == pytest.approx(
        PINGS / 1e6 * 1.0
    )
    # ... and the pings cost less than the cold starts' billed init they replace: 3,041.67 requests x 0.49935
    # cold x 1.4 s x 1 GB = 2,126.41 GB-s ($0.035441) against $0.011972 of pings: $0.023469 a month less
    assert cold["fix_usd_per_month"] == pytest.approx(0.011972 - 2_126.406 * 0.0000166667, rel=1e-4)
    assert (
        "p95 2,874 ms misses the 1,000 ms SLO -> keep-warm ping every 5 min (-$0.02/month net)"
        in " ".join(option.caveats)
    )


def test_without_the_ping_provisioned_concurrency_is_the_fix_and_costs_a_month_of_one_environment():
    no_ping = ServingAssumptions(allow_keep_warm_ping=False)
    option = cost_scenario(PROFILE, FIXABLE, 100, assumptions=no_ping).option("lambda")
    cold = option.details["cold_start"]
    assert cold["fix"] == "provisioned concurrency 1" and cold["p95_ms"] == pytest.approx(518.262, rel=1e-6)
    lines = components(option)
    # one environment of 1 GB kept 2,628,000 s a month: $10.95
    assert lines["Provisioned concurrency (1 x 1,024 MB, 24/7)"] == pytest.approx(2_628_000 * 0.0000041667)
    # the requests it serves bill the provisioned duration rate: 3,041.67 x 0.380559 s x 1 GB
    requests = 100 * DAYS
    assert lines["Compute (1,024 MB x mean billed duration)"] == pytest.approx(
        requests * (WARM_MEAN + 0.0005) * 0.0000097222, rel=1e-5
    )
    assert "provisioned concurrency 1 covers the peak concurrency 0.00" in " ".join(option.caveats)
    # SageMaker serverless the same way, at its own rates ($0.000005 per GB-second kept warm)
    serverless = cost_scenario(PROFILE, FIXABLE, 100, assumptions=no_ping).option("sagemaker-serverless")
    assert serverless.details["cold_start"]["fix"] == "provisioned concurrency 1"
    assert components(serverless)["Provisioned concurrency (1 x 1,024 MB, 24/7)"] == pytest.approx(13.14)


def test_no_fix_no_option_when_cold_starts_miss_the_slo():
    no_ping = ServingAssumptions(allow_keep_warm_ping=False)
    option = cost_scenario(PROFILE, sheet(), 100, assumptions=no_ping).option("lambda")  # no PC rates either
    assert not option.feasible and option.usd_per_month is None
    assert option.reason.startswith(
        "p95 with cold starts 2,874 ms misses the 1,000 ms SLO (49.9% of requests start cold, +2.40 s each) "
        "and no fix meets it: keep-warm ping: not allowed"
    )
    assert (
        "provisioned concurrency: price sheet literal (us-east-1) has no lambda_provisioned_usd_per_gb_second"
        in (option.reason)
    )
    # SageMaker serverless: 2 s of its own start, 3.4 s a cold start, p95 3,874 ms
    serverless = cost_scenario(PROFILE, sheet(), 100, assumptions=no_ping).option("sagemaker-serverless")
    assert not serverless.feasible and "p95 with cold starts 3,874 ms" in serverless.reason


def test_at_10k_and_1m_a_day_cold_starts_change_nothing():
    for requests in (10_000, 1_000_000):
        option = cost_scenario(PROFILE, FIXABLE, requests).option("lambda")
        cold = option.details["cold_start"]
        assert cold["fix"] == "" and cold["fix_usd_per_month"] == 0.0
        assert cold["p95_ms_without_fix"] == cold["p95_ms"] == pytest.approx(518.262, rel=1e-6)
        assert not any("eep-warm" in name or "rovisioned" in name for name in components(option))
        assert "meets the 1,000 ms SLO" in " ".join(option.caveats)


def test_a_measured_cold_start_replaces_the_default():
    measured = profile(
        cold_start=ColdStartMeasurement(
            handler_added_seconds=0.2,
            handler_spawn_to_answer_seconds=0.3,
            completion_chars=200,
            cpu_count=2,
            runs=3,
            measured_at="2026-12-07T00:00:00Z",
        )
    )
    # 1,000 a day: exp(-6.944) = 0.0964 % cold, +1.2 s each (0.2 s measured + 1 s Lambda's)
    option = cost_scenario(measured, FIXABLE, 1_000).option("lambda")
    cold = option.details["cold_start"]
    assert cold["added_seconds"] == pytest.approx(1.2)
    assert cold["share_without_fix"] == pytest.approx(0.000964, rel=1e-3)
    assert cold["basis"].startswith(
        "measured: a fresh handler process answers in 0.30 s, 0.20 s more than a warm"
    )
    # under 5 % cold: the p95 is a warm quantile, F(x) = 0.95 / (1 - 0.000964) = 0.950917 -> z = 1.653807
    # -> 345.508 ms x e^(0.246505 x 1.653807) = 519.407 ms; no fix needed
    assert cold["fix"] == "" and cold["p95_ms"] == pytest.approx(519.407, rel=1e-6)


def test_the_cold_start_section_of_metrics_json_is_read():
    section = {
        "completion_chars": 200,
        "cpu_count": 2,
        "server": {"ready_seconds": 1.6, "first_request_ms": 35.0},
        "handler": {"runs": 3, "spawn_to_answer_seconds": 1.7, "added_seconds": 1.68, "import_seconds": 1.2},
        "measured_at": "2026-12-07T00:00:00Z",
    }
    read = profile_from_metrics(metrics_dict(schema_version=3, serving=None, cold_start=section))
    assert read.cold_start == ColdStartMeasurement(
        handler_added_seconds=1.68,
        handler_spawn_to_answer_seconds=1.7,
        completion_chars=200,
        cpu_count=2,
        runs=3,
        handler_import_seconds=1.2,
        server_ready_seconds=1.6,
        server_first_request_ms=35.0,
        measured_at="2026-12-07T00:00:00Z",
    )
    assert not any("no cold start measured" in note for note in read.notes)
    older = profile_from_metrics(metrics_dict())  # version 1: no section, the default, said so
    assert older.cold_start is None
    assert "no cold start measured (python -m rnn coldstart)" in " ".join(older.notes)


def test_the_monte_carlo_sees_cold_starts_where_traffic_is_thinner():
    # 1,000 a day needs no fix at nominal; the samples with a quarter of that traffic start 17.6 % cold
    plans = plan_scenario(PROFILE, FIXABLE, 1_000)
    plan = plans.plan("lambda")
    import numpy as np

    drivers = Drivers(requests_per_day=np.array([1_000.0, 250.0]))
    p95 = plan.evaluate(drivers).latency_p95_seconds
    assert p95[0] == pytest.approx(plan.evaluate(Drivers(requests_per_day=1_000.0)).latency_p95_seconds)
    # exp(-250 / 86,400 x 600) = 0.17620 cold: 2.4 s + the warm quantile 1 - 0.05 / 0.1762 = 0.71623
    assert p95[1] == pytest.approx(
        p95_with_cold_starts(WARM_P50, WARM_P95, 2.4, math.exp(-250 / 86_400 * 600)), rel=1e-6
    )
    assert p95[1] > 2.4


def test_the_grid_json_and_the_text_table_say_it_in_the_row():
    import json

    from costing.model.grid import cost_grid
    from costing.report.tables import render_grid

    grid = cost_grid(PROFILE, FIXABLE, (100.0, 1_000_000.0))
    document = json.loads(json.dumps(grid.to_json_dict()))
    [low] = [o for o in document["scenarios"][0]["options"] if o["key"] == "lambda"]
    assert low["details"]["cold_start"]["fix"] == "keep-warm ping every 5 min"
    assert low["config"].endswith("keep-warm ping every 5 min")
    assert "Keep-warm schedule (EventBridge Scheduler, every 5 min)" in {
        c["name"] for c in low["cost_components"]
    }
    text = render_grid(grid)
    assert (
        "      cold starts: 49.9% of requests (idle > 10 min), +2.40 s each; p95 2,874 ms misses the 1,000 ms SLO "
        "-> keep-warm ping every 5 min (-$0.02/month net): p95 518 ms"
    ) in text
    assert (
        "      cold starts: 0.0% of requests (idle > 10 min), +2.40 s each; p95 518 ms meets the 1,000 ms SLO"
        in text
    )
