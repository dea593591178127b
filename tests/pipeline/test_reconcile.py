"""cost_reconcile's task bodies: Cost Explorer through a Stubber, a FOCUS Data Export in moto's S3."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

RUN = "0123456789abcdef0123456789abcdef"  # pragma: allowlist secret (an MLflow run id)


def ce_page(groups, start: str, end: str, token: str | None = None, estimated: bool = False) -> dict:
    """A get_cost_and_usage answer in the real shape (GroupBy TAG: keys "<tag>$<value>")."""
    page = {
        "GroupDefinitions": [{"Type": "TAG", "Key": "rnn:mlflow_run_id"}],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": start, "End": end},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [f"rnn:mlflow_run_id${value}"],
                        "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
                    }
                    for value, amount in groups
                ],
                "Estimated": estimated,
            }
        ],
        "DimensionValueAttributes": [],
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    if token:
        page["NextPageToken"] = token
    return page


def test_cost_explorer_is_asked_per_day_grouped_by_the_run_tag_and_every_page_is_read() -> None:
    import boto3
    from botocore.stub import Stubber

    from pipeline.tasks.reconcile import bill_from_cost_explorer

    client = boto3.client("ce", region_name="us-east-1")
    request = {
        "TimePeriod": {"Start": "2026-03-01", "End": "2026-03-04"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": "rnn:mlflow_run_id"}],
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_cost_and_usage",
            ce_page([("", "41.20"), (RUN, "0.0312")], "2026-03-02", "2026-03-03", token="page-2"),
            request,
        )
        stubber.add_response(
            "get_cost_and_usage",
            ce_page([(RUN, "0.0100"), ("another-run", "0.5")], "2026-03-03", "2026-03-04", estimated=True),
            {**request, "NextPageToken": "page-2"},
        )
        billed, source = bill_from_cost_explorer(
            client, start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 3, 4, tzinfo=UTC)
        )
        stubber.assert_no_pending_responses()
    assert billed[RUN].billed_usd == pytest.approx(0.0412)
    assert set(billed) == {RUN, "another-run"}
    assert source["source"] == "cost-explorer" and source["estimated"] is True
    assert source["version"].startswith("ce:")


def test_the_bill_clients_come_from_the_connections_hooks(monkeypatch) -> None:
    from pipeline.tasks.reconcile import cost_explorer_client, s3_client

    monkeypatch.setenv(
        "AIRFLOW_CONN_BILLING",
        json.dumps(
            {"conn_type": "aws", "extra": {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1"}}
        ),
    )
    s3, ce = s3_client("billing"), cost_explorer_client("billing")
    assert (s3.meta.service_model.service_name, s3.meta.region_name) == ("s3", "eu-west-1")
    # Cost Explorer answers in us-east-1 only, whatever region the connection names
    assert (ce.meta.service_model.service_name, ce.meta.region_name) == ("ce", "us-east-1")
    assert s3.meta.endpoint_url == ce.meta.endpoint_url == "http://127.0.0.1:9"


def test_the_export_location_must_be_an_s3_uri() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks.reconcile import parse_s3_uri

    assert parse_s3_uri("s3://billing-bucket/exports/rnn-focus/") == ("billing-bucket", "exports/rnn-focus/")
    assert parse_s3_uri("s3://billing-bucket") == ("billing-bucket", "")
    with pytest.raises(AirflowFailException, match=r"not an s3://bucket/prefix"):
        parse_s3_uri("/local/exports")


# -- a synthetic export at the snapshot's rates ---------------------------------------------------------------


@pytest.fixture
def moto_s3(monkeypatch):
    import boto3
    from aws_fakes import running_moto_server

    with running_moto_server() as url:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps({"conn_type": "aws", "extra": {"endpoint_url": url, "region_name": "us-east-1"}}),
        )
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="billing-bucket")
        yield s3


def spot_run_cost(repo_root: Path) -> tuple[dict, list]:
    """The billed estimate of a two-attempt spot run on 2025-05-31, at snapshot 2025-06-02's prices."""
    from costing.model.training import S3Usage, StorageRates, storage_cost
    from costing.pricing import build_price_sheet
    from pipeline.spot.attempts import AttemptRecord, utc_iso
    from pipeline.spot.billing import billed_cost, billing_catalog

    def attempt(label, az, start, end, interrupted):
        return AttemptRecord(
            instance_id=f"i-0{label.replace('.', '')}",
            instance_type="r6i.xlarge",
            availability_zone=az,
            market="spot",
            launched_at=utc_iso(start),
            terminated_at=utc_iso(end),
            interrupted=interrupted,
            attempt=label,
        )

    day = datetime(2025, 5, 31, tzinfo=UTC)
    attempts = [  # the first crosses the 20:18:48 price change in us-east-1c ($0.0863 -> $0.0820)
        attempt(
            "1.1",
            "us-east-1c",
            day.replace(hour=19, minute=40),
            day.replace(hour=21, minute=5, second=30),
            True,
        ),
        attempt(
            "1.2",
            "us-east-1d",
            day.replace(hour=21, minute=20),
            day.replace(hour=22, minute=47, second=13),
            False,
        ),
    ]
    snapshot = repo_root / "include" / "pricing" / "snapshots" / "2025-06-02"
    catalog, source = billing_catalog(snapshot, [], attempts)  # the snapshot's own spot history
    rates = StorageRates.from_sheet(build_price_sheet(snapshot, "us-east-1", instance_types=["r6i.xlarge"]))
    billed_seconds = sum(a.seconds for a in attempts)
    storage = storage_cost(
        S3Usage(40, 90, 8e6, billed_seconds), rates, ebs_gb=20, billed_seconds=billed_seconds
    )
    return billed_cost(attempts, catalog, source, epochs=3, storage=storage), attempts


