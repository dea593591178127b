"""The cost analysis task refuses implausible inputs with the cost model's one error, and fails (no retry).

The same checks as the command line's (costing.model.plausibility): the task composes the request from
the DAG's Params and the champion's metrics.json, and the cost model refuses what no machine measures.
"""

from __future__ import annotations

import pytest
from model_literals import metrics_dict, serving_section

from costing.model.plausibility import ImplausibleInput
from costing.model.request import AnalysisRequest
from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.sheet_builder import build_price_sheet
from pipeline.tasks import cost_analysis
from pipeline.tasks.cost_analysis import ModelSource, run_analysis


def source(metrics: dict) -> ModelSource:
    return ModelSource(metrics=metrics, description="literal", version="1", training_run_id="run")


def test_the_analysis_refuses_implausible_metrics_and_parameters():
    sheet = build_price_sheet(None, "us-east-1")
    fast = source(metrics_dict(schema_version=2, serving=serving_section(max_rps_at_slo=1e12)))
    with pytest.raises(ImplausibleInput, match=r"serving\.max_rps_at_slo=1e\+12 .* at most 640 requests/s"):
        run_analysis(fast, AnalysisRequest(samples=100), sheet)
    with pytest.raises(
        ValueError, match=r"horizon_months=0\.5 must be at least 1 month and at most 120 months"
    ):
        run_analysis(source(metrics_dict()), AnalysisRequest.from_params({"horizon_months": 0.5}), sheet)


def test_the_recompute_task_fails_with_the_error(monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    negative = metrics_dict(training={**metrics_dict()["training"], "peak_rss_bytes": -1})
    monkeypatch.setenv("RNN_PIPELINE_HOME", str(tmp_path))
    monkeypatch.setattr(cost_analysis, "champion_model_source", lambda *args, **kwargs: source(negative))
    monkeypatch.setattr(
        cost_analysis, "newest_snapshot_dir", lambda settings: DEFAULT_SNAPSHOT_ROOT / "2026-12-01"
    )
    with pytest.raises(AirflowFailException, match=r"refused its inputs: .*training\.peak_rss_bytes=-1"):
        cost_analysis.recompute(dag_id="cost_recompute", run_id="manual", params={"samples": 100})
