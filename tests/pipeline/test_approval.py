"""Approval before expensive work: the threshold decision, the request's text, the answer, what is recorded."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import TINY_RUN_CONF

from pipeline.approval import request as approval
from pipeline.approval.request import (
    ABOVE_HARD_LIMIT,
    APPROVED,
    REJECTED,
    TIMED_OUT,
    UNDER_THRESHOLD,
    WAITING,
    approval_body,
    gate,
    outcome_of,
)

# -- the threshold ----------------------------------------------------------------------------------------


def test_a_run_waits_only_above_the_threshold() -> None:
    assert gate(estimate_usd=1.50, threshold_usd=1.0).decision == WAITING
    assert gate(estimate_usd=1.50, threshold_usd=1.0).waits
    below = gate(estimate_usd=0.0219, threshold_usd=1.0)
    assert below.decision == UNDER_THRESHOLD and not below.waits
    assert below.reason.startswith(
        "under threshold: the estimate $0.0219 is at most the approval threshold $1.00"
    )
    # equal is not above: the threshold is what may be spent without asking
    assert not gate(estimate_usd=1.0, threshold_usd=1.0).waits
    # 0 asks for every run that costs anything
    assert gate(estimate_usd=0.000350, threshold_usd=0).waits


def test_a_spot_run_above_its_hard_budget_is_put_to_no_one() -> None:
    refused = gate(estimate_usd=7.0, threshold_usd=1.0, hard_limit_usd=5.0)
    assert refused.decision == ABOVE_HARD_LIMIT and not refused.waits
    assert "above max_budget_usd $5.00" in refused.reason and "check_spot_budget refuses" in refused.reason
    # within the hard budget, the threshold decides as for any run
    assert gate(estimate_usd=3.0, threshold_usd=1.0, hard_limit_usd=5.0).decision == WAITING
    assert gate(estimate_usd=0.5, threshold_usd=1.0, hard_limit_usd=5.0).decision == UNDER_THRESHOLD


@pytest.mark.parametrize(
    ("estimate", "threshold", "message"),
    [(-0.01, 1.0, "estimate"), (float("nan"), 1.0, "estimate"), (0.5, -1.0, "approval_threshold_usd")],
)
def test_impossible_figures_are_refused_by_name(estimate: float, threshold: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gate(estimate_usd=estimate, threshold_usd=threshold)


def test_the_default_threshold_lets_the_built_in_demo_through() -> None:
    # the demo's retraining is estimated at ~$0.02 and its sweep spends at most budget_usd, $1 by default
    assert approval.DEFAULT_THRESHOLD_USD >= 1.0
    assert not gate(estimate_usd=1.0, threshold_usd=approval.DEFAULT_THRESHOLD_USD).waits


def test_the_answers_are_the_approval_operators() -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    assert (approval.APPROVE, approval.REJECT) == (ApprovalOperator.APPROVE, ApprovalOperator.REJECT)


# -- the request's body -----------------------------------------------------------------------------------


def _body(**overrides) -> str:
    arguments = {
        "headline": "**training run rnn_retraining / manual__1**: waiting for approval.",
        "estimate_usd": 2.5,
        "threshold_usd": 1.0,
        "budget_left_usd": None,
        "how": "1,253,376 tokens at 2,000 tokens/s = 627 s of training",
        "inputs": [
            ("Instance type", "r6i.xlarge"),
            ("Market", "spot"),
            ("Region", "us-east-1"),
            ("Corpus", "builtin://pydoc-topics (46,504 characters)"),
        ],
        "config": {"epochs": 3, "hidden_size": 512},
        "timeout_minutes": 24 * 60,
        "on_reject": "skips training",
    }
    return approval_body(**{**arguments, **overrides})


def test_the_body_shows_the_estimate_its_inputs_and_that_no_budget_is_configured() -> None:
    body = _body()
    lines = body.splitlines()
    assert lines[0] == "**training run rnn_retraining / manual__1**: waiting for approval."
    assert "| Pre-flight estimate | **$2.50** |" in lines
    assert "| Approval threshold | $1.00 (estimates above it wait for approval) |" in lines
    assert "| Training budget left this month | not configured |" in lines
    for row in (
        "| Instance type | r6i.xlarge |",
        "| Market | spot |",
        "| Region | us-east-1 |",
        "| Corpus | builtin://pydoc-topics (46,504 characters) |",
    ):
        assert row in lines
    assert "**How it was estimated:** 1,253,376 tokens at 2,000 tokens/s = 627 s of training" in lines
    config = body.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(config) == {"epochs": 3, "hidden_size": 512}
    assert (
        lines[-1]
        == "**Approve** to go on. **Reject** skips training. No answer within 24 h counts as Reject."
    )


@pytest.mark.parametrize(
    ("left", "shown"),
    [
        (10.0, "$10.00 ($7.50 after this run)"),
        (2.0, "$2.00: this run would go $0.5000 over it"),
        (-3.0, "none: $3.00 over budget already"),
        (0.0, "$0: this run would go $2.50 over it"),
    ],
)
def test_the_body_shows_the_budget_left_and_what_the_run_leaves_of_it(left: float, shown: str) -> None:
    assert f"| Training budget left this month | {shown} |" in _body(budget_left_usd=left).splitlines()


def test_the_body_says_how_the_budget_left_was_reached() -> None:
    configured = _body(
        budget_left_usd=4.0, budget_left_how="training budget $5.00 for 2026-12, $1.0000 spent so far"
    )
    assert (
        "| Training budget left this month | $4.00 ($1.50 after this run); training budget $5.00 for 2026-12, "
        "$1.0000 spent so far |"
    ) in configured.splitlines()
    missing = _body(budget_left_usd=None, budget_left_how="no training budget in the budget document")
    assert (
        "| Training budget left this month | not configured (no training budget in the budget document) |"
        in missing.splitlines()
    )


def test_a_value_cannot_break_the_table() -> None:
    body = _body(inputs=[("Corpus", "/data/a|b.txt\nsecond line")], timeout_minutes=0.1)
    assert "| Corpus | /data/a\\|b.txt second line |" in body.splitlines()
    assert body.endswith("No answer within 6 s counts as Reject.")


def test_small_figures_keep_their_digits() -> None:
    assert [approval.usd(v) for v in (1234.5, 0.0219, 0.00035, 0)] == [
        "$1,234.50",
        "$0.0219",
        "$0.000350",
        "$0",
    ]
    assert [approval.duration(m) for m in (0.1, 90, 24 * 60, 36 * 60)] == ["6 s", "90 min", "24 h", "36 h"]


# -- the answer -------------------------------------------------------------------------------------------

AT = datetime(2026, 12, 7, 16, 30, 1, tzinfo=UTC)


def test_an_approval_names_who_approved_and_when() -> None:
    outcome = outcome_of(
        {
            "chosen_options": ["Approve"],
            "responded_by_user": {"id": "7", "name": "alice"},
            "responded_at": AT,
            "timedout": False,
        },
        timeout_minutes=60,
    )
    assert outcome.approved and outcome.decision == APPROVED
    assert outcome.reason == "approved by alice (id 7) at 2026-12-07 16:30:01 UTC"
    assert outcome.responded_by == "alice (id 7)"


def test_a_rejection_names_who_rejected() -> None:
    outcome = outcome_of(
        {"chosen_options": ["Reject"], "responded_by_user": {"id": "bob", "name": "bob"}, "responded_at": AT},
        timeout_minutes=60,
    )
    assert not outcome.approved and outcome.decision == REJECTED
    assert outcome.reason == "rejected by bob at 2026-12-07 16:30:01 UTC"


def test_no_answer_in_time_is_a_timeout_not_a_rejection_by_someone() -> None:
    # what Airflow's scheduler resumes the task with when the response timeout passed: the defaults, no user
    outcome = outcome_of(
        {"chosen_options": ["Reject"], "responded_by_user": None, "responded_at": AT, "timedout": True},
        timeout_minutes=24 * 60,
    )
    assert outcome.decision == TIMED_OUT and not outcome.approved and outcome.responded_by == ""
    assert outcome.reason == (
        "no answer within 24 h (timed out at 2026-12-07 16:30:01 UTC); the default, Reject, applied"
    )


def test_an_answer_that_is_not_approve_or_reject_is_refused() -> None:
    with pytest.raises(ValueError, match="Approve or Reject"):
        outcome_of(
            {"chosen_options": ["Maybe"], "responded_by_user": {"id": "a", "name": "a"}}, timeout_minutes=1
        )


# -- the sweep's bound ------------------------------------------------------------------------------------


def test_the_costliest_trial_takes_the_largest_value_of_every_key_that_costs() -> None:
    from pipeline.sweep_space import costliest_params

    space = {
        "hidden_size": {"low": 64, "high": 512, "log": True},
        "num_layers": [2, 1],
        "learning_rate": {"low": 1e-3, "high": 6e-3},
        "epochs": [1, 3],
        "max_steps_per_epoch": [60, 200],
        "precision": ["fp32", "int8"],
    }
    assert costliest_params(space) == {
        "hidden_size": 512,
        "num_layers": 2,
        "epochs": 3,
        "max_steps_per_epoch": 200,
    }
    # 0 steps per epoch is the whole split: more than any bound
    assert costliest_params({"max_steps_per_epoch": [60, 0]}) == {"max_steps_per_epoch": 0}
    assert costliest_params({"max_steps_per_epoch": {"low": 0, "high": 50}}) == {"max_steps_per_epoch": 0}


# -- what the tasks record (a local MLflow store, the shipped pricing snapshot) ------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tiny corpus, and one local MLflow store for the module's tests (each test has its own run)."""
    from rnn.corpus import default_corpus_text

    home = tmp_path_factory.mktemp("approval-home")
    path = home / "tiny.txt"
    path.write_text(default_corpus_text()[:40_000], encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_PIPELINE_HOME", str(home / "pipeline-home"))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("RNN_PIPELINE_DATA_ROOT", raising=False)
        yield path


def _validated(corpus: Path, experiment: str = "rnn-textgen", **params) -> dict:
    """What validate_dataset returns for the tiny corpus (without running its expectation suite), with an
    MLflow run of its own for the calling test."""
    import hashlib

    from pipeline import tracking
    from pipeline.tasks.retraining import resolve_inputs

    config, compute = resolve_inputs({**TINY_RUN_CONF, "corpus_uri": str(corpus), **params}, None)
    text = corpus.read_text(encoding="utf-8")
    settings = tracking.configure()
    return {
        "mlflow_run_id": tracking.get_or_create_run(
            experiment, "rnn_retraining", os.environ["PYTEST_CURRENT_TEST"], settings=settings
        ),
        "experiment_id": tracking.experiment_id(experiment, settings),
        "config": config,
        "compute": compute.to_dict(),
        "dataset_chars": len(text),
        "dataset_vocab_size": len(set(text)),
        "dataset_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


APPROVAL_PARAMS = {"approval_threshold_usd": 0.0, "approval_timeout_minutes": 30, "max_budget_usd": 5.0}


def _run(mlflow_run_id: str):
    from mlflow import MlflowClient

    from pipeline import tracking

    tracking.configure()
    return MlflowClient().get_run(mlflow_run_id)


def test_a_retraining_request_prices_the_run_and_says_so(corpus: Path) -> None:
    from pipeline import names
    from pipeline.spot.budget import estimate_training
    from pipeline.tasks.approval import retraining_request

    validated = _validated(corpus)
    expected = estimate_training(validated)
    request = retraining_request(
        validated=validated,
        params=APPROVAL_PARAMS,
        dag_id="rnn_retraining",
        run_id="manual__approval",
        budget_left_usd=None,
    )
    assert request["waits"] and request["decision"] == WAITING
    assert request["estimate_usd"] == pytest.approx(expected.usd) and expected.usd > 0
    assert request["timeout_minutes"] == 30 and request["mlflow_run_id"] == validated["mlflow_run_id"]
    body = request["body"]
    assert f"**How it was estimated:** {expected.describe()}" in body
    assert "| Compute | local: trained on the Airflow worker, priced as if on the instance type |" in body
    assert "| Instance type | r6i.xlarge |" in body and "| Region | us-east-1 |" in body
    assert f"| Corpus | {corpus} (" in body
    assert "| Training budget left this month | not configured |" in body
    assert "Hard limit" not in body  # a local run has none
    assert request["subject"].startswith(
        "Approve training run rnn_retraining / manual__approval? Estimated $"
    )
    tags = _run(validated["mlflow_run_id"]).data.tags
    assert tags[names.TAG_APPROVAL_DECISION] == WAITING
    assert float(tags[names.TAG_APPROVAL_ESTIMATE_USD]) == pytest.approx(expected.usd, abs=1e-6)


def test_under_the_threshold_nothing_waits_and_the_run_says_so(corpus: Path) -> None:
    from pipeline import names
    from pipeline.tasks.approval import retraining_request

    validated = _validated(corpus)
    request = retraining_request(
        validated=validated,
        params={**APPROVAL_PARAMS, "approval_threshold_usd": 1.0},
        dag_id="rnn_retraining",
        run_id="manual__approval",
        budget_left_usd=None,
    )
    assert not request["waits"] and request["decision"] == UNDER_THRESHOLD
    run = _run(validated["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags[names.TAG_APPROVAL_DECISION] == UNDER_THRESHOLD
    assert run.data.tags[names.TAG_APPROVAL_REASON].startswith("under threshold: the estimate $")


def test_a_spot_request_shows_the_hard_limit_and_is_not_asked_above_it(corpus: Path) -> None:
    from pipeline.tasks.approval import retraining_request

    validated = _validated(corpus, compute="ec2_spot")
    within = retraining_request(
        validated=validated, params=APPROVAL_PARAMS, dag_id="d", run_id="r", budget_left_usd=12.0
    )
    assert within["waits"]
    assert (
        "| Hard limit | max_budget_usd $5.00: check_spot_budget refuses a launch above it |" in within["body"]
    )
    assert "| Compute | ec2_spot: trained on an EC2 instance of this type |" in within["body"]
    assert (
        f"| Training budget left this month | $12.00 (${12 - within['estimate_usd']:.2f} after this run) |"
        in (within["body"])
    )
    above = retraining_request(
        validated=validated,
        params={**APPROVAL_PARAMS, "max_budget_usd": within["estimate_usd"] / 2},
        dag_id="d",
        run_id="r",
        budget_left_usd=None,
    )
    assert not above["waits"] and above["decision"] == ABOVE_HARD_LIMIT


def test_a_sweep_is_bounded_by_its_costliest_trial_and_its_budget(corpus: Path) -> None:
    from pipeline import names
    from pipeline.spot.budget import estimate_training
    from pipeline.sweep_space import costliest_params
    from pipeline.tasks.approval import sweep_request
    from pipeline.tasks.sweep import check_settings

    space = {"hidden_size": [16, 48], "epochs": [1, 2], "max_steps_per_epoch": [6]}
    settings = {
        "search_space": space,
        "max_trials": 4,
        "trials_per_round": 2,
        "requests_per_day": 1000,
        "region": "us-east-1",
        "retrain_cadence": "weekly",
        "slo_ms": 1000,
        "max_val_bpc": None,
        "loss_tolerance": 0.05,
        "budget_usd": 1.0,
        "load_test_seconds": 0,
        "seed": 0,
    }
    validated = {
        **_validated(corpus, experiment=names.SWEEP_EXPERIMENT),
        "sweep": check_settings(settings),
    }
    per_trial = estimate_training(validated, {**validated["config"], **costliest_params(space)}).usd
    request = sweep_request(
        validated=validated, params=APPROVAL_PARAMS, dag_id="rnn_sweep", run_id="r", budget_left_usd=None
    )
    assert request["estimate_usd"] == pytest.approx(4 * per_trial) and request["waits"]
    assert (
        f"4 trials (max_trials) x {approval.usd(per_trial)}, the costliest configuration" in request["body"]
    )
    assert '"hidden_size": 48' in request["body"] and '"epochs": 2' in request["body"]
    # the rounds stop at budget_usd: a budget below every trial's estimate bounds the sweep
    small = {**validated, "sweep": {**validated["sweep"], "budget_usd": per_trial}}
    bounded = sweep_request(
        validated=small, params=APPROVAL_PARAMS, dag_id="rnn_sweep", run_id="r", budget_left_usd=None
    )
    assert bounded["estimate_usd"] == pytest.approx(per_trial)
    assert not sweep_request(
        validated=small,
        params={**APPROVAL_PARAMS, "approval_threshold_usd": per_trial},
        dag_id="rnn_sweep",
        run_id="r",
        budget_left_usd=None,
    )["waits"]


def test_a_run_that_was_not_approved_ends_killed_with_the_reason(corpus: Path) -> None:
    from pipeline import names
    from pipeline.approval.record import record_outcome

    rejected = _validated(corpus)["mlflow_run_id"]
    record_outcome(
        rejected,
        outcome_of(
            {
                "chosen_options": ["Reject"],
                "responded_by_user": {"id": "bob", "name": "bob"},
                "responded_at": AT,
            },
            timeout_minutes=60,
        ),
    )
    run = _run(rejected)
    assert run.info.status == "KILLED"
    assert run.data.tags[names.TAG_APPROVAL_DECISION] == REJECTED
    assert run.data.tags[names.TAG_APPROVAL_REASON] == "rejected by bob at 2026-12-07 16:30:01 UTC"
    assert run.data.tags[names.TAG_APPROVAL_RESPONDED_BY] == "bob"


def test_an_approved_run_stays_open_for_training(corpus: Path) -> None:
    from pipeline import names
    from pipeline.approval.record import record_outcome

    approved = _validated(corpus)["mlflow_run_id"]
    record_outcome(
        approved,
        outcome_of(
            {
                "chosen_options": ["Approve"],
                "responded_by_user": {"id": "a", "name": "alice"},
                "responded_at": AT,
            },
            timeout_minutes=60,
        ),
    )
    run = _run(approved)
    assert run.info.status == "FINISHED"  # between tasks, as every task of the run leaves it
    assert run.data.tags[names.TAG_APPROVAL_DECISION] == APPROVED
