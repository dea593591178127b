"""Capacity formulas against hand-computed numbers; the same formulas on numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest
from model_literals import PROFILE, profile

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
