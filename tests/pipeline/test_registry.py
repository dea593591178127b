"""The champion/challenger gate: the rule on literal numbers, then the real thing against an MLflow
registry (SQLite), with tiny models trained here on the built-in corpus and on a toy corpus."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.registry import Candidate, decide, decide_replacement, quality_bar, unigram_loss

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


# -- a deliberate corpus change (replace_champion_reason) -------------------------------------------------

OWN = "the evaluation split (last 10%) of cyrillic.txt (sha256 aaaaaaaaaaaa…, 5,000 characters)"
CHAMPION_ON = "the evaluation split (last 10%) of corpus.txt"


def test_the_unigram_baseline_is_the_training_texts_character_frequencies_add_one_smoothed() -> None:
    # counts a:2 b:1 c:0, +1 each over the vocabulary {a, b, c}: p(a) = 3/6, p(b) = 2/6, p(c) = 1/6
    loss = unigram_loss(Counter("aab"), "abc", "abc")
    assert loss == pytest.approx((math.log(2) + math.log(3) + math.log(6)) / 3)
    assert unigram_loss({"a": 2, "b": 1, "c": 0}, "abc", "abc") == loss  # counts from anywhere (e.g. chunks)
    # a text scored on its own frequencies approaches its entropy: 1 bit per character for two equal letters
    assert unigram_loss(Counter("ab" * 50_000), "abab", "ab") == pytest.approx(math.log(2), rel=1e-4)


def test_the_unigram_baseline_refuses_characters_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match=r"1 character\(s\) of the text are not in the vocabulary of 2: 'z'"):
        unigram_loss(Counter("ab"), "abz", "ab")
    with pytest.raises(ValueError, match=r"1 character\(s\) of the text are not in the vocabulary of 2: 'y'"):
        unigram_loss(Counter("aby"), "ab", "ab")  # the training text's too
    with pytest.raises(ValueError, match="empty"):
        unigram_loss(Counter("ab"), "", "ab")


def test_the_quality_bar_is_nine_tenths_of_the_unigram_loss() -> None:
    assert quality_bar(3.0) == pytest.approx(2.7)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="unigram baseline"):
            quality_bar(bad)


def recorded_champion(loss: float | None = 1.3021) -> Candidate:
    return Candidate("champion version 3 (run 22222222)", "accepted on", SHA_B, loss=loss)


def replace(loss: float | None, *, unigram: float = 3.0, champion_loss: float | None = 1.3021, **kwargs):
    return decide_replacement(
        challenger(loss, **kwargs),
        recorded_champion(champion_loss),
        OWN,
        unigram=unigram,
        reason="move to the Cyrillic tickets",
        champion_on=CHAMPION_ON,
    )


def test_a_corpus_change_below_the_quality_bar_promotes_without_beating_the_champion() -> None:
    decision = replace(2.1, unigram=3.0)  # worse than the champion's 1.3021, but on another corpus
    assert decision.promote
    assert decision.reason == (
        "promoted: corpus change ('move to the Cyrillic tickets'): challenger run 11111111 (trained on "
        f"sha256 aaaaaaaaaaaa…) scored 2.1000 on {OWN}, below the quality bar 2.7000 (90% of the unigram "
        "baseline 3.0000); it replaces champion version 3 (run 22222222) (accepted on sha256 bbbbbbbbbbbb…), "
        f"a recorded loss of 1.3021 on {CHAMPION_ON} (not compared: the two scores are on different corpora)"
    )


@pytest.mark.parametrize("loss", [2.7, 2.9, 3.5])
def test_a_corpus_change_at_or_above_the_bar_is_refused_naming_the_bar_and_the_numbers(loss: float) -> None:
    decision = replace(loss, unigram=3.0)
    assert not decision.promote
    assert decision.reason.startswith(
        "not promoted: corpus change ('move to the Cyrillic tickets'): challenger"
    )
    assert (
        f"scored {loss:.4f} on {OWN}, not below the quality bar 2.7000 (90% of 3.0000, the loss of a unigram"
        in (decision.reason)
    )
    assert decision.reason.endswith(f"a recorded loss of 1.3021 on {CHAMPION_ON}, stays champion")


@pytest.mark.parametrize("loss", [math.nan, math.inf, None])
def test_a_corpus_change_with_a_non_finite_loss_never_promotes(loss) -> None:
    decision = replace(loss)
    assert not decision.promote and "a non-finite loss never promotes" in decision.reason


def test_a_corpus_change_reports_a_champion_without_a_recorded_loss() -> None:
    decision = replace(1.0, champion_loss=None)
    assert decision.promote and f"no recorded loss on {CHAMPION_ON}" in decision.reason


def test_a_challenger_that_cannot_encode_its_own_split_is_refused() -> None:
    decision = replace(None, cannot_encode="'ж' not in its vocabulary")
    assert not decision.promote and "cannot encode" in decision.reason and "stays champion" in decision.reason


def test_without_a_reason_the_refusal_of_other_data_says_how_to_change_corpus_on_purpose() -> None:
    decision = decide(challenger(cannot_encode="33 character(s) … not in its vocabulary"), champion(1.3), ON)
    assert "say why in replace_champion_reason" in decision.reason


def lineage(eval_sha256: str, eval_loss: float | None = 1.3021):
    from pipeline.registry import Lineage

    return Lineage("corpus.txt", eval_sha256, "corpus.txt", eval_sha256, 0.1, eval_loss)


def test_a_reason_applies_only_to_a_corpus_other_than_the_one_the_champion_was_accepted_on() -> None:
    from pipeline.registry import Champion, is_corpus_change, reason_not_used

    the_champion = Champion("3", "2" * 32, lineage(SHA_B), by_alias=True)
    assert is_corpus_change(challenger_sha256=SHA_A, champion=the_champion)
    assert not is_corpus_change(challenger_sha256=SHA_B, champion=the_champion)
    assert not is_corpus_change(challenger_sha256=SHA_A, champion=None)
    assert reason_not_used("", the_champion) == ""
    assert reason_not_used("why", the_champion) == (
        "; replace_champion_reason was given, but the challenger was trained on the corpus the champion was "
        "accepted on (sha256 bbbbbbbbbbbb…), so the two were compared like for like"
    )
    assert "there was no champion to replace" in reason_not_used("why", None)


def test_a_replacement_is_written_into_the_versions_description_and_tags() -> None:
    from pipeline import names
    from pipeline.registry import Replacement, version_description

    replacement = Replacement(
        reason="move to the Cyrillic tickets",
        champion_version="3",
        champion_eval_uri="corpus.txt",
        champion_eval_sha256=SHA_B,
        champion_eval_loss=1.3021,
        unigram_loss=3.0,
        quality_bar_loss=2.7,
    )
    own = lineage(SHA_A, eval_loss=2.1)
    text = version_description(
        run_id="1" * 32,
        airflow_run_id="manual__1",
        lineage=own,
        dataset_chars=50_000,
        reason="promoted: …",
        replacement=replacement,
    )
    assert text.splitlines()[2:] == [
        "Replaced champion version 3 on purpose, a corpus change: move to the Cyrillic tickets",
        f"Version 3 had been accepted on corpus.txt (sha256 {SHA_B}): loss 1.3021 nats/character; the two were "
        "not compared.",
        "Quality bar on its own evaluation split: loss 2.1000 < 2.7000 (90% of the unigram baseline 3.0000).",
        "Why: promoted: ….",
    ]
    assert f"(sha256 {SHA_A}): loss 2.1000 nats/character." in text  # its own corpus and score
    assert replacement.to_tags() == {
        names.VERSION_TAG_REPLACE_REASON: "move to the Cyrillic tickets",
        names.VERSION_TAG_REPLACED_VERSION: "3",
        names.VERSION_TAG_REPLACED_EVAL_URI: "corpus.txt",
        names.VERSION_TAG_REPLACED_EVAL_SHA256: SHA_B,
        names.VERSION_TAG_REPLACED_EVAL_LOSS: "1.302100",
        names.VERSION_TAG_UNIGRAM_LOSS: "3.000000",
        names.VERSION_TAG_QUALITY_BAR_LOSS: "2.700000",
    }
    # without a replacement the description is the lineage alone, as before
    plain = version_description(
        run_id="1" * 32, airflow_run_id="manual__1", lineage=own, dataset_chars=50_000, reason="promoted: …"
    )
    assert len(plain.splitlines()) == 3 and "Replaced" not in plain


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


@pytest.mark.integration  # trains four tiny models and logs them to MLflow (~25 s)
def test_a_corpus_change_with_a_reason_is_judged_on_its_own_corpus(
    pipeline_home: Path, corpora, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from pipeline import names, registry, tracking
    from pipeline.tasks.retraining import register
    from rnn.evaluate import evaluation_split

    real, toy = corpora
    why = "move to the toy corpus"
    tracking.configure()
    client = MlflowClient()
    first = train_and_log("first", real, tmp_path, steps=40, learning_rate=0.01)
    assert register(costed=first, replace_champion_reason=why)["registry"]["reason"].endswith(
        "; replace_champion_reason was not needed: there was no champion to replace"
    )
    accepted_loss = float(
        client.get_model_version(names.REGISTERED_MODEL, "1").tags[names.VERSION_TAG_EVAL_LOSS]
    )

    # 1. A reason on the champion's own corpus changes nothing: compared like for like, and said so.
    worse = train_and_log("worse", real, tmp_path, steps=40, learning_rate=1e-6)
    decision = register(costed=worse, replace_champion_reason=why)["registry"]
    assert not decision["registered"]
    assert (
        f"of {real}" in decision["reason"]
        and ", so the two were compared like for like" in decision["reason"]
    )
    assert scores(decision["reason"])[1] == pytest.approx(accepted_loss, abs=1e-4)

    # 2. A model of another corpus that learned nothing: the reason does not carry it past the bar.
    lazy = train_and_log("lazy", toy, tmp_path, steps=40, learning_rate=1e-6)
    decision = register(costed=lazy, replace_champion_reason=why)["registry"]
    assert not decision["registered"]
    run = client.get_run(lazy["mlflow_run_id"]).data
    mine, unigram = run.metrics[names.EVAL_LOSS], run.metrics[names.EVAL_UNIGRAM_LOSS]
    assert mine >= registry.quality_bar(unigram)
    assert decision["reason"].startswith(f"not promoted: corpus change ({why!r}): challenger run")
    assert (
        f"scored {mine:.4f} on the evaluation split (last 10%) of {toy} (sha256 {lazy['dataset_sha256'][:12]}…, "
        f"{len(evaluation_split(toy.read_text(), 0.1)):,} characters), not below the quality bar {registry.quality_bar(unigram):.4f} (90% of {unigram:.4f}"
    ) in decision["reason"]
    assert (
        f"a recorded loss of {accepted_loss:.4f} on the evaluation split (last 10%) of {real}, stays champion"
        in (decision["reason"])
    )
    assert run.tags[names.TAG_REGISTRY_REPLACE_REASON] == why and run.tags[names.TAG_EVAL_DATASET_URI] == str(
        toy
    )
    assert str(client.get_model_version_by_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS).version) == "1"

    # 3. The same corpus, a model that learned it: below the bar, it replaces the champion (which it
    #    cannot even be compared with: the toy vocabulary lacks characters of the real corpus).
    toy_model = train_and_log("toy", toy, tmp_path, steps=80, learning_rate=0.02)
    decision = register(costed=toy_model, replace_champion_reason=why, eval_corpus_uri=str(real))["registry"]
    assert decision["registered"] and decision["version"] == 2, decision["reason"]
    assert decision["reason"].endswith(
        f"; eval_corpus_uri {str(real)!r} was not used: a corpus change is judged on the challenger's own corpus"
    )
    champion = registry.current_champion(client)
    assert (champion.version, champion.lineage.eval_uri) == ("2", str(toy))  # accepted on its own corpus
    version = client.get_model_version(names.REGISTERED_MODEL, "2")
    assert version.tags[names.VERSION_TAG_REPLACE_REASON] == why
    assert version.tags[names.VERSION_TAG_REPLACED_EVAL_SHA256] == first["dataset_sha256"]
    assert float(version.tags[names.VERSION_TAG_REPLACED_EVAL_LOSS]) == pytest.approx(accepted_loss, abs=1e-6)
    assert float(version.tags[names.VERSION_TAG_EVAL_LOSS]) < float(
        version.tags[names.VERSION_TAG_QUALITY_BAR_LOSS]
    )
    assert f"Replaced champion version 1 on purpose, a corpus change: {why}" in version.description

    # 4. A reason longer than the form allows fails the task at once, registering nothing.
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="replace_champion_reason has 501 characters"):
        register(costed=worse, replace_champion_reason="x" * 501)
