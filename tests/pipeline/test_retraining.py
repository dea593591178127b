"""Pieces of the rnn_retraining task bodies that need no DAG run: failing or retrying, and run names."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline import names
from pipeline.tasks.retraining import ComputeChoice, _fail_or_retry, epoch_metrics, training_run_name
from rnn.config import TrainConfig
from rnn.corpus import CorpusError
from toolkit.storage import StorageError


@pytest.mark.parametrize("error", [CorpusError("corpus not found: 'x'"), StorageError("access denied")])
def test_a_fault_retrying_cannot_fix_fails_the_task_at_once(error) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    assert isinstance(_fail_or_retry(error), AirflowFailException)
    assert str(_fail_or_retry(error)) == str(error)


@pytest.mark.parametrize(
    "error",
    [CorpusError("could not reach x", transient=True), StorageError("could not reach y", transient=True)],
)
def test_a_host_that_could_not_be_reached_is_retried(error) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    retried = _fail_or_retry(error)
    assert not isinstance(retried, AirflowFailException) and str(retried) == str(error)


def test_a_run_is_named_for_what_it_was() -> None:
    local = ComputeChoice(backend="local", instance_type="r6i.xlarge", region="us-east-1", market="spot")
    default = TrainConfig().to_dict()  # 2,842,747 weights at a vocabulary of 103
    assert (
        training_run_name(default, local, 103)
        == "2.84M params · 3 ep · pydoc-topics · r6i.xlarge spot (local)"
    )
    tiny = {**default, "hidden_size": 16, "num_layers": 1, "embedding_dim": 8, "epochs": 1}
    tiny["corpus_uri"] = "s3://corpora/shakespeare/input.txt.gz"
    spot = ComputeChoice(
        backend="ec2_spot", instance_type="c7g.large", region="eu-west-1", market="on-demand"
    )
    # 65*8 + 4*16*(8+16) + 8*16 + 16*65 + 65 = 3,289
    assert training_run_name(tiny, spot, 65) == "3.3k params · 1 ep · input.txt.gz · c7g.large on-demand"


@pytest.mark.integration
def test_the_load_tests_server_answers_only_the_key_it_was_given(tmp_path: Path) -> None:
    """load_test gives the server it starts a random key through the environment; the load test sends it."""
    import torch

    from pipeline.tasks.retraining import _run_rnn, _serving
    from rnn.data import Vocab
    from rnn.model import CharLSTM
    from rnn.serving.settings import API_KEY_ENV
    from rnn.train import save_model

    config = TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1)
    vocab = Vocab(list(" Tabcdefghijklmnopqrstuvwxyz"))
    torch.manual_seed(0)
    save_model(str(tmp_path / "model.pt"), CharLSTM.from_config(config, len(vocab)), config, vocab)
    # no OMP_WAIT_POLICY of the caller's (this process's own import of rnn set one): the server's is rnn's
    caller = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env = {**caller, API_KEY_ENV: "a-key-for-this-task-only"}  # pragma: allowlist secret
    with _serving(str(tmp_path / "model.pt"), tmp_path, env=env) as url:
        for method, path in (("POST", "/v1/generate"), ("GET", "/metrics")):
            request = urllib.request.Request(f"{url}{path}", data=b"{}" if method == "POST" else None)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 401
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as health:
            assert health.status == 200
            # its OpenMP threads wait passively after a short spin: long-spinning ones starve beside the
            # load test's client
            health_document = json.loads(health.read())
            assert (health_document["omp_wait_policy"], health_document["gomp_spincount"]) == (
                "PASSIVE",
                "2000",
            )
        out = tmp_path / "capacity.json"
        loadtest = ["loadtest", "--url", url, "--chars", "20", "--max-seconds", "5", "--trial-seconds", "2"]
        _run_rnn([*loadtest, "--out", str(out)], what="load test", env=env)
    capacity = json.loads(out.read_text())
    # its requests were answered (a 401 would have stopped it, exit 2, at the first); whether a rate met
    # the SLO in 5 s depends on how busy the machine is, not on the key
    assert capacity["probe_ms"] > 0 and capacity["requests_sent"] > 3 and capacity["curve"]
    assert all(r["mean_batch_size"] is not None for r in capacity["curve"])  # it read the protected /metrics


def test_the_epoch_curves_are_one_batch_stepped_by_epoch() -> None:
    epoch = {
        "train_loss": 2.5,
        "val_loss": 2.25,
        "val_perplexity": 9.5,
        "wall_seconds": 12,
        "tokens_per_s": 800.0,
    }
    metrics = {"training": {"epochs": [{**epoch, "epoch": 1}, {**epoch, "epoch": 2, "val_loss": 2.0}]}}
    batch = epoch_metrics(metrics)
    assert len(batch) == 10 and {m.step for m in batch} == {1, 2}  # never step 0, where the model is linked
    assert [m.value for m in batch if m.key == names.EPOCH_VAL_LOSS] == [2.25, 2.0]
    assert {m.key for m in batch} == {
        names.EPOCH_TRAIN_LOSS,
        names.EPOCH_VAL_LOSS,
        names.EPOCH_VAL_PERPLEXITY,
        names.EPOCH_WALL_SECONDS,
        names.EPOCH_TOKENS_PER_S,
    }
    assert next(m.value for m in batch if m.key == names.EPOCH_WALL_SECONDS) == 12.0


def test_the_validation_loss_is_logged_beside_the_characters_it_scored() -> None:
    from pipeline.tasks.retraining import training_metrics

    training = {
        "tokens_per_s": 900.0,
        "total_wall_seconds": 20.0,
        "train_seconds": 12.0,
        "peak_rss_bytes": 400_000_000,
        "final_train_loss": 2.5,
        "final_val_loss": 2.25,
        "final_val_perplexity": 9.49,
        "val_chars": 524_288,
    }
    metrics = {
        "training": training,
        "model": {"parameters": 3_289, "file_size_bytes": 20_000},
        "dataset": {"size_bytes": 1_000_000, "chars": 990_000, "vocab_size": 90},
    }
    logged = training_metrics(metrics)
    assert logged[names.VAL_LOSS] == 2.25 and logged[names.VAL_CHARS] == 524_288.0
    # a metrics.json written before the count was recorded logs the loss alone
    del training["val_chars"]
    assert names.VAL_CHARS not in training_metrics(metrics) and names.VAL_LOSS in training_metrics(metrics)


def test_a_load_test_prompt_the_model_cannot_read_fails_before_any_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks import retraining
    from rnn.data import Vocab
    from rnn.model import CharLSTM
    from rnn.train import save_model

    config = TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1)
    vocab = Vocab(list(" abcdefghijklmnopqrstuvwxyz"))  # lowercase only: no "T"
    torch.manual_seed(0)
    save_model(str(tmp_path / "model.pt"), CharLSTM.from_config(config, len(vocab)), config, vocab)
    started: list[str] = []
    monkeypatch.setattr(retraining, "_serving", lambda *a, **k: started.append("server"))
    benchmarked = {"model_uri": str(tmp_path / "model.pt"), "mlflow_run_id": "r", "metrics_uri": "m"}
    with pytest.raises(
        AirflowFailException, match=r"load_test_prompt 'The ' has characters the model never saw: \['T'\]"
    ):
        retraining.load_test(benchmarked=benchmarked, seconds=5, prompt="The ")
    assert started == []


def test_a_local_run_is_priced_on_the_configured_instance_with_the_overhead_it_would_bill(
    pipeline_home: Path, tmp_path: Path, repo_root: Path
) -> None:
    from pipeline import tracking
    from pipeline.tasks.retraining import cost

    metrics_path = tmp_path / "metrics.json"
    metrics_path.write_text((repo_root / "include" / "reference_metrics.json").read_text())
    wall_seconds = json.loads(metrics_path.read_text())["training"]["total_wall_seconds"]
    run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "manual__local_cost")
    compute = ComputeChoice(backend="local", instance_type="c5.large", region="us-east-1", market="on-demand")
    costed = cost(
        logged={"mlflow_run_id": run_id, "metrics_uri": str(metrics_path), "compute": compute.to_dict()}
    )
    priced = costed["cost"]
    # No spot run yet: the measured training + the default 300 s, on c5.large at $0.085/h (the shipped snapshot).
    assert (priced["instance_type"], priced["market"]) == ("c5.large", "on-demand")
    assert wall_seconds > 0
    assert priced["billed_seconds"] == pytest.approx(wall_seconds + 300)
    assert priced["usd"] == pytest.approx((wall_seconds + 300) / 3600 * 0.085)
    assert priced["overhead_seconds"] == 300.0
    assert priced["overhead_source"].startswith("default 300 s, not measured on this account")
    assert "as if on c5.large on-demand in us-east-1" in priced["basis"]
    assert json.loads(metrics_path.read_text())["compute"]["cost"]["overhead_seconds"] == 300.0


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_the_load_test_step_records_capacity_and_cold_starts(pipeline_home: Path, tmp_path: Path) -> None:
    """load_test on a tiny model, real processes: serving and cold_start in metrics.json and in MLflow."""
    import torch
    from mlflow import MlflowClient

    from pipeline import tracking
    from pipeline.tasks import retraining
    from rnn.data import Vocab
    from rnn.model import CharLSTM
    from rnn.train import save_model

    config = TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1)
    vocab = Vocab(list(" Tabcdefghijklmnopqrstuvwxyz"))
    torch.manual_seed(0)
    save_model(str(tmp_path / "model.pt"), CharLSTM.from_config(config, len(vocab)), config, vocab)
    metrics_file = tmp_path / "metrics.json"  # a run's document before its load test (version 2)
    metrics_file.write_text(json.dumps({"schema": "rnn-metrics", "schema_version": 2, "serving": None}))
    mlflow_run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "cold")
    benchmarked = {
        "mlflow_run_id": mlflow_run_id,
        "model_uri": str(tmp_path / "model.pt"),
        "metrics_uri": str(metrics_file),
        "run_dir": str(tmp_path / "run"),
    }
    result = retraining.load_test(benchmarked=benchmarked, seconds=5, chars=20)
    written = json.loads(metrics_file.read_text())
    assert written["schema_version"] == 3 and written["serving"]["completion_chars"] == 20
    cold = written["cold_start"]
    assert cold["completion_chars"] == 20 and cold["handler"]["runs"] == 3
    assert 0 < cold["server"]["ready_seconds"] < 180 and cold["server"]["first_request_ms"] > 0
    assert 0 < cold["handler"]["added_seconds"] < cold["handler"]["spawn_to_answer_seconds"]
    logged = MlflowClient().get_run(mlflow_run_id).data.metrics
    assert logged[names.SERVE_COLD_READY_SECONDS] == cold["server"]["ready_seconds"]
    assert logged[names.SERVE_COLD_FIRST_REQUEST_MS] == cold["server"]["first_request_ms"]
    assert logged[names.SERVE_COLD_HANDLER_SECONDS] == cold["handler"]["spawn_to_answer_seconds"]
    assert logged[names.SERVE_COLD_HANDLER_ADDED_SECONDS] == cold["handler"]["added_seconds"]
    assert logged[names.SERVE_COLD_HANDLER_IMPORT_SECONDS] == cold["handler"]["import_seconds"]
    assert logged[names.SERVE_COLD_HANDLER_LOAD_SECONDS] == cold["handler"]["load_seconds"]
    assert logged[names.SERVE_SLO_MS] == 1000.0
    assert result["cold_start"] == {
        "server_ready_seconds": cold["server"]["ready_seconds"],
        "handler_added_seconds": cold["handler"]["added_seconds"],
    }


def test_a_skipped_load_test_measures_no_cold_start() -> None:
    from pipeline.tasks import retraining

    skipped = retraining.load_test(benchmarked={"model_uri": "m"}, seconds=0)
    assert (skipped["serving"], skipped["cold_start"]) == (None, None)
