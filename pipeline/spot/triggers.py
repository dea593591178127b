"""SpotTrainingTrigger: wait for one training attempt to end, in the triggerer, holding no worker slot.

Polls the instance's state (``describe_instances``) and the attempt's DONE marker in S3 (HEAD) with
the hook's aiobotocore clients, and yields exactly one event:

* ``{"status": "done", ...}`` - the DONE marker exists (checked after the state, so an instance
  that wrote DONE and then shut down is always ``done``);
* ``{"status": "ended", "state": ..., "state_reason_code": ...}`` - the instance stopped running, or
  is gone, without DONE: the operator reads the outcome marker and decides (relaunch or fail);
* ``{"status": "error", "message": ...}`` - AWS kept failing (``max_consecutive_errors`` polls in a row).

Every event carries ``instance_id``, ``observed_at`` (UTC, when the end was seen) and ``polls``
(S3 HEAD requests made, for the S3 request cost). If the user kills the deferred task (mark
failed / clear), :meth:`on_kill` terminates the instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from pipeline.spot.layout import ENDED_STATES


class SpotTrainingTrigger(BaseTrigger):
    """Serializable async poller of one spot training attempt (see the module docstring)."""

    def __init__(
        self,
        *,
        instance_id: str,
        bucket: str,
        done_key: str,
        poll_interval: float = 30.0,
        max_consecutive_errors: int = 5,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.bucket = bucket
        self.done_key = done_key
        self.poll_interval = poll_interval
        self.max_consecutive_errors = max_consecutive_errors
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "instance_id": self.instance_id,
                "bucket": self.bucket,
                "done_key": self.done_key,
                "poll_interval": self.poll_interval,
                "max_consecutive_errors": self.max_consecutive_errors,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def hook(self):
        from pipeline.spot.hooks import (
            SpotTrainingHook,  # boto3 (amazon provider): imported on use, not at DAG parse
        )

        return SpotTrainingHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def _event(self, status: str, polls: int, **values: Any) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "instance_id": self.instance_id,
                "polls": polls,
                "observed_at": datetime.now(UTC).isoformat(),
                **values,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.hook()
        polls = errors = 0
        while True:
            try:
                instance = await hook.describe_async(self.instance_id)
                polls += 1
                done = await hook.object_exists_async(self.bucket, self.done_key)
            except Exception as error:  # AWS throttling, network: tolerate a few in a row
                errors += 1
                self.log.warning(
                    "polling %s failed (%d/%d): %s",
                    self.instance_id,
                    errors,
                    self.max_consecutive_errors,
                    error,
                )
                if errors >= self.max_consecutive_errors:
                    yield self._event("error", polls, message=f"{type(error).__name__}: {error}")
                    return
                await asyncio.sleep(self.poll_interval)
                continue
            errors = 0
            if done:
                yield self._event("done", polls)
                return
            if instance is None or instance["state"] in ENDED_STATES:
                self.log.info(
                    "instance %s ended without DONE: %s",
                    self.instance_id,
                    "gone" if instance is None else f"{instance['state']} ({instance['state_reason_code']})",
                )
                yield self._event(
                    "ended",
                    polls,
                    state=None if instance is None else instance["state"],
                    state_reason_code=None if instance is None else instance["state_reason_code"],
                )
                return
            self.log.info("instance %s is %s; training not done yet", self.instance_id, instance["state"])
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """The user killed the deferred task: do not leave the instance running."""
        self.log.info("task killed while waiting: terminating %s", self.instance_id)
        await self.hook().terminate_async([self.instance_id])
