"""Names and defaults of the spot backend: tags, S3 layout of a run, Variables, timings.

One place for each fact the hook, operator, trigger, user data, cost task and tests share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# spot training launches the type a local run is priced as: one default (defined in costing.choices)
from costing.choices import DEFAULT_INSTANCE_TYPE as DEFAULT_INSTANCE_TYPE
from pipeline.names import COMPUTE_EC2_SPOT, TAG_ALLOCATION_DAG_RUN_ID, TAG_ALLOCATION_MLFLOW_RUN_ID
from pipeline.settings import INCLUDE_DIR, load_settings, safe_path_part

SPOT_INCLUDE_DIR = INCLUDE_DIR / "spot"
USER_DATA_TEMPLATE = SPOT_INCLUDE_DIR / "user_data.sh"
INSTANCE_POLICY_TEMPLATE = SPOT_INCLUDE_DIR / "instance_policy.json"

BACKEND = COMPUTE_EC2_SPOT

# -- tags on every instance and volume we launch (the sweeper finds instances by them) ---------------
PROJECT = "rnn-cost-pipeline"
TAG_PROJECT = "project"
TAG_DAG_ID = "dag_id"
TAG_RUN_ID = "run_id"
TAG_TASK_ID = "task_id"
TAG_MAP_INDEX = "map_index"  # only on instances of a mapped task (one per sweep trial)
TAG_ATTEMPT = "attempt"
TAG_MARKET = "market"

# -- defaults ------------------------------------------------------------------------------------------
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10
DEFAULT_ROOT_VOLUME_GB = 20  # gp3; AL2023 + torch CPU wheel + corpus + checkpoints, with room
DEFAULT_MAX_RUNTIME_SECONDS = 6 * 3600  # the instance stops training itself after this (Airflow may be gone)
# Latest Amazon Linux 2023 AMIs, published by AWS as public SSM parameters.
AMI_SSM_PARAMETER = {
    "x86_64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    "arm64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
}

# -- Airflow Variables (read inside tasks only; AIRFLOW_VAR_<NAME> env vars set them too) ------------
VAR_BUCKET = "rnn_spot_bucket"
VAR_SUBNET_ID = "rnn_spot_subnet_id"
VAR_SECURITY_GROUP_ID = "rnn_spot_security_group_id"
VAR_INSTANCE_PROFILE = "rnn_spot_instance_profile"

# -- instance states and how an instance can end -------------------------------------------------------
RUNNING_STATES = ("pending", "running")
ENDED_STATES = ("shutting-down", "terminated", "stopping", "stopped")
LIVE_STATES = (*RUNNING_STATES, "stopping", "stopped")  # still exist and may still cost (EBS)
SPOT_TERMINATION_REASON = "Server.SpotInstanceTermination"

# -- what the instance writes when it stops (one of them, last, after its log) -------------------------
OUTCOME_DONE = "DONE"  # training finished; model.pt and metrics.json are in train/
OUTCOME_INTERRUPTED = "INTERRUPTED"  # stopped on a spot interruption notice, after a checkpoint
OUTCOME_FAILED = "FAILED"  # training failed or ran out of time; the marker holds the reason
OUTCOMES = (OUTCOME_DONE, OUTCOME_INTERRUPTED, OUTCOME_FAILED)

# MLflow artifact with the per-attempt table
ATTEMPTS_ARTIFACT = "spot_attempts.json"


_TAG_VALUE_UNSAFE = re.compile(r"[^\w .:/=+\-@]")  # what AWS tag values may hold
TAG_VALUE_MAX_CHARS = 256


def tag_value(value: str) -> str:
    """``value`` as an AWS tag value: letters, digits, spaces and ``_ . : / = + - @``, at most 256 chars."""
    return _TAG_VALUE_UNSAFE.sub("_", value)[:TAG_VALUE_MAX_CHARS]


def allocation_tags(*, dag_id: str, run_id: str, mlflow_run_id: str) -> dict[str, str]:
    """The cost allocation tags of every resource a DAG run creates (docs/cost-reconciliation.md)."""
    return {
        TAG_ALLOCATION_MLFLOW_RUN_ID: tag_value(mlflow_run_id),
        TAG_ALLOCATION_DAG_RUN_ID: tag_value(f"{dag_id}/{run_id}"),
    }


def poll_seconds() -> float:
    """Seconds between trigger polls (RNN_SPOT_POLL_SECONDS; read when the task runs, not at parse)."""
    return load_settings().spot_poll_seconds


@dataclass(frozen=True)
class RunLayout:
    """Where one training keeps everything in S3: ``s3://<bucket>/<dag_id>/<run_id>/...``.

    ``scope`` separates the trainings of one DAG run (a sweep's mapped trials each get
    ``<task_id>/<map_index>``): ``s3://<bucket>/<dag_id>/<run_id>/<scope>/...``."""

    bucket: str
    dag_id: str
    run_id: str
    mlflow_run_id: str = ""
    scope: str = ""

    @property
    def allocation_tags(self) -> dict[str, str]:
        return allocation_tags(dag_id=self.dag_id, run_id=self.run_id, mlflow_run_id=self.mlflow_run_id)

    @property
    def run_prefix(self) -> str:
        """The DAG run's key prefix (every scope of the run is under it), without a trailing slash."""
        return f"{safe_path_part(self.dag_id)}/{safe_path_part(self.run_id)}"

    @property
    def prefix(self) -> str:
        """This training's key prefix without a trailing slash, safe for S3 keys and IAM resource ARNs."""
        if not self.scope:
            return self.run_prefix
        return "/".join([self.run_prefix, *(safe_path_part(part) for part in self.scope.split("/"))])

    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    # the bundle: a wheel of rnn/ and the run's training config
    def wheel_key(self, filename: str) -> str:
        return self.key("bundle", filename)

    @property
    def config_key(self) -> str:
        return self.key("bundle", "config.json")

    @property
    def corpus_key(self) -> str:
        return self.key("data", "corpus.txt")

    # what `python -m rnn train` writes
    @property
    def train_uri(self) -> str:
        return self.uri("train")

    @property
    def checkpoint_uri(self) -> str:
        return self.uri("train", "checkpoint.pt")

    @property
    def metrics_key(self) -> str:
        return self.key("train", "metrics.json")

    @property
    def model_key(self) -> str:
        return self.key("train", "model.pt")

    # one folder per instance launch: "<task try>.<attempt>" so a retried task never sees old markers
    def attempt_key(self, label: str, name: str) -> str:
        return self.key("attempts", label, name)

    def marker_key(self, label: str, outcome: str) -> str:
        return self.attempt_key(label, outcome)

    def log_key(self, label: str) -> str:
        return self.attempt_key(label, "instance.log")


def mapped_scope(task_id: str, map_index: int) -> str:
    """The :attr:`RunLayout.scope` of one mapped task instance; empty for a task that is not mapped."""
    return f"{task_id}/{map_index}" if map_index >= 0 else ""


def attempt_label(task_try: int, attempt: int) -> str:
    return f"{task_try}.{attempt}"
