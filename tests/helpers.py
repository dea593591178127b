"""Helpers shared by test modules (import as `helpers`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from pathlib import Path
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_dag(dag_id: str):
    """The DAG, to run with ``dag.test()``: without its Deadline Alert, which ``dag.test()`` never evaluates
    (no scheduler loop) and which makes Airflow 3.3.2's ``dag.test()`` fail after a successful run
    (apache/airflow#73428; devtools/dags_test.py). tests/dags/test_dag_integrity.py checks the deadlines,
    tests/dags/test_approval_and_deadline_e2e.py has the scheduler miss one.

    Its ``test()`` syncs a DAG bundle that holds this one DAG file. Airflow's ``dag.test()`` parses and
    serializes every DAG of the bundle that owns the DAG on each call (apache/airflow#64884's re-sync): all
    seven of dags/, about 1.3 s of CPU, where this one alone takes a fifth of that."""
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert dagbag.import_errors == {}
    dag = dagbag.dags[dag_id]
    dag.deadline = None
    bundle = Path(os.environ["AIRFLOW_HOME"]).parent / "dag-bundles" / dag_id
    if not bundle.exists():
        bundle.mkdir(parents=True)
        (bundle / f"{dag_id}.py").symlink_to(REPO_ROOT / "dags" / f"{dag_id}.py")
    run_whole_bundle = dag.test

    def test(*args, **kwargs):
        with bundle_of_one(bundle):
            return run_whole_bundle(*args, **kwargs)

    dag.test = test
    return dag


def bundle_of_one(folder: Path) -> AbstractContextManager[object]:
    """Airflow's DAG bundle ``dags-folder`` is ``folder`` meanwhile (read each time a bundle manager starts)."""
    bundle = {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle"}
    config = json.dumps([{**bundle, "kwargs": {"path": str(folder)}}])
    return mock.patch.dict(os.environ, {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": config})


# Tiny model and corpus settings for whole-DAG runs: seconds, not minutes.
TINY_RUN_CONF = {
    "epochs": 1,
    "max_steps_per_epoch": 8,
    "hidden_size": 16,
    "num_layers": 1,
    "embedding_dim": 8,
    "seq_len": 32,
    "batch_size": 8,
    "checkpoint_every_steps": 4,
}
# ... as the conf of an rnn_retraining run: no serving load test (tests/dags/test_rnn_retraining_e2e.py runs one)
TINY_DAG_CONF = {**TINY_RUN_CONF, "load_test_seconds": 0}


_MLFLOW_DB_TEMPLATE: list[Path] = []


def fresh_mlflow_db(path: Path) -> Path:
    """Put an empty MLflow tracking database (SQLite) at ``path``: MLflow's schema, nothing in it.

    MLflow creates a new database by running every one of its schema migrations, a second or more of CPU
    each time; here they run once per test process, into a template that each test then gets a copy of.
    MLflow opens the copy as it would any database it made earlier (it checks the schema is current and
    adds its Default experiment, with this store's artifact root).
    """
    import shutil
    import tempfile

    if not _MLFLOW_DB_TEMPLATE:
        from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine

        # in the test process's throwaway home (tests/conftest.py), removed with it
        folder = Path(os.environ["AIRFLOW_HOME"]).parent
        template = Path(tempfile.mkdtemp(prefix="mlflow-db-template-", dir=folder)) / "mlflow.db"
        engine = create_sqlalchemy_engine(f"sqlite:///{template}")
        _initialize_tables(engine)  # what MLflow runs on a database without its tables
        engine.dispose()
        _MLFLOW_DB_TEMPLATE.append(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MLFLOW_DB_TEMPLATE[0], path)
    return path


def shared_tmp(tmp_path_factory) -> Path:
    """A folder of this test run that all its xdist workers share (each worker's base temp is inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def migrated_airflow_db(path: Path, shared: Path) -> Path:
    """Put a migrated, empty Airflow metadata database (SQLite) at ``path``.

    ``airflow db migrate`` (~4 s of CPU) runs once into ``shared``, a folder every process of the test run
    can see; each caller copies it, whichever xdist worker made it (the others wait on a lock meanwhile).
    """
    import fcntl
    import shutil
    import subprocess
    import sys

    shared.mkdir(parents=True, exist_ok=True)
    template = shared / "airflow.db"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(shared / "home"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{shared / 'making.db'}",
            }
            airflow = Path(sys.executable).with_name("airflow")
            result = subprocess.run(
                [str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            (shared / "making.db").rename(template)  # complete, or not there at all
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
