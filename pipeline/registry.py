"""The model registry: which version is the champion, and whether a challenger takes its place.

The champion is the version of ``rnn-textgen`` carrying the alias ``champion``; the analyses and
reports price it. A challenger (the model a training run just produced) replaces it only when both,
scored the same way on the same evaluation data (:mod:`rnn.evaluate`), show the challenger's loss
lower. The evaluation data is the evaluation split of the corpus the champion was accepted on
(its lineage says which), or of a corpus the team names (``eval_corpus_uri`` / the Variable
``rnn_eval_corpus_uri``), which is how the model is moved to new data on purpose. The first model
ever trained becomes the champion; a non-finite loss never promotes; a challenger whose vocabulary
cannot encode the evaluation data is refused with that reason rather than compared.

:func:`decide` is the rule, on plain values. The rest reads and writes MLflow (imported on use).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import names


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
            f"it was not compared{against}. To move the model to other data on purpose, name that "
            f"corpus in eval_corpus_uri (or the Variable {names.VAR_EVAL_CORPUS_URI})",
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


def describe_evaluation(uri: str, sha256: str, val_fraction: float, chars: int) -> str:
    return f"the evaluation split (last {val_fraction:.0%}) of {uri} (sha256 {sha256[:12]}…, {chars:,} characters)"


def version_description(
    *, run_id: str, airflow_run_id: str, lineage: Lineage, dataset_chars: int, reason: str
) -> str:
    """The registered version's description: its lineage, in words."""
    return "\n".join(
        [
            f"Trained by MLflow run {run_id} (Airflow run {airflow_run_id}) on {lineage.dataset_uri} "
            f"(sha256 {lineage.dataset_sha256}, {dataset_chars:,} characters).",
            f"Accepted on the evaluation split (last {lineage.eval_val_fraction:.0%}) of {lineage.eval_uri} "
            f"(sha256 {lineage.eval_sha256}): loss {lineage.eval_loss:.4f} nats/character.",
            f"Why: {reason}.",
        ]
    )


# -- MLflow ----------------------------------------------------------------------------------------------


def registered_versions(client: Any) -> list[Any]:
    from mlflow.exceptions import MlflowException

    try:
        return list(client.search_model_versions(f"name='{names.REGISTERED_MODEL}'"))
    except MlflowException:
        return []


def current_champion(client: Any) -> Champion | None:
    """The version with the ``champion`` alias; in a registry from before the alias, the version
    with the best ``val_loss`` tag; None when nothing is registered."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(names.REGISTERED_MODEL, names.CHAMPION_ALIAS)
        by_alias = True
    except MlflowException:  # no such model, or no version has the alias
        scored = [
            (float(v.tags[names.VERSION_TAG_VAL_LOSS]), int(v.version), v)
            for v in registered_versions(client)
            if names.VERSION_TAG_VAL_LOSS in (v.tags or {})
        ]
        if not scored:
            return None
        version, by_alias = min(scored, key=lambda item: item[:2])[2], False
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
