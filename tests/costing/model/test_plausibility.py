"""Inputs that cannot mislead: every refused measurement and parameter, each side of its bound, by hand.

The literal metrics.json (tests/model_literals.py): p50 100 ms for 200 characters on 2 CPUs, batch 16 at
16,000 and batch 64 at 32,000 characters/s, training peak RSS 512 MiB.
"""

from __future__ import annotations

import json

import pytest
from model_literals import PROFILE, SHEET, metrics_dict, serving_section

from costing.cli import EXIT_USAGE, main
from costing.model.grid import plan_grid
from costing.model.plausibility import (
    ImplausibleInput,
    check_retraining_cadence,
    flops_per_character,
)
from costing.model.profile import profile_from_metrics
from costing.model.sensitivity import sensitivity
from costing.model.tco import runs_per_month, tco
from costing.model.training.plan import plan_training

# H=500, L=2, V=100: 2 x (2 x 4 x 500^2 + 500 x 100) = 4,100,000 FLOPs per character; at 1e12 FLOP/s per
# CPU on 2 CPUs a character takes at least 2.05 us, so 200 characters at least 0.41 ms, and no batch
# generates more than 1 / 2.05e-6 = 487,805 characters/s.
ARCHITECTURE = {
    "config": {"hidden_size": 500, "num_layers": 2},
    "dataset": {"size_bytes": 1, "vocab_size": 100},
}


def with_latency(p50: float, **extra) -> dict:
    metrics = metrics_dict(**ARCHITECTURE, **extra)
    metrics["inference"]["latency_ms"] = {"p50": p50, "p95": 1.0, "p99": 2.0, "mean": None}
    return metrics


def test_flops_per_character_of_the_recorded_architecture():
    assert flops_per_character(metrics_dict(**ARCHITECTURE)) == 4_100_000
    assert flops_per_character(metrics_dict()) == 0  # not recorded: the 10 ns-per-CPU floor applies


def test_a_latency_below_what_the_hardware_can_do_is_refused():
    assert profile_from_metrics(with_latency(0.42)).latency_p50_ms == 0.42
    with pytest.raises(ImplausibleInput, match=r"inference\.latency_ms\.p50=0\.4 ms .* at least 0\.41 ms"):
        profile_from_metrics(with_latency(0.40))
    # the 1e-9 ms, without an architecture: 1e-8 CPU-s x 200 / 2 CPUs = 1e-6 s = 0.001 ms at least
    metrics = metrics_dict()
    metrics["inference"]["latency_ms"].update(p50=1e-9, mean=None)
    with pytest.raises(ImplausibleInput, match=r"latency_ms\.p50=1e-09 ms .* at least 0\.001 ms"):
        profile_from_metrics(metrics)


def test_a_batch_throughput_beyond_the_hardware_is_refused():
    metrics = metrics_dict(**ARCHITECTURE)
    metrics["inference"]["throughput"][-1]["tokens_per_s"] = 487_000.0
    assert profile_from_metrics(metrics).throughput[-1].tokens_per_s == 487_000.0
    metrics["inference"]["throughput"][-1]["tokens_per_s"] = 500_000.0
    with pytest.raises(ImplausibleInput, match=r"tokens_per_s=500,000 .* at most 487,805 characters/s"):
        profile_from_metrics(metrics)


def test_a_serving_capacity_above_the_measured_batch_throughput_is_refused():
    # best measured: 32,000 chars/s at batch 64 on 2 CPUs, server on 2 CPUs, 200 chars a request:
    # 160 requests/s x 4 = 640 requests/s at most
    ok = metrics_dict(schema_version=2, serving=serving_section(max_rps_at_slo=640.0))
    assert profile_from_metrics(ok).serving.max_rps_at_slo == 640.0
    for capacity in (641.0, 1e12):
        too_many = metrics_dict(schema_version=2, serving=serving_section(max_rps_at_slo=capacity))
        with pytest.raises(
            ImplausibleInput, match=r"serving\.max_rps_at_slo=.* at most 640 requests/s"
        ) as err:
            profile_from_metrics(too_many)
        assert "32,000 characters/s (batch 64)" in str(err.value)
    # a server on 4 CPUs: the throughput scales with them, 1,280 requests/s at most
    four = metrics_dict(schema_version=2, serving=serving_section(max_rps_at_slo=1_280.0, cpu_count=4))
    assert profile_from_metrics(four).serving.cpu_count == 4


