"""The Cost reports page: it lists stored reports newest first and serves them, from a local data root
and from an s3:// one (moto server on 127.0.0.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from aws_fakes import running_moto_server


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


@pytest.mark.integration
def test_report_written_to_s3_is_listed_and_served(
    pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from costing.report import ReportInputs, render_report, write_report
    from pipeline.settings import load_settings
    from pipeline.tasks.cost_report import report_dir
    from pipeline.ui.reports_app import create_app

    with running_moto_server() as endpoint:
        for name, value in (
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("RNN_PIPELINE_DATA_ROOT", "s3://rnn-reports/data"),
        ):
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="rnn-reports")
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()
        now = datetime(2026, 11, 27, 7, tzinfo=UTC)
        rendered = render_report(
            ReportInputs(
                title="Weekly cost report, s3 edition",
                kind="weekly",
                period_start=now,
                period_end=now,
                generated_at=now,
                training_runs=(),
                price_changes=(),
                pricing_status=None,
                analysis=None,
                spot_history=(),
            )
        )
        out, relative = report_dir(load_settings(), "weekly_cost_report", "scheduled__2026-11-27", now)
        assert out == "s3://rnn-reports/data/reports/weekly_cost_report/2026-11-27_scheduled__2026-11-27"
        written = write_report(rendered, out)
        assert written[-1].endswith("report.json")

        keys = {
            o["Key"]
            for o in boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").list_objects_v2(
                Bucket="rnn-reports"
            )["Contents"]
        }
        assert f"data/reports/{relative}/report.html" in keys

        client = TestClient(create_app())
        assert "Weekly cost report, s3 edition" in client.get("/").text
        page = client.get(f"/view/{relative}/report.html")
        assert page.status_code == 200 and "No training runs in this period" in page.text


def test_the_plugin_page_refuses_a_caller_without_an_airflow_login(pipeline_home: Path) -> None:
    from fastapi.testclient import TestClient

    from pipeline.ui.reports_app import create_app

    make_report(pipeline_home / "data", "weekly_cost_report", "run_a", "2026-11-20T10:00:00Z", "Week 47")
    client = TestClient(create_app(login_required=True))
    for path in ("/", "/api/reports", "/view/weekly_cost_report/run_a/report.html"):
        assert client.get(path).status_code == 401, path
