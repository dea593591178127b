"""The champion/challenger gate: the rule on literal numbers, then the real thing against an MLflow
registry (SQLite), with tiny models trained here on the built-in corpus and on a toy corpus."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from pipeline.registry import Candidate, decide

SHA_A, SHA_B = "a" * 64, "b" * 64
ON = "the evaluation split (last 10%) of corpus.txt (sha256 bbbbbbbbbbbb…, 46,504 characters)"


def challenger(loss: float | None = None, cannot_encode: str = "") -> Candidate:
    return Candidate("challenger run 11111111", "trained on", SHA_A, loss=loss, cannot_encode=cannot_encode)


def champion(loss: float | None = None, cannot_encode: str = "") -> Candidate:
    return Candidate(
        "champion version 3 (run 22222222)", "accepted on", SHA_B, loss=loss, cannot_encode=cannot_encode
    )


def test_the_first_model_becomes_the_champion() -> None:
    decision = decide(challenger(2.5), None, ON)
    assert decision.promote
    assert decision.reason == (
        f"promoted: first model: challenger run 11111111 (trained on sha256 aaaaaaaaaaaa…) scored 2.5000 on {ON}"
    )


def test_a_lower_loss_on_the_same_data_promotes_and_the_reason_names_everything() -> None:
    decision = decide(challenger(1.2345), champion(1.3021), ON)
    assert decision.promote
    assert decision.reason == (
        "promoted: challenger run 11111111 (trained on sha256 aaaaaaaaaaaa…) scored 1.2345 < 1.3021 of "
        f"champion version 3 (run 22222222) (accepted on sha256 bbbbbbbbbbbb…), both on {ON}"
    )


@pytest.mark.parametrize("loss", [1.3021, 2.76])
def test_an_equal_or_higher_loss_does_not(loss: float) -> None:
    decision = decide(challenger(loss), champion(1.3021), ON)
    assert not decision.promote
    assert f"scored {loss:.4f}, not below 1.3021 of champion version 3" in decision.reason
    assert "aaaaaaaaaaaa" in decision.reason and "bbbbbbbbbbbb" in decision.reason


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf, None])
@pytest.mark.parametrize("against", [None, 1.3], ids=["first-model", "with-champion"])
def test_a_non_finite_loss_never_promotes(loss, against) -> None:
    decision = decide(challenger(loss), None if against is None else champion(against), ON)
    assert not decision.promote
    assert "a non-finite loss never promotes" in decision.reason


def test_a_challenger_that_cannot_encode_the_data_is_refused_not_compared() -> None:
    decision = decide(challenger(cannot_encode="3 character(s) … not in its vocabulary"), champion(1.3), ON)
    assert not decision.promote
    assert decision.reason.startswith(
        f"not promoted: challenger run 11111111 (trained on sha256 aaaaaaaaaaaa…) cannot encode {ON}"
    )
    assert (
        "it was not compared against champion version 3 (run 22222222) (accepted on sha256 bbbbbbbbbbbb…)"
        in (decision.reason)
    )
    assert "eval_corpus_uri" in decision.reason and "rnn_eval_corpus_uri" in decision.reason


def test_a_champion_that_cannot_be_scored_on_new_data_gives_way() -> None:
    decision = decide(challenger(1.9), champion(cannot_encode="'Ω' not in its vocabulary"), ON)
    assert decision.promote and "cannot be scored ('Ω' not in its vocabulary)" in decision.reason


# -- against a real registry ------------------------------------------------------------------------------

TOY_LINE = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def corpora(tmp_path: Path) -> tuple[Path, Path]:
    from rnn.corpus import default_corpus_text

    real, toy = tmp_path / "real.txt", tmp_path / "toy.txt"
    real.write_text(default_corpus_text()[:40_000])
    toy.write_text("".join(f"{i:05d} {TOY_LINE}\n" for i in range(1, 2001)))  # passes validation
    return real, toy


def train_and_log(name: str, corpus: Path, home: Path, *, steps: int, learning_rate: float) -> dict:
    """What the register task receives: a tiny model trained on ``corpus``, logged to its MLflow run."""
    from pipeline import names, tracking
    from pipeline.tasks import retraining
    from rnn.config import TrainConfig
    from rnn.train import train

    config = TrainConfig(
        corpus_uri=str(corpus),
        seq_len=32,
        batch_size=8,
        embedding_dim=8,
        hidden_size=32,
        num_layers=1,
        epochs=1,
        max_steps_per_epoch=steps,
        learning_rate=learning_rate,
    )
    mlflow_run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", name)
    trained = train(config, str(home / name), progress=False, log=lambda _: None)
    logged = retraining.log_to_mlflow(
        benchmarked={
            "mlflow_run_id": mlflow_run_id,
            "metrics_uri": trained.metrics_uri,
            "model_uri": trained.model_uri,
        }
    )
    dataset = trained.metrics["dataset"]
    return {
        **logged,
        "config": config.to_dict(),
        "dataset_sha256": dataset["sha256"],
        "dataset_chars": dataset["chars"],
    }


def scores(reason: str) -> tuple[float, float]:
    challenger_loss, champion_loss = re.search(
        r"scored (\d+\.\d+)[^\d]+(\d+\.\d+) of champion", reason
    ).groups()
    return float(challenger_loss), float(champion_loss)


@pytest.mark.integration  # trains three tiny models and logs them to MLflow (~20 s)
def test_champion_and_challenger_meet_on_the_same_data(pipeline_home: Path, corpora, tmp_path: Path) -> None:
    import torch
    from mlflow import MlflowClient

    from pipeline import names, registry, tracking
    from pipeline.tasks.cost_analysis import champion_model_source
    from pipeline.tasks.retraining import register

    real, toy = corpora
    tracking.configure()
    client = MlflowClient()

    # 1. The first model ever trained becomes the champion, scored on its own corpus's split.
    first = train_and_log("first", real, tmp_path, steps=40, learning_rate=0.01)
    decision = register(costed=first)["registry"]
    assert decision["registered"] and decision["version"] == 1
    assert decision["reason"].startswith(
        f"promoted: first model: challenger run {first['mlflow_run_id'][:8]}"
    )
    assert str(client.get_model_version_by_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS).version) == "1"
    version = client.get_model_version(names.REGISTERED_MODEL, "1")
    assert f"Trained by MLflow run {first['mlflow_run_id']} " in version.description
    assert f"on {real} (sha256 {first['dataset_sha256']}, 40,000 characters)" in version.description
    assert f"Accepted on the evaluation split (last 10%) of {real}" in version.description
    assert version.tags[names.VERSION_TAG_EVAL_URI] == str(real)
    accepted_loss = float(version.tags[names.VERSION_TAG_EVAL_LOSS])

    # 2. A worse model, same data: compared like with like, not promoted, the numbers in the reason.
    worse = train_and_log("worse", real, tmp_path, steps=40, learning_rate=1e-6)
    decision = register(costed=worse)["registry"]
    assert not decision["registered"]
    mine, theirs = scores(decision["reason"])
    assert mine >= theirs and theirs == pytest.approx(accepted_loss, abs=1e-4)  # the same split, scored alike
    assert f"(trained on sha256 {worse['dataset_sha256'][:12]}…)" in decision["reason"]
    assert f"(accepted on sha256 {first['dataset_sha256'][:12]}…)" in decision["reason"]
    run = client.get_run(worse["mlflow_run_id"]).data
    assert run.metrics[names.EVAL_LOSS] == pytest.approx(mine, abs=1e-4)
    assert run.metrics[names.EVAL_CHAMPION_LOSS] == pytest.approx(theirs, abs=1e-4)
    assert run.tags[names.TAG_EVAL_DATASET_URI] == str(real)
    assert run.tags[names.TAG_REGISTRY_COMPARED_WITH] == "version 1"

    # 3. A toy model that learned "the quick brown fox" cannot even encode the champion's data.
    toy_model = train_and_log("toy", toy, tmp_path, steps=80, learning_rate=0.02)
    decision = register(costed=toy_model)["registry"]
    assert not decision["registered"]
    assert f"cannot encode the evaluation split (last 10%) of {real}" in decision["reason"]
    assert "not in its vocabulary" in decision["reason"]
    assert str(client.get_model_version_by_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS).version) == "1"

    # 4. Naming the toy corpus for evaluation moves the model to it on purpose.
    decision = register(costed=toy_model, eval_corpus_uri=str(toy))["registry"]
    assert decision["registered"] and decision["version"] == 2, decision["reason"]
    mine, theirs = scores(decision["reason"])
    assert mine < theirs and f"both on the evaluation split (last 10%) of {toy}" in decision["reason"]
    champion = registry.current_champion(client)
    assert (champion.version, champion.lineage.eval_uri) == ("2", str(toy))  # accepted on the toy corpus now

    # 5. A model whose weights went NaN never promotes.
    payload = torch.load(toy_model["model_uri"], weights_only=True)
    payload["model"] = {key: torch.full_like(value, math.nan) for key, value in payload["model"].items()}
    broken = tmp_path / "nan-model.pt"
    torch.save(payload, broken)
    nan_run = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "nan")
    decision = register(costed={**toy_model, "mlflow_run_id": nan_run, "model_uri": str(broken)})["registry"]
    assert not decision["registered"] and "has loss nan" in decision["reason"]
    assert "a non-finite loss never promotes" in decision["reason"]

    # 6. The analyses price the alias, not the newest version: roll the alias back to version 1.
    client.set_registered_model_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS, "1")
    source = champion_model_source()
    assert (source.version, source.training_run_id) == ("1", first["mlflow_run_id"])
    assert source.description.startswith("rnn-textgen@champion, version 1")
