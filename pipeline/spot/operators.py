"""SpotTrainingOperator: train ``rnn`` on a spot EC2 instance, resuming across interruptions.

1. **execute** - terminate instances an earlier try of this task left running, check the
   prerequisites (bucket, a security group with no inbound rules), resolve
   the AMI (param, else the latest Amazon Linux 2023 from SSM), upload the bundle (a wheel of rnn/ +
   config.json) and the corpus under ``s3://<bucket>/<dag_id>/<run_id>/``, scope the instance
   role to that prefix, launch attempt 1 and defer to :class:`~pipeline.spot.triggers.SpotTrainingTrigger`.
2. **execute_complete** - on the trigger's event: read the attempt's marker and instance, and let
   :mod:`pipeline.spot.policy` decide how and when it ended (the operator terminates the instance if
   told, and records the attempt: instance, AZ, market, launch and end time, interrupted?) and what
   next: done -> copy model.pt and metrics.json next to the run's other outputs and return;
   interrupted -> launch again (the script resumes from the checkpoint) on the market the policy
   names, or give up; failed -> fail the task with the reason and the instance log's tail.

Instances are terminated on every exit path: success (after DONE), failure, trigger failure or
timeout (:meth:`resume_execution`), execution timeout and a killed task (:meth:`on_kill`), a
killed deferred task (the trigger's ``on_kill``); ``rnn_retraining`` adds a cleanup task and a
sweeper for the paths none of these see (a worker or triggerer that died).

Importing this module is cheap (the DAG file does at parse time): boto3, the provider and the
trigger are imported when the task runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from costing.choices import MARKET_ON_DEMAND, MARKET_SPOT
from pipeline.settings import load_settings
from pipeline.spot import layout as spot
from pipeline.spot.attempts import END_DONE, AttemptRecord, attempts_table, parse_utc, utc_iso
from pipeline.spot.bundle import build_wheel
from pipeline.spot.cleanup import terminate_run_instances
from pipeline.spot.iam import RUN_SCOPE_POLICY_NAME, instance_policy
from pipeline.spot.launch import LaunchSpec, architecture_of, build_run_instances_request
from pipeline.spot.policy import (
    WAIT_ERROR,
    AttemptEnd,
    AttemptObservation,
    Collect,
    Fail,
    GiveUp,
    InstanceState,
    Relaunch,
    RelaunchLimits,
    RetryTask,
    end_of_attempt,
    next_step,
)
from pipeline.spot.triggers import SpotTrainingTrigger
from pipeline.spot.userdata import UserDataInputs, render_user_data, torch_index_url
from rnn.corpus import CorpusError, read_corpus_bytes
from rnn.metrics import METRICS_FILENAME, read_metrics
from toolkit import storage

if TYPE_CHECKING:
    from airflow.sdk import Context

    from pipeline.spot.hooks import SpotTrainingHook

# How long to wait for one attempt beyond the instance's own max runtime (boot, install, upload).
BOOT_MARGIN = timedelta(minutes=30)


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "", "none"):
        return False
    raise _fail(f"{name}={value!r} is not a boolean (true/false)")


def _as_int(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _fail(f"{name}={value!r} is not an integer") from None
    if not low <= number <= high:
        raise _fail(f"{name}={number} is out of range [{low}, {high}]")
    return number


def _as_price(name: str, value: Any) -> float | None:
    if value in (None, "", "None"):
        return None
    try:
        price = float(value)
    except ValueError:
        raise _fail(f"{name}={value!r} is not a number of USD per hour") from None
    if price < 0:
        raise _fail(f"{name}={price} must be >= 0 (0: no cap)")
    return price or None


@dataclass(frozen=True)
class _Run:
    """The operator's templated arguments, rendered, checked and typed, plus where the run lives."""

    layout: spot.RunLayout
    task_id: str
    map_index: int  # -1 unless the operator is mapped (a sweep's trials)
    task_try: int
    instance_type: str
    region: str
    market: str
    max_attempts: int
    on_demand_fallback: bool
    spot_max_price_usd: float | None
    subnet_id: str
    security_group_id: str
    instance_profile: str

    @property
    def limits(self) -> RelaunchLimits:
        return RelaunchLimits(max_attempts=self.max_attempts, on_demand_fallback=self.on_demand_fallback)