@pytest.mark.integration  # a moto server
def test_a_synthetic_export_at_the_snapshots_rates_reconciles_within_one_percent(repo_root, moto_s3) -> None:
    from aws_fakes import focus_export_parquet, focus_line, hourly_usage_lines

    from costing.pricing import PriceCatalog
    from pipeline.spot.billing import instance_attempt
    from pipeline.tasks.reconcile import bill_from_export, s3_client, tagged_estimate_usd

    cost, attempts = spot_run_cost(repo_root)
    catalog = PriceCatalog.load(repo_root / "include" / "pricing" / "snapshots" / "2025-06-02")
    tags = {"rnn:mlflow_run_id": RUN, "rnn:dag_run_id": "rnn_retraining/manual__1"}
    lines = []
    for a in attempts:
        ia = instance_attempt(a)
        history = sorted(
            (p.timestamp, p.usd_per_hour)
            for p in catalog.spot_history("r6i.xlarge", "us-east-1")
            if p.availability_zone == a.availability_zone
        )
        in_force = [(t, rate) for t, rate in history if t <= ia.launch_time][-1:]
        changes = [(t, rate) for t, rate in history if ia.launch_time < t]
        lines += hourly_usage_lines(
            resource_id=a.instance_id,
            start=ia.launch_time,
            seconds=ia.seconds,
            prices=[(ia.launch_time, in_force[0][1]), *changes],
            tags=tags,
        )
        # the root volume: GB-months over the month's own hours (744 in May), as AWS prorates them
        gb_months = 20 * ia.seconds / (31 * 24 * 3600)
        lines.append(
            focus_line(
                resource_id=f"vol-0{a.attempt.replace('.', '')}",
                start=ia.launch_time,
                end=ia.terminate_time,
                billed=round(gb_months * 0.08, 10),
                quantity=gb_months,
                unit="GB-Months",
                tags=tags,
                service="Amazon Elastic Block Store",
            )
        )
    start = instance_attempt(attempts[0]).launch_time
    unrelated = [
        focus_line(resource_id="i-0web", start=start, end=start + timedelta(hours=1), billed=0.17, quantity=1,
                   unit="Hours", tags={"team": "web"}, service="Amazon Elastic Compute Cloud"),
        focus_line(resource_id=None, start=start, end=start + timedelta(hours=1), billed=0.02, quantity=1,
                   unit="Hours", tags=tags, service="Amazon Elastic Compute Cloud", charge_category="Tax",
                   pricing_category=None),
    ]  # fmt: skip
    stale = [
        {**line, "BilledCost": line["BilledCost"] * 1.3} for line in lines
    ]  # the first, restated, delivery
    base = "exports/rnn-focus/rnn-focus/data/BILLING_PERIOD=2025-05"  # pragma: allowlist secret
    moto_s3.put_object(Bucket="billing-bucket", Key=f"{base}/20250601T0300Z-1/rnn-focus-00001.snappy.parquet",
                       Body=focus_export_parquet(stale + unrelated))  # fmt: skip
    moto_s3.put_object(Bucket="billing-bucket", Key=f"{base}/20250602T0300Z-2/rnn-focus-00001.snappy.parquet",
                       Body=focus_export_parquet(lines + unrelated))  # fmt: skip

    billed, source = bill_from_export(
        s3_client("aws_default"),  # the S3Hook of the connection (its endpoint_url: moto)
        "s3://billing-bucket/exports/rnn-focus",
        since=datetime(2025, 5, 1, tzinfo=UTC),
    )
    assert source["versions"] == {"2025-05": "20250602T0300Z-2"}
    assert set(billed) == {RUN}
    expected_bill = sum(line["BilledCost"] for line in lines)
    assert billed[RUN].billed_usd == pytest.approx(expected_bill, rel=1e-12)
    assert billed[RUN].resources == ("i-011", "i-012", "vol-011", "vol-012")
    estimate = tagged_estimate_usd(cost)
    error_pct = (estimate - billed[RUN].billed_usd) / billed[RUN].billed_usd * 100
    assert abs(error_pct) < 1.0, (estimate, billed[RUN].billed_usd)
    assert (
        error_pct != 0
    )  # AWS prices each hour line at the rate at its start; the estimate switches mid-hour
