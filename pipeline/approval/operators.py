"""TrainingApprovalOperator: Airflow's ApprovalOperator, asking about one run and recording the answer.

The request (subject, markdown body, timeout, the MLflow run) comes from the estimate task's XCom
(:mod:`pipeline.tasks.approval`), so the body has the figures of this run. Then it is Airflow's own
human-in-the-loop task: on Airflow 3.3 it waits in the ``awaiting_input`` state (no worker slot, no
trigger) until someone answers in the UI's Required Actions or over REST
(``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails``),
or the scheduler times it out and applies the default, **Reject**.

* **Approve** - the run goes on.
* **Reject**, or no answer in time - every task after this one is skipped
  (``ignore_downstream_trigger_rules``: nothing is trained, launched or cleaned up after it), the task
  itself succeeds (a human decision is not a task failure), and the reason (who rejected and when, or
  the timeout) goes into the task log and onto the MLflow run, which ends KILLED.

Importing this module is cheap (the DAG files do at parse time): MLflow loads when an answer is recorded.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from pipeline.approval.record import record_outcome
from pipeline.approval.request import outcome_of

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


class TrainingApprovalOperator(ApprovalOperator):
    """Ask a person to approve one run; ``approval_request`` is the estimate task's result (an XComArg):
    ``subject``, ``body``, ``timeout_minutes``, ``mlflow_run_id``, ``what``."""

    template_fields = (*ApprovalOperator.template_fields, "approval_request")

    def __init__(self, *, approval_request: Any, **kwargs: Any) -> None:
        super().__init__(
            # replaced by the request's own when the task runs (execute)
            subject="Approve this run? (its estimate is in the estimate task)",
            defaults=self.REJECT,  # what a timeout answers
            ignore_downstream_trigger_rules=True,
            **kwargs,
        )
        self.approval_request = approval_request

    def execute(self, context: Context) -> Any:
        request = self.approval_request
        self.subject, self.body = request["subject"], request["body"]
        self.response_timeout = timedelta(minutes=float(request["timeout_minutes"]))
        log.info("%s\n\n%s", self.subject, self.body)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if "error" not in event:  # an error event fails the task in the parent class
            request = self.approval_request
            outcome = outcome_of(event, timeout_minutes=float(request["timeout_minutes"]))
            record_outcome(request["mlflow_run_id"], outcome)
            if outcome.approved:
                log.info("%s: %s goes on", outcome.reason, request["what"])
            else:
                log.warning(
                    "%s: %s is skipped, nothing is trained; recorded on MLflow run %s (ended KILLED)",
                    outcome.reason,
                    request["what"],
                    request["mlflow_run_id"],
                )
        return super().execute_complete(context=context, event=event)
