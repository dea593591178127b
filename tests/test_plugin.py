"""The Airflow plugin: it loads, its Cost reports page lists and serves reports, its links resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_plugin_loads_without_import_errors() -> None:
    from airflow import plugins_manager

    plugins, errors = plugins_manager._get_plugins()
    assert errors == {}
    [ours] = [p for p in plugins if p.name == "rnn_cost"]
    assert {link.name for link in ours.operator_extra_links} == {"MLflow run", "Cost report"}
    assert ours.fastapi_apps[0]["url_prefix"] == "/cost-reports"
    assert ours.external_views[0]["name"] == "Cost reports"


def make_report(root: Path, dag_id: str, run: str, created_at: str, title: str) -> None:
    folder = root / "reports" / dag_id / run
    folder.mkdir(parents=True)
    (folder / "report.html").write_text(f"<h1>{title}</h1>")
    (folder / "report.json").write_text(
        json.dumps({"title": title, "kind": "weekly", "created_at": created_at, "summary": "2 runs, $0.01"})
    )


def test_cost_reports_page_lists_and_serves_reports(pipeline_home: Path) -> None:
    from fastapi.testclient import TestClient

    from pipeline.ui.reports_app import create_app

    data_root = pipeline_home / "data"
    make_report(data_root, "weekly_cost_report", "run_a", "2026-11-20T10:00:00Z", "Week 47")
    make_report(data_root, "adhoc_cost_analysis", "run_b", "2026-11-27T10:00:00Z", "What if 1M/day")
    client = TestClient(create_app())

    page = client.get("/")
    assert page.status_code == 200
    assert page.text.index("What if 1M/day") < page.text.index("Week 47")  # newest first
    assert "view/weekly_cost_report/run_a/report.html" in page.text
    assert client.get("/view/weekly_cost_report/run_a/report.html").text == "<h1>Week 47</h1>"
    assert (
        client.get("/view/weekly_cost_report/run_a/report.html")
        .headers["content-type"]
        .startswith("text/html")
    )
    assert client.get("/view/weekly_cost_report/nope/report.html").status_code == 404
    assert client.get("/view/../../../etc/passwd").status_code == 404
    assert client.get("/view/weekly_cost_report/%2e%2e/%2e%2e/report.html").status_code == 404
    assert [r["title"] for r in client.get("/api/reports").json()] == ["What if 1M/day", "Week 47"]


def test_empty_reports_page_says_how_to_get_one(pipeline_home: Path) -> None:
    from fastapi.testclient import TestClient

    from pipeline.ui.reports_app import create_app

    assert "No reports yet" in TestClient(create_app()).get("/").text


@pytest.mark.parametrize(
    "link_name,key,value,expected",
    [
        (
            "MLflow run",
            "mlflow_run",
            {"experiment_id": "3", "run_id": "abc"},
            "http://127.0.0.1:5000/#/experiments/3/runs/abc",
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
