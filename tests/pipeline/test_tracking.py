"""MLflow bookkeeping of the retraining tasks: idempotent runs, FAILED on errors, clear input errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from helpers import TINY_RUN_CONF


def _client():
    from mlflow import MlflowClient

    from pipeline import tracking

    tracking.configure()
    return MlflowClient()


def test_retried_task_reuses_the_mlflow_run(pipeline_home: Path, tiny_corpus: Path) -> None:
    from pipeline import names
    from pipeline.tasks.retraining import validate_dataset

    params = {**TINY_RUN_CONF, "corpus_uri": str(tiny_corpus)}
    first = validate_dataset(dag_id="rnn_retraining", run_id="manual__1", params=params, corpus_variable=None)
    again = validate_dataset(dag_id="rnn_retraining", run_id="manual__1", params=params, corpus_variable=None)
    other = validate_dataset(dag_id="rnn_retraining", run_id="manual__2", params=params, corpus_variable=None)
    assert first["mlflow_run_id"] == again["mlflow_run_id"] != other["mlflow_run_id"]
    client = _client()
    experiment = client.get_experiment_by_name(names.TRAINING_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_corpus_variable_is_used_when_the_param_is_empty(pipeline_home: Path, tiny_corpus: Path) -> None:
    from pipeline.tasks.retraining import validate_dataset

    result = validate_dataset(
        dag_id="rnn_retraining",
        run_id="r",
        params={**TINY_RUN_CONF, "corpus_uri": ""},
        corpus_variable=str(tiny_corpus),
    )
    assert result["config"]["corpus_uri"] == str(tiny_corpus)


def test_an_exception_inside_a_task_marks_the_run_failed(pipeline_home: Path) -> None:
    from pipeline import names, tracking

    run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "d", "r")
    with pytest.raises(RuntimeError, match="boom"), tracking.task_run(run_id):
        raise RuntimeError("boom")
    assert _client().get_run(run_id).info.status == "FAILED"


def test_failure_callback_closes_a_run_left_running(pipeline_home: Path) -> None:
    from types import SimpleNamespace

    from pipeline import names, tracking
    from pipeline.tasks.retraining import on_task_failure

    run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "killed-run")
    client = _client()
    client.update_run(run_id, status="RUNNING")
    on_task_failure({"dag_run": SimpleNamespace(dag_id="rnn_retraining", run_id="killed-run")})
    assert client.get_run(run_id).info.status == "FAILED"


def test_corrupt_checkpoint_fails_the_task_clearly_and_keeps_it(
    pipeline_home: Path, tiny_corpus: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks.retraining import train, validate_dataset

    validated = validate_dataset(
        dag_id="rnn_retraining",
        run_id="corrupt",
        corpus_variable=None,
        params={**TINY_RUN_CONF, "corpus_uri": str(tiny_corpus)},
    )
    checkpoint = Path(validated["run_dir"], "train", "checkpoint.pt")
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"garbage")
    with pytest.raises(AirflowFailException, match="corrupt"):
        train(validated=validated)
    assert checkpoint.read_bytes() == b"garbage"
    assert not checkpoint.with_name("model.pt").exists()
    assert _client().get_run(validated["mlflow_run_id"]).info.status == "FAILED"


@pytest.mark.parametrize(
    "params,message",
    [
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
        ({"market": "reserved"}, "market 'reserved'"),
        ({"compute": "gpu-cluster"}, "compute backend 'gpu-cluster'"),
    ],
)
def test_invalid_inputs_fail_without_retry(pipeline_home: Path, params: dict, message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks.retraining import resolve_inputs

    with pytest.raises(AirflowFailException, match=message):
        resolve_inputs({**TINY_RUN_CONF, **params}, None)


def test_unreachable_tracking_server_is_named(pipeline_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import tracking

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(tracking.TrackingUnavailableError, match=f"{uri} is unreachable"):
        tracking.configure()


def test_a_batch_stores_what_the_fluent_calls_store_in_one_request(pipeline_home: Path) -> None:
    import mlflow

    from pipeline import names, tracking

    values = {"metrics": {"m": 2, "n": 0.5}, "params": {"p": None, "q": "1,2"}, "tags": {"t": 3, "u": "x"}}
    batched = tracking.get_or_create_run(names.COST_EXPERIMENT, "d", "batched")
    fluent = tracking.get_or_create_run(names.COST_EXPERIMENT, "d", "fluent")
    with tracking.task_run(batched):
        tracking.log_batch(batched, **values)
    with tracking.task_run(fluent):
        mlflow.log_metrics(values["metrics"])
        mlflow.log_params(values["params"])
        mlflow.set_tags(values["tags"])
    client = _client()
    got, expected = client.get_run(batched).data, client.get_run(fluent).data
    assert got.metrics == expected.metrics == {"m": 2.0, "n": 0.5}
    assert got.params == expected.params == {"p": "None", "q": "1,2"}
    assert (
        {k: got.tags[k] for k in ("t", "u")}
        == {k: expected.tags[k] for k in ("t", "u")}
        == {"t": "3", "u": "x"}
    )
    assert [m.step for m in client.get_metric_history(batched, "m")] == [0]


def test_a_json_artifact_is_fetched_without_listing_the_run(
    pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    from pipeline import names, tracking

    run_id = tracking.get_or_create_run(names.COST_EXPERIMENT, "d", "r")
    client = _client()
    client.log_dict(run_id, {"grid": [1, 2]}, "analysis/analysis.json")
    listed: list = []
    monkeypatch.setattr(
        LocalArtifactRepository, "list_artifacts", lambda self, path=None: listed.append(path)
    )
    assert tracking.load_json_artifact(client.get_run(run_id), "analysis/analysis.json") == {"grid": [1, 2]}
    assert listed == []


def test_a_new_run_looks_its_experiment_up_once(pipeline_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from pipeline import names, tracking

    first = tracking.get_or_create_run(names.COST_EXPERIMENT, "d", "r1")  # creates the experiment
    lookups: list[str] = []
    get_experiment_by_name = MlflowClient.get_experiment_by_name

    def counting(self: MlflowClient, name: str):
        lookups.append(name)
        return get_experiment_by_name(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", counting)
    second = tracking.get_or_create_run(names.COST_EXPERIMENT, "d", "r2")
    assert lookups == [names.COST_EXPERIMENT] and second != first
    assert tracking.get_or_create_run(names.COST_EXPERIMENT, "d", "r1") == first  # found again, not created
    experiment = _client().get_experiment_by_name(names.COST_EXPERIMENT)
    assert experiment.tags[names.TAG_EXPERIMENT_KIND] == names.EXPERIMENT_KIND_MODEL_TRAINING
