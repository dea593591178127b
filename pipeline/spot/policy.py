"""The spot backend's decisions, as pure functions: how an attempt ended, and what happens next.

Frozen dataclasses in (what EC2, S3 and the trigger said, with every time passed in), a decision
out. No boto3, no Airflow, no clock: :class:`~pipeline.spot.operators.SpotTrainingOperator` gathers
the inputs and carries the decisions out, and ``tests/spot/test_policy.py`` checks each rule on
literal values.

**How an attempt ended** (:func:`classify_end`), first match wins:

1. the instance's outcome marker: DONE -> ``done``, FAILED -> ``failed``, INTERRUPTED -> ``interrupted``;
2. no marker, instance gone (describe says it does not exist) -> ``interrupted``;
3. no marker, state reason ``Server.SpotInstanceTermination`` or any other ``Server.*`` reason
   (EC2 ended it: reclaimed capacity, hardware) -> ``interrupted``;
4. anything else (``Client.UserInitiatedShutdown``: someone terminated it; ``Client.InstanceInitiated
   Shutdown`` without a marker: the script died before writing one) -> ``failed``.

A wait that failed (the trigger gave up after repeated AWS errors) is ``failed`` whatever else was seen.

**When it ended** (:func:`end_of_attempt`), for billing: an instance still pending or running is
terminated by the operator, now; else the time in EC2's ``StateTransitionReason``; else when the
trigger saw the end (at most one poll late); never before the launch. An instance that still exists
and is not ``terminated`` is terminated in any case.

**What next** (:func:`next_step`):

* ``done`` -> :class:`Collect` the outputs;
* the wait failed -> :class:`RetryTask`: fail this try of the task; Airflow's retry launches again
  and resumes from the checkpoint;
* ``interrupted`` -> :class:`Relaunch` (resuming from the checkpoint) on the market of the attempt
  that ended while fewer than ``max_attempts`` attempts ran on that market; when spot has used them
  up, on-demand if ``on_demand_fallback`` (which then has its own ``max_attempts``: an on-demand
  attempt is interrupted only when EC2 ends it, a ``Server.*`` reason); else :class:`GiveUp`;
* ``failed`` -> :class:`Fail`: a crash of the trainer or of the bootstrap would only repeat.

**Whether to launch at all** (:func:`within_budget`): the pre-flight estimate
(:mod:`pipeline.spot.budget`) may equal the budget, not exceed it.

**Where**: every attempt launches into the run's one subnet, so its AZ is the subnet's; there is no
AZ to choose. A ``run_instances`` error (``InsufficientInstanceCapacity`` included) is not an
attempt: it fails the task try, and Airflow's retry launches again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from costing.choices import MARKET_ON_DEMAND, MARKET_SPOT
from pipeline.spot.attempts import END_DONE, END_FAILED, END_INTERRUPTED, transition_time
from pipeline.spot.layout import (
    OUTCOME_DONE,
    OUTCOME_FAILED,
    OUTCOME_INTERRUPTED,
    OUTCOMES,
    RUNNING_STATES,
    SPOT_TERMINATION_REASON,
)

# What the trigger's event says about the wait (pipeline.spot.triggers)
WAIT_DONE, WAIT_ENDED, WAIT_ERROR = "done", "ended", "error"
WAIT_STATUSES = (WAIT_DONE, WAIT_ENDED, WAIT_ERROR)

# Where AttemptEnd.ended_at came from (recorded as the attempt's terminate_time_source)
ENDED_BY_OPERATOR = "terminated by the operator"
ENDED_PER_EC2 = "EC2 StateTransitionReason"
ENDED_AT_DONE = "when the trigger saw DONE (the instance shuts itself down right after)"
ENDED_AT_FIRST_SEEN = "first seen ended by the trigger (late by at most one poll)"


def classify_end(*, marker: str | None, instance_exists: bool, state_reason_code: str | None) -> str:
    """``done`` | ``interrupted`` | ``failed``: see the module docstring."""
    if marker == OUTCOME_DONE:
        return END_DONE
    if marker == OUTCOME_FAILED:
        return END_FAILED
    if marker == OUTCOME_INTERRUPTED:
        return END_INTERRUPTED
    if not instance_exists:
        return END_INTERRUPTED
    code = state_reason_code or ""
    if code == SPOT_TERMINATION_REASON or code.startswith("Server."):
        return END_INTERRUPTED
    return END_FAILED


def _aware(name: str, moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{name}={moment!r} has no timezone; pass an aware datetime (EC2 times are UTC)")


@dataclass(frozen=True)
class InstanceState:
    """What ``describe_instances`` said about an attempt's instance (it still exists)."""

    state: str  # pending | running | shutting-down | terminated | stopping | stopped
    state_reason_code: str = ""  # e.g. Server.SpotInstanceTermination
    state_reason_message: str = ""
    state_transition_reason: str = ""  # e.g. "User initiated (2026-03-02 10:07:31 GMT)"

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> InstanceState:
        """From :func:`pipeline.spot.hooks.instance_summary`'s dict."""
        return cls(
            state=str(summary.get("state") or ""),
            state_reason_code=str(summary.get("state_reason_code") or ""),
            state_reason_message=str(summary.get("state_reason_message") or ""),
            state_transition_reason=str(summary.get("state_transition_reason") or ""),
        )


