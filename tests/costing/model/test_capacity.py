"""Capacity formulas against hand-computed numbers; the same formulas on numpy arrays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from model_literals import MEASURED, PROFILE, SERVING, profile

from costing.model import capacity as inference
from costing.model.capacity import ServingPoint


def test_peak_and_mean_request_rates():
    # 1,000,000 / 86,400 = 11.574 rps on average; x3 at peak = 34.722 rps
    assert inference.mean_requests_per_second(1_000_000) == pytest.approx(11.574074)
    assert inference.peak_requests_per_second(1_000_000, 3.0) == pytest.approx(34.722222)


@pytest.mark.parametrize(
    ("peak_rps", "capacity_rps", "utilisation", "minimum", "expected"),
    [
        (34.722, 160.0, 0.6, 2, 2),  # ceil(0.36) = 1 -> at least 2
        (347.22, 160.0, 0.6, 2, 4),  # ceil(3.617) = 4
        (96.0, 160.0, 0.6, 1, 1),  # exactly one instance's share: no spurious rounding up
        (96.0000001, 160.0, 0.6, 1, 2),
        (1000.0, 10.0, 1.0, 2, 100),
    ],
)
def test_instances_needed(peak_rps, capacity_rps, utilisation, minimum, expected):
    assert inference.instances_needed(peak_rps, capacity_rps, utilisation, minimum) == expected


def test_instances_needed_on_arrays_matches_scalars():
    peaks = np.array([34.722, 347.22, 96.0])
    assert list(inference.instances_needed(peaks, 160.0, 0.6, 2)) == [2.0, 4.0, 2.0]


def test_burstable_fleet_keeps_its_mean_load_under_the_baseline():
    # 115.74 rps on average against 160 rps x 20 % baseline = 32 rps per instance -> ceil(3.617) = 4
    assert inference.burstable_instances_needed(115.74, 160.0, 0.2) == 4


def test_serving_point_picks_the_largest_batch_within_the_slo():
    # 4 vCPU = 2 processes; batch 64 takes 64 x 200 / 32,000 = 0.4 s, p95 0.6 s <= 1 s
    point = inference.serving_point(
        PROFILE, vcpus=4, memory_available_mb=7_680, tokens=200, latency_slo_seconds=1.0
    )
    assert point == ServingPoint(
        vcpus=4,
        processes=2.0,
        batch_size=64,
        latency_p95_seconds=pytest.approx(0.6),
        capacity_rps=pytest.approx(2 * 64 / 0.4),
        memory_limited=False,
        capacity_source="formula",
        formula_capacity_rps=pytest.approx(2 * 64 / 0.4),
        basis="formula (no load test in metrics.json)",
    )
    # SLO 0.5 s: batch 64 (0.6 s) misses, batch 16 (0.2 s x 1.5 = 0.3 s) meets -> 2 x 16 / 0.2 = 160 rps
    point = inference.serving_point(
        PROFILE, vcpus=4, memory_available_mb=7_680, tokens=200, latency_slo_seconds=0.5
    )
    assert (point.batch_size, point.capacity_rps) == (16, pytest.approx(160.0))


def test_serving_point_below_the_benchmark_cpus_runs_slower():
    # 0.5 vCPU against 2 benchmark CPUs: 4x slower. Batch 1: p95 0.15 x 4 = 0.6 s; capacity 1 / 0.1 / 4 = 2.5 rps
    point = inference.serving_point(
        PROFILE, vcpus=0.5, memory_available_mb=512, tokens=200, latency_slo_seconds=1.0
    )
    assert point.batch_size == 1
    assert point.latency_p95_seconds == pytest.approx(0.6)
    assert point.capacity_rps == pytest.approx(2.5)


def test_serving_point_memory_and_slo_limits():
    # 8 vCPU would run 4 processes of 512 MB, but 1,200 MB holds only 2
    point = inference.serving_point(
        PROFILE, vcpus=8, memory_available_mb=1_200, tokens=200, latency_slo_seconds=1.0
    )
    assert point.processes == 2 and point.memory_limited
    assert point.capacity_rps == pytest.approx(2 * 64 / 0.4)
    reason = inference.serving_point(
        PROFILE, vcpus=2, memory_available_mb=400, tokens=200, latency_slo_seconds=1.0
    )
    assert reason.startswith("needs 512 MB")
    reason = inference.serving_point(
        PROFILE, vcpus=2, memory_available_mb=4_000, tokens=200, latency_slo_seconds=0.1
    )
    assert "p95 latency 150 ms at batch 1" in reason and "100 ms SLO" in reason


def test_tokens_per_request_scale_latency_linearly():
    # 400 characters: batch 1 p95 0.3 s; batch 16: 16 x 400 / 16,000 = 0.4 s, p95 0.6 s; batch 64: 1.2 s > 1 s
    point = inference.serving_point(
        PROFILE, vcpus=2, memory_available_mb=4_000, tokens=400, latency_slo_seconds=1.0
    )
    assert point.batch_size == 16
    assert point.capacity_rps == pytest.approx(16 / 0.4)


def test_lambda_memory_and_duration():
    # floor 1,024 MB holds the 512 MB process; SLO 1 s needs only 2 x 0.15 / 1 x 1,769 = 531 MB
    assert inference.lambda_memory_mb(PROFILE, tokens=200, latency_slo_seconds=1.0) == 1_024
    # 1,024 MB = 0.5789 vCPU -> 2 / 0.5789 = 3.4551x slower -> 0.34551 s, billed 346 ms
    seconds = inference.memory_proportional_seconds(PROFILE, 1_024, 200)
    assert seconds == pytest.approx(0.1 * 2 * 1_769 / 1_024)
    assert inference.billed_duration_ms(seconds) == 346
    # SLO 0.2 s: 2 x 0.15 / 0.2 x 1,769 = 2,653.5 MB -> 2,654 MB
    assert inference.lambda_memory_mb(PROFILE, tokens=200, latency_slo_seconds=0.2) == 2_654
    assert "exceeds the 100 ms SLO" in inference.lambda_memory_mb(
        PROFILE, tokens=200, latency_slo_seconds=0.1
    )
    assert "above the 10,240 MB maximum" in inference.lambda_memory_mb(
        profile(peak_rss_bytes=11_000 * 2**20), tokens=200, latency_slo_seconds=1.0
    )
    # at or above the benchmark's 2 CPUs (3,538 MB) a request is not faster
    assert inference.memory_proportional_seconds(PROFILE, 4_000, 200) == pytest.approx(0.1)


def test_gb_seconds():
    # 304,166.67 requests x 346 ms x 1 GB = 105,241.67 GB-s
    assert inference.gb_seconds(304_166.67, 346, 1_024) == pytest.approx(105_241.67, rel=1e-6)
    assert inference.gb_seconds(1_000, 100, 512) == pytest.approx(50.0)


def test_alb_lcu_takes_the_largest_dimension():
    # 11.574 rps: new connections 11.574 / 25 = 0.463 LCU; active 11.574 x 0.3 / 3,000 = 0.0012;
    # bytes 11.574 x 3,600 x 1,000 / 2**30 = 0.0388 GB/h
    assert inference.alb_lcu_per_hour(11.574, 0.3, 1_000) == pytest.approx(11.574 / 25)
    # 1 rps of 1 MB responses: 3,600 MB/h = 3.35 GB/h dominates
    assert inference.alb_lcu_per_hour(1.0, 0.3, 2**20) == pytest.approx(3_600 / 1_024)
    # long-lived requests: 10 rps x 300 s = 3,000 active connections -> 1 LCU (new connections: 0.4)
    assert inference.alb_lcu_per_hour(10.0, 300.0, 100) == pytest.approx(1.0)


def test_ceil_forgives_float_noise():
    assert inference.ceil(2.0000000000000004) == 2
    assert inference.ceil(2.001) == 3
    assert list(inference.ceil(np.array([2.0000000000000004, 2.001]))) == [2.0, 3.0]


# -- measured capacity (the load test): MEASURED is PROFILE plus SERVING (model_literals) --------------


def point(vcpus: float, *, memory_mb: float = 30_000, tokens: float = 200, slo: float = 1.0, base=MEASURED):
    return inference.serving_point(
        base, vcpus=vcpus, memory_available_mb=memory_mb, tokens=tokens, latency_slo_seconds=slo
    )


def test_measured_capacity_on_the_load_test_host_is_the_load_test_result():
    # 2 vCPU = the 2 CPUs it was measured on: one server process, 40 rps at p95 900 ms
    p = point(2)
    assert (p.capacity_source, p.capacity_rps, p.latency_p95_seconds) == (
        "measured",
        40.0,
        pytest.approx(0.9),
    )
    assert p.basis == "measured on 2 CPUs (load test: 40.0 requests/s at p95 <= 1,000 ms, 200 chars)"
    # the formula for the same target: batch 64 in 0.4 s -> 160 rps; measured / formula = 0.25
    assert p.formula_capacity_rps == pytest.approx(160.0) and p.measured_to_formula == pytest.approx(0.25)
    assert p.batch_size == 64  # the server's batch limit


def test_measured_capacity_scales_with_vcpus_and_memory():
    # 4 vCPU: 2 processes x 40 = 80 rps, latency unchanged
    p = point(4)
    assert (p.processes, p.capacity_rps, p.latency_p95_seconds) == (2.0, 80.0, pytest.approx(0.9))
    assert p.basis.endswith(", scaled to 4 vCPU, 200 chars/request")
    # 8 vCPU but 600 MB: processes of 256 MiB (the server's RSS) -> 2 fit, not 4
    p = point(8, memory_mb=600)
    assert (p.processes, p.memory_limited, p.capacity_rps) == (2, True, 80.0)


def test_below_the_measured_cpus_only_rates_that_stretch_within_the_slo_count():
    # 1 vCPU: every step 2x slower; 40 rps had p95 900 ms -> 1.8 s (misses), 20 rps 400 ms -> 0.8 s (meets)
    # -> 20 / 2 = 10 rps at p95 0.8 s
    p = point(1)
    assert (p.capacity_source, p.capacity_rps, p.latency_p95_seconds) == (
        "measured",
        10.0,
        pytest.approx(0.8),
    )
    # 0.5 vCPU: 4x slower; even 10 rps (300 ms -> 1.2 s) misses: the formula (batch 1, 2.5 rps), labelled
    p = point(0.5)
    assert (p.capacity_source, p.capacity_rps) == ("formula", pytest.approx(2.5))
    assert p.basis == "formula (no load-tested rate stretches to 0.5 vCPU, 200 chars/request within the SLO)"


def test_other_request_lengths_scale_the_measured_work():
    # 100 chars: half the work; 40 rps (p95 900 -> 450 ms) is the best error-free rate -> 40 / 0.5 = 80 rps
    p = point(2, tokens=100)
    assert (p.capacity_rps, p.latency_p95_seconds) == (80.0, pytest.approx(0.45))
    # 400 chars: twice the work; 20 rps (400 -> 800 ms) -> 10 rps
    assert point(2, tokens=400).capacity_rps == 10.0


def test_the_formula_steps_in_when_the_load_test_does_not_apply():
    # a tighter SLO than the one load-tested: measured capacity says nothing about it
    p = point(2, slo=0.5)
    assert p.capacity_source == "formula" and p.capacity_rps == pytest.approx(16 / 0.2)
    assert p.basis == "formula (the load test's SLO (1,000 ms) is looser than this one (500 ms))"
    # a looser SLO: the measured rates still hold (80 rps had 20 % errors, so 40 stays the best)
    assert point(2, slo=5.0).capacity_rps == 40.0
    # no load test at all
    assert point(2, base=PROFILE).basis == "formula (no load test in metrics.json)"


def test_a_load_test_where_nothing_met_the_slo_makes_the_target_infeasible():
    none = profile(serving=replace(SERVING, max_rps_at_slo=0.0, p95_ms_at_max=None, curve=()))
    reason = point(4, base=none)
    assert reason == "the load test found no rate with p95 <= 1,000 ms on 2 CPUs"
    # memory is checked against the server's RSS: 200 MB cannot hold a 256 MiB process
    assert "needs 256 MB for one serving process" in point(2, memory_mb=200)


def test_capacity_comparison_on_the_load_test_host():
    comparison = inference.capacity_comparison(MEASURED, tokens=200, latency_slo_seconds=1.0)
    assert (comparison.cpus, comparison.measured_rps, comparison.formula_rps) == (
        2,
        40.0,
        pytest.approx(160.0),
    )
    assert comparison.ratio == pytest.approx(0.25)
    assert comparison.sentence() == (
        "serving capacity on 2 CPUs at p95 <= 1,000 ms, 200 chars: measured 40.0 requests/s, "
        "formula 160.0 requests/s (measured / formula = 0.25)"
    )
    formula_only = inference.capacity_comparison(PROFILE, tokens=200, latency_slo_seconds=1.0)
    assert formula_only.measured_rps is None and formula_only.ratio is None
    assert formula_only.sentence().endswith("fleets sized by the formula: no load test in metrics.json")
    assert formula_only.to_dict()["sentence"] == formula_only.sentence()
