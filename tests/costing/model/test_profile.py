"""ModelProfile: built from metrics.json by key, with derived quantities checked by hand."""

from __future__ import annotations

import pytest
from model_literals import MIB, PROFILE, SERVING, metrics_dict, serving_section

from costing.model.model_source import load_profile
from costing.model.profile import (
    REFERENCE_METRICS_PATH,
    MetricsSchemaError,
    ModelProfile,
    profile_from_metrics,
)


def test_profile_from_metrics_reads_every_field_by_key():
    profile = profile_from_metrics(metrics_dict(), source="m.json")
    assert profile.latency_p50_ms == 100.0
    assert profile.latency_p95_ms == 150.0
    assert profile.latency_p99_ms == 200.0
    assert [(t.batch_size, t.tokens_per_s) for t in profile.throughput] == [(16, 16_000.0), (64, 32_000.0)]
    assert profile.batch_sizes == (1, 16, 64)
    assert profile.host_cpu_count == 2
    assert profile.model_file_bytes == 10 * MIB
    assert profile.serving_memory_mb == 512.0
    assert profile.training_wall_seconds == 3_600.0
    assert profile.training_epochs == 3
    assert not profile.training_capped
    assert profile.source == "m.json"
    assert profile.compute_billed_usd is None


def test_derived_service_time_latency_and_checkpoint_interval():
    # batch 1: p50 100 ms per 200 chars -> 400 chars take 0.2 s; p95 150 ms -> 0.3 s
    assert PROFILE.service_seconds(1, 400) == pytest.approx(0.2)
    assert PROFILE.latency_p95_seconds(1, 400) == pytest.approx(0.3)
    # batch 16 at 16,000 tokens/s: 16 x 200 / 16,000 = 0.2 s; p95 x 1.5 = 0.3 s
    assert PROFILE.service_seconds(16, 200) == pytest.approx(0.2)
    assert PROFILE.latency_p95_seconds(16, 200) == pytest.approx(0.3)
    assert PROFILE.tail_ratio == pytest.approx(1.5)
    # 60 steps x (3,000 s / 300 steps) = 600 s of work between checkpoints
    assert PROFILE.checkpoint_interval_seconds == pytest.approx(600.0)
    with pytest.raises(ValueError, match="batch_size=8 was not measured"):
        PROFILE.service_seconds(8, 200)


def test_compute_section_and_capped_run_are_recorded():
    metrics = metrics_dict(
        config={"max_steps_per_epoch": 20, "checkpoint_every_steps": 50},
        compute={
            "backend": "local",
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
            "cost": {"usd": 0.0014},
        },
    )
    profile = profile_from_metrics(metrics)
    assert (profile.compute_instance_type, profile.compute_region, profile.compute_market) == (
        "r6i.xlarge",
        "us-east-1",
        "spot",
    )
    assert profile.compute_billed_usd == pytest.approx(0.0014)
    assert profile.training_capped
    assert "capped at 20 steps" in profile.notes[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "other"}, "expected 'rnn-metrics' v1 or v2 or v3"),
        ({"schema_version": 4}, "expected 'rnn-metrics' v1 or v2 or v3"),
        ({"inference": None}, "python -m rnn bench"),
        ({"host": {}}, "lacks a field"),
    ],
)
def test_metrics_that_cannot_be_costed_are_refused(change, message):
    with pytest.raises(MetricsSchemaError, match=message):
        profile_from_metrics(metrics_dict(**change))


def test_literal_profile_is_validated():
    with pytest.raises(ValueError, match="p50 <= p95 <= p99"):
        ModelProfile(latency_p50_ms=200, latency_p95_ms=100, latency_p99_ms=300)
    with pytest.raises(ValueError, match="positive number of milliseconds"):
        ModelProfile(latency_p50_ms=0, latency_p95_ms=100, latency_p99_ms=300)


def test_reference_metrics_are_real_and_labelled():
    profile = load_profile(REFERENCE_METRICS_PATH)
    assert "reference measurements" in profile.source
    assert profile.parameters > 1_000_000
    assert profile.batch_sizes[0] == 1 and len(profile.batch_sizes) >= 3
    assert profile.host_cpu_count >= 1


def test_per_request_billing_follows_the_mean_latency():
    profile = profile_from_metrics(metrics_dict())
    assert profile.latency_mean_ms == 110.0 and profile.billed_latency_ms == 110.0
    # 400 chars at a mean of 110 ms per 200 chars
    assert profile.billed_seconds_per_request(400) == pytest.approx(0.22)
    latency = {"p50": 100.0, "p95": 150.0, "p99": 200.0}
    old = profile_from_metrics(metrics_dict(inference={**metrics_dict()["inference"], "latency_ms": latency}))
    assert old.latency_mean_ms is None and old.billed_latency_ms == 100.0
    assert any("no mean latency" in note for note in old.notes)
    with pytest.raises(ValueError, match="latency_mean_ms=-1"):
        ModelProfile(latency_p50_ms=100, latency_p95_ms=150, latency_p99_ms=200, latency_mean_ms=-1)


def test_version_2_carries_the_load_test_and_the_server_memory():
    profile = profile_from_metrics(metrics_dict(schema_version=2, serving=serving_section()))
    assert profile.serving == SERVING
    assert profile.serving.rps_per_cpu == pytest.approx(20.0)  # 40 rps on 2 CPUs
    # the server's own peak RSS (256 MiB), not the training process's 512 MiB
    assert profile.serving_memory_mb == 256.0 and "server's peak RSS" in profile.serving_memory_basis
    summary = profile.summary()
    assert summary["serving"]["max_rps_at_slo"] == 40.0 and summary["serving_memory_mb"] == 256.0
    # version 1, or version 2 before the load test ran: no measurement, training RSS as the upper bound
    for metrics in (metrics_dict(), metrics_dict(schema_version=2, serving=None)):
        unmeasured = profile_from_metrics(metrics)
        assert unmeasured.serving is None and unmeasured.serving_memory_mb == 512.0
        assert "upper bound" in unmeasured.serving_memory_basis


def test_the_headline_point_joins_the_curve():
    assert [(p.rate_rps, p.p95_ms) for p in SERVING.points] == [
        (10.0, 300.0),
        (20.0, 400.0),
        (40.0, 900.0),
        (80.0, 3000.0),
    ]
