"""rnn_sweep end to end through dag.test(): 4 tiny trials over 2 rounds, the study, MLflow, the front."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import TINY_RUN_CONF, load_dag

pytestmark = pytest.mark.e2e

# two model sizes of the tiny run, two learning rates: seconds per trial
TINY_SPACE = {
    "hidden_size": [16, 48],
    "learning_rate": {"low": 0.003, "high": 0.03, "log": True},
    "epochs": [1],
    "max_steps_per_epoch": [6],
    "precision": ["fp32", "int8"],  # what the model is served (benchmarked, scored) at
}
# the rest of the tiny run's shape, as one-value lists (what a space leaves out keeps the default model's)
TINY_FIXED = {
    k: [v] for k, v in TINY_RUN_CONF.items() if k not in TINY_SPACE and k != "checkpoint_every_steps"
}


def sweep_runs():
    import mlflow
    from mlflow import MlflowClient

    from pipeline import names, tracking

    tracking.configure()
    experiment = MlflowClient().get_experiment_by_name(names.SWEEP_EXPERIMENT)
    return mlflow.search_runs([experiment.experiment_id], output_format="list")


def test_a_sweep_runs_two_rounds_records_every_trial_and_recommends_from_the_front(
    airflow_db: Path, pipeline_home: Path, tiny_corpus: Path
) -> None:
    import optuna

    from costing.model.sweep import pareto_front
    from costing.report.sweep import points_of_document
    from pipeline import names
    from pipeline.settings import load_settings

    dag = load_dag("rnn_sweep")
    run = dag.test(
        run_conf={
            "corpus_uri": str(tiny_corpus),
            "search_space": {**TINY_SPACE, **TINY_FIXED},
            "max_trials": 4,
            "trials_per_round": 2,
            "requests_per_day": 1_000_000,
            "budget_usd": 5.0,
            "load_test_seconds": 0,
            "promote_recommended": True,
            "seed": 2,  # its first round (random) draws both precisions
        }
    )
    states = {ti.task_id: ti.state for ti in run.get_task_instances() if ti.map_index < 0}
    assert run.state == "success", states
    trial_states = [ti.state for ti in run.get_task_instances() if ti.task_id.startswith("trials_round_")]
    assert trial_states.count("success") == 4, trial_states
    # compute=local: no spot trial task ran, in any round (each skipped itself, planned or not)
    spot = {
        (ti.task_id, ti.map_index): ti.state
        for ti in run.get_task_instances()
        if ti.task_id.startswith("spot_")
    }
    assert set(spot.values()) == {"skipped"}, spot
    assert (
        states["plan_round_3"] == "success" and states["trials_round_3"] == "skipped"
    )  # trial limit reached

    from mlflow import MlflowClient

    client = MlflowClient()
    runs = sweep_runs()
    parents = [r for r in runs if r.data.tags.get(names.TAG_SWEEP_ROLE) == "parent"]
    children = [r for r in runs if r.data.tags.get(names.TAG_SWEEP_ROLE) == "trial"]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert {c.data.tags[names.TAG_MLFLOW_PARENT_RUN_ID] for c in children} == {parent.info.run_id}
    assert {c.data.tags["sweep.round"] for c in children} == {"1", "2"}
    assert {c.data.params["serve.precision"] for c in children} == {"fp32", "int8"}
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.metrics[names.SWEEP_USD_PER_MONTH] > 0
        assert child.data.metrics[names.VAL_BPC] > 0
        assert names.COST_TRAIN_USD in child.data.metrics  # rnn_retraining's cost task ran
        assert child.data.params["config.hidden_size"] in ("16", "48")
        # the loss a trial is judged by is the model's as served: fp32's plus its precision's measured delta
        served = json.loads(Path(client.download_artifacts(child.info.run_id, "metrics.json")).read_text())
        assert served["inference"]["precision"] == child.data.params["serve.precision"]
        delta = next(
            (
                r["val_loss_delta"]
                for r in served["inference"]["reduced_precision"]
                if r["precision"] == "int8"
            ),
            0.0,
        )
        expected = served["training"]["final_val_loss"] + (
            delta if served["inference"]["precision"] == "int8" else 0.0
        )
        assert math.isclose(child.data.metrics[names.VAL_BPC], expected / math.log(2))

    # the study, in its SQLite file, holds what the children say
    study = optuna.load_study(
        study_name=f"rnn_sweep/{run.run_id}", storage=load_settings().sweep_study_storage
    )
    told = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(told) == 4
    by_trial = {int(c.data.tags[names.TAG_SWEEP_TRIAL]): c for c in children}
    for trial in told:
        assert math.isclose(trial.values[0], by_trial[trial.number].data.metrics[names.SWEEP_USD_PER_MONTH])

    # the parent: the front and the recommendation, as artifacts and metrics
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, names.PARETO_ARTIFACT_DIR)}
    assert {"pareto/front.png", "pareto/front.csv", "pareto/trials.csv"} <= artifacts
    document = json.loads(
        Path(client.download_artifacts(parent.info.run_id, names.SWEEP_ARTIFACT)).read_text()
    )
    points = points_of_document(document)
    assert document["front"] == [p.trial for p in pareto_front(points)] and document["front"]
    recommended = document["recommendation"]["trial"]
    assert recommended in document["front"]
    parent_metrics = client.get_run(parent.info.run_id).data.metrics
    assert parent_metrics["sweep.trials"] == 4 and parent_metrics["recommended.trial"] == recommended
    assert math.isclose(
        parent_metrics["sweep.spent_usd"], sum(c.data.metrics[names.COST_TRAIN_USD] for c in children)
    )

    # promoted through rnn_retraining's gate: the first model ever is scored on its own corpus and registered;
    # a recommendation served at int8 is not (the registry's models are served and priced at fp32)
    versions = client.search_model_versions(f"name='{names.REGISTERED_MODEL}'")
    if by_trial[recommended].data.params["serve.precision"] == "int8":
        assert states["promote"] == "skipped" and versions == []
    else:
        assert states["promote"] == "success"
        [version] = versions
        assert version.run_id == by_trial[recommended].info.run_id
        assert (
            client.get_model_version_by_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS).version
            == version.version
        )
        assert client.get_run(version.run_id).data.tags[names.TAG_REGISTRY_DECISION] == "registered"

    # the weekly report of the period shows the sweep: its sentence, its front, its chart
    from datetime import UTC, datetime, timedelta

    from costing.report.document import render_report
    from pipeline.tasks.cost_report import weekly_inputs

    report = render_report(weekly_inputs(datetime.now(UTC) + timedelta(minutes=1)))
    assert "<h2" in report.html_file and ">Sweeps</h2>" in report.html_file
    assert f"rnn_sweep/{run.run_id}: 4 trials at 1,000,000 requests/day" in report.html_file
    assert f"{recommended} (recommended)" in report.html_file
    assert "sweep_front_1.png" in report.images
    assert f"Sweep rnn_sweep/{run.run_id}: 4 trials" in report.text
