"""The approval gate in rnn_retraining and rnn_sweep: before anything trains, and nothing waits under it."""

from __future__ import annotations

import pytest
from helpers import load_dag

GATES = {
    # DAG: (its approval task, what runs without one, tasks a rejection must skip)
    "rnn_retraining": (
        "approve_training",
        ["choose_backend"],
        {"train_local", "train_ec2_spot", "benchmark", "register", "cleanup_ec2_instances"},
    ),
    "rnn_sweep": (
        "approve_sweep",
        ["sweep_stale_instances", "plan_round_1"],
        {"plan_round_1", "trials_round_1", "spot_trials_round_1.train_ec2_spot", "tell_round_1", "summarize"},
    ),
}


@pytest.mark.parametrize("dag_id", sorted(GATES))
def test_the_approval_comes_before_anything_is_trained(dag_id: str) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from pipeline.approval.operators import TrainingApprovalOperator

    approval_id, _, trains = GATES[dag_id]
    dag = load_dag(dag_id)
    approval = dag.task_dict[approval_id]
    assert isinstance(approval, TrainingApprovalOperator)
    assert approval.defaults == [ApprovalOperator.REJECT]  # what a timeout answers
    assert approval.ignore_downstream_trigger_rules  # a rejection skips every later task, all_done ones too
    assert trains <= {t.task_id for t in approval.get_flat_relatives(upstream=False)}
    # the estimate feeds both the branch and the approval's request
    [estimate] = dag.task_dict["approval_gate"].upstream_task_ids
    assert estimate in approval.upstream_task_ids


@pytest.mark.parametrize("dag_id", sorted(GATES))
def test_the_branch_sends_a_run_to_the_approval_only_when_it_waits(dag_id: str) -> None:
    approval_id, without_approval, _ = GATES[dag_id]
    dag = load_dag(dag_id)
    branch = dag.task_dict["approval_gate"]

    def chosen(waits: bool) -> list[str]:
        choice = branch.python_callable({"waits": waits})
        return [choice] if isinstance(choice, str) else choice

    assert chosen(True) == [approval_id]
    assert chosen(False) == without_approval
    assert set(without_approval) | {approval_id} == branch.downstream_task_ids
    for task_id in without_approval:  # run after the approval, or when it was skipped under the threshold
        assert dag.task_dict[task_id].trigger_rule == "none_failed_min_one_success"
        assert approval_id in dag.task_dict[task_id].upstream_task_ids


@pytest.mark.parametrize("dag_id", sorted(GATES))
def test_the_threshold_and_the_wait_are_in_the_trigger_form(dag_id: str) -> None:
    from pipeline.approval import DEFAULT_THRESHOLD_USD, DEFAULT_TIMEOUT_MINUTES

    params = load_dag(dag_id).params
    assert params["approval_threshold_usd"] == DEFAULT_THRESHOLD_USD
    assert params["approval_timeout_minutes"] == DEFAULT_TIMEOUT_MINUTES
    assert params.get_param("approval_threshold_usd").schema["minimum"] == 0
    assert params.get_param("approval_timeout_minutes").schema["exclusiveMinimum"] == 0
