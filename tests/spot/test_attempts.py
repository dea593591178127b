"""How an attempt ended, from its marker file and EC2's state reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


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
    from pipeline.spot.attempts import classify_end

    assert classify_end(marker=marker, instance_exists=exists, state_reason_code=code) == expected


def test_transition_time_from_ec2s_reason() -> None:
    from pipeline.spot.attempts import transition_time

    assert transition_time("User initiated (2026-03-02 10:07:31 GMT)") == T0.replace(minute=7, second=31)
    assert transition_time("") is None
