"""SpotTrainingOperator + SpotTrainingTrigger + SpotTrainingHook against moto on 127.0.0.1.

The operator runs outside a DAG here: execute -> (TaskDeferred) -> the trigger, rebuilt from its own
serialize() and run to its first event -> execute_complete, again and again, as the triggerer would.
Instances are played by FakeInstances (the real user data run by bash, against moto's S3).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import TINY_RUN_CONF

pytestmark = pytest.mark.integration


@pytest.fixture
def validated(tiny_corpus: Path, tmp_path: Path) -> dict:
    """What validate_dataset hands to the training task."""
    from rnn.config import TrainConfig

    config = TrainConfig.from_dict({**TINY_RUN_CONF, "corpus_uri": str(tiny_corpus)}).to_dict()
    return {
        "mlflow_run_id": "0" * 32,
        "run_dir": str(tmp_path / "run"),
        "config": config,
        "compute": {
            "backend": "ec2_spot",
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
        },
        "dataset_sha256": hashlib.sha256(tiny_corpus.read_bytes()).hexdigest(),
    }


def make_operator(testbed, validated: dict, **overrides):
    from pipeline.spot.operators import SpotTrainingOperator

    arguments = {
        "task_id": "train_ec2_spot",
        "validated": validated,
        "s3_bucket": testbed.bucket,
        "subnet_id": testbed.subnet_id,
        "security_group_id": testbed.security_group_id,
        "instance_profile": testbed.instance_profile,
        "region_name": testbed.region,
        "ami_id": "ami-12c6146b",
        "poll_interval": 0.2,
        **overrides,
    }
    return SpotTrainingOperator(**arguments)


def context(run_id: str = "manual__ops_1", try_number: int = 1) -> dict:
    return {
        "dag": SimpleNamespace(dag_id="rnn_retraining"),
        "run_id": run_id,
        "ti": SimpleNamespace(try_number=try_number),
    }


async def first_event(trigger):
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def resume_through_trigger(operator, deferred, ctx):
    """Rebuild the trigger from serialize() (as the triggerer does), wait for its event, resume the task."""
    from airflow.sdk._shared.module_loading import import_string

    classpath, kwargs = deferred.trigger.serialize()
    trigger = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    event = asyncio.run(asyncio.wait_for(first_event(trigger), timeout=120))
    next_kwargs = json.loads(json.dumps({**(deferred.kwargs or {}), "event": event.payload}))
    return operator.resume_execution(deferred.method_name, next_kwargs, ctx)


def run_to_completion(operator, ctx):
    from airflow.sdk.exceptions import TaskDeferred

    try:
        return operator.execute(ctx)
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        try:
            return resume_through_trigger(operator, pending, ctx)
        except TaskDeferred as deferred:
            pending = deferred


def test_on_demand_fallback_after_spot_attempts_are_exhausted(testbed, fake_instances, validated) -> None:
    operator = make_operator(testbed, validated, max_attempts=1, on_demand_fallback=True)
    with fake_instances(lambda n, _: "reclaim" if n == 1 else "run") as instances:
        result = run_to_completion(operator, context())

    spot_request, on_demand_request = testbed.launch_requests
    assert spot_request["InstanceMarketOptions"]["MarketType"] == "spot"
    assert "InstanceMarketOptions" not in on_demand_request
    assert [
        t["Value"]
        for spec in on_demand_request["TagSpecifications"]
        for t in spec["Tags"]
        if t["Key"] == "market"
    ] == ["on-demand", "on-demand"]
    first, second = result["spot"]["attempts"]
    assert (first["market"], first["interrupted"], first["outcome"]) == ("spot", True, "interrupted")
    assert "Server.SpotInstanceTermination" in first["end_reason"]
    assert (second["market"], second["interrupted"], second["outcome"]) == ("on-demand", False, "done")
    log = testbed.read(f"rnn_retraining/manual__ops_1/attempts/{second['attempt']}/instance.log").decode()
    assert "trainer exited with 0" in log, instances.console()
    assert (
        json.loads(testbed.read(f"rnn_retraining/manual__ops_1/attempts/{second['attempt']}/DONE"))[
            "instance_id"
        ]
        == second["instance_id"]
    )  # the script asked IMDS (with a token) who it is
    metrics = json.loads(Path(result["metrics_uri"]).read_text())
    assert (
        metrics["training"]["global_steps"] == TINY_RUN_CONF["max_steps_per_epoch"] * TINY_RUN_CONF["epochs"]
    )
    assert Path(result["model_uri"]).is_file()
    assert testbed.live_instances() == []


def test_max_attempts_exceeded_fails_with_every_instance_terminated(
    testbed, fake_instances, validated
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    operator = make_operator(testbed, validated, max_attempts=2, on_demand_fallback=False)
    with (
        fake_instances(lambda n, _: "reclaim"),
        pytest.raises(AirflowFailException, match=r"2 attempt\(s\) interrupted \(max_attempts=2") as failure,
    ):
        run_to_completion(operator, context())

    assert len(testbed.launch_requests) == 2
    assert all(r["InstanceMarketOptions"]["MarketType"] == "spot" for r in testbed.launch_requests)
    assert str(failure.value).count("Server.SpotInstanceTermination") == 2  # the attempts table
    assert testbed.live_instances() == []


def test_a_failing_trainer_is_not_relaunched_and_its_log_is_in_the_error(
    testbed, fake_instances, validated
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.spot.layout import RunLayout

    # A checkpoint that is not one: `rnn train --resume` refuses it (exit 2); relaunching would not help.
    layout = RunLayout(testbed.bucket, "rnn_retraining", "manual__ops_1")
    testbed.s3.put_object(
        Bucket=testbed.bucket, Key=layout.key("train", "checkpoint.pt"), Body=b"not a checkpoint"
    )
    operator = make_operator(testbed, validated, max_attempts=3)
    with (
        fake_instances(lambda n, _: "run"),
        pytest.raises(AirflowFailException, match="exited with 2") as failure,
    ):
        run_to_completion(operator, context())

    assert len(testbed.launch_requests) == 1
    assert "is corrupt or not an rnn checkpoint" in str(failure.value)  # from the instance log in S3
    assert testbed.live_instances() == []


def test_on_kill_terminates_what_the_task_launched(testbed, fake_instances, validated) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    operator = make_operator(testbed, validated)
    with fake_instances(lambda n, _: "hang"):
        with pytest.raises(TaskDeferred):
            operator.execute(context())
        assert len(testbed.live_instances()) == 1
        operator.on_kill()
    assert testbed.live_instances() == []


def test_a_retried_task_first_terminates_what_its_earlier_try_left_running(
    testbed, fake_instances, validated
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    with fake_instances(lambda n, _: "hang"):
        with pytest.raises(TaskDeferred):  # try 1: launched, then its worker died while waiting
            make_operator(testbed, validated).execute(context(try_number=1))
        [orphan] = testbed.live_instances()
        with pytest.raises(TaskDeferred):
            make_operator(testbed, validated).execute(context(try_number=2))
    assert testbed.state(orphan) == "terminated"
    [relaunched] = testbed.live_instances()
    assert (
        next(
            t["Value"]
            for spec in testbed.launch_requests[1]["TagSpecifications"]
            for t in spec["Tags"]
            if t["Key"] == "attempt"
        )
        == "2.1"
    )  # markers of try 1 can never be mistaken for this one's
    testbed.ec2.terminate_instances(InstanceIds=[relaunched])


def test_trigger_failure_or_timeout_terminates_the_run_instances(testbed, fake_instances, validated) -> None:
    from airflow.sdk.exceptions import TaskDeferralTimeout, TaskDeferred

    operator = make_operator(testbed, validated)
    with fake_instances(lambda n, _: "hang"):
        with pytest.raises(TaskDeferred):
            operator.execute(context())
        # what a timed-out trigger resumes the task with: a fresh operator instance, no state
        fresh = make_operator(testbed, validated)
        with pytest.raises(TaskDeferralTimeout):
            fresh.resume_execution("__fail__", {"error": "Trigger timeout"}, context())
    assert testbed.live_instances() == []


def test_killing_the_deferred_task_terminates_its_instance(testbed, fake_instances, validated) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    operator = make_operator(testbed, validated)
    with fake_instances(lambda n, _: "hang"):
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(context())
        asyncio.run(deferred.value.trigger.on_kill())
    assert testbed.live_instances() == []


def test_refuses_a_security_group_with_inbound_rules_before_launching(testbed, validated) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    testbed.ec2.authorize_security_group_ingress(
        GroupId=testbed.security_group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    with pytest.raises(AirflowFailException, match="inbound rule"):
        make_operator(testbed, validated).execute(context())
    assert testbed.launch_requests == []
