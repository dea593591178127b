"""Trigger-form Params of where training runs, shared by ``rnn_retraining`` and ``rnn_sweep``.

``compute``, ``instance_type`` and ``market`` (:func:`compute_params`), and the spot EC2 settings
(:func:`spot_params`): one definition of each, defaults from :mod:`costing.choices` and
:mod:`pipeline.spot.layout`. ``region`` stays with each DAG: ``rnn_retraining`` trains and prices
there, ``rnn_sweep`` also serves there (its target).
"""

from __future__ import annotations

from airflow.sdk import Param

from costing.choices import DEFAULT_INSTANCE_TYPE, DEFAULT_MARKET, MARKETS
from pipeline.names import COMPUTE_BACKENDS, COMPUTE_LOCAL
from pipeline.spot import layout as spot

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"  # an AWS region name, e.g. us-east-1, ap-southeast-2


def compute_params() -> dict[str, Param]:
    """``compute`` (local or ec2_spot), ``instance_type`` and ``market``."""
    return {
        "compute": Param(
            COMPUTE_LOCAL,
            type="string",
            enum=list(COMPUTE_BACKENDS),
            title="Compute backend",
            description="local: train on the Airflow worker (cost estimated as if on the instance "
            "type). ec2_spot: launch a spot instance, billed cost.",
        ),
        "instance_type": Param(
            DEFAULT_INSTANCE_TYPE,
            type="string",
            pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
            title="Instance type",
            description="Priced (local) or launched (cloud).",
        ),
        "market": Param(
            DEFAULT_MARKET,
            type="string",
            enum=list(MARKETS),
            title="Market",
            description="local: the market it is priced at. ec2_spot: the first attempt's market.",
        ),
    }


def param_or_variable(param: str, variable: str) -> str:
    """A template: the param if set, else the Airflow Variable (read when the task runs, not at parse)."""
    return f"{{{{ params.{param} or var.value.get('{variable}', '') }}}}"


def spot_operator_arguments() -> dict[str, str]:
    """:class:`~pipeline.spot.operators.SpotTrainingOperator`'s settings, templated from :func:`spot_params`
    and :func:`compute_params` (and the DAG's ``region``)."""
    return {
        "s3_bucket": param_or_variable("s3_bucket", spot.VAR_BUCKET),
        "subnet_id": param_or_variable("subnet_id", spot.VAR_SUBNET_ID),
        "security_group_id": param_or_variable("security_group_id", spot.VAR_SECURITY_GROUP_ID),
        "instance_profile": param_or_variable("instance_profile", spot.VAR_INSTANCE_PROFILE),
        "instance_type": "{{ params.instance_type }}",
        "region_name": "{{ params.region }}",
        "market": "{{ params.market }}",
        "max_attempts": "{{ params.max_attempts }}",
        "on_demand_fallback": "{{ params.on_demand_fallback }}",
        "spot_max_price_usd": "{{ params.spot_max_price_usd }}",
        "ami_id": "{{ params.ami_id }}",
    }


def spot_params(*, with_budget: bool = True) -> dict[str, Param]:
    """The ``Spot EC2`` section: attempts, fallback, price cap, AMI, and the AWS resources (each empty:
    its Airflow Variable). ``with_budget`` adds ``max_budget_usd`` (a sweep has its own budget)."""
    params = {
        "max_attempts": Param(
            spot.DEFAULT_MAX_ATTEMPTS,
            type="integer",
            minimum=1,
            maximum=spot.MAX_ATTEMPTS_LIMIT,
            title="Spot: max attempts",
            section="Spot EC2",
            description="Launches (per market) before giving up; each resumes from the checkpoint.",
        ),
        "on_demand_fallback": Param(
            False,
            type="boolean",
            title="Spot: fall back to on-demand",
            section="Spot EC2",
            description="After max_attempts interrupted spot attempts, go on on-demand (resuming from the "
            "checkpoint), with max_attempts of its own.",
        ),
    }
    if with_budget:
        params["max_budget_usd"] = Param(
            5.0,
            type="number",
            exclusiveMinimum=0,
            maximum=10_000,
            section="Spot EC2",
            title="Spot: max budget (USD)",
            description="Refuse to launch when the pre-flight estimate is above this.",
        )
    return {
        **params,
        "spot_max_price_usd": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=1_000,
            section="Spot EC2",
            title="Spot: max price (USD/hour)",
            description="0: no cap (EC2 charges the spot price, at most on-demand).",
        ),
        "ami_id": Param(
            "",
            type="string",
            pattern=r"^(ami-[0-9a-f]{8,17})?$",
            title="Spot: AMI id",
            section="Spot EC2",
            description="Empty: the latest Amazon Linux 2023 (x86_64 or arm64 by instance type) from SSM.",
        ),
        "s3_bucket": Param(
            "",
            type="string",
            pattern=r"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$",
            title="Spot: S3 bucket",
            section="Spot EC2",
            description=f"Empty: the {spot.VAR_BUCKET} Variable. Holds <dag_id>/<run_id>/.",
        ),
        "subnet_id": Param(
            "",
            type="string",
            pattern=r"^(subnet-[0-9a-f]{8,17})?$",
            title="Spot: subnet",
            section="Spot EC2",
            description=f"A private subnet. Empty: the {spot.VAR_SUBNET_ID} Variable.",
        ),
        "security_group_id": Param(
            "",
            type="string",
            pattern=r"^(sg-[0-9a-f]{8,17})?$",
            title="Spot: security group",
            section="Spot EC2",
            description=f"Must have no inbound rules. Empty: the {spot.VAR_SECURITY_GROUP_ID} Variable.",
        ),
        "instance_profile": Param(
            "",
            type="string",
            pattern=r"^([\w+=,.@-]{1,128}|arn:aws[\w-]*:iam::\d{12}:"
            r"instance-profile/[\w+=,.@/-]{1,128})?$",
            title="Spot: instance profile",
            section="Spot EC2",
            description=f"Name or ARN. Empty: the {spot.VAR_INSTANCE_PROFILE} Variable.",
        ),
    }
