"""Helpers shared by test modules (import as `helpers`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_dag(dag_id: str):
    """The DAG, to run with ``dag.test()``: without its Deadline Alert, which ``dag.test()`` never evaluates
    (no scheduler loop) and which makes Airflow 3.3.2's ``dag.test()`` fail after a successful run
    (apache/airflow#73428; devtools/dags_test.py). tests/dags/test_dag_integrity.py checks the deadlines,
    tests/dags/test_approval_and_deadline_e2e.py has the scheduler miss one."""
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert dagbag.import_errors == {}
    dag = dagbag.dags[dag_id]
    dag.deadline = None
    return dag


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

        template = Path(tempfile.mkdtemp(prefix="mlflow-db-template-")) / "mlflow.db"
        engine = create_sqlalchemy_engine(f"sqlite:///{template}")
        _initialize_tables(engine)  # what MLflow runs on a database without its tables
        engine.dispose()
        _MLFLOW_DB_TEMPLATE.append(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MLFLOW_DB_TEMPLATE[0], path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
