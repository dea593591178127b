"""rnn_retraining with compute=ec2_spot, end to end through dag.test() (the trigger runs inline).

AWS is moto on 127.0.0.1; each launched instance is the real user data run by bash (FakeInstances).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY_DAG_CONF, TINY_RUN_CONF, load_dag

pytestmark = pytest.mark.e2e

LOCAL_ONLY_TASKS = ("train_local",)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def _today():
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=1)


def training_run():
    from mlflow import MlflowClient

    from pipeline import names, tracking

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.TRAINING_EXPERIMENT)
    [run] = client.search_runs([experiment.experiment_id])
    return run


def artifact_json(run_id: str, path: str, tmp_path: Path) -> dict:
    from mlflow import MlflowClient

    return json.loads(Path(MlflowClient().download_artifacts(run_id, path, str(tmp_path))).read_text())


def test_spot_training_end_to_end(
    airflow_db, pipeline_home, tiny_corpus, testbed, fake_instances, tmp_path
) -> None:
    from costing.model.training.run_cost import billed_seconds
    from pipeline import names
    from pipeline.settings import safe_path_part
    from pipeline.spot.attempts import AttemptRecord
    from pipeline.spot.billing import instance_attempt

    stale = testbed.stale_instance("manual__a_run_that_is_long_gone", ran_hours=10)
    with fake_instances(lambda n, _: "run") as instances:
        dag_run = load_dag("rnn_retraining").test(
            run_conf={**TINY_DAG_CONF, **testbed.conf(), "corpus_uri": str(tiny_corpus)}
        )

    states = task_states(dag_run)
    assert dag_run.state == "success", (states, instances.console())
    assert states.pop("train_local") == "skipped" and states.pop("register") in ("success", "skipped")
    assert states.pop("approve_training") == "skipped"  # under the default approval threshold
    assert set(states.values()) == {"success"}, states

    # The launch request as the EC2 endpoint received it.
    [request] = testbed.launch_requests
    assert request["InstanceMarketOptions"] == {
        "MarketType": "spot",
        "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
    }
    assert request["InstanceType"] == "r6i.xlarge"
    assert request["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert request["MetadataOptions"]["HttpTokens"] == "required"
    [nic] = request["NetworkInterfaces"]
    assert nic["AssociatePublicIpAddress"] is False
    assert (nic["SubnetId"], nic["Groups"]) == (testbed.subnet_id, [testbed.security_group_id])
    assert request["IamInstanceProfile"] == {"Name": testbed.instance_profile}
    assert request["ImageId"].startswith("ami-")  # the AL2023 SSM parameter (ami_id param empty)
    tags = {
        t["Key"]: t["Value"]
        for spec in request["TagSpecifications"]
        if spec["ResourceType"] == "instance"
        for t in spec["Tags"]
    }
    assert tags["project"] == "rnn-cost-pipeline" and tags["dag_id"] == "rnn_retraining"
    assert tags["run_id"] == dag_run.run_id and tags["attempt"] == "1.1"

    # Everything under the run's prefix; the instance role may touch that prefix only.
    prefix = f"rnn_retraining/{safe_path_part(dag_run.run_id)}"
    keys = set(testbed.s3_keys(prefix))
    assert {
        f"{prefix}/bundle/rnn_trainer-0.1.0-py3-none-any.whl",
        f"{prefix}/bundle/config.json",
        f"{prefix}/data/corpus.txt",
        f"{prefix}/train/checkpoint.pt",
        f"{prefix}/train/metrics.json",
        f"{prefix}/train/model.pt",
        f"{prefix}/attempts/1.1/DONE",
        f"{prefix}/attempts/1.1/instance.log",
    } <= keys
    policy = testbed.iam.get_role_policy(RoleName="rnn-spot-training", PolicyName="rnn-spot-run-scope")
    resources = {json.dumps(s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}
    assert json.dumps(f"arn:aws:s3:::{testbed.bucket}/{prefix}/*") in resources

    # Every instance ended: ours after DONE, and the stale one by the sweeper.
    assert testbed.live_instances() == []
    assert testbed.state(stale) == "terminated"
    # ... and it is an anomaly that says what it cost: 10 hours of r6i.xlarge on-demand (it was no spot)
    from pipeline.tasks.anomalies import anomalies_between

    [leak] = [a for a in anomalies_between(*_today()) if a["kind"] == "leaked-instance"]
    assert (
        leak["details"]["instance_id"] == stale
        and leak["detected_by"] == "rnn_retraining.sweep_stale_instances"
    )
    assert "ran 10.0 h with no active DAG run" in leak["subject"] and 1.5 < leak["usd"] < 3.0

    # MLflow: billed cost, interruptions, the attempts table.
    run = training_run()
    metrics, run_tags = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED"
    assert run_tags[names.TAG_COST_BASIS] == "billed-estimate"
    assert "not an invoice" in run_tags[names.TAG_COST_DESCRIPTION]
    assert "spot price history" in run_tags[names.TAG_COST_DESCRIPTION]
    assert run.data.params["compute.backend"] == "ec2_spot"
    assert metrics[names.TRAIN_INTERRUPTIONS] == 0
    assert 0 < metrics[names.COST_TRAIN_USD] < metrics[names.COST_TRAIN_ON_DEMAND_USD]
    assert 0 < metrics[names.COST_SPOT_SAVINGS_PCT] < 100
    cost = artifact_json(run.info.run_id, "cost.json", tmp_path)
    [attempt] = [AttemptRecord.from_dict(a) for a in cost["attempts"]]
    expected_instance_usd = (
        billed_seconds(instance_attempt(attempt)) / 3600 * testbed.spot_prices[attempt.availability_zone]
    )
    assert cost["instances"]["usd"] == pytest.approx(expected_instance_usd, rel=1e-9)
    assert cost["usd"] == pytest.approx(cost["instances"]["usd"] + cost["storage"]["usd"], rel=1e-9)
    assert cost["storage"]["s3_requests_usd"] > 0 and cost["storage"]["ebs_usd"] > 0
    assert metrics[names.COST_TRAIN_USD] == pytest.approx(cost["usd"])
    assert testbed.spot_history_requests[0]["AvailabilityZone"] == attempt.availability_zone
    table = artifact_json(run.info.run_id, "spot_attempts.json", tmp_path)
    assert table["columns"][:2] == ["attempt", "instance_id"] and len(table["data"]) == 1
    metrics_json = artifact_json(run.info.run_id, "metrics.json", tmp_path)
    [recorded] = metrics_json["compute"]["attempts"]
    for field in (
        "instance_id",
        "instance_type",
        "availability_zone",
        "market",
        "launched_at",
        "terminated_at",
        "interrupted",
    ):
        assert recorded[field] == getattr(attempt, field)
    assert metrics_json["compute"]["cost"]["label"].startswith("billed-estimate")

    # Where the instance's seconds went, from the trainer's own segment; and the cost allocation tags.
    [row] = cost["attempts"]
    assert row["measured"] and row["training_seconds"] > 0 and row["wasted_seconds"] == 0
    assert row["training_seconds"] + row["wasted_seconds"] + row["overhead_seconds"] == pytest.approx(
        row["billed_seconds"], abs=0.01
    )
    assert metrics[names.COST_WASTED_USD] == 0
    assert metrics[names.COST_TRAINING_USD] + metrics[names.COST_OVERHEAD_USD] == pytest.approx(
        cost["instances"]["usd"]
    )
    assert tags[names.TAG_ALLOCATION_MLFLOW_RUN_ID] == run.info.run_id
    assert tags[names.TAG_ALLOCATION_DAG_RUN_ID] == f"rnn_retraining/{dag_run.run_id}"
    for key in testbed.s3_keys(prefix):
        object_tags = testbed.s3.get_object_tagging(Bucket=testbed.bucket, Key=key)["TagSet"]
        assert {"Key": names.TAG_ALLOCATION_MLFLOW_RUN_ID, "Value": run.info.run_id} in object_tags, key


def test_interrupted_attempt_resumes_from_the_checkpoint(
    airflow_db, pipeline_home, tiny_corpus, testbed, fake_instances, tmp_path
) -> None:
    from pipeline import names

    # Long enough (120 steps, a checkpoint every 4) for an interruption notice to land mid-training.
    conf = {  # a training config (also run locally below), and the DAG run's conf
        **TINY_RUN_CONF,
        "max_steps_per_epoch": 120,
        "checkpoint_every_steps": 4,
        "corpus_uri": str(tiny_corpus),
    }
    with fake_instances(lambda n, _: "interrupt" if n == 1 else "run") as instances:
        dag_run = load_dag("rnn_retraining").test(run_conf={**conf, **testbed.conf(), "load_test_seconds": 0})
    assert dag_run.state == "success", (task_states(dag_run), instances.console())

    first, second = testbed.launch_requests
    assert [r["InstanceMarketOptions"]["MarketType"] for r in (first, second)] == ["spot", "spot"]
    run = training_run()
    assert run.data.metrics[names.TRAIN_INTERRUPTIONS] == 1
    metrics_json = artifact_json(run.info.run_id, "metrics.json", tmp_path)
    interrupted, finished = metrics_json["compute"]["attempts"]
    assert (interrupted["interrupted"], interrupted["outcome"]) == (True, "interrupted")
    assert "spot interruption notice" in interrupted["end_reason"]  # the INTERRUPTED marker's reason
    assert (finished["interrupted"], finished["outcome"]) == (False, "done")
    training = metrics_json["training"]
    assert training["attempts"] == 2  # rnn's own count: one resume
    assert 0 < training["resumed_from_step"] < 120, "the notice did not land mid-training"
    cost = metrics_json["compute"]["cost"]
    first, second = cost["attempts"]
    assert first["measured"] and second["measured"]  # both processes' segments reached metrics.json
    assert first["training_seconds"] > 0 and second["startup_seconds"] > 0
    assert run.data.metrics[names.COST_EFFECTIVE_SAVINGS_PCT] < run.data.metrics[names.COST_SPOT_SAVINGS_PCT]

    # The same config without interruption, locally: same step count, same model.
    config = {key: value for key, value in conf.items()}
    (tmp_path / "config.json").write_text(json.dumps(config))
    reference_dir = tmp_path / "reference"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn",
            "train",
            "--out-dir",
            str(reference_dir),
            "--config",
            str(tmp_path / "config.json"),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    reference = json.loads((reference_dir / "metrics.json").read_text())["training"]
    assert training["global_steps"] == reference["global_steps"] == 120
    assert training["final_val_loss"] == pytest.approx(reference["final_val_loss"], rel=1e-5)
    assert testbed.live_instances() == []


def test_budget_guard_refuses_before_launching(airflow_db, pipeline_home, tiny_corpus, testbed) -> None:
    dag_run = load_dag("rnn_retraining").test(
        run_conf={
            **TINY_DAG_CONF,
            **testbed.conf(max_budget_usd=0.0001),
            "corpus_uri": str(tiny_corpus),
            "approval_threshold_usd": 0.0,  # every run would wait for approval, but this one is refused anyway
        }
    )

    states = task_states(dag_run)
    assert dag_run.state == "failed"
    assert states["check_spot_budget"] == "failed"
    assert states["train_ec2_spot"] == "upstream_failed"
    assert states["cleanup_ec2_instances"] == "success"  # ran anyway; nothing to terminate
    assert testbed.launch_requests == []
    assert testbed.s3_keys() == []  # not even the bundle was uploaded
    tags = training_run().data.tags
    assert tags["spot.preflight"].startswith("above budget:") and tags["spot.max_budget_usd"] == "0.0001"
    assert float(tags["spot.preflight_estimate_usd"]) > 0.0001
    # no one was asked to approve a run the guard refuses whatever the answer (dag.test() would wait)
    assert states["approve_training"] == "skipped"
    assert tags["approval.decision"] == "above-hard-limit"
