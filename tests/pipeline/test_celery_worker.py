"""The Celery workers import the task libraries once, before they fork (pipeline/celery_worker.py)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys, threading
before = set(sys.modules)
import pipeline.celery_worker as worker
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "missing": [m for m in worker.PRELOADED_MODULES if m not in sys.modules],
    "torch": "torch" in sys.modules,
    "default_config": worker.CELERY_CONFIG is DEFAULT_CELERY_CONFIG,
}))
"""


def test_the_worker_configuration_preloads_the_task_libraries_and_starts_no_thread() -> None:
    # A fresh interpreter, as `airflow celery worker` imports it: a thread left running there would be
    # missing from every forked task process, with any lock it held.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["missing"] == []
    assert probe["threads"] == ["MainThread"]
    assert probe["torch"] is False  # training, the benchmark and the load test run it in subprocesses
    assert probe["default_config"] is True  # Airflow's Celery settings, unchanged


def test_what_is_preloaded_is_what_the_task_bodies_import() -> None:
    from pipeline.celery_worker import PRELOADED_MODULES  # imports them all: here, not at collection
    from pipeline.settings import REPO_ROOT

    sources = "\n".join(
        path.read_text()
        for folder in ("pipeline", "costing", "toolkit")
        for path in (REPO_ROOT / folder).rglob("*.py")
    )
    # fsspec imports s3fs itself, for s3:// paths
    imported_by = {"s3fs": "fsspec"}
    for module in PRELOADED_MODULES:
        top = imported_by.get(module, module.split(".")[0])
        assert f"import {top}" in sources or f"from {top}" in sources, f"nothing imports {module}: drop it"
    assert (REPO_ROOT / "docker-compose.yaml").read_text().count("pipeline.celery_worker.CELERY_CONFIG") == 1
