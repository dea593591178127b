"""FOCUS 1.2 rows of every cost: literal numbers, CSV/Parquet, the CLI over MLflow, and the FinOps validator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costing.report.focus import (
    AWS_APPLICABILITY,
    COLUMNS,
    RunRef,
    analysis_rows,
    focus_unit,
    training_rows,
    write_focus,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
SPOT_RUN = RunRef("a" * 32, "rnn-textgen", "rnn_retraining/manual__1", T0)


def spot_cost() -> dict:
    """cost.json of a spot run: one interrupted spot attempt, one on-demand fallback, storage."""
    return {
        "snapshot_id": "2025-06-02+spot-price-history",
        "region": "us-east-1",
        "instance_type": "r6i.xlarge",
        "market": "mixed",
        "is_estimate": False,
        "instances": {"on_demand_usd_per_hour": 0.252},
        "attempts": [
            {
                "attempt": "1.1",
                "instance_id": "i-0aaa",
                "instance_type": "r6i.xlarge",
                "availability_zone": "us-east-1a",
                "market": "spot",
                "launched_at": "2026-03-02T10:00:00.000000Z",
                "billed_seconds": 1800.0,
                "usd": 0.045,  # 0.5 h at $0.090/h
                "outcome": "interrupted",
                "training_usd": 0.0375,
                "wasted_usd": 0.004,
                "overhead_usd": 0.0035,
            },
            {
                "attempt": "1.2",
                "instance_id": "i-0bbb",
                "instance_type": "r6i.xlarge",
                "availability_zone": "us-east-1b",
                "market": "on-demand",
                "launched_at": "2026-03-02T11:00:00.000000Z",
                "billed_seconds": 600.0,
                "usd": 0.042,  # 600 s at $0.252/h
                "outcome": "done",
            },
        ],
        "storage": {
            "usd": 0.001,
            "s3_storage_usd": 0.0001,
            "s3_requests_usd": 0.0005,
            "ebs_usd": 0.0004,
            "usage": {"put_requests": 30, "get_requests": 50, "stored_bytes": 5e7, "stored_seconds": 4200},
            "ebs_gb_seconds": 48_000,
            "rates": {"s3_usd_per_gb_month": 0.023, "ebs_gp3_usd_per_gb_month": 0.08},
        },
    }


def local_cost() -> dict:
    return {
        "usd": 0.002,
        "on_demand_usd": 0.0063,
        "billed_seconds": 90.0,
        "usd_per_hour": 0.08,
        "on_demand_usd_per_hour": 0.252,
        "market": "spot",
        "instance_type": "r6i.xlarge",
        "region": "us-east-1",
        "snapshot_id": "2025-06-02",
        "is_estimate": True,
        "basis": "estimate: local run priced as if on r6i.xlarge spot",
        "attempts": 1,  # TrainingCost.to_dict(): a count, not a list
    }


def analysis_document() -> dict:
    """Two request volumes; two EC2 spot variants (the cheaper is exported) and Lambda."""

    def option(key, name, option, monthly, components):
        return {"key": key, "name": name, "option": option, "feasible": True, "monthly_cost": monthly,
                "cost_components": components}  # fmt: skip

    def component(service, unit, quantity, price, name="x"):
        return {"name": name, "service": service, "unit": unit, "monthly_quantity": quantity, "price": price,
                "monthly_cost": quantity * price}  # fmt: skip

    spot_small = option("ec2-spot:c7g.large", "EC2 spot c7g.large", "ec2-spot", 30.0,
                        [component("AmazonEC2", "hours", 730, 0.03, "Instance usage"),
                         component("AmazonEC2", "GB-months", 20, 0.08, "EBS gp3 root volume")])  # fmt: skip
    spot_big = option("ec2-spot:c7g.xlarge", "EC2 spot c7g.xlarge", "ec2-spot", 60.0,
                      [component("AmazonEC2", "hours", 730, 0.06, "Instance usage")])  # fmt: skip
    lam = option("lambda:1024", "Lambda 1024 MB", "lambda", 1.5,
                 [component("AWSLambda", "1M requests", 0.003, 0.2), component("AWSLambda", "GB-seconds", 90000, 0.0000166667)])  # fmt: skip
    infeasible = {
        "key": "sagemaker-realtime:x",
        "option": "sagemaker-realtime",
        "feasible": False,
        "monthly_cost": None,
    }
    return {
        "grid": {
            "region": "us-east-1",
            "snapshot_id": "2025-06-02",
            "prices_as_of": "2025-06-01",
            "scenarios": [
                {"requests_per_day": 100, "options": [spot_big, spot_small, lam, infeasible]},
                {"requests_per_day": 10_000, "options": [spot_small, lam]},
            ],
        }
    }


def test_a_spot_run_is_one_row_per_attempt_plus_storage() -> None:
    rows = training_rows(spot_cost(), SPOT_RUN)
    spot, on_demand, ebs, s3_storage, s3_requests = rows
    assert set(spot) == set(COLUMNS)
    assert (spot["PricingCategory"], on_demand["PricingCategory"]) == ("Dynamic", "Standard")
    assert spot["BilledCost"] == spot["EffectiveCost"] == spot["ContractedCost"] == 0.045
    assert spot["ListCost"] == pytest.approx(0.5 * 0.252)  # the same hours at the on-demand list price
    assert spot["ContractedUnitPrice"] == pytest.approx(0.09) and spot["ListUnitPrice"] == 0.252
    assert (spot["ConsumedQuantity"], spot["PricingUnit"]) == (0.5, "Hours")
    assert spot["ChargePeriodStart"] == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert spot["ChargePeriodEnd"] == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert (spot["BillingPeriodStart"], spot["BillingPeriodEnd"]) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert (spot["ResourceId"], spot["ResourceType"], spot["AvailabilityZone"]) == (
        "i-0aaa",
        "Instance",
        "us-east-1a",
    )
    assert (spot["ServiceName"], spot["ServiceCategory"]) == ("Amazon Elastic Compute Cloud", "Compute")
    assert (spot["x_WastedCost"], spot["x_OverheadCost"], spot["x_Attempt"]) == (0.004, 0.0035, "1.1")
    assert spot["x_CostBasis"] == "billed-estimate" and spot["x_MlflowExperiment"] == "rnn-textgen"
    assert json.loads(spot["Tags"]) == {
        "rnn:mlflow_run_id": "a" * 32,
        "rnn:dag_run_id": "rnn_retraining/manual__1",
    }
    assert (ebs["ServiceName"], ebs["ServiceCategory"], ebs["BilledCost"]) == (
        "Amazon Elastic Block Store",
        "Storage",
        0.0004,
    )
    assert ebs["ConsumedQuantity"] == pytest.approx(48_000 / (730 * 3600))  # GB-seconds -> GB-months
    assert ebs["ResourceType"] is None  # no volume id: FOCUS wants no type without a resource
    assert s3_storage["ConsumedQuantity"] == pytest.approx(5e7 / 2**30 * 4200 / (730 * 3600))
    assert (s3_requests["ConsumedQuantity"], s3_requests["ConsumedUnit"]) == (80, "Requests")
    # storage spans the run: first launch to the end of the last attempt
    assert ebs["ChargePeriodEnd"] == datetime(2026, 3, 2, 11, 10, tzinfo=UTC)
    assert sum(r["BilledCost"] for r in rows) == pytest.approx(0.045 + 0.042 + 0.001)


def test_a_local_run_is_one_estimated_row() -> None:
    [row] = training_rows(local_cost(), RunRef("b" * 32, "rnn-textgen", "rnn_retraining/manual__2", T0))
    assert row["x_CostBasis"] == "estimate" and row["PricingCategory"] == "Dynamic"
    assert row["ConsumedQuantity"] == pytest.approx(90 / 3600)
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
        T0,
        datetime(2026, 3, 2, 9, 1, 30, tzinfo=UTC),
    )
    assert (row["BilledCost"], row["ListCost"]) == (0.002, 0.0063)
    assert row["ResourceId"] is None and row["ResourceType"] is None


def test_an_analysis_is_a_month_of_serving_per_volume_and_alternative() -> None:
    rows = analysis_rows(
        analysis_document(), RunRef("c" * 32, "rnn-cost-analysis", "cost_recompute/manual__3", T0)
    )
    # 100/day: c7g.large (2 components, cheaper than c7g.xlarge) + Lambda (2); 10,000/day: the same
    assert len(rows) == 8
    assert {r["x_Option"] for r in rows} == {"ec2-spot:c7g.large", "lambda:1024"}
    first = rows[0]
    assert (first["ChargePeriodStart"], first["ChargePeriodEnd"]) == (
        datetime(2025, 6, 1, tzinfo=UTC),
        datetime(2025, 7, 1, tzinfo=UTC),
    )
    ebs = next(r for r in rows if r["ServiceName"] == "Amazon Elastic Block Store")
    assert (ebs["BilledCost"], ebs["ConsumedUnit"], ebs["ServiceCategory"]) == (
        pytest.approx(1.6),
        "GB-Months",
        "Storage",
    )
    lam = [r for r in rows if r["ServiceName"] == "AWS Lambda"]
    assert {r["PricingUnit"] for r in lam} == {"1000000 Requests", "GB-Seconds"}
    assert {r["PricingCategory"] for r in rows if r["x_Option"].startswith("ec2-spot")} == {"Dynamic"}
    assert {r["x_RequestsPerDay"] for r in rows} == {100.0, 10_000.0}
    assert all(r["x_CostBasis"] == "estimate" for r in rows)


def test_units_are_spelled_the_focus_way() -> None:
    assert focus_unit("1M CPU-ms") == "1000000 CPU Milliseconds"
    assert focus_unit("LCU-hours") == "LCU-Hours"
    assert focus_unit("GB-months") == "GB-Months"
    assert focus_unit("vCPU-hours") == "vCPU-Hours"


def test_csv_and_parquet_hold_the_same_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = training_rows(spot_cost(), SPOT_RUN)
    csv_path = write_focus(rows, tmp_path / "focus.csv")
    parquet_path = write_focus(rows, tmp_path / "focus.parquet")
    lines = csv_path.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["BilledCost", "BillingAccountId", "BillingAccountName"]
    assert len(lines) == 1 + len(rows)
    assert "2026-03-02T10:00:00Z" in lines[1]
    table = pq.read_table(parquet_path)
    assert table.column_names == list(COLUMNS)
    assert table.column("BilledCost").to_pylist() == [r["BilledCost"] for r in rows]
    assert table.schema.field("ChargePeriodStart").type.tz == "UTC"
    assert table.column("ChargePeriodStart").to_pylist()[0] == datetime(2026, 3, 2, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        write_focus(rows, tmp_path / "focus.json")


# -- the CLI over a real MLflow store ------------------------------------------------------------------------


def _log_runs(tracking_uri: str, tmp_path: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    training = client.create_experiment("rnn-textgen", artifact_location=(tmp_path / "a1").as_uri())
    analyses = client.create_experiment("rnn-cost-analysis", artifact_location=(tmp_path / "a2").as_uri())
    other = client.create_experiment("someone-else", artifact_location=(tmp_path / "a3").as_uri())
    tags = {"airflow.dag_id": "rnn_retraining", "airflow.run_id": "manual__1"}
    spot = client.create_run(
        training, start_time=int(datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp() * 1000), tags=tags
    )
    client.log_dict(spot.info.run_id, spot_cost(), "cost.json")
    old = client.create_run(training, start_time=int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000))
    client.log_dict(old.info.run_id, local_cost(), "cost.json")  # before --since: not exported
    analysis = client.create_run(
        analyses, start_time=int(datetime(2026, 3, 3, tzinfo=UTC).timestamp() * 1000)
    )
    client.log_dict(analysis.info.run_id, analysis_document(), "analysis/analysis.json")
    client.create_run(other, start_time=int(datetime(2026, 3, 3, tzinfo=UTC).timestamp() * 1000))  # no costs
    return {"spot": spot.info.run_id, "analysis": analysis.info.run_id, "old": old.info.run_id}


@pytest.mark.integration  # creates an MLflow store (its migrations take ~10 s)
def test_focus_export_reads_every_cost_recorded_in_mlflow(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = _log_runs(tracking_uri, tmp_path)
    out = tmp_path / "export" / "focus.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "costing", "focus-export", "--since", "2026-03-01", "--out", str(out),
         "--tracking-uri", tracking_uri, "--billing-account-id", "123456789012"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "13 FOCUS 1.2 rows from 2 runs" in result.stdout  # 5 of the spot run + 8 of the analysis
    table = pq.read_table(out).to_pylist()
    assert {r["x_MlflowRunId"] for r in table} == {ids["spot"], ids["analysis"]}
    assert {r["x_MlflowExperiment"] for r in table} == {"rnn-textgen", "rnn-cost-analysis"}
    assert {r["BillingAccountId"] for r in table} == {"123456789012"}
    spot_rows = [r for r in table if r["x_MlflowRunId"] == ids["spot"]]
    assert {r["x_DagRunId"] for r in spot_rows} == {"rnn_retraining/manual__1"}
    assert sum(r["BilledCost"] for r in spot_rows) == pytest.approx(0.088)


@pytest.mark.integration  # creates an MLflow store (its migrations take ~10 s)
def test_the_ledger_fetches_what_the_tag_names_and_lists_only_runs_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    from costing.records import TAG_COST_ARTIFACT
    from costing.report.ledger import focus_rows_since

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    training = client.create_experiment("rnn-textgen", artifact_location=(tmp_path / "a1").as_uri())
    analyses = client.create_experiment("rnn-cost-analysis", artifact_location=(tmp_path / "a2").as_uri())
    day = datetime(2026, 3, 2, tzinfo=UTC)

    def run(experiment: str, hour: int, artifacts: dict[str, dict], tag: str | None = None) -> str:
        created = client.create_run(experiment, start_time=int(day.replace(hour=hour).timestamp() * 1000))
        for path, document in artifacts.items():
            client.log_dict(created.info.run_id, document, path)
        if tag is not None:
            client.set_tag(created.info.run_id, TAG_COST_ARTIFACT, tag)
        return created.info.run_id

    ids = {
        "tagged spot": run(training, 1, {"cost.json": spot_cost()}, tag="cost.json"),
        "old local": run(training, 2, {"cost.json": local_cost()}),  # from before the tag: listed
        "no cost": run(training, 3, {"metrics.json": {}}),  # a failed run, say: listed, nothing
        "tagged analysis": run(
            analyses, 4, {"analysis/analysis.json": analysis_document()}, tag="analysis/analysis.json"
        ),
        "old analysis": run(analyses, 5, {"analysis/analysis.json": analysis_document()}),
        "report only": run(analyses, 6, {"report/report.json": {}}),
        "unknown tag": run(training, 7, {"cost.json": local_cost()}, tag="somewhere/else.json"),  # listed
    }
    listed: list[str] = []
    list_artifacts = LocalArtifactRepository.list_artifacts

    def spy(self: LocalArtifactRepository, path: str | None = None) -> list:
        listed.append(next(name for name, run_id in ids.items() if run_id in self.artifact_dir))
        return list_artifacts(self, path)

    monkeypatch.setattr(LocalArtifactRepository, "list_artifacts", spy)
    rows = focus_rows_since(day, tracking_uri=uri)

    assert set(listed) == {"old local", "no cost", "old analysis", "report only", "unknown tag"}
    assert listed.count("old analysis") == 2  # the root, then the analysis folder

    def ref(name: str, experiment: str, hour: int) -> RunRef:
        return RunRef(ids[name], experiment, "", day.replace(hour=hour))

    expected = (
        training_rows(spot_cost(), ref("tagged spot", "rnn-textgen", 1))
        + training_rows(local_cost(), ref("old local", "rnn-textgen", 2))
        + training_rows(local_cost(), ref("unknown tag", "rnn-textgen", 7))
        + analysis_rows(analysis_document(), ref("tagged analysis", "rnn-cost-analysis", 4))
        + analysis_rows(analysis_document(), ref("old analysis", "rnn-cost-analysis", 5))
    )
    by_run = sorted(expected, key=lambda row: row["x_MlflowRunId"])
    assert sorted(rows, key=lambda row: row["x_MlflowRunId"]) == by_run
    # oldest first within an experiment, experiments in the store's order: the order of the export
    assert [row["x_MlflowRunId"] for row in rows] == [
        row["x_MlflowRunId"]
        for experiment in [e.name for e in client.search_experiments()]
        for row in expected
        if row["x_MlflowExperiment"] == experiment
    ]


def test_focus_export_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "costing", "focus-export", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    bad_suffix = run("--since", "2026-03-01", "--out", str(tmp_path / "focus.xlsx"))
    assert bad_suffix.returncode == 2 and bad_suffix.stderr.strip().startswith("error:")
    assert "Traceback" not in bad_suffix.stderr
    bad_date = run("--since", "2026-02-30", "--out", str(tmp_path / "f.csv"))
    assert bad_date.returncode == 2 and "must be a date (YYYY-MM-DD)" in bad_date.stderr
    missing = run(
        "--since",
        "2026-03-01",
        "--out",
        str(tmp_path / "f.csv"),
        "--tracking-uri",
        f"sqlite:///{tmp_path}/none.db",
    )
    assert (
        missing.returncode == 2 and "no MLflow store" in missing.stderr and "Traceback" not in missing.stderr
    )


# -- the FinOps Foundation's validator -----------------------------------------------------------------------

VALIDATOR_VENV = Path(__file__).resolve().parents[3] / ".venv-focus-validator"
# Three rules of the validator's model 1.2.0.1 fail on any row without a capacity reservation, commitment
# discount or invoice, and contradict a sibling rule that passes on the same rows: CapacityReservationStatus
# C-004 (its "Id is not null" condition is evaluated as always true; C-003 says it MUST be null then),
# CommitmentDiscountStatus C-004 (same condition as C-003, opposite requirement) and InvoiceId C-005
# (unconditional; C-004 says MUST be null when there is no invoice). They and their parent composites
# are the only failures accepted.
VALIDATOR_CONTRADICTIONS = {
    f"{column}-C-{number}-C"
    for column, numbers in (
        ("CapacityReservationStatus", ("000", "002", "004")),
        ("CommitmentDiscountStatus", ("000", "002", "004")),
        ("InvoiceId", ("005",)),
    )
    for number in numbers
}


def _validator() -> Path:
    executable = VALIDATOR_VENV / "bin" / "focus-validator"
    if not executable.exists():
        message = f"{executable} is missing: `make focus-validator` creates it (needs Python >= 3.12)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return executable


@pytest.mark.integration  # runs the validator (its own venv) twice, ~10 s
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_export_passes_the_finops_foundation_validator(tmp_path: Path, suffix: str) -> None:
    executable = _validator()
    rows = [
        *training_rows(spot_cost(), SPOT_RUN),
        *training_rows(local_cost(), RunRef("b" * 32, "rnn-textgen", "rnn_retraining/manual__2", T0)),
        *analysis_rows(
            analysis_document(), RunRef("c" * 32, "rnn-cost-analysis", "cost_recompute/manual__3", T0)
        ),
        # serving and the platform that runs the pipeline (EC2, RDS, SES lines with an attribution share)
        *analysis_rows(
            platform_document(0.25), RunRef("f" * 32, "rnn-cost-analysis", "cost_recompute/manual__6", T0)
        ),
    ]
    path = write_focus(rows, tmp_path / f"focus.{suffix}")
    [site_packages] = (VALIDATOR_VENV / "lib").glob("python3.*/site-packages")
    result = subprocess.run(
        [str(executable), "--data-file", str(path), "--validate-version", "1.2", "--block-download",
         "--applicability-criteria", ",".join(AWS_APPLICABILITY), "--show-violations"],
        capture_output=True, text=True, timeout=300,
        cwd=site_packages,  # it opens focus_validator/rules/currency_codes.csv relative to the working directory
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = next(line for line in result.stdout.splitlines() if line.startswith("Total:"))
    failed = {line.split()[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("❌")}
    assert failed <= VALIDATOR_CONTRADICTIONS, (
        summary,
        sorted(failed - VALIDATOR_CONTRADICTIONS),
        result.stdout[-6000:],
    )
    passed = int(summary.split("Pass:")[1].split("|")[0])
    assert passed > 300, summary  # the mandatory columns' rules ran and passed
    # ServiceSubcategory-C-004-M: each subcategory (Relational Databases, ...) belongs to its category
    for rule in (
        "BilledCost-C-000-M",
        "ChargeCategory-C-000-M",
        "PricingCategory-C-000-M",
        "ServiceCategory-C-000-M",
        "ServiceSubcategory-C-004-M",
    ):
        assert f"✅ {rule}: PASS" in result.stdout, rule


@pytest.mark.parametrize(
    ("option", "category"),
    [
        ("ec2-on-demand", "Standard"),
        ("ec2-spot", "Dynamic"),
        ("ec2-reserved-1yr", "Committed"),
        ("ec2-reserved-3yr", "Committed"),
        ("ec2-compute-sp-1yr", "Committed"),
        ("ec2-instance-sp-3yr", "Committed"),
        ("lambda", "Standard"),
    ],
)
def test_commitments_are_committed_and_spot_is_dynamic(option: str, category: str) -> None:
    """Reserved terms and Savings Plans are commitment-based pricing in FOCUS; spot is Dynamic."""
    document = analysis_document()
    chosen = dict(document["grid"]["scenarios"][1]["options"][0], option=option, key=f"{option}:c7g.large")
    document["grid"]["scenarios"] = [{"requests_per_day": 100, "options": [chosen]}]
    rows = analysis_rows(document, RunRef("d" * 32, "rnn-cost-analysis", "cost_recompute/manual__4", T0))
    assert rows and {r["PricingCategory"] for r in rows} == {category}


# -- the platform that runs the pipeline ---------------------------------------------------------------------


def platform_document(share: float) -> dict:
    """analysis_document() with a self-hosted platform: 730 h x $0.0416 = $30.368, 20 GB-months x $0.08 = $1.60
    (the root volume), 730 h x $0.016 = $11.68 (RDS), 0.004 1k emails x $0.10 = $0.0004 (SES)."""
    lines = [
        ("Airflow control plane + MLflow + Redis (t3.medium on-demand)", "AmazonEC2", "hours", 730.0, 0.0416),
        ("Airflow control plane + MLflow + Redis root volume (gp3, 20 GB)", "AmazonEC2", "GB-months", 20.0, 0.08),
        ("Airflow + MLflow database (RDS PostgreSQL db.t4g.micro, Single-AZ)", "AmazonRDS", "hours", 730.0, 0.016),
        ("Report mail (SES)", "AmazonSES", "1k emails", 0.004, 0.10),
    ]  # fmt: skip
    document = analysis_document()
    document["tco"] = {
        "platform": {
            "design": "self-hosted",
            "label": "Self-hosted (docker-compose topology on EC2 + RDS)",
            "region": "us-east-1",
            "snapshot_id": "2025-06-02",
            "attribution_share": share,
            "components": [
                {
                    "name": name,
                    "service": service,
                    "unit": unit,
                    "monthly_quantity": quantity,
                    "price": price,
                    "monthly_cost": quantity * price,
                    "source": f"snapshot 2025-06-02: {service}",
                }
                for name, service, unit, quantity, price in lines
            ],
        }
    }
    return document


def test_platform_rows_carry_the_attribution_share() -> None:
    run = RunRef("e" * 32, "rnn-cost-analysis", "cost_recompute/manual__5", T0)
    rows = analysis_rows(platform_document(0.25), run)
    serving = [r for r in rows if r["x_Component"] == "serving"]
    platform = [r for r in rows if r["x_Component"] == "platform"]
    assert serving == analysis_rows(analysis_document(), run)  # the serving rows are what they were
    assert all(r["x_AttributionShare"] is None for r in serving)
    assert len(platform) == 4  # once per component, not per request volume
    control, volume, database, mail = platform
    # a quarter of each full line: 0.25 x $30.368 = $7.592, 0.25 x 730 h = 182.5 h at the same $0.0416/h
    assert control["BilledCost"] == pytest.approx(7.592)
    assert (
        control["EffectiveCost"] == control["ContractedCost"] == control["ListCost"] == control["BilledCost"]
    )
    assert control["PricingCurrencyEffectiveCost"] == control["BilledCost"]
    assert (control["PricingQuantity"], control["ConsumedQuantity"]) == (182.5, 182.5)
    assert control["ContractedUnitPrice"] == control["ListUnitPrice"] == 0.0416
    assert control["x_AttributionShare"] == 0.25 and control["PricingUnit"] == "Hours"
    assert control["ChargeDescription"] == (
        "Platform Self-hosted (docker-compose topology on EC2 + RDS): Airflow control plane + MLflow + Redis "
        "(t3.medium on-demand) x 0.25 share"
    )
    assert (control["x_RequestsPerDay"], control["x_Option"]) == (None, None)
    assert (volume["ServiceName"], volume["BilledCost"]) == ("Amazon Elastic Block Store", pytest.approx(0.4))
    assert (database["ServiceName"], database["ServiceCategory"], database["ServiceSubcategory"]) == (
        "Amazon Relational Database Service",
        "Databases",
        "Relational Databases",
    )
    assert database["BilledCost"] == pytest.approx(0.25 * 11.68)
    assert (mail["PricingUnit"], mail["BilledCost"]) == ("1000 Emails", pytest.approx(0.25 * 0.0004))
    assert sum(r["BilledCost"] for r in platform) == pytest.approx(0.25 * (30.368 + 1.6 + 11.68 + 0.0004))
    assert {(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in platform} == {
        (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
    }
    whole = [r for r in analysis_rows(platform_document(1.0), run) if r["x_Component"] == "platform"]
    assert whole[0]["BilledCost"] == pytest.approx(30.368) and whole[0]["x_AttributionShare"] == 1.0
    assert whole[0]["ChargeDescription"].endswith("(t3.medium on-demand)")


def test_platform_rows_write_as_csv_and_parquet(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow.parquet")
    rows = analysis_rows(platform_document(0.25), RunRef("e" * 32, "rnn-cost-analysis", "", T0))
    table = pyarrow.read_table(write_focus(rows, tmp_path / "focus.parquet"))
    assert table.schema.field("x_AttributionShare").type == "double"
    assert sorted({s for s in table.column("x_AttributionShare").to_pylist() if s is not None}) == [0.25]
    [header, *lines] = write_focus(rows, tmp_path / "focus.csv").read_text().splitlines()
    assert header.endswith(",x_SnapshotId,x_AttributionShare")
    assert lines[-1].endswith(",2025-06-02,0.25")
