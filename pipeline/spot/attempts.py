"""One instance launch of a spot training run, as recorded in ``metrics.json`` ``compute.attempts``.

The fields named in the metrics.json schema (``rnn/metrics.py``) come first: instance_id,
instance_type, availability_zone, market, launched_at, terminated_at, interrupted. The rest say
which attempt it was and how it ended (``done`` | ``interrupted`` | ``failed``: the rules, and what
follows from each, are :mod:`pipeline.spot.policy`). Times are ISO-8601 UTC strings.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

END_DONE = "done"
END_INTERRUPTED = "interrupted"
END_FAILED = "failed"

_TRANSITION_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


def utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone; EC2 times are UTC")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def transition_time(state_transition_reason: str | None) -> datetime | None:
    """The time in EC2's ``StateTransitionReason`` ("User initiated (2026-01-05 10:00:03 GMT)"), if any."""
    match = _TRANSITION_TIME.search(state_transition_reason or "")
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) if match else None


@dataclass(frozen=True)
class AttemptRecord:
    instance_id: str
    instance_type: str
    availability_zone: str
    market: str  # "spot" | "on-demand"
    launched_at: str  # EC2 LaunchTime
    terminated_at: str | None  # None while it runs
    interrupted: bool  # ended by EC2 (spot interruption, capacity), not by the run finishing or failing
    attempt: str  # "<task try>.<attempt number>"
    outcome: str | None = None  # done | interrupted | failed
    end_reason: str = ""  # marker reason or EC2 state reason, in words
    terminate_time_source: str = ""  # where terminated_at came from
    training_started_at: str | None = None  # when the instance started `python -m rnn train` (its marker)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AttemptRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def seconds(self) -> float | None:
        if self.terminated_at is None:
            return None
        return (parse_utc(self.terminated_at) - parse_utc(self.launched_at)).total_seconds()


def attempts_table(attempts: list[AttemptRecord]) -> str:
    """A fixed-width table for logs and error messages."""
    lines = [
        f"{'attempt':<8} {'instance':<20} {'az':<11} {'market':<9} {'launched':<20} {'ended':<20} "
        f"{'seconds':>8}  outcome"
    ]
    for a in attempts:
        seconds = a.seconds
        lines.append(
            f"{a.attempt:<8} {a.instance_id:<20} {a.availability_zone:<11} {a.market:<9} {a.launched_at[:19]:<20} "
            f"{(a.terminated_at or '-')[:19]:<20} {'-' if seconds is None else f'{seconds:,.0f}':>8}  "
            f"{a.outcome or 'running'}{' (interrupted)' if a.interrupted else ''}: {a.end_reason}"
        )
    return "\n".join(lines)
