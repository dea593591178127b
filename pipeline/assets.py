"""The Airflow Assets the DAGs meet through, each declared once.

``rnn_retraining`` publishes :data:`MODEL` when it promotes a model; ``pricing_refresh`` publishes
:data:`PRICING_SNAPSHOT` when it writes a fresh snapshot; ``cost_recompute`` is scheduled on either.
"""

from __future__ import annotations

from airflow.sdk import Asset

from pipeline import names

MODEL = Asset(name=names.MODEL_ASSET_NAME, uri=names.MODEL_ASSET_URI)
PRICING_SNAPSHOT = Asset(name=names.PRICING_ASSET_NAME, uri=names.PRICING_ASSET_URI)
