"""The attempt record's helpers (how an attempt ended is tests/spot/test_policy.py)."""

from __future__ import annotations

from datetime import UTC, datetime

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def test_transition_time_from_ec2s_reason() -> None:
    from pipeline.spot.attempts import transition_time

    assert transition_time("User initiated (2026-03-02 10:07:31 GMT)") == T0.replace(minute=7, second=31)
    assert transition_time("") is None
