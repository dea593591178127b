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
