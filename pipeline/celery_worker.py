"""The Celery workers' configuration: Airflow's own, plus the task libraries imported once per worker.

A Celery worker runs each task instance in a process it forks. Our task bodies import their libraries
inside the task (the DAG files must parse light), so without this every task process imported MLflow,
pandas, matplotlib, Great Expectations and the cost model again: 3-4 CPU-seconds per task before it did any work, 60 of
them for 20 ad hoc analyses. Imported here, in the worker's main process before it forks its pool, they
are shared by every task process the worker starts.

``docker-compose.yaml`` points the workers (only them: the scheduler also reads the Celery settings) at
:data:`CELERY_CONFIG` with ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``. The configuration itself is
Airflow's default, unchanged. Nothing here starts a thread or opens a connection: the libraries are
imported, not used, so the forks inherit no lock held by another thread.
"""

from __future__ import annotations

import importlib
import os

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

# What the task bodies import inside their tasks (pipeline.tasks.*), heaviest first. Not torch: training,
# the benchmark and the load test run it in subprocesses of their own.
PRELOADED_MODULES = (
    "great_expectations",  # the dataset and price validations
    "mlflow",
    "pandas",
    "matplotlib.figure",  # the report's charts (Figure and the Agg canvas, no pyplot)
    "matplotlib.backends.backend_agg",
    "costing.model",
    "costing.report",
    "s3fs",  # what fsspec opens s3:// paths with (toolkit.storage)
)


def preload(modules: tuple[str, ...] = PRELOADED_MODULES) -> None:
    """Import ``modules``; GX with its usage analytics off, as :mod:`toolkit.gx` imports it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for name in modules:
        importlib.import_module(name)


preload()
CELERY_CONFIG = DEFAULT_CELERY_CONFIG
