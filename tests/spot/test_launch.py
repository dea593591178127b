"""The launch request: locked down (IMDSv2, no public IP, encrypted disk, tags), its options, the default AMI."""

from __future__ import annotations

import pytest


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
