"""The ``run_instances`` request of one training attempt, built from plain values (no AWS calls).

Every launch is locked down the same way:

* spot: one-time request, interruption behaviour *terminate*, optional max price (else capped at
  the on-demand price by EC2); on-demand attempts carry no market options;
* ``InstanceInitiatedShutdownBehavior=terminate``: the script's final ``shutdown`` ends billing;
* IMDSv2 required (session tokens), hop limit 1 (containers on the host cannot reach it);
* one network interface in the given subnet, the given security group, **no public IP**;
* the instance profile whose role carries the run-scoped S3 policy (:mod:`pipeline.spot.iam`);
* an encrypted gp3 root volume deleted with the instance;
* tags on the instance and its volume: project, dag_id, run_id, task_id (and map_index for a mapped
  task), attempt, market, and the
  cost allocation tags ``rnn:mlflow_run_id`` and ``rnn:dag_run_id``;
* a ``ClientToken`` derived from the run and attempt, so a retried API call never launches twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from costing.choices import MARKET_ON_DEMAND, MARKET_SPOT
from pipeline.spot import layout as spot

# Graviton families (arm64): m7g, c6gn, r6gd, t4g, x2gd, a1 ...
_ARM64_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)\.")


def architecture_of(instance_type: str) -> str:
    """``arm64`` for Graviton instance types, else ``x86_64`` (picks the default AMI)."""
    return "arm64" if _ARM64_FAMILY.match(instance_type) else "x86_64"


@dataclass(frozen=True)
class LaunchSpec:
    image_id: str
    instance_type: str
    market: str  # "spot" | "on-demand"
    subnet_id: str
    security_group_id: str
    instance_profile: str  # name or ARN
    user_data: str
    dag_id: str
    run_id: str
    task_id: str
    attempt_label: str
    spot_max_price_usd: float | None = None  # None: pay the spot price, at most on-demand
    root_volume_gb: int = spot.DEFAULT_ROOT_VOLUME_GB
    mlflow_run_id: str = ""  # for the cost allocation tag rnn:mlflow_run_id
    map_index: int = -1  # a mapped task's index (a sweep trial); -1: not mapped

    def __post_init__(self) -> None:
        if self.market not in (MARKET_SPOT, MARKET_ON_DEMAND):
            raise ValueError(f"market={self.market!r} must be {MARKET_SPOT!r} or {MARKET_ON_DEMAND!r}")
        for name in ("image_id", "instance_type", "subnet_id", "security_group_id", "instance_profile"):
            if not getattr(self, name):
                raise ValueError(f"{name} is empty; a training instance needs one")
        if self.spot_max_price_usd is not None and self.spot_max_price_usd <= 0:
            raise ValueError(
                f"spot_max_price_usd={self.spot_max_price_usd!r} must be > 0 (or None for no cap)"
            )

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Name": f"{spot.PROJECT} {self.dag_id} {self.attempt_label}",
            spot.TAG_PROJECT: spot.PROJECT,
            spot.TAG_DAG_ID: self.dag_id,
            spot.TAG_RUN_ID: self.run_id,
            spot.TAG_TASK_ID: self.task_id,
            **({spot.TAG_MAP_INDEX: str(self.map_index)} if self.map_index >= 0 else {}),
            spot.TAG_ATTEMPT: self.attempt_label,
            spot.TAG_MARKET: self.market,
            **spot.allocation_tags(dag_id=self.dag_id, run_id=self.run_id, mlflow_run_id=self.mlflow_run_id),
        }

    @property
    def client_token(self) -> str:
        """Idempotency token (<= 64 ASCII chars): the same attempt of the same run (and map index)
        launches once, and two mapped trials never share one."""
        parts = [self.dag_id, self.run_id, self.task_id, self.attempt_label, self.market]
        if self.map_index >= 0:
            parts.append(str(self.map_index))
        key = "\n".join(parts)
        return hashlib.sha256(key.encode()).hexdigest()[:48]


def build_run_instances_request(spec: LaunchSpec) -> dict[str, Any]:
    """Keyword arguments for ``ec2.run_instances`` (boto3 base64-encodes ``UserData`` itself)."""
    tags = [{"Key": key, "Value": value} for key, value in spec.tags.items()]
    profile_key = "Arn" if spec.instance_profile.startswith("arn:") else "Name"
    request: dict[str, Any] = {
        "ImageId": spec.image_id,
        "InstanceType": spec.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": spec.client_token,
        "UserData": spec.user_data,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
            "HttpPutResponseHopLimit": 1,
        },
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": spec.subnet_id,
                "Groups": [spec.security_group_id],
                "AssociatePublicIpAddress": False,
                "DeleteOnTermination": True,
            }
        ],
        "IamInstanceProfile": {profile_key: spec.instance_profile},
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeSize": int(spec.root_volume_gb),
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    }
    if spec.market == MARKET_SPOT:
        spot_options: dict[str, Any] = {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
        }
        if spec.spot_max_price_usd is not None:
            spot_options["MaxPrice"] = f"{spec.spot_max_price_usd:.6f}"
        request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": spot_options}
    return request
