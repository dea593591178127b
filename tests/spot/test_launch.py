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
        "mlflow_run_id": "0123456789abcdef0123456789abcdef",
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
        assert tags["rnn:mlflow_run_id"] == "0123456789abcdef0123456789abcdef"
        assert tags["rnn:dag_run_id"] == "rnn_retraining/manual__1"
    assert {s["ResourceType"] for s in request["TagSpecifications"]} == {"instance", "volume"}
    assert (request["MinCount"], request["MaxCount"]) == (1, 1)


def test_mapped_trials_each_launch_their_own_instance() -> None:
    """A sweep's trials are one mapped task: the same task id and attempt label. The map index keeps their
    idempotency tokens apart (one token would make EC2 return the first trial's instance to all) and
    tags each instance, so a trial terminates its own and no sibling's."""
    single, first, second = spec(), spec(map_index=0), spec(map_index=1)
    assert len({single.client_token, first.client_token, second.client_token}) == 3
    assert spec(map_index=1).client_token == second.client_token  # a retried call launches nothing new
    assert "map_index" not in single.tags
    assert (first.tags["map_index"], second.tags["map_index"]) == ("0", "1")


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


def test_tag_values_keep_airflow_run_ids_and_replace_what_aws_refuses() -> None:
    from pipeline.spot.layout import allocation_tags, tag_value

    assert tag_value("manual__2026-03-02T10:00:00.123456+00:00") == "manual__2026-03-02T10:00:00.123456+00:00"
    assert tag_value("a run, with; odd*chars") == "a run_ with_ odd_chars"
    assert len(tag_value("x" * 300)) == 256
    assert allocation_tags(
        dag_id="rnn_retraining", run_id="scheduled__2026-03-02T00:00:00+00:00", mlflow_run_id="ab"
    ) == {
        "rnn:mlflow_run_id": "ab",
        "rnn:dag_run_id": "rnn_retraining/scheduled__2026-03-02T00:00:00+00:00",
    }


@pytest.mark.integration  # the spot testbed (moto server, VPC, IAM)
def test_instance_volume_and_s3_prefix_carry_the_cost_allocation_tags(testbed) -> None:
    from pipeline.spot.hooks import SpotTrainingHook
    from pipeline.spot.launch import build_run_instances_request
    from pipeline.spot.layout import RunLayout

    hook = SpotTrainingHook(aws_conn_id="aws_default", region_name=testbed.region)
    request = build_run_instances_request(
        spec(
            subnet_id=testbed.subnet_id, security_group_id=testbed.security_group_id, image_id="ami-12c6146b"
        )
    )
    instance = hook.launch(request)
    wanted = {
        "rnn:mlflow_run_id": "0123456789abcdef0123456789abcdef",
        "rnn:dag_run_id": "rnn_retraining/manual__1",
    }
    [described] = [i for i in testbed.instances() if i["InstanceId"] == instance["instance_id"]]
    instance_tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert {k: instance_tags[k] for k in wanted} == wanted
    [volume] = testbed.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["instance_id"]]}]
    )["Volumes"]
    volume_tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
    assert {k: volume_tags[k] for k in wanted} == wanted

    # S3: what the pipeline uploads is tagged on upload, what the instance wrote is tagged afterwards
    layout = RunLayout(
        testbed.bucket, "rnn_retraining", "manual__1", mlflow_run_id="0123456789abcdef0123456789abcdef"
    )
    hook.upload_bytes(b"config", testbed.bucket, layout.config_key, tags=layout.allocation_tags)
    testbed.s3.put_object(Bucket=testbed.bucket, Key=layout.model_key, Body=b"model", Tagging="keep=me")
    testbed.s3.put_object(Bucket=testbed.bucket, Key="another_dag/run/x", Body=b"not ours")
    counts = hook.tag_prefix(testbed.bucket, layout.prefix + "/", layout.allocation_tags)
    assert counts == {
        "list_requests": 1,
        "get_requests": 2,
        "put_requests": 1,
    }  # the config was tagged already

    def tags_of(key: str) -> dict[str, str]:
        return {
            t["Key"]: t["Value"]
            for t in testbed.s3.get_object_tagging(Bucket=testbed.bucket, Key=key)["TagSet"]
        }

    assert tags_of(layout.config_key) == wanted
    assert tags_of(layout.model_key) == {"keep": "me", **wanted}
    assert tags_of("another_dag/run/x") == {}
    assert hook.tag_prefix(testbed.bucket, layout.prefix + "/", layout.allocation_tags)["put_requests"] == 0
