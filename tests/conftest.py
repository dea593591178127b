"""Shared fixtures. Airflow settings are isolated per test session before anything imports airflow."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from forked_cli import ForkedCommands, forked_commands

REPO_ROOT = Path(__file__).resolve().parents[1]
# Stops, and names, any process a test left running (tests/process_guard.py); one tier per test
# (unit, integration, e2e, browser, production; tests/tiers.py); with RNN_TEST_TIMELINE=<file>, where the
# time and CPU went, test by test (tests/timeline.py).
pytest_plugins = ["process_guard", "tiers", "timeline"]

# Airflow reads its configuration when first imported: point it at a throwaway home now.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="rnn-cost-tests-"))
# Forced, not defaulted: `make` exports the repo's own AIRFLOW_HOME, which tests must not touch.
os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["RNN_PIPELINE_HOME"] = str(_SESSION_HOME / "pipeline")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("RNN_PIPELINE_DATA_ROOT", None)
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # tests talk to 127.0.0.1 only
os.environ["DO_NOT_TRACK"] = "true"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # boto3 must never probe 169.254.169.254
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
# No test talks to real AWS: any boto3 client without an explicit endpoint fails fast and offline.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
sys.path.insert(0, str(REPO_ROOT))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The throwaway Airflow and pipeline home goes with the test process (each xdist worker has its own)."""
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _restore_mlflow_uris(before: dict[str, str | None]) -> None:
    if all(os.environ.get(name) == value for name, value in before.items()):
        return
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        mlflow.set_tracking_uri(before["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(before["MLFLOW_REGISTRY_URI"])
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _mlflow_store_not_inherited():
    """``mlflow.set_tracking_uri`` (which every task run in process calls) also sets MLFLOW_TRACKING_URI in
    os.environ for subprocesses, so a later test on the same xdist worker would find that store (the
    costing CLI prices its champion instead of the reference). Put the URIs back as the test found them."""
    before = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    yield
    _restore_mlflow_uris(before)


@pytest.fixture(autouse=True, scope="module")
def _mlflow_store_not_inherited_by_the_next_module():
    """The same for a module-scoped fixture that set a store (torn down after the module's own fixtures)."""
    before = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    yield
    _restore_mlflow_uris(before)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def cli() -> Iterator[ForkedCommands]:
    """``cli.run("rnn", "train", ...)``: ``python -m rnn train ...`` in a child forked from one process that
    imported the command lines once (tests/forked_cli.py); a ``subprocess.CompletedProcess``."""
    with forked_commands() as commands:
        yield commands


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """~40 KB of varied English-like text built from the stdlib help topics (no third-party text)."""
    from rnn.corpus import default_corpus_text

    path = tmp_path / "tiny.txt"
    path.write_text(default_corpus_text()[:40_000], encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow metadata DB (SQLite) under the session's AIRFLOW_HOME."""
    from helpers import migrated_airflow_db, shared_tmp

    home = Path(os.environ["AIRFLOW_HOME"])
    migrated_airflow_db(home / "airflow.db", shared_tmp(tmp_path_factory) / "airflow-db-template")
    return home


@pytest.fixture
def pipeline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh local state (run outputs, MLflow store) for one test."""
    home = tmp_path / "pipeline-home"
    monkeypatch.setenv("RNN_PIPELINE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RNN_PIPELINE_DATA_ROOT", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")  # tiny runs last seconds
    from helpers import fresh_mlflow_db

    from pipeline.settings import load_settings

    # the pipeline's default store there, with MLflow's schema made once per test process, not per test
    tracking_uri = load_settings().tracking_uri
    fresh_mlflow_db(Path(tracking_uri.removeprefix("sqlite:///")))
    return home


@pytest.fixture
def smtp_catcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real SMTP server on 127.0.0.1 that saves what it receives; the pipeline's mail goes to it."""
    from helpers import free_port

    from devtools.mailcatcher import start as start_mailcatcher
    from devtools.services import local_smtp_connection

    port = free_port()
    controller = start_mailcatcher(tmp_path / "mail", port)
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(port))
    monkeypatch.setenv("RNN_PIPELINE_EMAIL_BACKEND", "smtp")
    yield tmp_path / "mail"
    controller.stop()
