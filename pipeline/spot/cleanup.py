"""Terminate training instances: those of one DAG run, and those of DAG runs that are no longer running.

Instances are found by their tags (:mod:`pipeline.spot.launch` puts ``project``, ``dag_id``,
``run_id``, ``task_id`` on every launch), so this works from any process, with no state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline.spot import layout as spot

if TYPE_CHECKING:
    from pipeline.spot.hooks import SpotTrainingHook

log = logging.getLogger(__name__)

RUNNING_DAG_RUN_STATES = ("queued", "running")


def terminate_run_instances(
    hook: SpotTrainingHook,
    *,
    dag_id: str,
    run_id: str,
    task_id: str | None = None,
    map_index: int = -1,
) -> list[str]:
    """Terminate every live instance tagged with this DAG run (and task, and map index, if given).
    Returns their ids."""
    tags = {spot.TAG_PROJECT: spot.PROJECT, spot.TAG_DAG_ID: dag_id, spot.TAG_RUN_ID: run_id}
    if task_id:
        tags[spot.TAG_TASK_ID] = task_id
    if task_id and map_index >= 0:
        tags[spot.TAG_MAP_INDEX] = str(map_index)
    ids = [instance["instance_id"] for instance in hook.find_instances(tags)]
    if ids:
        log.info("terminating %d instance(s) of %s/%s: %s", len(ids), dag_id, run_id, ", ".join(ids))
    return hook.terminate(ids)


def sweep_stale_instances(
    hook: SpotTrainingHook,
    dag_run_state: Callable[[str, str], str | None],
) -> list[dict[str, Any]]:
    """Terminate project instances whose DAG run is not queued/running (finished, failed, deleted).

    ``dag_run_state(dag_id, run_id)`` returns the run's state, or None when Airflow has no such run.
    Instances without dag_id/run_id tags are left alone (not launched by this pipeline).
    Returns one dict per terminated instance: instance_id, instance_type, market, launch_time,
    availability_zone, dag_id, run_id, dag_run_state.
    """
    swept = []
    states: dict[tuple[str, str], str | None] = {}
    for instance in hook.find_instances({spot.TAG_PROJECT: spot.PROJECT}):
        tags = instance["tags"]
        dag_id, run_id = tags.get(spot.TAG_DAG_ID), tags.get(spot.TAG_RUN_ID)
        if not dag_id or not run_id:
            continue
        if (dag_id, run_id) not in states:
            states[dag_id, run_id] = dag_run_state(dag_id, run_id)
        state = states[dag_id, run_id]
        if state in RUNNING_DAG_RUN_STATES:
            continue
        log.warning(
            "instance %s belongs to %s/%s, which is %s: terminating it",
            instance["instance_id"],
            dag_id,
            run_id,
            state or "unknown to Airflow",
        )
        swept.append(
            {
                "instance_id": instance["instance_id"],
                "instance_type": instance["instance_type"],
                "market": instance["market"],
                "launch_time": instance["launch_time"],
                "availability_zone": instance["availability_zone"],
                "dag_id": dag_id,
                "run_id": run_id,
                "dag_run_state": state,
            }
        )
    hook.terminate([s["instance_id"] for s in swept])
    return swept


def dag_run_state_from_task(ti: Any) -> Callable[[str, str], str | None]:
    """``dag_run_state`` for a running task: asks the Airflow API through the Task SDK (tasks have no DB)."""

    def lookup(dag_id: str, run_id: str) -> str | None:
        try:
            state = ti.get_dagrun_state(dag_id=dag_id, run_id=run_id)
        except Exception as error:
            if _is_not_found(error):
                return None
            raise
        return str(getattr(state, "value", state)) if state is not None else None

    return lookup


def _is_not_found(error: Exception) -> bool:
    """The execution API's 404 for a run that does not exist (any more), in either form it reaches a task:
    ``ServerResponseError`` (in-process supervisor, ``dag.test``) or ``AirflowRuntimeError`` (worker)."""
    response = getattr(error, "response", None)
    if getattr(response, "status_code", None) == 404:
        return True
    detail = getattr(getattr(error, "error", None), "detail", None)
    return isinstance(detail, dict) and detail.get("status_code") == 404


# -- task bodies of rnn_retraining ----------------------------------------------------------------------------


def _hook_for(params: dict[str, Any], aws_conn_id: str = "aws_default") -> SpotTrainingHook:
    from pipeline.spot.hooks import (
        SpotTrainingHook,  # boto3 (amazon provider): imported on use, not at DAG parse
    )

    return SpotTrainingHook(aws_conn_id=aws_conn_id, region_name=params.get("region") or None)


def sweep_task(context: Any) -> list[dict[str, Any]]:
    """``sweep_stale_instances``: before launching, terminate instances left by runs that are over."""
    swept = sweep_stale_instances(_hook_for(context["params"]), dag_run_state_from_task(context["ti"]))
    log.info("swept %d stale instance(s)", len(swept))
    return swept


def cleanup_task(context: Any) -> dict[str, Any]:
    """``cleanup_ec2_instances`` (trigger rule all_done): whatever happened, this run's instances end."""
    from airflow.sdk.exceptions import AirflowSkipException

    params = context["params"]
    if params.get("compute") != spot.BACKEND:
        raise AirflowSkipException(f"compute={params.get('compute')!r}: this run launched no instances")
    terminated = terminate_run_instances(
        _hook_for(params), dag_id=context["dag"].dag_id, run_id=context["run_id"]
    )
    return {"terminated": terminated}