@dataclass(frozen=True)
class AttemptObservation:
    """Everything known about an attempt when its wait ended. Times are timezone-aware."""

    launched_at: datetime  # EC2's LaunchTime
    now: datetime  # when the operator looked: a still running instance is terminated at this time
    instance: InstanceState | None  # None: EC2 no longer knows the instance
    marker: str | None = None  # the outcome marker the instance wrote: DONE | INTERRUPTED | FAILED
    marker_reason: str = ""  # the marker's "reason", in words
    wait_status: str = WAIT_ENDED  # the trigger's event: done | ended | error
    wait_message: str = ""  # the trigger's error, when wait_status is "error"
    observed_at: datetime | None = None  # when the trigger saw the end

    def __post_init__(self) -> None:
        for name in ("launched_at", "now", "observed_at"):
            _aware(name, getattr(self, name))
        if self.marker is not None and self.marker not in OUTCOMES:
            raise ValueError(f"marker={self.marker!r} is none of {', '.join(OUTCOMES)}")
        if self.wait_status not in WAIT_STATUSES:
            raise ValueError(f"wait_status={self.wait_status!r} is none of {', '.join(WAIT_STATUSES)}")


@dataclass(frozen=True)
class AttemptEnd:
    """How and when an attempt ended, and whether its instance must still be terminated."""

    outcome: str  # done | interrupted | failed
    reason: str  # in words, for the attempts table and the error message
    ended_at: datetime  # the end billed; never before the launch
    ended_at_source: str  # where ended_at came from
    terminate: bool  # the instance still exists and is not terminated: terminate it
    wait_error: str | None = None  # the trigger gave up (AWS errors) with this message; None: it did not

    @property
    def interrupted(self) -> bool:
        return self.outcome == END_INTERRUPTED

    @property
    def wait_failed(self) -> bool:
        return self.wait_error is not None


def end_of_attempt(observation: AttemptObservation) -> AttemptEnd:
    """How, when and why the observed attempt ended (the module docstring's rules)."""
    instance = observation.instance
    terminate = instance is not None and instance.state != "terminated"
    ended_at: datetime | None = None
    source = ""
    if instance is not None and instance.state in RUNNING_STATES:
        ended_at, source = observation.now, ENDED_BY_OPERATOR
    elif instance is not None:
        ended_at = transition_time(instance.state_transition_reason)
        source = ENDED_PER_EC2 if ended_at else ""
    if ended_at is None:
        ended_at = observation.observed_at or observation.now
        source = ENDED_AT_DONE if observation.wait_status == WAIT_DONE else ENDED_AT_FIRST_SEEN
    ended_at = max(ended_at, observation.launched_at)

    outcome = classify_end(
        marker=observation.marker,
        instance_exists=instance is not None,
        state_reason_code=instance.state_reason_code if instance else None,
    )
    if observation.marker_reason:
        reason = f"{observation.marker}: {observation.marker_reason}"
    elif instance is None:
        reason = "instance gone (EC2 no longer knows it)"
    else:
        reason = f"{instance.state}: {instance.state_reason_message or instance.state_reason_code or '-'}"
    wait_error = observation.wait_message if observation.wait_status == WAIT_ERROR else None
    if wait_error is not None:
        outcome, reason = END_FAILED, f"trigger error: {wait_error}"
    return AttemptEnd(
        outcome=outcome,
        reason=reason,
        ended_at=ended_at,
        ended_at_source=source,
        terminate=terminate,
        wait_error=wait_error,
    )


# -- what next -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelaunchLimits:
    """How far a run goes after interruptions."""

    max_attempts: int  # launches per market before giving up (or falling back to on-demand)
    on_demand_fallback: bool  # when spot has used its attempts, go on on-demand

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts={self.max_attempts!r} must be at least 1")


@dataclass(frozen=True)
class Collect:
    """The attempt wrote DONE: copy the model and metrics.json, the run is trained."""


@dataclass(frozen=True)
class Relaunch:
    """Launch another attempt on ``market``; it resumes from the checkpoint."""

    market: str
    fallback: bool = False  # True: spot used its attempts, this is the switch to on-demand


@dataclass(frozen=True)
class GiveUp:
    """Interrupted too often: stop, keeping the checkpoint for a new run to continue from."""

    attempts: int  # attempts of this task try, all interrupted but possibly the first ones on spot
    limits: RelaunchLimits


@dataclass(frozen=True)
class Fail:
    """The training or its bootstrap failed: relaunching would fail the same way."""

    reason: str


@dataclass(frozen=True)
class RetryTask:
    """Waiting for the attempt failed: fail this task try (its instance is terminated); a retry resumes."""

    message: str  # the trigger's error


Decision = Collect | Relaunch | GiveUp | Fail | RetryTask


def next_market(markets: Sequence[str], limits: RelaunchLimits) -> str | None:
    """The market of the next attempt after an interruption, or None to give up.

    ``markets``: the market of every attempt of this task try so far, the interrupted one last.
    """
    if not markets:
        raise ValueError("no attempt yet: the first attempt's market is the run's market param")
    market = markets[-1]
    if sum(1 for m in markets if m == market) < limits.max_attempts:
        return market
    if market == MARKET_SPOT and limits.on_demand_fallback:
        return MARKET_ON_DEMAND
    return None


def next_step(end: AttemptEnd, markets: Sequence[str], limits: RelaunchLimits) -> Decision:
    """What to do once an attempt ended (``markets`` as for :func:`next_market`)."""
    if end.outcome == END_DONE:
        return Collect()
    if end.wait_error is not None:
        return RetryTask(end.wait_error)
    if end.outcome == END_INTERRUPTED:
        market = next_market(markets, limits)
        if market is None:
            return GiveUp(attempts=len(markets), limits=limits)
        return Relaunch(market, fallback=market != markets[-1])
    return Fail(end.reason)


def within_budget(estimate_usd: float, max_budget_usd: float) -> bool:
    """Launch only when the pre-flight estimate is at most the budget (equal is within)."""
    return estimate_usd <= max_budget_usd
