"""analyze(): the grid, TCO and sensitivity documents in one, and a report instead of a failure when nothing is feasible."""

from __future__ import annotations

import json

import pytest
from model_literals import PROFILE, SHEET

from costing.model.analysis import analyze
from costing.model.results import ANALYSIS_SCHEMA
from costing.model.sensitivity import MonteCarloSpec
from costing.model.training.plan import plan_training


@pytest.fixture(scope="module")
def training():
    return plan_training(PROFILE, SHEET, instance_type="c6i.large")


def test_analyze_bundles_the_three_documents(training):
    result = analyze(PROFILE, SHEET, training=training, spec=MonteCarloSpec(samples=200))
    document = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    assert (document["schema"], document["schema_version"]) == (ANALYSIS_SCHEMA, 1)
    assert document["snapshot_id"] == "literal" and document["prices_as_of"] == "2025-06-01"
    assert [document[k]["schema"] for k in ("grid", "tco", "sensitivity")] == [
        "rnn-cost-grid",
        "rnn-cost-tco",
        "rnn-cost-sensitivity",
    ]
    cheapest = [s["cheapest"] for s in document["grid"]["scenarios"]]
    assert cheapest == [s["cheapest"] for s in document["tco"]["scenarios"]]


def test_analysis_without_any_feasible_alternative_reports_instead_of_failing() -> None:
    from costing.model.profile import REFERENCE_METRICS_PATH, profile_from_metrics
    from costing.pricing.sheet_builder import build_price_sheet

    metrics = json.loads(REFERENCE_METRICS_PATH.read_text())
    metrics["inference"]["latency_ms"].update(
        p50=100.0, p95=1500.0, p99=2000.0
    )  # a p95 far above the 1 s SLO
    metrics["serving"] = None  # and no load test that met it (the reference's did)
    document = analyze(
        profile_from_metrics(metrics), build_price_sheet(None, "us-east-1"), spec=MonteCarloSpec(samples=200)
    ).to_json_dict()
    assert [s["cheapest"] for s in document["grid"]["scenarios"]] == [None, None, None]
    assert document["sensitivity"]["tornados"] == [] and document["sensitivity"]["monte_carlo"] == []
    assert any("no feasible drop-in alternative" in note for note in document["sensitivity"]["notes"])


METRICS = {  # what the resource mapping reads of the run behind PROFILE
    "config": {"embedding_dim": 128, "hidden_size": 460, "num_layers": 2, "seq_len": 128, "batch_size": 32},
    "dataset": {"vocab_size": 103},
    "training": {"peak_rss_bytes": 512 * 2**20},
}


def test_retraining_is_priced_on_the_configured_type_unless_the_best_is_asked_for():
    from dataclasses import replace

    from costing.model.analysis import training_plan_for
    from costing.model.tco import tco

    trained_on = replace(PROFILE, compute_instance_type="c6i.xlarge")
    configured = training_plan_for(trained_on, SHEET, market="on-demand")
    # 3,600 s (its 8 checkpoint writes inside) + the default 300 s overhead = 3,900 s at $0.20/h = $0.216667
    assert configured.instance_type == "c6i.xlarge"
    assert configured.run_lines()[0].usd_per_month == pytest.approx(3_900 / 3_600 * 0.20)
    assert configured.notes[0].startswith("training priced on c6i.xlarge (configured;")
    # The resource mapping: c6i.large $0.043 a run (3,600 + 300 s at $0.04/h spot), c6i.xlarge $0.047 (its 4
    # vCPUs halve the work, not the overhead), m7g.large $0.087 on-demand, t3.small burstable.
    best = training_plan_for(trained_on, SHEET, instance_type="best", metrics=METRICS, market="on-demand")
    assert best.instance_type == "c6i.large"
    assert best.run_lines()[0].usd_per_month == pytest.approx(3_900 / 3_600 * 0.10)  # $0.108333
    assert best.notes[0] == (
        "training priced on c6i.large, the resource mapping's cheapest type that qualifies for a run "
        "(asked for with 'best'); configured: c6i.xlarge"
    )
    ownership = tco(trained_on, SHEET, [100], training=best, breakevens=False)
    assert ownership.training.instance_type == "c6i.large"
    assert ownership.notes[0].startswith("training priced on c6i.large")
    assert ownership.to_json_dict()["training_run"]["instance_type"] == "c6i.large"
    with pytest.raises(ValueError, match=r"needs the run.s metrics\.json"):
        training_plan_for(trained_on, SHEET, instance_type="best")
