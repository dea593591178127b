"""SpotTrainingHook: every AWS call of the spot backend, through one Airflow AWS connection.

An :class:`~airflow.providers.amazon.aws.hooks.ec2.EC2Hook` (client API) that also owns the S3,
SSM and IAM clients it needs, built from the same connection, region, SSL and botocore settings
(``S3Hook`` / ``SsmHook`` / an ``iam`` client hook). Methods return plain JSON-able dicts, so the
operator and the trigger never see a boto3 object. ``*_async`` methods use the provider's
aiobotocore clients (``get_async_conn``) for the trigger.

Point it at another endpoint (moto, LocalStack) with the connection's ``endpoint_url`` extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.ssm import SsmHook
from botocore.exceptions import ClientError

from costing.choices import MARKET_ON_DEMAND, MARKET_SPOT
from pipeline.spot import layout as spot

# An instance EC2 no longer knows. moto answers TerminateInstances for an instance that is already being
# terminated, and whose network interface it has deleted, with InvalidNetworkInterfaceID.NotFound (a CI run
# of tests/spot/test_operators.py met it): that instance is gone too.
_NOT_FOUND_CODES = (
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
    "InvalidNetworkInterfaceID.NotFound",
)
_NO_KEY_CODES = ("404", "NoSuchKey", "NotFound")


def instance_summary(instance: dict[str, Any]) -> dict[str, Any]:
    """The fields of one ``describe_instances`` item that the backend uses, JSON-able."""
    launch_time = instance.get("LaunchTime")
    state_reason = instance.get("StateReason") or {}
    return {
        "instance_id": instance["InstanceId"],
        "instance_type": instance.get("InstanceType", ""),
        "state": instance.get("State", {}).get("Name", ""),
        "state_reason_code": state_reason.get("Code", ""),
        "state_reason_message": state_reason.get("Message", ""),
        "state_transition_reason": instance.get("StateTransitionReason", ""),
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone", ""),
        "launch_time": launch_time.isoformat()
        if isinstance(launch_time, datetime)
        else str(launch_time or ""),
        "market": MARKET_SPOT if instance.get("InstanceLifecycle") == "spot" else MARKET_ON_DEMAND,
        "public_ip": instance.get("PublicIpAddress"),
        "tags": {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
    }


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SpotTrainingHook(EC2Hook):
    """EC2 (client API) plus the S3, SSM and IAM calls of spot training. Keyword arguments as ``EC2Hook``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["api_type"] = "client_type"
        super().__init__(*args, **kwargs)

    def _sibling(self, hook_class: type[AwsBaseHook], **kwargs: Any) -> Any:
        return hook_class(
            aws_conn_id=self.aws_conn_id,
            region_name=self._region_name,
            verify=self._verify,
            config=self._config,
            **kwargs,
        )

    @cached_property
    def s3(self) -> S3Hook:
        return self._sibling(S3Hook)

    @cached_property
    def ssm(self) -> SsmHook:
        return self._sibling(SsmHook)

    @cached_property
    def iam(self) -> AwsBaseHook:
        return self._sibling(AwsBaseHook, client_type="iam")

    # -- S3 ------------------------------------------------------------------------------------------------

    def check_bucket(self, bucket: str) -> None:
        try:
            self.s3.conn.head_bucket(Bucket=bucket)
        except ClientError as error:
            raise ValueError(
                f"S3 bucket {bucket!r} is not reachable ({_error_code(error)}): create it in "
                f"{self.region_name} or set the s3_bucket param / {spot.VAR_BUCKET} Variable"
            ) from error

    def upload_bytes(self, data: bytes, bucket: str, key: str, tags: dict[str, str] | None = None) -> None:
        extra = {"Tagging": urlencode(tags)} if tags else {}
        self.s3.conn.put_object(Bucket=bucket, Key=key, Body=data, **extra)

    def tag_prefix(self, bucket: str, prefix: str, tags: dict[str, str]) -> dict[str, int]:
        """Add ``tags`` to every object under ``prefix`` (objects the instance wrote carry none yet).

        Objects that already carry them are left alone. Returns the LIST, GET and PUT requests made.
        """
        counts = {"list_requests": 0, "get_requests": 0, "put_requests": 0}
        client = self.s3.conn
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            counts["list_requests"] += 1
            for item in page.get("Contents", []):
                current = {
                    t["Key"]: t["Value"]
                    for t in client.get_object_tagging(Bucket=bucket, Key=item["Key"])["TagSet"]
                }
                counts["get_requests"] += 1
                if all(current.get(key) == value for key, value in tags.items()):
                    continue
                merged = {**current, **tags}
                client.put_object_tagging(
                    Bucket=bucket,
                    Key=item["Key"],
                    Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]},
                )
                counts["put_requests"] += 1
        return counts

    def read_bytes(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None if there is no such key."""
        try:
            return self.s3.conn.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _error_code(error) in _NO_KEY_CODES:
                return None
            raise

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.conn.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _NO_KEY_CODES:
                return False
            raise
        return True

    def prefix_usage(self, bucket: str, prefix: str) -> dict[str, int]:
        """Objects and bytes stored under ``prefix`` (one LIST request per 1,000 keys)."""
        objects = size = lists = 0
        for page in self.s3.conn.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            lists += 1
            for item in page.get("Contents", []):
                objects += 1
                size += int(item["Size"])
        return {"objects": objects, "bytes": size, "list_requests": lists}

    async def object_exists_async(self, bucket: str, key: str) -> bool:
        async with await self.s3.get_async_conn() as client:
            try:
                await client.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if _error_code(error) in _NO_KEY_CODES:
                    return False
                raise
        return True

    # -- launch prerequisites -----------------------------------------------------------------------------

    def latest_ami(self, parameter_name: str) -> str:
        """An AMI id from a public SSM parameter (e.g. the latest Amazon Linux 2023)."""
        return self.ssm.get_parameter_value(parameter_name)

    def security_group_inbound_rules(self, security_group_id: str) -> list[dict[str, Any]]:
        groups = self.conn.describe_security_groups(GroupIds=[security_group_id])["SecurityGroups"]
        return list(groups[0].get("IpPermissions", [])) if groups else []

    def put_instance_role_policy(self, instance_profile: str, policy_name: str, document: str) -> list[str]:
        """Write ``document`` as inline policy ``policy_name`` on the role(s) of ``instance_profile``."""
        name = (
            instance_profile.rsplit("/", 1)[-1] if instance_profile.startswith("arn:") else instance_profile
        )
        profile = self.iam.conn.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        roles = [role["RoleName"] for role in profile.get("Roles", [])]
        if not roles:
            raise ValueError(f"instance profile {name!r} has no role; add the training role to it")
        for role in roles:
            self.iam.conn.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=document)
        return roles

    # -- instances ----------------------------------------------------------------------------------------

    def launch(self, request: dict[str, Any]) -> dict[str, Any]:
        """``run_instances`` with a prepared request; the summary of the one instance launched."""
        response = self.conn.run_instances(**request)
        instance = instance_summary(response["Instances"][0])
        self.log.info(
            "launched %s (%s, %s) in %s",
            instance["instance_id"],
            request["InstanceType"],
            instance["market"],
            instance["availability_zone"],
        )
        return instance

    def describe(self, instance_id: str) -> dict[str, Any] | None:
        """The instance's summary, or None if EC2 does not know it (any more)."""
        try:
            reservations = self.conn.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as error:
            if _error_code(error) in _NOT_FOUND_CODES:
                return None
            raise
        instances = [i for r in reservations for i in r["Instances"]]
        return instance_summary(instances[0]) if instances else None

    async def describe_async(self, instance_id: str) -> dict[str, Any] | None:
        async with await self.get_async_conn() as client:
            try:
                response = await client.describe_instances(InstanceIds=[instance_id])
            except ClientError as error:
                if _error_code(error) in _NOT_FOUND_CODES:
                    return None
                raise
        instances = [i for r in response["Reservations"] for i in r["Instances"]]
        return instance_summary(instances[0]) if instances else None

    def find_instances(
        self, tags: dict[str, str], states: Iterable[str] = spot.LIVE_STATES
    ) -> list[dict[str, Any]]:
        """Instances carrying all ``tags`` in one of ``states`` (default: not terminated / terminating)."""
        filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
        filters.append({"Name": "instance-state-name", "Values": list(states)})
        found = []
        for page in self.conn.get_paginator("describe_instances").paginate(Filters=filters):
            found += [instance_summary(i) for r in page["Reservations"] for i in r["Instances"]]
        return found

    def terminate(self, instance_ids: Iterable[str]) -> list[str]:
        """Terminate the instances; ids EC2 no longer knows are skipped. Returns the ids terminated."""
        ids = sorted(set(instance_ids))
        if not ids:
            return []
        try:
            self.conn.terminate_instances(InstanceIds=ids)
            terminated = ids
        except ClientError as error:
            if _error_code(error) not in _NOT_FOUND_CODES:
                raise
            terminated = []
            for instance_id in ids:  # one of them is gone, which fails the whole call: one by one
                try:
                    self.conn.terminate_instances(InstanceIds=[instance_id])
                    terminated.append(instance_id)
                except ClientError as inner:
                    if _error_code(inner) not in _NOT_FOUND_CODES:
                        raise
        if terminated:
            self.log.info("terminating %s", ", ".join(terminated))
        return terminated

    async def terminate_async(self, instance_ids: list[str]) -> None:
        async with await self.get_async_conn() as client:
            try:
                await client.terminate_instances(InstanceIds=instance_ids)
            except ClientError as error:
                if _error_code(error) not in _NOT_FOUND_CODES:
                    raise

    # -- prices -------------------------------------------------------------------------------------------

    def spot_price_history(
        self,
        instance_type: str,
        availability_zone: str,
        start: datetime,
        end: datetime,
        product_description: str = "Linux/UNIX",
    ) -> list[dict[str, Any]]:
        """``describe_spot_price_history`` items for one type in one AZ over [start, end], all pages.

        EC2 also returns the price change in force at ``start``, so the window is fully priced.
        """
        paginator = self.conn.get_paginator("describe_spot_price_history")
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(
            InstanceTypes=[instance_type],
            AvailabilityZone=availability_zone,
            ProductDescriptions=[product_description],
            StartTime=start,
            EndTime=end,
        ):
            items += page.get("SpotPriceHistory", [])
        return items
