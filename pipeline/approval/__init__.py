"""Approval before expensive work: a run estimated above a threshold waits for a person.

* :mod:`~pipeline.approval.request` - pure: the threshold decision (:func:`gate`), the request's text
  (:func:`approval_subject`, :func:`approval_body`) and the answer (:func:`outcome_of`).
* :mod:`~pipeline.approval.operators` - :class:`TrainingApprovalOperator`, Airflow's ``ApprovalOperator``
  (human in the loop) asking about one run and recording the answer on its MLflow run.
* :mod:`~pipeline.approval.record` - the MLflow tags of the decision; a run that was not approved ends KILLED.

The estimate is the budget guard's (:func:`pipeline.spot.budget.estimate_training`); the tasks that
price a run and build its request are in :mod:`pipeline.tasks.approval`.
"""

from pipeline.approval.request import (
    DEFAULT_THRESHOLD_USD,
    DEFAULT_TIMEOUT_MINUTES,
    Gate,
    Outcome,
    approval_body,
    approval_subject,
    gate,
    outcome_of,
)

__all__ = [
    "DEFAULT_THRESHOLD_USD",
    "DEFAULT_TIMEOUT_MINUTES",
    "Gate",
    "Outcome",
    "approval_body",
    "approval_subject",
    "gate",
    "outcome_of",
]
