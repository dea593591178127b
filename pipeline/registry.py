"""The model registry: which version is the champion, and whether a challenger takes its place.

The champion is the version of ``rnn-textgen`` carrying the alias ``champion``; the analyses and
reports price it. A challenger (the model a training run just produced) replaces it only when both,
scored the same way on the same evaluation data (:mod:`rnn.evaluate`), show the challenger's loss
lower. The evaluation data is the evaluation split of the corpus the champion was accepted on
(its lineage says which), or of a corpus the team names (``eval_corpus_uri`` / the Variable
``rnn_eval_corpus_uri``): both models are then compared on that corpus. The first model ever trained
becomes the champion; a non-finite loss never promotes; a challenger whose vocabulary cannot encode
the evaluation data is refused with that reason rather than compared.

**A deliberate corpus change** (the ``replace_champion_reason`` param): a challenger trained on a
corpus other than the one the champion was accepted on cannot be compared with it like for like
(different text, often a different vocabulary), so it is judged on its own: on the evaluation split
of its own corpus it must score a finite loss below the **quality bar**, :data:`QUALITY_BAR_FRACTION`
of the loss of a unigram baseline on the same split (:func:`unigram_loss`: the character frequencies
of the rest of that corpus, the part the model was trained on, add-one smoothed over its vocabulary,
so a model that learned nothing but how often each character occurs does not pass). Clearing the bar
replaces the champion without beating it (its score is on another corpus); the reason, both corpora's
sha256 and both scores (the challenger's on its own split, the champion's as recorded in its lineage)
go into the new version's description and tags (:class:`Replacement`). Without the param, a
challenger trained on other data is judged as always; with it, a challenger trained on the corpus
the champion was accepted on is still compared like for like (:func:`is_corpus_change`).

:func:`decide` and :func:`decide_replacement` are the rules, on plain values. The rest reads and
writes MLflow (imported on use).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import names
from toolkit.registry import champion_version


@dataclass(frozen=True)
class Lineage:
    """What a registered version was trained on and accepted on (its version tags)."""

    dataset_uri: str  # corpus it was trained on
    dataset_sha256: str
    eval_uri: str  # corpus whose evaluation split it was accepted on
    eval_sha256: str
    eval_val_fraction: float  # the split: the last this fraction of that corpus
    eval_loss: float | None  # its loss there when it was accepted

    def to_tags(self) -> dict[str, str]:
        return {
            names.VERSION_TAG_DATASET_URI: self.dataset_uri,
            names.VERSION_TAG_DATASET_SHA256: self.dataset_sha256,
            names.VERSION_TAG_EVAL_URI: self.eval_uri,
            names.VERSION_TAG_EVAL_SHA256: self.eval_sha256,
            names.VERSION_TAG_EVAL_VAL_FRACTION: repr(self.eval_val_fraction),
            names.VERSION_TAG_EVAL_LOSS: "" if self.eval_loss is None else f"{self.eval_loss:.6f}",
        }


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str  # the MLflow training run behind it
    lineage: Lineage
    by_alias: bool  # False: an older registry without the alias, best val_loss version taken instead

    @property
    def label(self) -> str:
        return f"champion version {self.version} (run {self.run_id[:8]})"


@dataclass(frozen=True)
class Candidate:
    """One side of the comparison: its loss on the evaluation split, or why it has none."""

    label: str  # "challenger run 1a2b3c4d" / "champion version 3 (run 9f8e7d6c)"
    role: str  # "trained on" (challenger) / "accepted on" (champion)
    dataset_sha256: str  # of that corpus
    loss: float | None = None
    cannot_encode: str = ""  # why its vocabulary cannot encode the evaluation data, if it cannot

    def describe(self) -> str:
        return f"{self.label} ({self.role} sha256 {self.dataset_sha256[:12]}…)"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(challenger: Candidate, champion: Candidate | None, evaluation: str) -> Decision:
    """Promote the challenger or not, and say why with both models, both datasets and the numbers.

    ``evaluation`` names the data both were scored on, e.g. "the evaluation split (last 10%) of
    corpus.txt (sha256 1a2b3c4d5e6f…, 46,504 characters)".
    """
    if challenger.cannot_encode:
        against = f" against {champion.describe()}" if champion else ""
        return Decision(
            False,
            f"not promoted: {challenger.describe()} cannot encode {evaluation}: {challenger.cannot_encode}; "
            f"it was not compared{against}. To replace the champion with a model of other data on "
            f"purpose, say why in replace_champion_reason (the challenger is then judged on its own "
            f"corpus against the quality bar); to compare both on another corpus, name it in "
            f"eval_corpus_uri (or the Variable {names.VAR_EVAL_CORPUS_URI})",
        )
    if challenger.loss is None or not math.isfinite(challenger.loss):
        return Decision(
            False,
            f"not promoted: {challenger.describe()} has loss {challenger.loss} on {evaluation}; a "
            "non-finite loss never promotes",
        )
    if champion is None:
        return Decision(
            True,
            f"promoted: first model: {challenger.describe()} scored {challenger.loss:.4f} on {evaluation}",
        )
    if champion.cannot_encode or champion.loss is None or not math.isfinite(champion.loss):
        why = champion.cannot_encode or f"its loss is {champion.loss}"
        return Decision(
            True,
            f"promoted: {challenger.describe()} scored {challenger.loss:.4f} on {evaluation}, where "
            f"{champion.describe()} cannot be scored ({why})",
        )
    if challenger.loss < champion.loss:
        return Decision(
            True,
            f"promoted: {challenger.describe()} scored {challenger.loss:.4f} < {champion.loss:.4f} of "
            f"{champion.describe()}, both on {evaluation}",
        )
    return Decision(
        False,
        f"not promoted: {challenger.describe()} scored {challenger.loss:.4f}, not below "
        f"{champion.loss:.4f} of {champion.describe()}, both on {evaluation}",
    )


# -- a deliberate corpus change ------------------------------------------------------------------------

# A challenger judged on its own corpus must score below this fraction of the unigram baseline's loss
# there: at least 10% fewer nats per character than knowing only how often each character occurs.
# A model that learned which characters follow which clears it easily (an LSTM of 32 units after 100
# steps scores about half the baseline on generated lowercase or Cyrillic text, three quarters on CJK:
# tests/dags/test_any_corpus_e2e.py); one that learned nothing (loss ~ ln(vocabulary size)), or only
# the character frequencies, does not.
QUALITY_BAR_FRACTION = 0.9
REPLACE_REASON_MAX_CHARS = (
    500  # replace_champion_reason: a sentence or two, kept whole in tags and the description
)


def unigram_loss(train_counts: Mapping[str, int], eval_text: str, vocabulary: Iterable[str]) -> float:
    """Cross-entropy, nats per character, of ``eval_text`` under the character frequencies ``train_counts``.

    ``train_counts`` are the occurrences of each character in the training text (e.g. a
    ``collections.Counter`` of it, or counts gathered chunk by chunk). The frequencies are add-one
    smoothed over ``vocabulary`` (the model's characters), so a character of the vocabulary that the
    training text lacks costs a finite amount. It is what a model that knows how often each character
    occurs, and nothing about context, scores.
    """
    vocab = set(vocabulary)
    if not eval_text:
        raise ValueError("the evaluation text is empty: there is nothing to score the baseline on")
    seen = {ch for ch, n in train_counts.items() if n}
    outside = sorted((set(eval_text) | seen) - vocab)
    if outside:
        shown = "".join(outside[:20]) + ("…" if len(outside) > 20 else "")
        raise ValueError(
            f"{len(outside)} character(s) of the text are not in the vocabulary of {len(vocab)}: {shown!r}"
        )
    total = sum(train_counts.values()) + len(vocab)
    nats = sum(n * math.log(total / (train_counts.get(ch, 0) + 1)) for ch, n in Counter(eval_text).items())
    return nats / len(eval_text)


def quality_bar(unigram: float) -> float:
    """The loss a challenger judged on its own corpus must stay below: a fraction of the unigram baseline."""
    if not math.isfinite(unigram) or unigram <= 0:
        raise ValueError(f"the unigram baseline must be a positive finite loss, got {unigram!r}")
    return QUALITY_BAR_FRACTION * unigram


def is_corpus_change(*, challenger_sha256: str, champion: Champion | None) -> bool:
    """True when the challenger was trained on a corpus other than the one the champion was accepted on.

    Only then does ``replace_champion_reason`` apply: on the champion's own data the two are compared
    like for like, reason or not; with no champion the first model is promoted anyway.
    """
    return champion is not None and challenger_sha256 != champion.lineage.eval_sha256


def reason_not_used(replace_reason: str, champion: Champion | None) -> str:
    """What the decision says about a ``replace_champion_reason`` that did not apply ("" if none was given)."""
    if not replace_reason:
        return ""
    if champion is None:
        return "; replace_champion_reason was not needed: there was no champion to replace"
    return (
        "; replace_champion_reason was given, but the challenger was trained on the corpus the champion "
        f"was accepted on (sha256 {champion.lineage.eval_sha256[:12]}…), so the two were compared like for like"
    )


@dataclass(frozen=True)
class Replacement:
    """A champion replaced on purpose by a model of another corpus: what it replaced, why, and the bar.

    The new version's own corpus and score are its :class:`Lineage` (``eval_sha256``, ``eval_loss``).
    """

    reason: str  # replace_champion_reason, as written
    champion_version: str
    champion_eval_uri: str  # the corpus the replaced champion was accepted on
    champion_eval_sha256: str
    champion_eval_loss: float | None  # its loss there, as recorded in its lineage (not scored again)
    unigram_loss: float  # the baseline, on the new version's own evaluation split
    quality_bar_loss: float  # the loss it had to stay below

    def to_tags(self) -> dict[str, str]:
        return {
            names.VERSION_TAG_REPLACE_REASON: self.reason,
            names.VERSION_TAG_REPLACED_VERSION: self.champion_version,
            names.VERSION_TAG_REPLACED_EVAL_URI: self.champion_eval_uri,
            names.VERSION_TAG_REPLACED_EVAL_SHA256: self.champion_eval_sha256,
            names.VERSION_TAG_REPLACED_EVAL_LOSS: _loss_tag(self.champion_eval_loss),
            names.VERSION_TAG_UNIGRAM_LOSS: _loss_tag(self.unigram_loss),
            names.VERSION_TAG_QUALITY_BAR_LOSS: _loss_tag(self.quality_bar_loss),
        }


def _loss_tag(loss: float | None) -> str:
    return "" if loss is None else f"{loss:.6f}"


def decide_replacement(
    challenger: Candidate,
    champion: Candidate,
    evaluation: str,
    *,
    unigram: float,
    reason: str,
    champion_on: str,
) -> Decision:
    """A deliberate corpus change: promote the challenger if it clears the quality bar on its own split.

    ``evaluation`` names the challenger's own evaluation split, ``unigram`` the baseline's loss there;
    ``champion`` carries the champion's recorded loss (``None`` if its lineage has none) on the data
    ``champion_on`` names. The two losses are on different corpora: both are reported, neither is
    compared with the other.
    """
    bar = quality_bar(unigram)
    change = f"corpus change ({reason!r})"
    recorded = "no recorded loss" if champion.loss is None else f"a recorded loss of {champion.loss:.4f}"
    theirs = f"{champion.describe()}, {recorded} on {champion_on}"
    against = (
        f"below the quality bar {bar:.4f} ({QUALITY_BAR_FRACTION:.0%} of the unigram baseline {unigram:.4f})"
    )
    if challenger.cannot_encode:
        return Decision(
            False,
            f"not promoted: {change}: {challenger.describe()} cannot encode {evaluation}: "
            f"{challenger.cannot_encode}; {theirs}, stays champion",
        )
    if challenger.loss is None or not math.isfinite(challenger.loss):
        return Decision(
            False,
            f"not promoted: {change}: {challenger.describe()} has loss {challenger.loss} on {evaluation}; a "
            f"non-finite loss never promotes; {theirs}, stays champion",
        )
    if challenger.loss < bar:
        return Decision(
            True,
            f"promoted: {change}: {challenger.describe()} scored {challenger.loss:.4f} on {evaluation}, "
            f"{against}; it replaces {theirs} (not compared: the two scores are on different corpora)",
        )
    return Decision(
        False,
        f"not promoted: {change}: {challenger.describe()} scored {challenger.loss:.4f} on {evaluation}, not "
        f"below the quality bar {bar:.4f} ({QUALITY_BAR_FRACTION:.0%} of {unigram:.4f}, the loss of a unigram "
        f"baseline: the character frequencies of the rest of that corpus); {theirs}, stays champion",
    )


def describe_evaluation(uri: str, sha256: str, val_fraction: float, chars: int) -> str:
    return f"the evaluation split (last {val_fraction:.0%}) of {uri} (sha256 {sha256[:12]}…, {chars:,} characters)"


def version_description(
    *,
    run_id: str,
    airflow_run_id: str,
    lineage: Lineage,
    dataset_chars: int,
    reason: str,
    replacement: Replacement | None = None,
) -> str:
    """The registered version's description: its lineage, in words (and, for a corpus change, what it replaced)."""
    lines = [
        f"Trained by MLflow run {run_id} (Airflow run {airflow_run_id}) on {lineage.dataset_uri} "
        f"(sha256 {lineage.dataset_sha256}, {dataset_chars:,} characters).",
        f"Accepted on the evaluation split (last {lineage.eval_val_fraction:.0%}) of {lineage.eval_uri} "
        f"(sha256 {lineage.eval_sha256}): loss {lineage.eval_loss:.4f} nats/character.",
    ]
    if replacement is not None:
        recorded = (
            "no loss recorded"
            if replacement.champion_eval_loss is None
            else f"loss {replacement.champion_eval_loss:.4f} nats/character"
        )
        lines += [
            f"Replaced champion version {replacement.champion_version} on purpose, a corpus change: "
            f"{replacement.reason}",
            f"Version {replacement.champion_version} had been accepted on {replacement.champion_eval_uri} "
            f"(sha256 {replacement.champion_eval_sha256}): {recorded}; the two were not compared.",
            f"Quality bar on its own evaluation split: loss {lineage.eval_loss:.4f} < "
            f"{replacement.quality_bar_loss:.4f} ({QUALITY_BAR_FRACTION:.0%} of the unigram baseline "
            f"{replacement.unigram_loss:.4f}).",
        ]
    return "\n".join([*lines, f"Why: {reason}."])


# -- MLflow ----------------------------------------------------------------------------------------------


def registered_versions(client: Any) -> list[Any]:
    from mlflow.exceptions import MlflowException

    try:
        return list(client.search_model_versions(f"name='{names.REGISTERED_MODEL}'"))
    except MlflowException:
        return []


def current_champion(client: Any) -> Champion | None:
    """The version with the ``champion`` alias; in a registry from before the alias, the version
    with the best ``val_loss`` tag; None when nothing is registered (:func:`toolkit.registry.champion_version`,
    the lookup the cost model's default metrics use too)."""
    found = champion_version(client)
    if found is None:
        return None
    version, by_alias = found
    return Champion(
        version=str(version.version),
        run_id=version.run_id,
        lineage=_lineage(client, version),
        by_alias=by_alias,
    )


def _lineage(client: Any, version: Any) -> Lineage:
    tags = version.tags or {}
    if names.VERSION_TAG_EVAL_URI in tags:
        loss = tags.get(names.VERSION_TAG_EVAL_LOSS)
        return Lineage(
            dataset_uri=tags[names.VERSION_TAG_DATASET_URI],
            dataset_sha256=tags[names.VERSION_TAG_DATASET_SHA256],
            eval_uri=tags[names.VERSION_TAG_EVAL_URI],
            eval_sha256=tags[names.VERSION_TAG_EVAL_SHA256],
            eval_val_fraction=float(tags[names.VERSION_TAG_EVAL_VAL_FRACTION]),
            eval_loss=float(loss) if loss else None,
        )
    # registered before versions carried their lineage: the training run's params say it
    params = client.get_run(version.run_id).data.params
    uri, sha = params.get("config.corpus_uri", ""), params.get("dataset.sha256", "")
    return Lineage(
        dataset_uri=uri,
        dataset_sha256=sha,
        eval_uri=uri,
        eval_sha256=sha,
        eval_val_fraction=float(params.get("config.val_fraction", 0.1)),
        eval_loss=None,
    )


def load_champion_model(champion: Champion) -> tuple[Any, Any]:
    """(CharLSTM, Vocab) of a registered version, from the registry."""
    import mlflow
    import mlflow.pytorch

    from rnn.data import Vocab

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{names.REGISTERED_MODEL}/{champion.version}", dst_path=tmp
        )
        model = mlflow.pytorch.load_model(local)
        vocab = Vocab(json.loads(Path(local, "extra_files", "vocab.json").read_text()))
    model.eval()
    return model, vocab


def promote(
    client: Any,
    *,
    logged_model_id: str,
    tags: dict[str, str],
    description: str,
) -> str:
    """Register the challenger's logged model as a new version and move the alias to it; its version."""
    import mlflow

    version = mlflow.register_model(f"models:/{logged_model_id}", names.REGISTERED_MODEL, tags=tags)
    finish_promotion(client, str(version.version), description)
    return str(version.version)


def finish_promotion(client: Any, version: str, description: str) -> None:
    """Description and alias of a registered version (idempotent: a retried task calls it again)."""
    client.update_model_version(names.REGISTERED_MODEL, version, description=description)
    client.set_registered_model_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS, version)