def test_without_a_batch_measurement_the_capacity_bound_is_the_generous_batching_factor():
    # 2 CPUs x 1000 / 100 ms per 200-character request x 100 = 2,000 requests/s at most
    metrics = metrics_dict(schema_version=2, serving=serving_section(max_rps_at_slo=2_000.0))
    metrics["inference"]["throughput"] = [{"batch_size": 1, "tokens_per_s": 2_000.0, "seconds": 0.1}]
    assert profile_from_metrics(metrics).serving.max_rps_at_slo == 2_000.0
    metrics["serving"]["max_rps_at_slo"] = 2_001.0
    with pytest.raises(ImplausibleInput, match=r"at most 2,000 requests/s \(2 CPUs x 1000 / 100 ms"):
        profile_from_metrics(metrics)


@pytest.mark.parametrize("rss", [-1, 0])
def test_a_negative_or_zero_memory_is_refused(rss):
    with pytest.raises(ImplausibleInput, match=rf"training\.peak_rss_bytes={rss} must be a positive"):
        profile_from_metrics(metrics_dict(training={**metrics_dict()["training"], "peak_rss_bytes": rss}))
    # used to fall back silently to the training peak
    serving = serving_section(rss_bytes=rss)
    with pytest.raises(ImplausibleInput, match=rf"serving\.rss_bytes={rss} must be a positive"):
        profile_from_metrics(metrics_dict(schema_version=2, serving=serving))
    # not measured (null) is not a measurement: the training peak, labelled as the upper bound
    unmeasured = profile_from_metrics(metrics_dict(schema_version=2, serving=serving_section(rss_bytes=None)))
    assert unmeasured.serving_memory_mb == 512.0 and "upper bound" in unmeasured.serving_memory_basis


def test_a_cadence_shorter_than_the_training_run_is_refused():
    # every 0.0001 days = 8.64 s (304,167 runs a month) against an 86 s run; 0.001 days = 86.4 s is enough
    runs = runs_per_month("0.0001d")
    assert runs == pytest.approx(304_166.67, rel=1e-6)
    with pytest.raises(ImplausibleInput, match=r"every 8\.64 s .* one training run takes 86 s"):
        check_retraining_cadence("0.0001d", runs, 86.0)
    assert check_retraining_cadence("0.001d", runs_per_month("0.001d"), 86.0) == runs_per_month("0.001d")
    # through the TCO and the sensitivity analysis, on a run of 86 s of work on-demand
    training = plan_training(PROFILE, SHEET, instance_type="c6i.large", market="on-demand", wall_seconds=86.0)
    with pytest.raises(ImplausibleInput, match=r"retrain_cadence='0\.0001d' starts a run every 8\.64 s"):
        tco(PROFILE, SHEET, [100], retrain_cadence="0.0001d", training=training)
    assert tco(PROFILE, SHEET, [100], retrain_cadence="daily", training=training).runs_per_month > 30
    plans = plan_grid(PROFILE, SHEET, [100])
    with pytest.raises(ImplausibleInput, match=r"retrain_cadence='0\.0001d'"):
        sensitivity(plans, training, retrain_cadence="0.0001d")


def test_the_command_line_prints_one_error_and_exits_2(tmp_path, capsys):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_dict(schema_version=2, serving=serving_section(max_rps_at_slo=1e12))))
    assert main(["scenarios", "--metrics", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "serving.max_rps_at_slo=1e+12 requests/s" in err and "at most 640 requests/s" in err
    path.write_text(json.dumps(metrics_dict()))
    argv = ["tco", "--metrics", str(path), "--training-seconds", "86", "--training-market", "on-demand"]
    assert main([*argv, "--retrain-cadence", "0.0001d"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert (
        err.startswith("error: retrain_cadence='0.0001d' starts a run every 8.64 s") and err.count("\n") == 1
    )
