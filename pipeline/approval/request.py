"""What a person is asked before expensive work, and what their answer means. Plain values, no I/O.

* :func:`gate` - does the run wait for a person? Only when its estimate is **above** the approval
  threshold (an estimate equal to it goes on: the threshold is what may be spent without asking). A
  spot run whose estimate is above its hard ``max_budget_usd`` is put to no one: ``check_spot_budget``
  refuses it whatever the answer would be.
* :func:`approval_subject` and :func:`approval_body` - the request as the Required Actions page shows
  it: the estimate, how it was reached, its inputs (instance type, market, region, corpus, config) and
  the training budget left this month ("not configured" when there is none).
* :func:`outcome_of` - the answer, from the event Airflow resumes the approval task with: approved or
  rejected (by whom, when), or timed out (no answer in time: the default, Reject, applies).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Runs estimated above this wait for a person (the Param ``approval_threshold_usd`` of rnn_retraining and
# rnn_sweep starts here). The built-in demo never waits: its retraining is estimated at about $0.02
# (2,000 tokens/s, no earlier run measured), its sweep at about $0.06, and a sweep spends at most its
# budget_usd, $1 by default.
DEFAULT_THRESHOLD_USD = 1.0
DEFAULT_TIMEOUT_MINUTES = 24 * 60  # a day to answer; then the default, Reject, applies
MAX_TIMEOUT_MINUTES = 7 * 24 * 60

# The two answers of Airflow's ApprovalOperator (its APPROVE and REJECT; a unit test checks they match)
APPROVE = "Approve"
REJECT = "Reject"

# approval.decision on the MLflow run
UNDER_THRESHOLD = "under-threshold"  # no one was asked
ABOVE_HARD_LIMIT = "above-hard-limit"  # no one was asked: the spot budget guard refuses the run anyway
WAITING = "waiting"  # asked; the answer replaces it
APPROVED = "approved"
REJECTED = "rejected"
TIMED_OUT = "timed-out"


def usd(value: float) -> str:
    """Money at a precision that shows a fraction of a cent: $1.25, $0.0219, $0.000350."""
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:.4f}"
    return f"${value:.6f}"


def duration(minutes: float) -> str:
    """24 h, 90 min, 6 s."""
    seconds = minutes * 60
    if seconds < 120:
        return f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.3g} h"


@dataclass(frozen=True)
class Gate:
    decision: str  # UNDER_THRESHOLD | ABOVE_HARD_LIMIT | WAITING
    reason: str

    @property
    def waits(self) -> bool:
        return self.decision == WAITING


def gate(*, estimate_usd: float, threshold_usd: float, hard_limit_usd: float | None = None) -> Gate:
    """Whether a run estimated at ``estimate_usd`` waits for approval; ``hard_limit_usd`` is a spot run's
    ``max_budget_usd`` (None: no hard limit applies)."""
    if not math.isfinite(estimate_usd) or estimate_usd < 0:
        raise ValueError(f"the estimate must be a finite number of USD >= 0, not {estimate_usd!r}")
    if not math.isfinite(threshold_usd) or threshold_usd < 0:
        raise ValueError(f"approval_threshold_usd must be a finite number of USD >= 0, not {threshold_usd!r}")
    if hard_limit_usd is not None and estimate_usd > hard_limit_usd:
        return Gate(
            ABOVE_HARD_LIMIT,
            f"not asked: the estimate {usd(estimate_usd)} is above max_budget_usd {usd(hard_limit_usd)}, "
            "so check_spot_budget refuses the run whatever the answer",
        )
    if estimate_usd > threshold_usd:
        return Gate(
            WAITING,
            f"waiting for approval: the estimate {usd(estimate_usd)} is above the approval threshold "
            f"{usd(threshold_usd)}",
        )
    return Gate(
        UNDER_THRESHOLD,
        f"under threshold: the estimate {usd(estimate_usd)} is at most the approval threshold "
        f"{usd(threshold_usd)}; no one was asked",
    )


def approval_subject(what: str, estimate_usd: float, threshold_usd: float) -> str:
    return f"Approve {what}? Estimated {usd(estimate_usd)}, above the approval threshold {usd(threshold_usd)}"


def budget_left_text(budget_left_usd: float | None, estimate_usd: float, how: str = "") -> str:
    """The training budget left this month as the request shows it; ``how`` says how it was reached."""
    if budget_left_usd is None:
        text = "not configured"
        return f"{text} ({how})" if how else text
    after = budget_left_usd - estimate_usd
    if budget_left_usd < 0:
        text = f"none: {usd(-budget_left_usd)} over budget already"
    elif after < 0:
        text = f"{usd(budget_left_usd)}: this run would go {usd(-after)} over it"
    else:
        text = f"{usd(budget_left_usd)} ({usd(after)} after this run)"
    return f"{text}; {how}" if how else text


def _cell(text: Any) -> str:
    """A value as one markdown table cell: no line breaks, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def approval_body(
    *,
    headline: str,
    estimate_usd: float,
    threshold_usd: float,
    budget_left_usd: float | None,
    how: str,
    inputs: Sequence[tuple[str, Any]],
    config: Mapping[str, Any],
    timeout_minutes: float,
    on_reject: str,
    budget_left_how: str = "",
) -> str:
    """The request's body (markdown): what is approved, the estimate and the training budget left this
    month (None: "not configured"; ``budget_left_how``: how it was reached), its inputs, how the estimate
    was reached, the training config, and what each answer does."""
    rows = [
        ("Pre-flight estimate", f"**{usd(estimate_usd)}**"),
        ("Approval threshold", f"{usd(threshold_usd)} (estimates above it wait for approval)"),
        ("Training budget left this month", budget_left_text(budget_left_usd, estimate_usd, budget_left_how)),
        *inputs,
    ]
    table = "\n".join(f"| {_cell(name)} | {_cell(value)} |" for name, value in rows)
    return "\n".join(
        [
            headline,
            "",
            "| | |",
            "|---|---|",
            table,
            "",
            f"**How it was estimated:** {how}",
            "",
            "**Training config:**",
            "",
            "```json",
            json.dumps(dict(config), indent=2, sort_keys=True, default=str),
            "```",
            "",
            f"**{APPROVE}** to go on. **{REJECT}** {on_reject}. No answer within {duration(timeout_minutes)} "
            f"counts as {REJECT}.",
        ]
    )


