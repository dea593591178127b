"""The model registry's names: the registered model and the alias the champion gate moves.

The pipeline registers and promotes under these (:mod:`pipeline.registry`, re-exported by
:mod:`pipeline.names`); the cost model looks the champion up by them (:mod:`costing.model.model_source`).
"""

from __future__ import annotations

from typing import Any

REGISTERED_MODEL = "rnn-textgen"
CHAMPION_ALIAS = "champion"
CHAMPION_MODEL_URI = f"models:/{REGISTERED_MODEL}@{CHAMPION_ALIAS}"
# the tag every registered version carries: its training run's own validation loss (lineage)
VERSION_TAG_VAL_LOSS = "val_loss"


def champion_version(client: Any) -> tuple[Any, bool] | None:
    """The champion's registered version and whether the alias named it: the version with the
    ``champion`` alias; in a registry from before the alias, the version with the best ``val_loss`` tag
    (lowest, then the oldest); None when nothing is registered. ``client``: an ``mlflow.MlflowClient``.

    The one lookup the pipeline (:func:`pipeline.registry.current_champion`) and the cost model's default
    metrics (:func:`costing.model.model_source.default_metrics_source`) both use.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS), True
    except MlflowException:  # no such model, or no version has the alias
        pass
    try:
        versions = list(client.search_model_versions(f"name='{REGISTERED_MODEL}'"))
    except MlflowException:
        return None
    scored = [
        (float(v.tags[VERSION_TAG_VAL_LOSS]), int(v.version), v)
        for v in versions
        if VERSION_TAG_VAL_LOSS in (v.tags or {})
    ]
    if not scored:
        return None
    return min(scored, key=lambda item: item[:2])[2], False
