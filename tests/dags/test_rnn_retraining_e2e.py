"""rnn_retraining end to end through dag.test(): MLflow run, cost, champion/challenger gate, failures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import TINY_DAG_CONF, load_dag

pytestmark = pytest.mark.e2e

# tasks of the compute=ec2_spot branch (tests/spot/test_spot_dag_e2e.py runs them)
SPOT_ONLY_TASKS = ("sweep_stale_instances", "check_spot_budget", "train_ec2_spot", "cleanup_ec2_instances")


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def validate_try(dag_run) -> int:
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "validate_dataset"]
    return ti.try_number


def link_values(run_id: str, key: str) -> dict[str, str]:
    """The URLs Airflow stored for an operator extra link, per task of a DAG run."""

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.run_id == run_id, XComModel.key == key).all()
        return {row.task_id: _decode(row.value) for row in rows}


def _decode(value):

    while isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def training_runs():
    import mlflow
    from mlflow import MlflowClient

    from pipeline import names, tracking

    tracking.configure()
    experiment = MlflowClient().get_experiment_by_name(names.TRAINING_EXPERIMENT)
    return mlflow.search_runs(
        [experiment.experiment_id], output_format="list", order_by=["attributes.start_time ASC"]
    )


def registered_versions():
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipeline import names

    try:
        return MlflowClient().search_model_versions(f"name='{names.REGISTERED_MODEL}'")
    except MlflowException:
        return []


def test_retraining_end_to_end_registers_only_better_models(
    airflow_db: Path, pipeline_home: Path, tiny_corpus: Path
) -> None:
    from pipeline import names

    dag = load_dag("rnn_retraining")
    # the first run also load-tests the tiny model behind the real server (a few seconds). The SLO is
    # loose so that one trial passes on a machine busy with other tests: this checks the wiring, and
    # make bench measures capacity on quiet cores
    first = dag.test(
        run_conf={
            **TINY_DAG_CONF,
            "corpus_uri": str(tiny_corpus),
            "learning_rate": 0.01,
            "load_test_seconds": 10,
            "load_test_slo_ms": 3000,
        }
    )
    assert first.state == "success", task_states(first)
    states = task_states(first)
    assert {states[t] for t in SPOT_ONLY_TASKS} == {"skipped"}  # compute=local is the default
    # the tiny run is estimated under the default approval threshold: no one is asked
    assert states.pop("approve_training") == "skipped"
    assert {state for task, state in states.items() if task not in SPOT_ONLY_TASKS} == {"success"}

    [run] = training_runs()
    assert run.info.status == "FINISHED"
    metrics, tags, params = run.data.metrics, run.data.tags, run.data.params
    for name in (
        names.COST_TRAIN_USD,
        names.COST_TRAIN_ON_DEMAND_USD,
        names.COST_SPOT_SAVINGS_PCT,
        names.COST_PER_EPOCH_USD,
        names.VAL_LOSS,
        names.TRAIN_TOKENS_PER_S,
        names.TRAIN_PEAK_RSS_BYTES,
        names.INFER_LATENCY_P50_MS,
        names.INFER_LATENCY_P95_MS,
        names.INFER_LATENCY_P99_MS,
        names.infer_tokens_per_s(64),
        names.MODEL_PARAMETERS,
        names.DATASET_BYTES,
        names.SERVE_MAX_RPS_AT_SLO,
        names.SERVE_P95_MS_AT_MAX,
        names.SERVE_RSS_BYTES,
    ):
        assert name in metrics, name
    assert metrics[names.SERVE_MAX_RPS_AT_SLO] > 0 and metrics[names.SERVE_P95_MS_AT_MAX] <= 3000
    assert metrics[names.SERVE_RSS_BYTES] > 50 * 2**20 and metrics[names.SERVE_SLO_MS] == 3000
    assert metrics[names.COST_TRAIN_USD] > 0
    assert (
        metrics[names.COST_TRAIN_ON_DEMAND_USD] > metrics[names.COST_TRAIN_USD]
    )  # spot is the default market
    assert 0 < metrics[names.COST_SPOT_SAVINGS_PCT] < 100
    assert tags[names.TAG_DAG_ID] == "rnn_retraining" and tags[names.TAG_RUN_ID] == first.run_id
    assert tags[names.TAG_COST_BASIS] == "estimate" and "r6i.xlarge" in tags[names.TAG_COST_DESCRIPTION]
    assert tags[names.TAG_COST_ARTIFACT] == "cost.json"  # the FOCUS ledger fetches it without listing
    assert tags[names.TAG_REGISTRY_DECISION] == "registered"
    assert tags[names.TAG_APPROVAL_DECISION] == "under-threshold"
    assert params["config.hidden_size"] == "16" and params["compute.instance_type"] == "r6i.xlarge"
    assert len(params["dataset.sha256"]) == 64 and params["git_sha"]
    assert any(key.startswith("system/") for key in metrics), "MLflow system metrics missing"

    from mlflow import MlflowClient

    client = MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "cost.json", "validation", "serving"} <= artifacts
    import os

    recorded = json.loads(Path(client.download_artifacts(run.info.run_id, "metrics.json")).read_text())
    assert recorded["schema_version"] == 3
    assert (
        recorded["cold_start"]["handler"]["added_seconds"] == metrics[names.SERVE_COLD_HANDLER_ADDED_SECONDS]
    )
    assert recorded["serving"]["max_rps_at_slo"] == metrics[names.SERVE_MAX_RPS_AT_SLO]
    capacity = json.loads(
        Path(client.download_artifacts(run.info.run_id, "serving/capacity.json")).read_text()
    )
    assert (
        capacity["max_rps_at_slo"] == metrics[names.SERVE_MAX_RPS_AT_SLO]
        and capacity["duration_seconds"] <= 6 + 2
    )
    with pytest.raises(ProcessLookupError):  # the task stopped the server it started
        os.kill(capacity["server"]["pid"], 0)
    assert int(client.get_model_version_by_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS).version) == 1
    assert {a.path for a in client.list_artifacts(run.info.run_id, "validation")} >= {
        "validation/validation.json",
        "validation/validation.html",
    }
    links = link_values(first.run_id, "_link_MlflowRunLink")
    assert set(links) == {"validate_dataset", "train_local", "load_test", "log_to_mlflow", "cost", "register"}
    assert all(  # opened in MLflow's "Model training" mode, not GenAI
        url.endswith(f"/runs/{run.info.run_id}?workflowType=machine_learning") and "/#/experiments/" in url
        for url in links.values()
    )
    val_loss_history = client.get_metric_history(run.info.run_id, names.EPOCH_VAL_LOSS)
    assert [m.step for m in val_loss_history] == [1]
    # the logged model carries the run's step-0 metrics (those logged before it and after), not the curves
    linked = {metric.key for metric in client.get_logged_model(tags[names.TAG_LOGGED_MODEL_ID]).metrics}
    assert {
        names.VAL_LOSS,
        names.TRAIN_TOKENS_PER_S,
        names.SERVE_MAX_RPS_AT_SLO,
        names.COST_TRAIN_USD,
    } <= linked
    assert not any(key.startswith("epoch.") for key in linked)
    [version] = registered_versions()
    assert version.run_id == run.info.run_id and int(version.version) == 1
    # the first model ever trained is the champion
    assert client.get_model_version(names.REGISTERED_MODEL, "1").aliases == [names.CHAMPION_ALIAS]
    assert f"Trained by MLflow run {run.info.run_id} (Airflow run {first.run_id}) on {tiny_corpus}" in (
        version.description
    )
    assert tags[names.TAG_REGISTRY_REASON].startswith("promoted: first model: challenger run")

    # What the MLflow UI shows: a model-training experiment, the corpus as the run's dataset, a name
    # that says what the run was, and the cost in a unit its charts do not round to 0.00.
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[names.TAG_EXPERIMENT_KIND] == names.EXPERIMENT_KIND_MODEL_TRAINING
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "tiny.txt"
    assert dataset_input.dataset.digest == params["dataset.sha256"][:36]
    assert json.loads(dataset_input.dataset.source) == {"uri": str(tiny_corpus)}
    assert {t.key: t.value for t in dataset_input.tags} == {
        "mlflow.data.context": "training",
        "sha256": params["dataset.sha256"],
    }
    assert re.fullmatch(r"\d\.\dk params · 1 ep · tiny\.txt · r6i\.xlarge spot \(local\)", run.info.run_name)
    assert metrics[names.COST_TRAIN_MICRO_USD] == pytest.approx(metrics[names.COST_TRAIN_USD] * 1e6, abs=0.1)

    # Same tiny model with almost no learning: a worse validation loss is not registered.
    second = dag.test(run_conf={**TINY_DAG_CONF, "corpus_uri": str(tiny_corpus), "learning_rate": 1e-6})
    assert second.state == "success"
    states = task_states(second)
    assert states["register"] == "skipped" and states["cost"] == "success"
    worse = training_runs()[-1]
    assert worse.info.run_id != run.info.run_id and worse.info.status == "FINISHED"
    assert worse.data.metrics[names.VAL_LOSS] > metrics[names.VAL_LOSS]
    assert worse.data.tags[names.TAG_REGISTRY_DECISION] == "not-registered"
    reason = worse.data.tags[names.TAG_REGISTRY_REASON]
    assert reason.startswith(f"not promoted: challenger run {worse.info.run_id[:8]}")
    assert f"of champion version 1 (run {run.info.run_id[:8]})" in reason
    assert f"both on the evaluation split (last 10%) of {tiny_corpus}" in reason
    assert worse.data.metrics[names.EVAL_LOSS] > worse.data.metrics[names.EVAL_CHAMPION_LOSS]
    assert len(registered_versions()) == 1


def test_failing_dataset_stops_before_training(airflow_db: Path, pipeline_home: Path, tmp_path: Path) -> None:
    from pipeline import names

    corpus = tmp_path / "repeated.txt"
    corpus.write_text("the same line again\n" * 5000)
    dag_run = load_dag("rnn_retraining").test(run_conf={**TINY_DAG_CONF, "corpus_uri": str(corpus)})
    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states["validate_dataset"] == "failed"
    assert validate_try(dag_run) == 1  # a corpus that fails is never retried
    assert {
        states[t]
        for t in (
            "choose_backend",
            "train_local",
            "train_ec2_spot",
            "training_result",
            "benchmark",
            "log_to_mlflow",
            "cost",
            "register",
        )
    } == {"upstream_failed"}
    assert states["cleanup_ec2_instances"] == "skipped"  # it always runs, and skips itself for compute=local

    [run] = training_runs()
    assert run.info.status == "FAILED"
    assert run.data.tags[names.TAG_VALIDATION] == "failed"
    from mlflow import MlflowClient

    report = MlflowClient().download_artifacts(run.info.run_id, "validation/validation.json", str(tmp_path))
    validation = json.loads(Path(report).read_text())
    assert validation["failures"] == [
        "at least half of the non-empty lines are distinct (duplicate-line ratio at most 50%)"
    ]
    [duplicates] = [o for o in validation["outcomes"] if not o["success"]]
    assert (duplicates["expectation"], duplicates["column"]) == (
        "expect_column_sum_to_be_between",
        "distinct_share",
    )
    assert registered_versions() == []
    assert not list(pipeline_home.rglob("model.pt"))


def test_missing_corpus_fails_with_its_name(airflow_db: Path, pipeline_home: Path) -> None:
    dag_run = load_dag("rnn_retraining").test(run_conf={**TINY_DAG_CONF, "corpus_uri": "/no/such/corpus.txt"})
    assert dag_run.state == "failed"
    assert task_states(dag_run)["validate_dataset"] == "failed"
    [run] = training_runs()
    assert run.info.status == "FAILED"
    assert registered_versions() == []


def test_an_s3_corpus_without_credentials_fails_at_once(
    airflow_db: Path, pipeline_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never AWS, even if a key appeared
    s3fs.S3FileSystem.clear_instance_cache()
    dag_run = load_dag("rnn_retraining").test(
        run_conf={**TINY_DAG_CONF, "corpus_uri": "s3://corpora/tiny.txt"}
    )
    assert dag_run.state == "failed"
    assert task_states(dag_run)["validate_dataset"] == "failed"
    assert validate_try(dag_run) == 1  # no credentials: retrying cannot help, so it is not retried
    [run] = training_runs()
    assert run.info.status == "FAILED"


def test_out_of_bounds_params_are_rejected_before_anything_runs(
    airflow_db: Path, pipeline_home: Path
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="epochs"):
        load_dag("rnn_retraining").test(run_conf={**TINY_DAG_CONF, "epochs": 0})


def test_a_misspelt_conf_key_is_refused_before_anything_runs(airflow_db: Path, pipeline_home: Path) -> None:
    from mlflow import MlflowClient

    from pipeline import names, tracking

    dag_run = load_dag("rnn_retraining").test(run_conf={**TINY_DAG_CONF, "dropuot": 0.3})
    assert dag_run.state == "failed"
    [first] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "validate_dataset"]
    assert first.state == "failed" and first.try_number == 1  # refused, not retried
    assert {s for t, s in task_states(dag_run).items() if t != "validate_dataset"} <= {
        "upstream_failed",
        "skipped",
    }
    tracking.configure()
    assert MlflowClient().get_experiment_by_name(names.TRAINING_EXPERIMENT) is None  # no MLflow run
    assert not (pipeline_home / "data").exists()  # no output
