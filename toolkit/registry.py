"""The model registry's names: the registered model and the alias the champion gate moves.

The pipeline registers and promotes under these (:mod:`pipeline.registry`, re-exported by
:mod:`pipeline.names`); the cost model looks the champion up by them (:mod:`costing.model.model_source`).
"""

from __future__ import annotations

REGISTERED_MODEL = "rnn-textgen"
CHAMPION_ALIAS = "champion"
CHAMPION_MODEL_URI = f"models:/{REGISTERED_MODEL}@{CHAMPION_ALIAS}"
