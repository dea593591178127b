"""The approval decision on the run's MLflow run (tags ``approval.*``, :mod:`pipeline.names`).

Under the threshold, and when asked, the run's tags say so; once answered, who answered and when. A
run that was not approved (rejected, or no answer in time) ends ``KILLED``: stopped on purpose, not
failed, and never left RUNNING.
"""

from __future__ import annotations

import logging

from pipeline import names, tracking
from pipeline.approval.request import Gate, Outcome

log = logging.getLogger(__name__)

MLFLOW_STATUS_NOT_APPROVED = "KILLED"


def record_gate(mlflow_run_id: str, *, estimate_usd: float, threshold_usd: float, decision: Gate) -> None:
    tracking.configure()
    tracking.log_batch(
        mlflow_run_id,
        tags={
            names.TAG_APPROVAL_DECISION: decision.decision,
            names.TAG_APPROVAL_REASON: decision.reason[:5000],
            names.TAG_APPROVAL_ESTIMATE_USD: f"{estimate_usd:.6f}",
            names.TAG_APPROVAL_THRESHOLD_USD: f"{threshold_usd:g}",
        },
    )


def record_outcome(mlflow_run_id: str, outcome: Outcome) -> None:
    from mlflow import MlflowClient

    tracking.configure()
    tracking.log_batch(
        mlflow_run_id,
        tags={
            names.TAG_APPROVAL_DECISION: outcome.decision,
            names.TAG_APPROVAL_REASON: outcome.reason[:5000],
            names.TAG_APPROVAL_RESPONDED_BY: outcome.responded_by,
        },
    )
    if not outcome.approved:
        MlflowClient().set_terminated(mlflow_run_id, status=MLFLOW_STATUS_NOT_APPROVED)
