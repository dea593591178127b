"""Which metrics a cost question is answered for: the registry's champion, else the reference; never
"the newest file on disk"; always named (path or models:/ URI, version, sha256) in the outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import free_port
from model_literals import metrics_dict

from costing.model.model_source import (
    CHAMPION_MODEL_URI,
    MetricsSourceError,
    default_metrics_source,
    metrics_from_file,
    resolve_metrics,
)
from costing.model.profile import REFERENCE_METRICS_PATH, MetricsSchemaError
from toolkit.registry import REGISTERED_MODEL


def test_the_default_model_is_the_registered_champion():
    assert CHAMPION_MODEL_URI == "models:/rnn-textgen@champion"


def test_without_a_tracking_store_the_default_is_the_reference(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # a newer benchmarked run on disk does not change the answer (it did: "newest metrics.json")
    monkeypatch.setenv("RNN_PIPELINE_HOME", str(tmp_path))
    run = tmp_path / "data" / "rnn_retraining" / "run" / "metrics.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps(metrics_dict()))
    source = default_metrics_source()
    assert source.uri == "include/reference_metrics.json"
    assert source.sha256 == hashlib.sha256(REFERENCE_METRICS_PATH.read_bytes()).hexdigest()
    assert "MLFLOW_TRACKING_URI is not set" in source.why
    profile = source.profile()
    assert profile.source.startswith("include/reference_metrics.json (reference measurements")
    assert f"sha256 {source.sha256[:12]}" in profile.source
    assert profile.notes[0].startswith("metrics chosen by default: MLFLOW_TRACKING_URI is not set")


def test_a_sqlite_uri_without_a_database_is_not_created(monkeypatch, tmp_path):
    database = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    source = default_metrics_source()
    assert source.uri == "include/reference_metrics.json"
    assert f"no MLflow store at {database} yet" in source.why
    assert not database.exists()


def test_an_unreachable_tracking_server_is_an_error_in_seconds(monkeypatch):
    import time

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(MetricsSourceError, match=r"cannot reach the MLflow server .* pass --metrics FILE"):
        default_metrics_source()
    assert time.monotonic() - start < 10


def test_models_uri_needs_a_tracking_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(MetricsSourceError, match="MLFLOW_TRACKING_URI is not set"):
        resolve_metrics("models:/rnn-textgen@champion")
    with pytest.raises(MetricsSourceError, match="not a registered-model URI"):
        resolve_metrics("models:/rnn-textgen")


def test_files_folders_and_bad_json_are_named(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_dict()))
    source = metrics_from_file(path)
    assert source.uri == str(path) and source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.profile().source == f"{path}, metrics.json sha256 {source.sha256[:12]}"
    with pytest.raises(MetricsSchemaError, match=r"is a folder, not a metrics.json file .it holds a metrics"):
        resolve_metrics(str(tmp_path))
    with pytest.raises(MetricsSchemaError, match="metrics file not found"):
        resolve_metrics(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(MetricsSchemaError, match="is not valid JSON"):
        resolve_metrics(str(tmp_path / "bad.json"))
    assert resolve_metrics("reference").uri == "include/reference_metrics.json"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A real SQLite MLflow store holding rnn-textgen version 1, whose run logged metrics.json."""
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    metrics_file = tmp_path / "metrics.json"
    metrics_file.write_text(json.dumps(metrics_dict(run_id="champion-run")))
    experiment = mlflow.create_experiment("rnn-textgen", artifact_location=str(tmp_path / "artifacts"))
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(metrics_file))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(REGISTERED_MODEL)
    version = client.create_model_version(REGISTERED_MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id)
    yield client, version, metrics_file
    mlflow.set_tracking_uri(None)


def test_the_default_is_the_registered_champion(registry):
    client, version, metrics_file = registry
    # a store with the model but no champion alias yet, nor a scored version: the reference, saying why
    source = default_metrics_source()
    assert source.uri == "include/reference_metrics.json"
    assert (
        "no rnn-textgen version in " in source.why
        and "has the champion alias or a val_loss tag" in source.why
    )
    # a registry from before the alias: the best version by val_loss, as the pipeline's champion lookup
    client.set_model_version_tag(REGISTERED_MODEL, version.version, "val_loss", "1.25")
    source = default_metrics_source()
    assert source.uri == "models:/rnn-textgen/1" and source.version == "1"
    assert "the best registered version by val_loss" in source.why

    client.set_registered_model_alias(REGISTERED_MODEL, "champion", version.version)
    source = default_metrics_source()
    assert source.uri == CHAMPION_MODEL_URI and source.version == "1"
    assert source.metrics["run_id"] == "champion-run"
    assert source.sha256 == hashlib.sha256(metrics_file.read_bytes()).hexdigest()
    assert source.profile().source == (
        f"models:/rnn-textgen@champion (version 1, run {version.run_id[:8]}), "
        f"metrics.json sha256 {source.sha256[:12]}"
    )
    assert resolve_metrics("models:/rnn-textgen/1").sha256 == source.sha256
    with pytest.raises(MetricsSourceError, match="not in the MLflow store"):
        resolve_metrics("models:/rnn-textgen/7")


def test_the_cli_names_the_metrics_and_the_snapshot_in_text_and_json(registry, capsys):
    from costing.cli import main

    client, version, _ = registry
    client.set_registered_model_alias(REGISTERED_MODEL, "champion", version.version)
    assert main(["scenarios", "--requests-per-day", "1000"]) == 0
    text = capsys.readouterr().out
    assert "measured: models:/rnn-textgen@champion (version 1, run " in text
    assert "prices: snapshot " in text
    assert main(["scenarios", "--requests-per-day", "1000", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["profile"]["source"].startswith("models:/rnn-textgen@champion (version 1")
    assert document["snapshot_id"]


def test_an_unreadable_store_path_is_reported(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path / "mlruns"))
    assert "no MLflow store at" in default_metrics_source().why
