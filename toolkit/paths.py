"""Where the project finds the files it ships with, and the tracking store: the two variables read here.

``RNN_PIPELINE_INCLUDE_DIR`` (:func:`include_dir`): unset, it is the ``include/`` folder of the
checkout this package runs from, which is right for ``make`` and an editable install; an installed
wheel has no ``include/`` next to it, so set the variable to a copy of the repository's ``include/``
folder. ``rnn``, ``costing`` and ``pipeline.settings`` all take it from here.

``MLFLOW_TRACKING_URI`` (:func:`tracking_uri`) is read only to decide whether the registered
champion's metrics can be looked up (:mod:`costing.model.model_source`).
"""

from __future__ import annotations

import os
from pathlib import Path

INCLUDE_DIR_ENV = "RNN_PIPELINE_INCLUDE_DIR"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


def include_dir() -> Path:
    """The project's ``include/`` folder: ``$RNN_PIPELINE_INCLUDE_DIR``, else the checkout's."""
    configured = os.environ.get(INCLUDE_DIR_ENV)
    return Path(configured).resolve() if configured else Path(__file__).resolve().parents[1] / "include"


INCLUDE_DIR = include_dir()


def tracking_uri() -> str | None:
    """``$MLFLOW_TRACKING_URI``, or None when it is not set (then no registry is consulted)."""
    return os.environ.get(TRACKING_URI_ENV) or None