@dataclass(frozen=True)
class Outcome:
    decision: str  # APPROVED | REJECTED | TIMED_OUT
    reason: str
    responded_by: str  # "<name> (<id>)", or "" when no one answered

    @property
    def approved(self) -> bool:
        return self.decision == APPROVED


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value) if value else "an unknown time"


def outcome_of(event: Mapping[str, Any], *, timeout_minutes: float) -> Outcome:
    """The answer in the event an approval task resumes with (``chosen_options``, ``responded_by_user``,
    ``responded_at``, ``timedout``): a timeout is an answer no one gave (Airflow applied the default)."""
    chosen = list(event.get("chosen_options") or [])
    user = event.get("responded_by_user")
    at = _when(event.get("responded_at"))
    if event.get("timedout") or not user:
        return Outcome(
            TIMED_OUT,
            f"no answer within {duration(timeout_minutes)} (timed out at {at}); the default, {REJECT}, applied",
            "",
        )
    name, user_id = str(user.get("name") or ""), str(user.get("id") or "")
    who = name if not user_id or user_id == name else f"{name} (id {user_id})"
    if chosen == [APPROVE]:
        return Outcome(APPROVED, f"approved by {who} at {at}", who)
    if chosen == [REJECT]:
        return Outcome(REJECTED, f"rejected by {who} at {at}", who)
    raise ValueError(f"an approval is answered {APPROVE} or {REJECT}, not {chosen!r}")
