"""The spot backend's decisions (pipeline/spot/policy.py) on literal inputs, each answer worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.spot.policy import (
    AttemptEnd,
    AttemptObservation,
    Collect,
    Fail,
    GiveUp,
    InstanceState,
    Relaunch,
    RelaunchLimits,
    RetryTask,
    classify_end,
    end_of_attempt,
    next_market,
    next_step,
    within_budget,
)

LAUNCHED = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 10, 42, 5, tzinfo=UTC)  # when the operator looks
OBSERVED = datetime(2026, 3, 2, 10, 41, 30, tzinfo=UTC)  # when the trigger saw the end

# -- how an attempt ended ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "exists", "code", "expected"),
    [
        ("DONE", False, None, "done"),
        ("FAILED", True, "Client.InstanceInitiatedShutdown", "failed"),
        ("INTERRUPTED", True, "Client.InstanceInitiatedShutdown", "interrupted"),
        (None, False, None, "interrupted"),  # gone
        (None, True, "Server.SpotInstanceTermination", "interrupted"),
        (None, True, "Server.InternalError", "interrupted"),
        (None, True, "Client.UserInitiatedShutdown", "failed"),  # someone terminated it
        (None, True, "Client.InstanceInitiatedShutdown", "failed"),  # the script died before a marker
    ],
)
def test_classify_end(marker, exists, code, expected) -> None:
    assert classify_end(marker=marker, instance_exists=exists, state_reason_code=code) == expected


def observe(**values) -> AttemptObservation:
    return AttemptObservation(**{"launched_at": LAUNCHED, "now": NOW, "instance": None, **values})


def test_a_running_instance_is_terminated_now_and_billed_to_now() -> None:
    # the trigger saw DONE while the instance was still shutting itself down
    end = end_of_attempt(
        observe(instance=InstanceState("running"), marker="DONE", wait_status="done", observed_at=OBSERVED)
    )
    assert end == AttemptEnd(
        outcome="done",
        reason="running: -",
        ended_at=NOW,
        ended_at_source="terminated by the operator",
        terminate=True,
    )
    assert not end.interrupted and not end.wait_failed


def test_a_reclaimed_spot_instance_ended_when_ec2_says() -> None:
    instance = InstanceState(
        "terminated",
        state_reason_code="Server.SpotInstanceTermination",
        state_reason_message="Server.SpotInstanceTermination: Spot instance termination",
        state_transition_reason="Service initiated (2026-03-02 10:07:31 GMT)",
    )
    end = end_of_attempt(observe(instance=instance, observed_at=OBSERVED))
    assert end == AttemptEnd(
        outcome="interrupted",
        reason="terminated: Server.SpotInstanceTermination: Spot instance termination",
        ended_at=datetime(2026, 3, 2, 10, 7, 31, tzinfo=UTC),
        ended_at_source="EC2 StateTransitionReason",
        terminate=False,  # already gone: nothing to terminate
    )
    assert end.interrupted


def test_an_instance_shutting_down_after_its_interrupted_marker_is_terminated_and_dated_by_the_trigger() -> (
    None
):
    end = end_of_attempt(
        observe(
            instance=InstanceState("shutting-down", state_reason_code="Client.InstanceInitiatedShutdown"),
            marker="INTERRUPTED",
            marker_reason="spot interruption notice; checkpoint at step 120",
            observed_at=OBSERVED,
        )
    )
    assert end == AttemptEnd(
        outcome="interrupted",
        reason="INTERRUPTED: spot interruption notice; checkpoint at step 120",
        ended_at=OBSERVED,
        ended_at_source="first seen ended by the trigger (late by at most one poll)",
        terminate=True,  # shutting-down is not terminated yet: make sure
    )


def test_a_stopped_instance_is_terminated_and_dated_by_its_transition() -> None:
    end = end_of_attempt(
        observe(
            instance=InstanceState(
                "stopped",
                state_reason_code="Client.UserInitiatedShutdown",
                state_transition_reason="User initiated (2026-03-02 10:30:00 GMT)",
            ),
            observed_at=OBSERVED,
        )
    )
    assert (end.outcome, end.terminate, end.ended_at, end.ended_at_source) == (
        "failed",  # someone stopped it: not an interruption
        True,
        datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
        "EC2 StateTransitionReason",
    )
    assert end.reason == "stopped: Client.UserInitiatedShutdown"


def test_done_and_gone_is_dated_when_the_trigger_saw_done() -> None:
    end = end_of_attempt(observe(marker="DONE", wait_status="done", observed_at=OBSERVED))
    assert end == AttemptEnd(
        outcome="done",
        reason="instance gone (EC2 no longer knows it)",
        ended_at=OBSERVED,
        ended_at_source="when the trigger saw DONE (the instance shuts itself down right after)",
        terminate=False,
    )


def test_gone_without_a_marker_or_a_trigger_time_is_an_interruption_dated_now() -> None:
    end = end_of_attempt(observe())
    assert (end.outcome, end.ended_at, end.terminate) == ("interrupted", NOW, False)


def test_an_end_before_the_launch_is_billed_from_the_launch() -> None:
    # EC2's transition time is whole seconds; the launch time is not: never a negative duration
    launched = LAUNCHED.replace(second=31, microsecond=500_000)
    instance = InstanceState("terminated", state_transition_reason="User initiated (2026-03-02 10:00:31 GMT)")
    end = end_of_attempt(observe(launched_at=launched, instance=instance))
    assert end.ended_at == launched


def test_a_failed_wait_fails_the_attempt_whatever_else_was_seen() -> None:
    end = end_of_attempt(
        observe(
            instance=InstanceState("running"),
            marker="INTERRUPTED",
            wait_status="error",
            wait_message="ClientError: Rate exceeded",
            observed_at=OBSERVED,
        )
    )
    assert end == AttemptEnd(
        outcome="failed",
        reason="trigger error: ClientError: Rate exceeded",
        ended_at=NOW,
        ended_at_source="terminated by the operator",
        terminate=True,
        wait_error="ClientError: Rate exceeded",
    )
    assert end.wait_failed


def test_instance_state_from_the_hooks_summary() -> None:
    summary = {
        "instance_id": "i-0abc",
        "state": "terminated",
        "state_reason_code": "Server.SpotInstanceTermination",
        "state_reason_message": "",
        "state_transition_reason": "",
        "availability_zone": "us-east-1c",
        "public_ip": None,
    }
    assert InstanceState.from_summary(summary) == InstanceState(
        "terminated", state_reason_code="Server.SpotInstanceTermination"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"now": NOW.replace(tzinfo=None)}, "now=.* has no timezone"),
        ({"observed_at": OBSERVED.replace(tzinfo=None)}, "observed_at=.* has no timezone"),
        ({"marker": "DONE!"}, "marker='DONE!' is none of DONE, INTERRUPTED, FAILED"),
        ({"wait_status": "late"}, "wait_status='late' is none of done, ended, error"),
    ],
)
def test_observations_refuse_what_they_cannot_reason_about(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        observe(**values)


# -- what next -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markets", "max_attempts", "fallback", "expected"),
    [
        (["spot"], 3, False, "spot"),  # 1 of 3 spot attempts used
        (["spot", "spot"], 3, False, "spot"),
        (["spot", "spot", "spot"], 3, False, None),  # spot used up, no fallback: give up
        (["spot", "spot", "spot"], 3, True, "on-demand"),
        (["spot"], 1, True, "on-demand"),
        (["spot", "on-demand"], 1, True, None),  # on-demand used its one attempt too
        (["spot", "on-demand"], 3, True, "on-demand"),  # on-demand ended by EC2 (Server.*): 1 of 3
        (["on-demand"], 1, True, None),  # the fallback goes from spot to on-demand, never back
        (["on-demand", "on-demand"], 3, False, "on-demand"),
    ],
)
def test_next_market(markets, max_attempts, fallback, expected) -> None:
    assert next_market(markets, RelaunchLimits(max_attempts, fallback)) == expected


def test_next_market_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="no attempt yet"):
        next_market([], RelaunchLimits(3, False))


def test_relaunch_limits_need_one_attempt() -> None:
    with pytest.raises(ValueError, match="max_attempts=0 must be at least 1"):
        RelaunchLimits(0, True)


def ended(outcome: str, reason: str = "", wait_error: str | None = None) -> AttemptEnd:
    return AttemptEnd(outcome, reason, NOW, "", terminate=False, wait_error=wait_error)


def test_next_step() -> None:
    limits = RelaunchLimits(max_attempts=2, on_demand_fallback=True)
    assert next_step(ended("done"), ["spot"], limits) == Collect()
    assert next_step(ended("interrupted"), ["spot"], limits) == Relaunch("spot")
    assert next_step(ended("interrupted"), ["spot", "spot"], limits) == Relaunch("on-demand", fallback=True)
    assert next_step(ended("interrupted"), ["spot", "spot", "on-demand"], limits) == Relaunch("on-demand")
    assert next_step(ended("interrupted"), ["spot", "spot", "on-demand", "on-demand"], limits) == GiveUp(
        attempts=4, limits=limits
    )
    no_fallback = RelaunchLimits(max_attempts=2, on_demand_fallback=False)
    assert next_step(ended("interrupted"), ["spot", "spot"], no_fallback) == GiveUp(2, no_fallback)
    # a failure is not relaunched, however many attempts are left
    assert next_step(ended("failed", "FAILED: trainer exited with 2"), ["spot"], limits) == Fail(
        "FAILED: trainer exited with 2"
    )
    # a failed wait: this try fails (a retry resumes), even with attempts left
    assert next_step(
        ended("failed", "trigger error: ClientError: Rate exceeded", wait_error="ClientError: Rate exceeded"),
        ["spot"],
        limits,
    ) == RetryTask("ClientError: Rate exceeded")


@pytest.mark.parametrize(
    ("estimate_usd", "max_budget_usd", "expected"),
    [(4.99, 5.0, True), (5.0, 5.0, True), (5.01, 5.0, False), (0.0, 0.01, True)],
)
def test_within_budget(estimate_usd, max_budget_usd, expected) -> None:
    assert within_budget(estimate_usd, max_budget_usd) is expected