class SpotTrainingOperator(BaseOperator):
    """Train on spot EC2 with checkpoint/resume; returns the ``train`` result dict of ``rnn_retraining``.

    :param validated: the ``validate_dataset`` result (run_dir, config, mlflow_run_id, dataset_sha256).
    :param s3_bucket: bucket for the bundle, corpus, checkpoints, outputs (``<bucket>/<dag_id>/<run_id>/``).
    :param subnet_id: a private subnet (no public IP is assigned; S3 via a gateway endpoint or NAT).
    :param security_group_id: a security group with no inbound rules (checked before launching).
    :param instance_profile: name or ARN of the instance profile whose role gets the run-scoped policy.
    :param instance_type: EC2 instance type.
    :param market: market of the first attempt, ``spot`` or ``on-demand``.
    :param max_attempts: launches per market before giving up (or falling back to on-demand).
    :param on_demand_fallback: after ``max_attempts`` interrupted spot attempts, go on on-demand (whose own
        attempts count against ``max_attempts`` too: see :mod:`pipeline.spot.policy`).
    :param spot_max_price_usd: max spot price per hour; None or 0: no cap (EC2 caps at on-demand).
    :param ami_id: AMI to launch; empty: the latest Amazon Linux 2023 for the instance's architecture (SSM).
    :param scope_instance_role: write the run-scoped S3 policy onto the instance profile's role first.
    :param root_volume_gb: gp3 root volume size.
    :param max_runtime_seconds: the instance stops training (FAILED) after this; the wait times out later.
    :param poll_interval: seconds between trigger polls (default ``RNN_SPOT_POLL_SECONDS`` or 30).
    :param aws_conn_id: Airflow AWS connection (``endpoint_url`` extra points it at moto/LocalStack).
    :param region_name: AWS region (else the connection's).
    :param verify: SSL verification for boto3.
    :param botocore_config: botocore client configuration dict.
    """

    template_fields: Sequence[str] = (
        "validated",
        "s3_bucket",
        "subnet_id",
        "security_group_id",
        "instance_profile",
        "instance_type",
        "market",
        "max_attempts",
        "on_demand_fallback",
        "spot_max_price_usd",
        "ami_id",
        "aws_conn_id",
        "region_name",
    )
    ui_color = "#ff9900"
    ui_fgcolor = "#232f3e"

    def __init__(
        self,
        *,
        validated: Any,
        s3_bucket: str,
        subnet_id: str,
        security_group_id: str,
        instance_profile: str,
        instance_type: str = spot.DEFAULT_INSTANCE_TYPE,
        market: str = MARKET_SPOT,
        max_attempts: int | str = spot.DEFAULT_MAX_ATTEMPTS,
        on_demand_fallback: bool | str = False,
        spot_max_price_usd: float | str | None = None,
        ami_id: str = "",
        scope_instance_role: bool = True,
        root_volume_gb: int = spot.DEFAULT_ROOT_VOLUME_GB,
        max_runtime_seconds: int = spot.DEFAULT_MAX_RUNTIME_SECONDS,
        poll_interval: float | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.validated = validated
        self.s3_bucket = s3_bucket
        self.subnet_id = subnet_id
        self.security_group_id = security_group_id
        self.instance_profile = instance_profile
        self.instance_type = instance_type
        self.market = market
        self.max_attempts = max_attempts
        self.on_demand_fallback = on_demand_fallback
        self.spot_max_price_usd = spot_max_price_usd
        self.ami_id = ami_id
        self.scope_instance_role = scope_instance_role
        self.root_volume_gb = root_volume_gb
        self.max_runtime_seconds = max_runtime_seconds
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        # (dag_id, run_id, map_index), known once the task runs
        self._run_key: tuple[str, str, int] | None = None

    @cached_property
    def hook(self) -> SpotTrainingHook:
        from pipeline.spot.hooks import (
            SpotTrainingHook,  # boto3 (amazon provider): imported on use, not at DAG parse
        )

        return SpotTrainingHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name or None,
            verify=self.verify,
            config=self.botocore_config,
        )

    # -- arguments ------------------------------------------------------------------------------------------

    def _settings(self, context: Context) -> _Run:
        dag_id, run_id, map_index = context["dag"].dag_id, context["run_id"], _map_index(context)
        self._run_key = (dag_id, run_id, map_index)
        required = {
            "s3_bucket": (self.s3_bucket, spot.VAR_BUCKET),
            "subnet_id": (self.subnet_id, spot.VAR_SUBNET_ID),
            "security_group_id": (self.security_group_id, spot.VAR_SECURITY_GROUP_ID),
            "instance_profile": (self.instance_profile, spot.VAR_INSTANCE_PROFILE),
        }
        missing = [
            f"{name} (param, or Variable {variable})"
            for name, (value, variable) in required.items()
            if not str(value or "").strip()
        ]
        if missing:
            raise _fail(f"compute=ec2_spot needs {', '.join(missing)}; see README 'Run training on spot EC2'")
        market = str(self.market).strip()
        if market not in (MARKET_SPOT, MARKET_ON_DEMAND):
            raise _fail(f"market={market!r} must be {MARKET_SPOT!r} or {MARKET_ON_DEMAND!r}")
        return _Run(
            layout=spot.RunLayout(
                bucket=str(self.s3_bucket).strip(),
                dag_id=dag_id,
                run_id=run_id,
                mlflow_run_id=str(self.validated["mlflow_run_id"]),
                scope=spot.mapped_scope(self.task_id, map_index),
            ),
            task_id=self.task_id,
            map_index=map_index,
            task_try=int(getattr(context["ti"], "try_number", 1) or 1),
            instance_type=str(self.instance_type).strip(),
            region=self.hook.region_name or "",
            market=market,
            max_attempts=_as_int("max_attempts", self.max_attempts, 1, spot.MAX_ATTEMPTS_LIMIT),
            on_demand_fallback=_as_bool("on_demand_fallback", self.on_demand_fallback),
            spot_max_price_usd=_as_price("spot_max_price_usd", self.spot_max_price_usd),
            subnet_id=str(self.subnet_id).strip(),
            security_group_id=str(self.security_group_id).strip(),
            instance_profile=str(self.instance_profile).strip(),
        )

    # -- execute: prepare, launch attempt 1, defer ----------------------------------------------------------

    def execute(self, context: Context) -> Any:
        run = self._settings(context)
        hook = self.hook
        # A retried task: an instance of an earlier try may still train (its worker died while it
        # waited); two trainers must never write the same checkpoint.
        leftovers = self.terminate_launched()
        if leftovers:
            self.log.warning("terminated %s left by an earlier try of this task", ", ".join(leftovers))
        try:
            hook.check_bucket(run.layout.bucket)
        except ValueError as error:
            raise _fail(str(error)) from error
        inbound = hook.security_group_inbound_rules(run.security_group_id)
        if inbound:
            raise _fail(
                f"security group {run.security_group_id} has {len(inbound)} inbound rule(s) "
                f"({json.dumps(inbound, default=str)[:300]}); the training instance must accept no "
                "inbound traffic: use a group without inbound rules"
            )
        ami_id = str(self.ami_id or "").strip()
        if not ami_id:
            parameter = spot.AMI_SSM_PARAMETER[architecture_of(run.instance_type)]
            ami_id = hook.latest_ami(parameter)
            self.log.info("AMI %s from SSM parameter %s", ami_id, parameter)

        layout = run.layout
        config = dict(self.validated["config"])
        try:
            corpus = read_corpus_bytes(config["corpus_uri"])
        except CorpusError as error:
            raise _fail(str(error)) from error
        wheel = build_wheel()
        config["corpus_uri"] = f"s3://{layout.bucket}/{layout.corpus_key}"
        uploads = [
            (wheel.data, layout.wheel_key(wheel.filename)),
            (json.dumps(config, indent=2).encode(), layout.config_key),
            (corpus, layout.corpus_key),
        ]
        for data, key in uploads:
            hook.upload_bytes(data, layout.bucket, key, tags=layout.allocation_tags)
        self.log.info(
            "uploaded the bundle %s (sha256 %s…), config and corpus to s3://%s/%s/",
            wheel.filename,
            wheel.sha256[:12],
            layout.bucket,
            layout.prefix,
        )
        if self.scope_instance_role:
            roles = hook.put_instance_role_policy(
                run.instance_profile, RUN_SCOPE_POLICY_NAME, json.dumps(instance_policy(layout))
            )
            self.log.info(
                "role(s) %s of %s may read/write s3://%s/%s/* only",
                ", ".join(roles),
                run.instance_profile,
                layout.bucket,
                layout.prefix,
            )
        state = {
            "ami_id": ami_id,
            "wheel": wheel.filename,
            "task_try": run.task_try,
            "attempts": [],
            "s3": {
                "put_requests": len(uploads),
                "put_bytes": sum(len(data) for data, _ in uploads),
                "get_requests": 0,
                "head_requests": 0,
            },
        }
        return self._launch(run, state, market=run.market)

    def _launch(self, run: _Run, state: dict[str, Any], *, market: str) -> Any:
        label = spot.attempt_label(state["task_try"], len(state["attempts"]) + 1)
        user_data = render_user_data(
            UserDataInputs(
                layout=run.layout,
                region=run.region,
                attempt_label=label,
                market=market,
                wheel_filename=state["wheel"],
                mlflow_run_id=self.validated["mlflow_run_id"],
                max_runtime_seconds=self.max_runtime_seconds,
                torch_index_url=torch_index_url(run.instance_type, load_settings().spot_torch_index_url),
                dataset_sha256=self.validated["dataset_sha256"],
            )
        )
        spec = LaunchSpec(
            image_id=state["ami_id"],
            instance_type=run.instance_type,
            market=market,
            subnet_id=run.subnet_id,
            security_group_id=run.security_group_id,
            instance_profile=run.instance_profile,
            user_data=user_data,
            dag_id=run.layout.dag_id,
            run_id=run.layout.run_id,
            task_id=run.task_id,
            attempt_label=label,
            spot_max_price_usd=run.spot_max_price_usd if market == MARKET_SPOT else None,
            root_volume_gb=self.root_volume_gb,
            mlflow_run_id=run.layout.mlflow_run_id,
            map_index=run.map_index,
        )
        instance = self.hook.launch(build_run_instances_request(spec))
        try:
            record = AttemptRecord(
                instance_id=instance["instance_id"],
                instance_type=run.instance_type,
                availability_zone=instance["availability_zone"],
                market=market,
                launched_at=utc_iso(datetime.fromisoformat(instance["launch_time"]))
                if instance["launch_time"]
                else utc_iso(datetime.now(UTC)),
                terminated_at=None,
                interrupted=False,
                attempt=label,
            )
            state["attempts"].append(record.to_dict())
            trigger = SpotTrainingTrigger(
                instance_id=record.instance_id,
                bucket=run.layout.bucket,
                done_key=run.layout.marker_key(label, spot.OUTCOME_DONE),
                poll_interval=self.poll_interval or spot.poll_seconds(),
                aws_conn_id=self.aws_conn_id,
                region_name=run.region or None,
                verify=self.verify,
                botocore_config=self.botocore_config,
            )
        except Exception:
            self.hook.terminate([instance["instance_id"]])
            raise
        self._save_ledger(run, state)
        self.log.info(
            "attempt %s: %s %s in %s; waiting for it in the triggerer",
            label,
            market,
            record.instance_id,
            record.availability_zone,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            kwargs={"state": state},
            timeout=timedelta(seconds=self.max_runtime_seconds) + BOOT_MARGIN,
        )

    # -- execute_complete: record the attempt, then done / relaunch / fail ----------------------------------

    def execute_complete(
        self, context: Context, event: dict[str, Any], state: dict[str, Any] | None = None
    ) -> Any:
        run = self._settings(context)
        state = state or self._load_ledger(run)
        attempts = [AttemptRecord.from_dict(a) for a in state["attempts"]]
        state["s3"]["head_requests"] += int(event.get("polls", 0))
        try:
            closed, end, log_tail = self._close_attempt(run, attempts[-1], event, state)
        except Exception:
            self.hook.terminate([a.instance_id for a in attempts])
            raise
        attempts[-1] = closed
        state["attempts"] = [a.to_dict() for a in attempts]
        self.log.info("attempts so far:\n%s", attempts_table(attempts))

        match next_step(end, [a.market for a in attempts], run.limits):
            case Collect():
                return self._collect(run, state)
            case RetryTask(message=message):
                from airflow.sdk.exceptions import AirflowException

                raise AirflowException(
                    f"waiting for {closed.instance_id} failed: {message}; the "
                    "instance was terminated and a retry resumes from the checkpoint"
                )
            case Relaunch(market=market):
                self.log.info(
                    "attempt %s was interrupted (%s); launching %s, resuming from the checkpoint",
                    closed.attempt,
                    closed.end_reason,
                    market,
                )
                return self._launch(run, state, market=market)
            case GiveUp(attempts=count, limits=limits):
                raise _fail(
                    f"spot training gave up: {count} attempt(s) interrupted (max_attempts={limits.max_attempts} "
                    f"per market, on_demand_fallback={limits.on_demand_fallback}); every instance is terminated and "
                    f"the checkpoint {run.layout.checkpoint_uri} is kept, so a new run with on_demand_fallback or "
                    f"more attempts continues from it.\n{attempts_table(attempts)}"
                )
            case Fail(reason=reason):
                raise _fail(
                    f"training on {closed.instance_id} failed: {reason}\n"
                    f"{attempts_table(attempts)}\nlast lines of the instance log:\n{log_tail}"
                )
            case decision:
                raise TypeError(f"no handling for the policy's decision {decision!r}")

    def _close_attempt(
        self, run: _Run, record: AttemptRecord, event: dict[str, Any], state: dict[str, Any]
    ) -> tuple[AttemptRecord, AttemptEnd, str]:
        """Read the attempt's outcome marker and instance; the policy says how and when it ended and
        whether the instance must still be terminated, which is done here."""
        hook, layout, label = self.hook, run.layout, record.attempt
        marker, marker_info = None, {}
        for outcome in spot.OUTCOMES:
            data = hook.read_bytes(layout.bucket, layout.marker_key(label, outcome))
            state["s3"]["get_requests"] += 1
            if data is not None:
                marker = outcome
                try:
                    marker_info = json.loads(data)
                except ValueError:
                    marker_info = {"reason": data.decode(errors="replace")[:200]}
                break
        instance = hook.describe(record.instance_id)
        wait_status = str(event.get("status", ""))
        observed_at = datetime.fromisoformat(event["observed_at"]) if event.get("observed_at") else None
        end = end_of_attempt(
            AttemptObservation(
                launched_at=parse_utc(record.launched_at),
                now=datetime.now(UTC),
                instance=None if instance is None else InstanceState.from_summary(instance),
                marker=marker,
                marker_reason=str(marker_info.get("reason") or ""),
                wait_status=wait_status,
                wait_message=str(event.get("message")) if wait_status == WAIT_ERROR else "",
                observed_at=observed_at,
            )
        )
        if end.terminate:  # still running, or shutting-down / stopped: make sure it is gone
            hook.terminate([record.instance_id])
        log_tail = ""
        if end.outcome != END_DONE:
            log = hook.read_bytes(layout.bucket, layout.log_key(label))
            state["s3"]["get_requests"] += 1
            log_tail = "\n".join(
                (log or b"(no instance log in S3)").decode(errors="replace").splitlines()[-30:]
            )
        closed = AttemptRecord(
            **{
                **record.to_dict(),
                "terminated_at": utc_iso(end.ended_at),
                "interrupted": end.interrupted,
                "outcome": end.outcome,
                "end_reason": end.reason,
                "terminate_time_source": end.ended_at_source,
                "availability_zone": (instance or {}).get("availability_zone") or record.availability_zone,
                "training_started_at": _iso_or_none(marker_info.get("training_started_at")),
            },
        )
        return closed, end, log_tail

    def _ledger_key(self, run: _Run) -> str:
        return run.layout.key("attempts", f"ledger-try{run.task_try}.json")

    def _save_ledger(self, run: _Run, state: dict[str, Any]) -> None:
        """The attempts so far, next to the run's outputs: the task resumes from it if its deferral
        kwargs are lost, and it says what this task launched."""
        state["s3"]["put_requests"] += 1
        self.hook.upload_bytes(
            json.dumps(state, indent=2).encode(),
            run.layout.bucket,
            self._ledger_key(run),
            tags=run.layout.allocation_tags,
        )

    def _load_ledger(self, run: _Run) -> dict[str, Any]:
        data = self.hook.read_bytes(run.layout.bucket, self._ledger_key(run))
        if data is None:
            raise _fail(
                f"resumed without the attempts ledger s3://{run.layout.bucket}/{self._ledger_key(run)}"
            )
        state = json.loads(data)
        state["s3"]["get_requests"] += 1
        return state

    def _collect(self, run: _Run, state: dict[str, Any]) -> dict[str, Any]:
        """Copy model.pt and metrics.json next to the run's other outputs; the ``train`` result dict."""
        layout, hook = run.layout, self.hook
        train_dir = storage.join(self.validated["run_dir"], "train")
        for key, name in ((layout.model_key, "model.pt"), (layout.metrics_key, METRICS_FILENAME)):
            data = hook.read_bytes(layout.bucket, key)
            state["s3"]["get_requests"] += 1
            if data is None:
                raise _fail(f"the instance wrote DONE but s3://{layout.bucket}/{key} is missing")
            storage.write_bytes_atomic(storage.join(train_dir, name), data)
        metrics_uri = storage.join(train_dir, METRICS_FILENAME)
        metrics = read_metrics(metrics_uri)
        if metrics["dataset"]["sha256"] != self.validated["dataset_sha256"]:
            raise _fail(
                f"the instance trained on another corpus (sha256 {metrics['dataset']['sha256'][:12]}…, "
                f"validated {self.validated['dataset_sha256'][:12]}…); re-run the DAG"
            )
        return {
            **self.validated,
            "train_dir": train_dir,
            "metrics_uri": metrics_uri,
            "model_uri": storage.join(train_dir, "model.pt"),
            "spot": {
                "bucket": layout.bucket,
                "prefix": layout.prefix,
                "region": run.region,
                "ami_id": state["ami_id"],
                "aws_conn_id": self.aws_conn_id,
                "root_volume_gb": self.root_volume_gb,
                "allocation_tags": layout.allocation_tags,
                "attempts": state["attempts"],
                "s3": state["s3"],
            },
        }

    # -- every other exit path -------------------------------------------------------------------------------

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """A failed or timed-out trigger resumes the task only to fail it: terminate the run's instances first."""
        from airflow.sdk.exceptions import TaskDeferralError, TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralError, TaskDeferralTimeout):
            self._run_key = (context["dag"].dag_id, context["run_id"], _map_index(context))
            self.terminate_launched()
            raise

    def on_kill(self) -> None:
        """The task is being killed (or timed out while launching): terminate what it launched."""
        self.terminate_launched()

    def terminate_launched(self) -> list[str]:
        if self._run_key is None:
            return []
        dag_id, run_id, map_index = self._run_key

        try:
            return terminate_run_instances(
                self.hook, dag_id=dag_id, run_id=run_id, task_id=self.task_id, map_index=map_index
            )
        except Exception:  # never mask the error that brought us here
            self.log.exception(
                "could not terminate the instances of %s/%s; the cleanup task and the sweeper will retry",
                dag_id,
                run_id,
            )
            return []


def _map_index(context: Context) -> int:
    """The task instance's map index: -1 unless the operator is mapped (each trial of a sweep)."""
    index = getattr(context["ti"], "map_index", -1)
    return int(index) if index is not None else -1


def _iso_or_none(value: Any) -> str | None:
    """An instance's ISO-8601 UTC time ("2026-01-05T10:04:51Z") in the ledger's format; None if absent."""
    if not value:
        return None
    try:
        return utc_iso(parse_utc(str(value)))
    except ValueError:
        return None
