"""Reports stored under an s3:// data root (moto server on 127.0.0.1) are listed and served by the plugin page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from aws_fakes import running_moto_server


def test_report_written_to_s3_is_listed_and_served(
    pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from costing.report.document import ReportInputs, render_report, write_report
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
