"""The pure pieces of the spot backend, on literal values: launch request, user data, bundle, IAM policy,
how an attempt ended, billed cost, pre-flight estimate. No AWS, no Airflow run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def spec(**overrides):
    from pipeline.spot.launch import LaunchSpec

    values = {
        "image_id": "ami-0123456789abcdef0",
        "instance_type": "r6i.xlarge",
        "market": "spot",
        "subnet_id": "subnet-0abc",
        "security_group_id": "sg-0abc",
        "instance_profile": "rnn-spot-training",
        "user_data": "#!/bin/bash\n",
        "dag_id": "rnn_retraining",
        "run_id": "manual__1",
        "task_id": "train_ec2_spot",
        "attempt_label": "1.1",
    }
    return LaunchSpec(**{**values, **overrides})


# -- the launch request ------------------------------------------------------------------------------------------


def test_spot_launch_request_is_locked_down() -> None:
    from pipeline.spot.launch import build_run_instances_request

    request = build_run_instances_request(spec())
    assert request["InstanceMarketOptions"] == {
        "MarketType": "spot",
        "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
    }
    assert request["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert request["MetadataOptions"] == {
        "HttpTokens": "required",
        "HttpEndpoint": "enabled",
        "HttpPutResponseHopLimit": 1,
    }
    assert request["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "SubnetId": "subnet-0abc",
            "Groups": ["sg-0abc"],
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
        }
    ]
    assert request["IamInstanceProfile"] == {"Name": "rnn-spot-training"}
    assert request["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    for tag_spec in request["TagSpecifications"]:
        tags = {t["Key"]: t["Value"] for t in tag_spec["Tags"]}
        assert {k: tags[k] for k in ("project", "dag_id", "run_id", "task_id", "attempt", "market")} == {
            "project": "rnn-cost-pipeline",
            "dag_id": "rnn_retraining",
            "run_id": "manual__1",
            "task_id": "train_ec2_spot",
            "attempt": "1.1",
            "market": "spot",
        }
    assert {s["ResourceType"] for s in request["TagSpecifications"]} == {"instance", "volume"}
    assert (request["MinCount"], request["MaxCount"]) == (1, 1)


def test_launch_request_options() -> None:
    from pipeline.spot.launch import build_run_instances_request

    on_demand = build_run_instances_request(spec(market="on-demand", spot_max_price_usd=None))
    assert "InstanceMarketOptions" not in on_demand
    capped = build_run_instances_request(spec(spot_max_price_usd=0.1))
    assert capped["InstanceMarketOptions"]["SpotOptions"]["MaxPrice"] == "0.100000"
    arn = "arn:aws:iam::123456789012:instance-profile/rnn-spot-training"
    assert build_run_instances_request(spec(instance_profile=arn))["IamInstanceProfile"] == {"Arn": arn}
    # idempotency token: stable for one attempt, different for the next
    assert spec().client_token == spec().client_token != spec(attempt_label="1.2").client_token
    assert len(spec().client_token) <= 64
    with pytest.raises(ValueError, match="subnet_id is empty"):
        spec(subnet_id="")


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("r6i.xlarge", "x86_64"),
        ("m5.large", "x86_64"),
        ("c7i.2xlarge", "x86_64"),
        ("m7g.large", "arm64"),
        ("c6gn.xlarge", "arm64"),
        ("t4g.small", "arm64"),
        ("r6gd.xlarge", "arm64"),
        ("a1.medium", "arm64"),
    ],
)
def test_default_ami_follows_the_architecture(instance_type: str, architecture: str) -> None:
    from pipeline.spot.launch import architecture_of
    from pipeline.spot.layout import AMI_SSM_PARAMETER

    assert architecture_of(instance_type) == architecture
    assert AMI_SSM_PARAMETER[architecture].endswith(architecture)


# -- user data ------------------------------------------------------------------------------------------------


def render(tmp_path: Path, **overrides) -> Path:
    from pipeline.spot.layout import RunLayout
    from pipeline.spot.userdata import UserDataInputs, render_user_data

    inputs = {
        "layout": RunLayout("rnn-spot-test", "rnn_retraining", "manual__2026-03-02T10:00:00+00:00"),
        "region": "us-east-1",
        "attempt_label": "1.2",
        "market": "spot",
        "wheel_filename": "rnn_trainer-0.1.0-py3-none-any.whl",
        "mlflow_run_id": "f" * 32,
        "max_runtime_seconds": 3600,
        **overrides,
    }
    path = tmp_path / "user_data.sh"
    path.write_text(render_user_data(UserDataInputs(**inputs)))
    return path


def test_user_data_is_valid_bash_under_the_ec2_limit_and_runs_the_shared_training_command(
    tmp_path: Path,
) -> None:
    from pipeline.spot.layout import RunLayout
    from pipeline.spot.userdata import USER_DATA_LIMIT_BYTES, training_arguments

    script = render(tmp_path)
    text = script.read_text()
    assert len(text.encode()) < USER_DATA_LIMIT_BYTES
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    # the array the script runs, as bash itself parses it
    line = next(line for line in text.splitlines() if line.strip().startswith("TRAIN_ARGS=("))
    parsed = (
        subprocess.run(
            ["bash", "-c", f'WORK=/work; {line}; printf "%s\\0" "${{TRAIN_ARGS[@]}}"'],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")[:-1]
    )
    layout = RunLayout("rnn-spot-test", "rnn_retraining", "manual__2026-03-02T10:00:00+00:00")
    assert parsed == training_arguments(layout, mlflow_run_id="f" * 32, config_path="/work/config.json")
    assert parsed[:3] == ["-m", "rnn", "train"] and "--resume" in parsed
    assert (
        parsed[parsed.index("--out-dir") + 1]
        == "s3://rnn-spot-test/rnn_retraining/manual__2026-03-02T10_00_00_00_00/train"
    )
    assert "s3://rnn-spot-test/rnn_retraining/manual__2026-03-02T10_00_00_00_00/attempts/1.2" in text
    assert "X-aws-ec2-metadata-token" in text and "spot/instance-action" in text


# -- the bundle -----------------------------------------------------------------------------------------------


def test_bundle_is_a_reproducible_wheel_of_rnn_that_imports(tmp_path: Path, repo_root: Path) -> None:
    from pipeline.spot.bundle import build_wheel, pinned_requirements

    wheel = build_wheel()
    assert build_wheel().data == wheel.data  # same sources, same bytes
    assert wheel.filename == "rnn_trainer-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(__import__("io").BytesIO(wheel.data)) as archive:
        names = archive.namelist()
        metadata = archive.read("rnn_trainer-0.1.0.dist-info/METADATA").decode()
        record = archive.read("rnn_trainer-0.1.0.dist-info/RECORD").decode()
        archive.extractall(tmp_path / "site")
    assert {"rnn/__main__.py", "rnn/train.py", "rnn/checkpoint.py"} <= set(names)
    assert not any("__pycache__" in name for name in names)
    assert "Requires-Dist: torch==2.13.0" in metadata
    assert all(f"Requires-Dist: {pin}" in metadata for pin in pinned_requirements())
    for line in record.splitlines()[:-1]:  # every file's hash is right
        name, digest, size = line.split(",")
        data = (tmp_path / "site" / name).read_bytes()
        assert int(size) == len(data) and digest.startswith("sha256=")
    # installed = unpacked on the path: it is the package that runs, not the repo's
    out = subprocess.run(
        [sys.executable, "-c", "import rnn.train, rnn; print(rnn.__file__)"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip().startswith(str(tmp_path / "site"))


# -- the instance role's policy ---------------------------------------------------------------------------------


def test_instance_policy_allows_only_the_runs_prefix() -> None:
    from pipeline.spot.iam import instance_policy
    from pipeline.spot.layout import RunLayout

    layout = RunLayout("rnn-spot-test", "rnn_retraining", "manual__1")
    policy = instance_policy(layout)
    statements = policy["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    objects = next(s for s in statements if s["Action"] != "s3:ListBucket")
    assert objects["Resource"] == "arn:aws:s3:::rnn-spot-test/rnn_retraining/manual__1/*"
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"}
    listing = next(s for s in statements if s["Action"] == "s3:ListBucket")
    assert listing["Resource"] == "arn:aws:s3:::rnn-spot-test"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["rnn_retraining/manual__1/*"]}}
    assert "*" not in json.dumps(policy).replace("manual__1/*", "")  # no wildcard anywhere else


# -- how an attempt ended ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "exists", "code", "expected"),
    [
        ("DONE", False, None, "done"),
        ("FAILED", True, "Client.InstanceInitiatedShutdown", "failed"),
        ("INTERRUPTED", True, "Client.InstanceInitiatedShutdown", "interrupted"),
        (None, False, None, "interrupted"),  # gone
        (None, True, "Server.SpotInstanceTermination", "interrupted"),
        (None, True, "Server.InternalError", "interrupted"),
        (None, True, "Client.UserInitiatedShutdown", "failed"),  # someone terminated it
        (None, True, "Client.InstanceInitiatedShutdown", "failed"),  # the script died before a marker
    ],
)
def test_classify_end(marker, exists, code, expected) -> None:
    from pipeline.spot.attempts import classify_end

    assert classify_end(marker=marker, instance_exists=exists, state_reason_code=code) == expected


def test_transition_time_from_ec2s_reason() -> None:
    from pipeline.spot.attempts import transition_time

    assert transition_time("User initiated (2026-03-02 10:07:31 GMT)") == T0.replace(minute=7, second=31)
    assert transition_time("") is None


def test_the_sweepers_not_found_check_knows_both_error_shapes() -> None:
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    from pipeline.spot.cleanup import _is_not_found

    worker = AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 404}))
    in_process = RuntimeError("Server returned error")
    in_process.response = SimpleNamespace(status_code=404)  # type: ignore[attr-defined]
    assert _is_not_found(worker) and _is_not_found(in_process)
    assert not _is_not_found(
        AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 500}))
    )


# -- billed cost --------------------------------------------------------------------------------------------------


def attempt(label, az, market, start_s, end_s, interrupted=False):
    from pipeline.spot.attempts import AttemptRecord, utc_iso

    return AttemptRecord(
        instance_id=f"i-{label}",
        instance_type="r6i.xlarge",
        availability_zone=az,
        market=market,
        launched_at=utc_iso(T0 + timedelta(seconds=start_s)),
        terminated_at=utc_iso(T0 + timedelta(seconds=end_s)),
        interrupted=interrupted,
        attempt=label,
        outcome="interrupted" if interrupted else "done",
    )


def test_billed_cost_per_attempt_at_the_price_in_force(repo_root: Path) -> None:
    from costing.pricing.parse import SpotPricePoint
    from pipeline.spot.billing import S3Usage, StorageRates, billed_cost, billing_catalog, storage_cost

    snapshot = (
        repo_root / "include" / "pricing" / "snapshots" / "2025-06-02"
    )  # on-demand r6i.xlarge: $0.252/h
    history = [
        SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0800, T0 - timedelta(hours=1)),
        SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0900, T0 + timedelta(seconds=1800)),
        SpotPricePoint("r6i.xlarge", "us-east-1b", 0.0700, T0 - timedelta(days=1)),
    ]
    attempts = [
        attempt("1.1", "us-east-1a", "spot", 0, 30, interrupted=True),  # 30 s -> billed 60 s at 0.08
        attempt("1.2", "us-east-1a", "spot", 600, 3600),  # 1,200 s at 0.08, then 1,800 s at 0.09
        attempt("1.3", "us-east-1b", "on-demand", 4000, 4900),  # 900 s at 0.252
    ]
    catalog, source = billing_catalog(snapshot, history, attempts)
    assert "spot price history" in source
    storage = storage_cost(
        S3Usage(put_requests=1000, get_requests=2000, stored_bytes=2**30, stored_seconds=730 * 3600),
        StorageRates(0.023, 0.005, 0.0004, 0.08, "literal"),
        ebs_gb=20,
        billed_seconds=3600,
    )
    assert storage.s3_storage_usd == pytest.approx(0.023)
    assert storage.s3_requests_usd == pytest.approx(0.005 + 0.0008)
    assert storage.ebs_usd == pytest.approx(20 * 0.08 * 3600 / (730 * 3600))

    cost = billed_cost(attempts, catalog, source, epochs=2, storage=storage)
    instance_usd = 60 / 3600 * 0.08 + (1200 * 0.08 + 1800 * 0.09) / 3600 + 900 / 3600 * 0.252
    assert cost["instances"]["usd"] == pytest.approx(instance_usd)
    assert cost["usd"] == pytest.approx(instance_usd + storage.usd)
    assert cost["on_demand_usd"] == pytest.approx((60 + 3000 + 900) / 3600 * 0.252 + storage.usd)
    assert cost["billed_seconds"] == 60 + 3000 + 900
    assert cost["interruptions"] == 1 and cost["market"] == "mixed"
    assert [row["usd"] for row in cost["attempts"]] == pytest.approx(
        [60 / 3600 * 0.08, (1200 * 0.08 + 1800 * 0.09) / 3600, 900 / 3600 * 0.252]
    )
    assert cost["basis"].startswith("billed-estimate from AWS prices (not an invoice)")


def test_billing_falls_back_to_the_snapshot_when_history_misses_a_launch(repo_root: Path) -> None:
    from costing.pricing.parse import SpotPricePoint
    from pipeline.spot.billing import billing_catalog

    snapshot = repo_root / "include" / "pricing" / "snapshots" / "2025-06-02"
    late = [SpotPricePoint("r6i.xlarge", "us-east-1a", 0.08, T0 + timedelta(seconds=10))]  # after the launch
    _, source = billing_catalog(snapshot, late, [attempt("1.1", "us-east-1a", "spot", 0, 100)])
    assert "snapshot 2025-06-02's spot history" in source and "does not cover 1.1" in source
    _, source = billing_catalog(snapshot, [], [attempt("1.1", "us-east-1a", "spot", 0, 100)])
    assert "no spot price history returned" in source


# -- pre-flight estimate ------------------------------------------------------------------------------------------


def test_training_tokens() -> None:
    from pipeline.spot.budget import training_tokens

    config = {"batch_size": 8, "seq_len": 32, "epochs": 2, "val_fraction": 0.1, "max_steps_per_epoch": 0}
    # 40,000 chars -> 36,000 train -> 4,500 per stream -> (4,500 - 1) // 32 = 140 steps x 8 x 32 x 2 epochs
    assert training_tokens(config, 40_000) == 140 * 8 * 32 * 2
    assert training_tokens({**config, "max_steps_per_epoch": 8}, 40_000) == 8 * 8 * 32 * 2


def test_preflight_estimate_adds_boot_and_the_expected_interruption_overhead() -> None:
    from datetime import date

    from costing.pricing.sheet import InstanceRates, PriceSheet
    from pipeline.spot.budget import Throughput, preflight_estimate

    sheet = PriceSheet(
        region="us-east-1",
        snapshot_id="literal",
        prices_as_of=date(2026, 1, 1),
        instances={
            "r6i.xlarge": InstanceRates(
                "r6i.xlarge",
                4,
                32.0,
                "x86_64",
                on_demand_usd_per_hour=0.252,
                spot_usd_per_hour=0.0826,
                spot_p90_usd_per_hour=0.09,
                interruption_rate_per_month=0.10,
            )
        },
    )
    config = {
        "batch_size": 8,
        "seq_len": 32,
        "epochs": 1,
        "val_fraction": 0.1,
        "max_steps_per_epoch": 0,
        "checkpoint_every_steps": 50,
    }
    estimate = preflight_estimate(
        config=config,
        dataset_chars=40_000,
        throughput=Throughput(256.0, "literal"),
        sheet=sheet,
        instance_type="r6i.xlarge",
        market="spot",
    )
    # work 35,840 tokens / 256 tok/s = 140 s, + 300 s boot; a checkpoint every 50 x 8 x 32 / 256 = 50 s taking
    # 2 s; M = 730 h x 3,600 / 0.10 = 26,280,000 s; loss per interruption (50 + 2) / 2 + 180 = 206 s
    wall = (140 + 300) * (1 + 2 / 50) / (1 - 206 / 26_280_000)
    assert estimate.work_seconds == pytest.approx(140)
    assert estimate.expected_wall_seconds == pytest.approx(wall)
    assert estimate.usd == pytest.approx(wall / 3600 * 0.0826)
    on_demand = preflight_estimate(
        config=config,
        dataset_chars=40_000,
        throughput=Throughput(256.0, "literal"),
        sheet=sheet,
        instance_type="r6i.xlarge",
        market="on-demand",
    )
    assert on_demand.usd == pytest.approx((140 + 300) * 1.04 / 3600 * 0.252)  # no interruptions on-demand
    with pytest.raises(ValueError, match=r"m5\.large"):
        preflight_estimate(
            config=config,
            dataset_chars=40_000,
            throughput=Throughput(256.0, "literal"),
            sheet=sheet,
            instance_type="m5.large",
            market="spot",
        )


def test_budget_guard_message_names_the_estimate_and_the_budget(
    pipeline_home: Path, tiny_corpus: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from helpers import TINY_RUN_CONF

    from pipeline import names, tracking
    from pipeline.spot.budget import check_budget

    run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "manual__budget")
    validated = {
        "mlflow_run_id": run_id,
        "config": {**TINY_RUN_CONF, "val_fraction": 0.1, "corpus_uri": str(tiny_corpus)},
        "compute": {
            "backend": "ec2_spot",
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
        },
        "dataset_chars": 40_000,
        "dataset_sha256": hashlib.sha256(tiny_corpus.read_bytes()).hexdigest(),
    }
    with pytest.raises(AirflowFailException) as refused:
        check_budget(validated=validated, params={"max_budget_usd": 0.001})
    message = str(refused.value)
    assert message.startswith("pre-flight estimate $0.0")
    assert "is above max_budget_usd $0.001; nothing was launched" in message
    assert "no comparable finished run in MLflow; conservative default 2,000" in message
    assert "r6i.xlarge spot in us-east-1" in message
    accepted = check_budget(validated=validated, params={"max_budget_usd": 5})
    assert 0.001 < accepted["usd"] < 5
