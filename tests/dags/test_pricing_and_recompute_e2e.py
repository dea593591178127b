"""pricing_refresh (offline/stale and against a stubbed Price List API) and cost_recompute via dag.test()."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from aws_fakes import inject_spot_history, replay_price_lists, running_moto_server, spot_record
from botocore.stub import Stubber
from bulk_fakes import ADVISOR_PATH, bulk_files, serving, url_of
from helpers import TINY_DAG_CONF, free_port, load_dag

from costing.pricing.catalog import PriceCatalog
from costing.pricing.snapshot import latest_snapshot_dir

pytestmark = pytest.mark.e2e

SHIPPED = latest_snapshot_dir()  # the newest shipped snapshot, which seeds the pricing root
REGIONS = ["us-east-1", "eu-west-1"]
TYPES = ["r6i.xlarge", "m5.large", "c5.large"]
AZS = {"us-east-1": "abc", "eu-west-1": "ab"}


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def snapshot_ids(pipeline_home: Path) -> list[str]:
    return sorted(p.name for p in (pipeline_home / "pricing" / "snapshots").iterdir() if p.is_dir())


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)


@pytest.fixture
def bulk_urls(monkeypatch: pytest.MonkeyPatch):
    """Point the bulk Price List and the Advisor at 127.0.0.1: a served tree, or (None) a closed port."""

    def point(base: str | None) -> None:
        base = base or f"http://127.0.0.1:{free_port()}"
        monkeypatch.setenv("RNN_PIPELINE_PRICE_LIST_URL", base)
        monkeypatch.setenv("RNN_PIPELINE_SPOT_ADVISOR_URL", f"{base}{ADVISOR_PATH}")
        monkeypatch.setenv("RNN_PIPELINE_PRICING_TIMEOUT_SECONDS", "3")

    return point


def test_offline_refresh_keeps_the_shipped_snapshot_and_says_so(
    airflow_db: Path, pipeline_home: Path, no_aws_credentials: None, bulk_urls
) -> None:
    bulk_urls(None)  # offline: nothing listens there
    start = time.monotonic()
    dag_run = load_dag("pricing_refresh").test(run_conf={"regions": REGIONS, "instance_types": TYPES})
    states = task_states(dag_run)
    assert states == {
        "fetch_validate_write": "skipped",
        "diff_against_previous": "skipped",
        "publish": "skipped",
        "detect_price_anomalies": "skipped",
    }
    assert snapshot_ids(pipeline_home) == [SHIPPED.name]  # seeded from include/, nothing new written
    status = json.loads((pipeline_home / "pricing" / "snapshots" / ".refresh-status.json").read_text())
    assert status["status"] == "stale" and status["snapshot_id"] == SHIPPED.name
    assert status["message"].startswith(f"stale: kept {SHIPPED.name}, age ")
    # both ways failed, and the reason says why each did
    assert "no Airflow connection 'aws_default'" in status["reason"]
    assert "cannot read http://127.0.0.1:" in status["reason"] and "Connection refused" in status["reason"]
    assert status["age_days"] > 500  # prices as of 2025
    assert time.monotonic() - start < 60  # no long network timeouts


def test_refresh_without_an_account_reads_the_bulk_files_and_publishes(
    airflow_db: Path, pipeline_home: Path, no_aws_credentials: None, bulk_urls
) -> None:
    from costing.pricing.snapshot import load_snapshot

    with serving(bulk_files(SHIPPED)) as server:
        bulk_urls(url_of(server))
        dag_run = load_dag("pricing_refresh").test(run_conf={"regions": REGIONS, "instance_types": TYPES})
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    ids = snapshot_ids(pipeline_home)
    assert len(ids) == 2 and ids[0] == SHIPPED.name
    written = load_snapshot(pipeline_home / "pricing" / "snapshots" / ids[1])
    assert written.provenance.source == "bulk" and "AmazonEC2" in written.provenance.offers
    assert written.spot_advisor()["spot_advisor"]["us-east-1"]["Linux"]["r6i.xlarge"] == {"s": 62, "r": 1}
    status = json.loads((pipeline_home / "pricing" / "snapshots" / ".refresh-status.json").read_text())
    assert status["status"] == "fresh" and status["snapshot_id"] == ids[1]


def test_refresh_against_the_stubbed_api_writes_diffs_and_publishes(
    airflow_db: Path, pipeline_home: Path, monkeypatch: pytest.MonkeyPatch, bulk_urls
) -> None:
    from costing.pricing.fetch import PRICE_QUERIES
    from costing.pricing.snapshot import load_snapshot

    bulk_urls(None)  # Savings Plans and the Advisor unreachable: warnings, not a stale refresh
    documents: dict[str, dict[str, list[str]]] = {}
    for path in sorted((SHIPPED / "raw" / "pricing").glob("*/*.json")):
        documents.setdefault(path.parent.name, {})[path.stem] = json.loads(path.read_text())["PriceList"]
    recent = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    inject_spot_history(
        monkeypatch,
        {
            region: [spot_record(f"{region}{az}", t, "0.061000", recent) for t in TYPES for az in AZS[region]]
            for region in REGIONS
        },
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}})
    )
    pricing = boto3.client(
        "pricing",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",
    )
    with running_moto_server() as endpoint, Stubber(pricing) as stubber:
        ec2 = {
            region: boto3.client(
                "ec2",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for region in REGIONS
        }
        monkeypatch.setattr("pipeline.tasks.pricing.aws_clients", lambda conn_id, regions: (pricing, ec2))
        replay_price_lists(
            stubber,
            documents,
            regions=REGIONS,
            instance_types=TYPES,
            sagemaker_instance_types=[
                "ml.t2.medium",
                "ml.m5.large",
                "ml.m5.xlarge",
                "ml.c5.large",
                "ml.c5.xlarge",
            ],
            queries=PRICE_QUERIES,
        )
        dag_run = load_dag("pricing_refresh").test(run_conf={"regions": REGIONS, "instance_types": TYPES})
        stubber.assert_no_pending_responses()

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    ids = snapshot_ids(pipeline_home)
    assert (
        len(ids) == 2 and ids[0] == SHIPPED.name and ids[1].startswith(datetime.now(UTC).strftime("%Y-%m-%d"))
    )
    written = load_snapshot(pipeline_home / "pricing" / "snapshots" / ids[1])
    assert written.provenance.source == "api"
    assert PriceCatalog.from_snapshot(written).current_spot_usd_per_hour(
        "r6i.xlarge", "us-east-1"
    ) == pytest.approx(0.061)
    [diff_file] = list(pipeline_home.rglob("diff.json"))
    diff = json.loads(diff_file.read_text())
    assert diff["counts"]["spot_changed"] >= 1  # spot prices moved against the recorded history
    assert diff["counts"]["removed"] >= 1  # types not asked for this time
    assert any(row.get("instance_type") == "r6i.xlarge" for row in diff["spot_changed"])
    status = json.loads((pipeline_home / "pricing" / "snapshots" / ".refresh-status.json").read_text())
    assert status["status"] == "fresh" and status["snapshot_id"] == ids[1]

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "pricing_snapshot", AssetEvent.source_run_id == dag_run.run_id)
            .all()
        )
    assert [e.extra["snapshot_id"] for e in events] == [ids[1]]


def test_recompute_skips_without_a_registered_model(airflow_db: Path, pipeline_home: Path) -> None:
    dag_run = load_dag("cost_recompute").test()
    assert task_states(dag_run) == {"recompute": "skipped"}


def test_recompute_prices_the_champion_at_todays_prices(
    airflow_db: Path, pipeline_home: Path, tiny_corpus: Path
) -> None:
    from mlflow import MlflowClient

    from pipeline import names, tracking

    trained = load_dag("rnn_retraining").test(run_conf={**TINY_DAG_CONF, "corpus_uri": str(tiny_corpus)})
    assert trained.state == "success"
    dag_run = load_dag("cost_recompute").test(
        run_conf={"requests_per_day": [100, 10000, 1000000], "samples": 2000}
    )
    assert task_states(dag_run) == {"recompute": "success"}

    tracking.configure()
    client = MlflowClient()
    [analysis] = client.search_runs([client.get_experiment_by_name(names.COST_EXPERIMENT).experiment_id])
    assert analysis.info.status == "FINISHED"
    metrics, tags = analysis.data.metrics, analysis.data.tags
    for rpd in ("100", "10000", "1000000"):
        assert metrics[f"scenario.{rpd}.cheapest_usd_per_month"] > 0
        assert (
            metrics[f"scenario.{rpd}.cheapest_p10_usd_per_month"]
            <= metrics[f"scenario.{rpd}.cheapest_p90_usd_per_month"]
        )
        assert tags[f"scenario.{rpd}.cheapest"]
        assert metrics[f"scenario.{rpd}.tco_total_usd"] > 0
    assert (
        metrics["scenario.100.cheapest_usd_per_month"] <= metrics["scenario.1000000.cheapest_usd_per_month"]
    )
    assert tags[names.TAG_SNAPSHOT_ID] == SHIPPED.name and tags[names.TAG_MODEL_VERSION] == "1"
    # the platform that runs the pipeline is in the TCO by default (self-hosted, wholly this model's)
    assert tags[names.TAG_PLATFORM_DESIGN] == "self-hosted" and metrics[names.PLATFORM_SHARE] == 1
    assert metrics[names.PLATFORM_USD_PER_MONTH] == metrics[names.PLATFORM_FULL_USD_PER_MONTH] > 0
    assert metrics["scenario.100.tco_total_usd"] >= 12 * metrics[names.PLATFORM_USD_PER_MONTH]
    assert tags["model.source"].startswith("rnn-textgen@champion, version 1")  # the alias is priced
    assert analysis.info.run_name == f"recompute · champion v1 · us-east-1 · prices {SHIPPED.name}"
    assert tags["cost.free_tiers_applied"] == "false" and tags["model.metrics_source"].startswith(
        "rnn-textgen"
    )
    assert metrics[names.COST_TRAIN_AT_TODAYS_PRICES_USD] > 0
    assert tags[names.TAG_DAG_ID] == "cost_recompute"
    assert tags[names.TAG_COST_ARTIFACT] == "analysis/analysis.json"  # what the FOCUS ledger fetches

    [training] = client.search_runs([client.get_experiment_by_name(names.TRAINING_EXPERIMENT).experiment_id])
    paid = training.data.metrics[names.COST_TRAIN_USD]
    assert (
        training.data.tags[names.TAG_SNAPSHOT_ID] == SHIPPED.name
    )  # the price paid stays on the training run
    assert paid > 0
    artifacts = {a.path for a in client.list_artifacts(analysis.info.run_id, "analysis")}
    assert {"analysis/analysis.json", "analysis/grid.csv", "analysis/tco.csv"} <= artifacts
    [analysis_json] = [p for p in pipeline_home.rglob("analysis.json") if "cost_recompute" in str(p)]
    document = json.loads(analysis_json.read_text())
    assert document["schema"] == "rnn-cost-analysis"
    assert document["free_tiers_applied"] is False and document["price_sources"]
    assert document["resources"]["parameters"] == document["resources"]["parameters_measured"]
    assert [s["requests_per_day"] for s in document["grid"]["scenarios"]] == [100, 10000, 1000000]
    assert document["model"]["training_cost_paid"]["usd"] == pytest.approx(paid)
    options = {o["option"] for o in document["grid"]["scenarios"][0]["options"]}
    assert {
        "ec2-on-demand",
        "ec2-spot",
        "ec2-reserved-1yr",
        "ec2-reserved-3yr",
        "lambda",
        "sagemaker-realtime",
        "sagemaker-serverless",
        "fargate",
        "cloudflare-workers",
    } <= options
