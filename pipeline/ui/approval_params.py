"""Trigger-form Params of the approval gate, shared by ``rnn_retraining`` and ``rnn_sweep`` (section
*Approval*): the threshold above which a run waits for a person, and how long it waits. The defaults are
:mod:`pipeline.approval.request`'s."""

from __future__ import annotations

from airflow.sdk import Param

from pipeline.approval.request import DEFAULT_THRESHOLD_USD, DEFAULT_TIMEOUT_MINUTES, MAX_TIMEOUT_MINUTES


def approval_params(*, what: str) -> dict[str, Param]:
    """``approval_threshold_usd`` and ``approval_timeout_minutes``; ``what`` names the estimate held
    against the threshold, for the form."""
    return {
        "approval_threshold_usd": Param(
            DEFAULT_THRESHOLD_USD,
            type="number",
            minimum=0,
            maximum=100_000,
            title="Approval threshold (USD)",
            section="Approval",
            description=f"Above this, {what} waits for a person to approve it (Required Actions, or the "
            "REST API) before anything is trained; at or under it the run never waits. 0: always ask.",
        ),
        "approval_timeout_minutes": Param(
            DEFAULT_TIMEOUT_MINUTES,
            type="number",
            exclusiveMinimum=0,
            maximum=MAX_TIMEOUT_MINUTES,
            title="Approval: wait at most (minutes)",
            section="Approval",
            description="With no answer by then the request is rejected: nothing is trained, and the "
            "MLflow run says it timed out.",
        ),
    }
