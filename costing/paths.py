"""Where ``costing`` finds the files it ships with: ``include/`` (snapshots, tables, templates).

One setting: ``RNN_PIPELINE_INCLUDE_DIR``. Unset, it is the ``include/`` folder of the checkout this
package runs from, which is right for ``make`` and an editable install; an installed wheel has no
``include/`` next to it, so set the variable to a copy of the repository's ``include/`` folder.
Twin: :mod:`rnn.paths` (``rnn`` and ``costing`` may not import each other); ``pipeline.settings``
takes the value from here. ``tests/pipeline/test_packaging.py`` checks that the three agree.
"""

from __future__ import annotations

import os
from pathlib import Path

INCLUDE_DIR_ENV = "RNN_PIPELINE_INCLUDE_DIR"


def include_dir() -> Path:
    """The project's ``include/`` folder: ``$RNN_PIPELINE_INCLUDE_DIR``, else the checkout's."""
    configured = os.environ.get(INCLUDE_DIR_ENV)
    return Path(configured).resolve() if configured else Path(__file__).resolve().parents[1] / "include"


INCLUDE_DIR = include_dir()
