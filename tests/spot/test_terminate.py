"""SpotTrainingHook.terminate: instances EC2 no longer knows are skipped, any other refusal is raised."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber


@pytest.fixture
def hook(monkeypatch):
    from pipeline.spot.hooks import SpotTrainingHook

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    return SpotTrainingHook(aws_conn_id=None, region_name="us-east-1")


@pytest.mark.parametrize(
    "gone",
    [
        "InvalidInstanceID.NotFound",
        # moto's answer for an instance already being terminated whose network interface it deleted
        "InvalidNetworkInterfaceID.NotFound",
    ],
)
def test_instances_ec2_no_longer_knows_are_skipped_one_by_one(hook, gone: str) -> None:
    with Stubber(hook.conn) as stub:
        stub.add_client_error("terminate_instances", gone, expected_params={"InstanceIds": ["i-1", "i-2"]})
        stub.add_response("terminate_instances", {"TerminatingInstances": []}, {"InstanceIds": ["i-1"]})
        stub.add_client_error("terminate_instances", gone, expected_params={"InstanceIds": ["i-2"]})
        assert hook.terminate(["i-2", "i-1", "i-1"]) == ["i-1"]
        stub.assert_no_pending_responses()


def test_any_other_refusal_is_raised(hook) -> None:
    with Stubber(hook.conn) as stub:
        stub.add_client_error(
            "terminate_instances", "UnauthorizedOperation", expected_params={"InstanceIds": ["i-1"]}
        )
        with pytest.raises(ClientError, match="UnauthorizedOperation"):
            hook.terminate(["i-1"])
