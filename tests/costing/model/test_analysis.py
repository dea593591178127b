"""analyze(): the grid, TCO and sensitivity documents in one, and a report instead of a failure when nothing is feasible."""

from __future__ import annotations

import json

import pytest
from model_literals import PROFILE, SHEET

from costing.model.analysis import analyze
from costing.model.results import ANALYSIS_SCHEMA
from costing.model.sensitivity import MonteCarloSpec
from costing.model.training_plan import plan_training


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
