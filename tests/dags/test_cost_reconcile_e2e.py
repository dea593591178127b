"""cost_reconcile end to end through dag.test(): a FOCUS Data Export in moto's S3, MLflow runs, a restatement."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import load_dag

pytestmark = pytest.mark.e2e

BUCKET = "billing-bucket"
EXPORT = f"s3://{BUCKET}/exports/rnn"


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
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def training_run(run_id: str, backend: str, cost: dict) -> str:
    import mlflow

    from pipeline import names, tracking

    mlflow_run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", run_id)
    with tracking.task_run(mlflow_run_id):
        mlflow.set_tags({names.TAG_COMPUTE_BACKEND: backend, names.TAG_COST_BASIS: "billed-estimate"})
        mlflow.log_metric(names.COST_TRAIN_USD, cost["usd"])
        mlflow.log_dict(cost, names.TRAINING_COST_ARTIFACT)
    return mlflow_run_id


def cost_of(instance_id: str, instances_usd: float, ebs_usd: float) -> dict:
    return {
        "usd": instances_usd + ebs_usd + 0.0001,  # + S3, which no tagged bill line holds
        "instances": {"usd": instances_usd},
        "storage": {"ebs_usd": ebs_usd, "s3_storage_usd": 0.00002, "s3_requests_usd": 0.00008},
        "attempts": [{"instance_id": instance_id}],
    }


def put_delivery(s3, version: str, lines: list) -> None:
    from aws_fakes import focus_export_parquet

    period = f"{lines[0]['ChargePeriodStart']:%Y-%m}"
    key = f"exports/rnn/rnn/data/BILLING_PERIOD={period}/{version}/rnn-00001.snappy.parquet"
    s3.put_object(Bucket=BUCKET, Key=key, Body=focus_export_parquet(lines))


def test_cost_reconcile_logs_the_bill_beside_the_estimate_and_follows_restatements(
    airflow_db, pipeline_home, moto_s3
) -> None:
    from aws_fakes import focus_line
    from mlflow import MlflowClient

    from pipeline import names, tracking

    billed_run = training_run("manual__spot_1", "ec2_spot", cost_of("i-0aaa", 0.2300, 0.0006))
    pending_run = training_run("manual__spot_2", "ec2_spot", cost_of("i-0bbb", 0.1000, 0.0003))
    local_run = training_run("manual__local", "local", {"usd": 0.002})
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)

    def lines(instance_usd: float) -> list:
        tags = {names.TAG_ALLOCATION_MLFLOW_RUN_ID: billed_run}
        return [
            focus_line(resource_id="i-0aaa", start=start, end=start + timedelta(hours=1), billed=instance_usd,
                       quantity=1.0, unit="Hours", tags=tags, service="Amazon Elastic Compute Cloud",
                       pricing_category="Dynamic"),
            focus_line(resource_id="vol-0aaa", start=start, end=start + timedelta(hours=1), billed=0.0006,
                       quantity=0.0274, unit="GB-Months", tags=tags, service="Amazon Elastic Block Store"),
            focus_line(resource_id="i-0web", start=start, end=start + timedelta(hours=1), billed=0.17,
                       quantity=1.0, unit="Hours", tags={"team": "web"}, service="Amazon Elastic Compute Cloud"),
        ]  # fmt: skip

    def reconcile():
        dag_run = load_dag("cost_reconcile").test(run_conf={"export_uri": EXPORT})
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
        assert dag_run.state == "success", states
        return dag_run

    put_delivery(moto_s3, "20260301T0300Z-1", lines(0.2200))
    reconcile()
    tracking.configure()
    client = MlflowClient()
    run = client.get_run(billed_run)
    assert run.data.metrics[names.COST_BILLED_ACTUAL_USD] == pytest.approx(0.2206)
    assert run.data.metrics[names.COST_TAGGED_ESTIMATE_USD] == pytest.approx(0.2306)
    assert run.data.metrics[names.COST_ESTIMATE_ERROR_PCT] == pytest.approx((0.2306 - 0.2206) / 0.2206 * 100)
    assert run.data.metrics[names.COST_TRAIN_USD] == pytest.approx(0.2307)  # the estimate stays beside it
    assert run.data.tags[names.TAG_COST_BASIS] == "invoice"
    assert run.data.tags[names.TAG_BILLED_SOURCE] == f"data-export {EXPORT}"
    assert "20260301T0300Z-1" in run.data.tags[names.TAG_BILLED_VERSION]
    for other in (pending_run, local_run):  # no bill lines yet / not a cloud run
        assert names.COST_BILLED_ACTUAL_USD not in client.get_run(other).data.metrics
        assert client.get_run(other).data.tags[names.TAG_COST_BASIS] == "billed-estimate"

    # AWS restates the period: a newer delivery; the run is reconciled again to it
    put_delivery(moto_s3, "20260302T0300Z-2", lines(0.2290))
    reconcile()
    run = client.get_run(billed_run)
    assert run.data.metrics[names.COST_BILLED_ACTUAL_USD] == pytest.approx(0.2296)
    assert "20260302T0300Z-2" in run.data.tags[names.TAG_BILLED_VERSION]

    # the same bill again: nothing changes
    reconcile()
    history = client.get_metric_history(billed_run, names.COST_BILLED_ACTUAL_USD)
    assert [round(m.value, 6) for m in history] == [0.2206, 0.2296]
