"""The Airflow plugin: it loads with its Cost reports page and extra links, and the links resolve."""

from __future__ import annotations

import pytest


def test_plugin_loads_without_import_errors() -> None:
    from airflow import plugins_manager

    plugins, errors = plugins_manager._get_plugins()
    assert errors == {}
    [ours] = [p for p in plugins if p.name == "rnn_cost"]
    assert {link.name for link in ours.operator_extra_links} == {"MLflow run", "Cost report"}
    assert ours.fastapi_apps[0]["url_prefix"] == "/cost-reports"
    assert ours.external_views[0]["name"] == "Cost reports"


@pytest.mark.parametrize(
    "link_name,key,value,expected",
    [
        (
            "MLflow run",
            "mlflow_run",
            {"experiment_id": "3", "run_id": "abc"},
            "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning",
        ),
        (
            "Cost report",
            "cost_report",
            {"path": "weekly_cost_report/r1"},
            "http://127.0.0.1:8080/cost-reports/view/weekly_cost_report/r1/report.html",
        ),
    ],
)
def test_links_are_built_from_the_task_xcom(
    monkeypatch: pytest.MonkeyPatch, link_name: str, key: str, value: dict, expected: str
) -> None:
    from pipeline.ui import links

    for var in ("RNN_PIPELINE_MLFLOW_UI_URL", "MLFLOW_PORT", "AIRFLOW__API__BASE_URL", "AIRFLOW_PORT"):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def fake_get_value(*, key: str, ti_key: object) -> dict | None:
        calls.append(key)
        return value if key == expected_key else None

    expected_key = key
    monkeypatch.setattr(links.XCom, "get_value", staticmethod(fake_get_value))
    link = {"MLflow run": links.MlflowRunLink(), "Cost report": links.CostReportLink()}[link_name]
    assert link.get_link(operator=None, ti_key=object()) == expected
    assert calls == [key]
