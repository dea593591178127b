"""rnn_sweep's task bodies on a real study (SQLite) and MLflow store: the budget gate, failed trials, a
restart, a retried trial's resume, and the settings refused before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TINY_RUN_CONF, load_dag

pytestmark = pytest.mark.integration

SPACE = {
    "hidden_size": [16, 24, 32],
    "learning_rate": {"low": 0.003, "high": 0.03, "log": True},
    **{k: [v] for k, v in TINY_RUN_CONF.items() if k not in ("hidden_size", "checkpoint_every_steps")},
}


def form(**changes: Any) -> dict[str, Any]:
    """The trigger form's defaults (the DAG's Params) with ``changes``: what a run's params hold."""
    return {**load_dag("rnn_sweep").params.dump(), "search_space": SPACE, "load_test_seconds": 0, **changes}


@pytest.fixture(scope="module")
def validated_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sweep's start, once for the module (validation, the parent MLflow run): each test then has a
    study and a run folder of its own (:func:`started`)."""
    from rnn.corpus import default_corpus_text

    home = tmp_path_factory.mktemp("sweep-home")
    corpus = home / "tiny.txt"
    corpus.write_text(default_corpus_text()[:40_000], encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_PIPELINE_HOME", str(home / "pipeline-home"))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("RNN_PIPELINE_DATA_ROOT", raising=False)
        from pipeline.tasks import sweep

        yield sweep.start(
            dag_id="rnn_sweep",
            run_id="manual__test",
            params=form(corpus_uri=str(corpus), trials_per_round=3, max_trials=9, budget_usd=1000.0),
            corpus_variable=None,
        )


@pytest.fixture
def started(validated_once: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    from pipeline.tasks import sweep

    name = f"rnn_sweep/{request.node.name}"
    validated = {
        **validated_once,
        "run_dir": f"{validated_once['run_dir']}/{request.node.name}",
        "sweep": {**validated_once["sweep"], "study": name},
    }
    sweep.open_study(name, seed=0)
    return validated


def outcome(validated: dict[str, Any], spec: dict[str, Any], *, usd: float, bpc: float, spent: float) -> None:
    """What a finished trial leaves for tell_round (its result.json), with literal figures."""
    from pipeline.tasks.sweep import _trial_dir
    from toolkit import storage

    result = {
        "trial": spec["trial"],
        "usd_per_month": usd,
        "val_bpc": bpc,
        "feasible": True,
        "slo_met": True,
        "reason": "feasible",
        "training_usd": spent,
        "mlflow_run_id": "",
    }
    storage.write_text_atomic(
        storage.join(_trial_dir(validated, spec["trial"]), "result.json"), json.dumps(result)
    )


def test_a_round_over_budget_does_not_start_and_nor_does_any_later_one(started: dict[str, Any]) -> None:
    from pipeline.tasks import sweep

    first = sweep.plan_round(validated=started, round_index=0)
    assert [s["trial"] for s in first] == [0, 1, 2]
    estimate = sum(s["estimate_usd"] for s in first)
    assert estimate > 0
    for spec in first:  # each trial spent what it was estimated at
        outcome(started, spec, usd=10.0 + spec["trial"], bpc=3.0, spent=spec["estimate_usd"])
    sweep.tell_round(validated=started, planned=first, dag_id="rnn_sweep", run_id="manual__test")

    # room for less than one more round of the same trials: the second round does not start
    tight = {**started, "sweep": {**started["sweep"], "budget_usd": estimate * 1.5}}
    assert sweep.plan_round(validated=tight, round_index=1) == []
    assert sweep.plan_round(validated=tight, round_index=2) == []  # stopped for good
    study = sweep.open_study(started["sweep"]["study"], seed=0)
    assert "round 2 not started" in study.user_attrs["stopped"]
    assert f"budget ${estimate * 1.5:g}" in study.user_attrs["stopped"]
    summary = sweep.summarize(validated=tight)
    assert [t["trial"] for t in summary["trials"]] == [0, 1, 2]  # trials never started are not trials
    assert summary["spent_usd"] == pytest.approx(estimate)
    assert summary["recommendation"]["trial"] == 0  # all at 3.0 bits/char: the cheapest, $10


def test_a_failed_trial_is_recorded_with_its_reason_and_the_sweep_goes_on(started: dict[str, Any]) -> None:
    from pipeline.tasks import sweep
    from pipeline.tasks.sweep import _trial_dir
    from toolkit import storage

    first = sweep.plan_round(validated=started, round_index=0)
    outcome(started, first[0], usd=12.0, bpc=2.5, spent=0.001)
    outcome(started, first[1], usd=9.0, bpc=2.9, spent=0.001)
    storage.write_text_atomic(
        storage.join(_trial_dir(started, first[2]["trial"]), "failure.json"),
        json.dumps({"trial": first[2]["trial"], "reason": "RuntimeError: training failed with exit code 1"}),
    )
    told = sweep.tell_round(validated=started, planned=first, dag_id="rnn_sweep", run_id="manual__test")
    assert [t["state"] for t in told] == ["complete", "complete", "fail"]
    assert "exit code 1" in told[2]["reason"]

    second = sweep.plan_round(validated=started, round_index=1)
    assert [s["trial"] for s in second] == [3, 4, 5]  # the failure stopped nothing
    points = {p.trial: p for p in sweep.points_of(sweep.open_study(started["sweep"]["study"], seed=0))}
    assert points[2].state == "failed" and "exit code 1" in points[2].reason
    # what the failed trial spent is not known: its pre-flight estimate is charged against the budget
    study = sweep.open_study(started["sweep"]["study"], seed=0)
    assert sweep._spent_usd(study) == pytest.approx(0.002 + first[2]["estimate_usd"])
    assert 3 not in points  # asked, not yet told: not a point yet
    # a trial whose task never left anything (killed) is failed too, saying so
    sweep.tell_round(validated=started, planned=second[:1], dag_id="rnn_sweep", run_id="manual__test")
    points = {p.trial: p for p in sweep.points_of(sweep.open_study(started["sweep"]["study"], seed=0))}
    assert points[3].state == "failed" and "did not finish" in points[3].reason


def test_the_study_outlives_the_process_that_made_it(started: dict[str, Any]) -> None:
    """A restarted scheduler or worker is a new process: it finds the study where the last one left it."""
    from pipeline.tasks import sweep

    first = sweep.plan_round(validated=started, round_index=0)
    for spec in first:
        outcome(started, spec, usd=5.0 + spec["trial"], bpc=3.0 - spec["trial"] / 10, spent=0.001)
    sweep.tell_round(validated=started, planned=first, dag_id="rnn_sweep", run_id="manual__test")

    code = (
        "import json, sys; from pipeline.tasks import sweep\n"
        "validated = json.loads(sys.stdin.read())\n"
        "study = sweep.open_study(validated['sweep']['study'], seed=0)\n"
        "told = [(t.number, t.state.name, list(t.values or [])) for t in study.trials]\n"
        "second = sweep.plan_round(validated=validated, round_index=1)\n"
        "print(json.dumps({'told': told, 'second': [s['trial'] for s in second]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(started), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["told"] == [
        [0, "COMPLETE", [5.0, 3.0]],
        [1, "COMPLETE", [6.0, 2.9]],
        [2, "COMPLETE", [7.0, 2.8]],
    ]
    assert seen["second"] == [3, 4, 5]


def test_a_retried_trial_resumes_from_its_checkpoint(started: dict[str, Any]) -> None:
    from pipeline.tasks import sweep
    from pipeline.tasks.sweep import _trial_dir
    from rnn.config import TrainConfig
    from rnn.train import train
    from toolkit import storage

    [spec] = sweep.plan_round(
        validated={**started, "sweep": {**started["sweep"], "trials_per_round": 1}}, round_index=0
    )
    config = TrainConfig.from_dict({**started["config"], **spec["params"], "checkpoint_every_steps": 2})
    # the first try died after 4 of its 8 steps, leaving its checkpoint where the trial keeps it
    train_dir = storage.join(_trial_dir(started, spec["trial"]), "train")
    train(config, train_dir, progress=False, stop_after_global_step=4, log=lambda _: None)
    validated = {**started, "config": {**started["config"], "checkpoint_every_steps": 2}}
    result = sweep.run_trial(validated=validated, spec=spec, dag_id="rnn_sweep", run_id="manual__test")
    assert result["state"] == "complete" and result["usd_per_month"] > 0
    metrics = json.loads(storage.read_bytes(storage.join(train_dir, "metrics.json")))
    assert metrics["training"]["resumed_from_step"] == 4


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (
            {"search_space": {"hidden_size": {"low": 64, "high": 32}}},
            "search_space.hidden_size: low 64 is above high 32",
        ),
        ({"search_space": {"dropuot": [0.1]}}, "search_space.dropuot: unknown key"),
        ({"budget_usd": 0}, "budget_usd 0 must be above 0"),
        ({"max_trials": 25}, "max_trials 25 must be 1..24"),
        ({"requests_per_day": 0}, "requests_per_day 0 must be"),
        ({"max_trials": 24, "trials_per_round": 2}, "needs 12 rounds"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_before_anything_runs(
    pipeline_home: Path, changes: dict[str, Any], named: str
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks import sweep

    with pytest.raises(AirflowFailException, match=r"nothing was run|rounds") as raised:
        sweep.check_settings(form(**changes))
    assert named in str(raised.value)
    assert not (pipeline_home / "sweeps").exists()  # no study was created


def test_a_configuration_is_never_trained_twice_and_an_exhausted_space_stops_the_sweep(
    started: dict[str, Any],
) -> None:
    from pipeline.tasks import sweep

    small = {**started, "sweep": {**started["sweep"], "space": {"hidden_size": [16, 24]}}}  # 2 configurations
    first = sweep.plan_round(validated=small, round_index=0)
    assert sorted(s["params"]["hidden_size"] for s in first) == [16, 24]  # 3 asked for, 2 exist
    for spec in first:
        outcome(small, spec, usd=1.0, bpc=3.0, spent=0.001)
    sweep.tell_round(validated=small, planned=first, dag_id="rnn_sweep", run_id="manual__test")
    assert sweep.plan_round(validated=small, round_index=1) == []
    study = sweep.open_study(small["sweep"]["study"], seed=0)
    assert study.user_attrs["stopped"] == "every configuration of the search space has been tried"
    assert [p.trial for p in sweep.points_of(study)] == [s["trial"] for s in first]  # repeats are not trials


def test_when_the_sampler_keeps_proposing_what_was_tried_an_untried_configuration_is_drawn(
    started: dict[str, Any],
) -> None:
    """TPE on a small categorical space proposes the configurations it likes again; the round still gets
    untried ones, until the space has none left."""
    from pipeline.tasks import sweep

    six = {**started, "sweep": {**started["sweep"], "space": {"hidden_size": [16, 24, 32, 40, 48, 56]}}}
    tried: list[int] = []
    for round_index in range(2):
        planned = sweep.plan_round(validated=six, round_index=round_index)
        assert len(planned) == 3
        for spec in planned:
            tried.append(spec["params"]["hidden_size"])
            outcome(six, spec, usd=float(spec["params"]["hidden_size"]), bpc=3.0, spent=0.001)
        sweep.tell_round(validated=six, planned=planned, dag_id="rnn_sweep", run_id="manual__test")
    assert sorted(tried) == [16, 24, 32, 40, 48, 56]  # six trials, six configurations
    assert sweep.plan_round(validated=six, round_index=2) == []


def test_a_retried_plan_round_leaves_no_trial_pending_from_its_failed_try(started: dict[str, Any]) -> None:
    """A try that asked its trials and then failed (say the price snapshot was unreadable) is retried: the
    trials it asked are not run, not counted against the limit, and the retry asks a full round."""
    from pipeline.tasks import sweep

    study = sweep.open_study(started["sweep"]["study"], seed=0)
    from pipeline.sweep_space import distributions

    for _ in range(3):  # what the failed try had asked
        study.ask(distributions(started["sweep"]["space"]))
    planned = sweep.plan_round(validated=started, round_index=0)
    assert len(planned) == 3
    study = sweep.open_study(started["sweep"]["study"], seed=0)
    running = [t.number for t in study.trials if t.state.name == "RUNNING"]
    assert running == [s["trial"] for s in planned]  # only the round's own trials are pending
    dropped = [t for t in study.trials if t.user_attrs.get("not_run", "").startswith("asked by a try")]
    assert [t.number for t in dropped] == [0, 1, 2]


def test_a_round_that_was_not_planned_fails_the_sweep_instead_of_skipping_it(started: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks import sweep

    with pytest.raises(AirflowFailException, match="this round was not planned"):
        sweep.tell_round(validated=started, planned=None, dag_id="rnn_sweep", run_id="manual__test")


def test_a_recommendation_served_at_a_reduced_precision_is_not_promoted(started: dict[str, Any]) -> None:
    from pipeline.tasks import sweep
    from toolkit import storage

    uri = storage.join(started["run_dir"], "trials", "000", "result.json")
    storage.write_text_atomic(
        uri, json.dumps({"params": {"hidden_size": 16, "precision": "int8"}, "costed": {}})
    )
    decision = sweep.promote(summary={"recommended_result_uri": uri})
    assert decision["registered"] is False
    assert "served at int8" in decision["reason"] and "rnn serve --precision int8" in decision["reason"]


def test_the_enqueued_baseline_is_a_trial_of_the_first_round_not_an_extra_one(
    started: dict[str, Any],
) -> None:
    from pipeline.tasks import sweep

    three = {**started, "sweep": {**started["sweep"], "max_trials": 3}}
    study = sweep.open_study(three["sweep"]["study"], seed=0)
    study.enqueue_trial({"hidden_size": 24}, user_attrs={"baseline": True})  # what start does
    planned = sweep.plan_round(validated=three, round_index=0)
    assert len(planned) == 3  # the limit of 3, the baseline first
    assert planned[0]["params"]["hidden_size"] == 24
