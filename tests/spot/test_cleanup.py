"""The sweeper: which errors mean "that run is gone", and terminating the instances of runs that are over."""

from __future__ import annotations

import pytest


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


@pytest.mark.integration  # the whole spot testbed (moto server, VPC, IAM), like the operator tests
def test_sweeper_terminates_instances_of_runs_that_are_over(testbed) -> None:
    from pipeline.spot.cleanup import sweep_stale_instances
    from pipeline.spot.hooks import SpotTrainingHook

    finished = testbed.stale_instance("manual__finished")
    deleted = testbed.stale_instance("manual__deleted")
    running = testbed.stale_instance("manual__running")
    foreign = testbed.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    states = {"manual__finished": "success", "manual__running": "running"}

    swept = sweep_stale_instances(
        SpotTrainingHook(region_name=testbed.region), lambda dag_id, run_id: states.get(run_id)
    )

    assert sorted(s["instance_id"] for s in swept) == sorted([finished, deleted])
    assert sorted(testbed.live_instances()) == sorted([running, foreign])


@pytest.mark.integration
def test_a_trial_terminates_its_own_instances_and_no_siblings(testbed) -> None:
    from pipeline.spot.cleanup import terminate_run_instances
    from pipeline.spot.hooks import SpotTrainingHook
    from pipeline.spot.launch import LaunchSpec, build_run_instances_request

    hook = SpotTrainingHook(region_name=testbed.region)

    def launch(map_index: int) -> str:
        spec = LaunchSpec(
            image_id="ami-12c6146b",
            instance_type="r6i.xlarge",
            market="on-demand",
            subnet_id=testbed.subnet_id,
            security_group_id=testbed.security_group_id,
            instance_profile=testbed.instance_profile,
            user_data="#!/bin/bash\n",
            dag_id="rnn_sweep",
            run_id="manual__s",
            task_id="spot_trials_round_1.train_ec2_spot",
            attempt_label="1.1",
            map_index=map_index,
        )
        return hook.launch(build_run_instances_request(spec))["instance_id"]

    first, second = launch(0), launch(1)
    assert first != second
    own = dict(dag_id="rnn_sweep", run_id="manual__s", task_id="spot_trials_round_1.train_ec2_spot")
    assert terminate_run_instances(hook, **own, map_index=1) == [second]
    assert testbed.live_instances() == [first]
    assert terminate_run_instances(hook, dag_id="rnn_sweep", run_id="manual__s") == [
        first
    ]  # the DAG's cleanup
