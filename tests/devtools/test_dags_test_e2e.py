"""devtools.dags_test: ``airflow dags test`` on a DAG with a Deadline Alert, as ``make demo`` runs
weekly_cost_report. Airflow 3.3.2's own command fails after the run succeeded (apache/airflow#73428);
on an Airflow upgrade, run it on this DAG to see whether devtools/dags_test.py can go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT

pytestmark = pytest.mark.e2e

DAG = """
import pendulum
from airflow.sdk import dag, task

from pipeline.deadlines import WEEKLY_REPORT, deadline_alert


@dag(dag_id="with_deadline", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     deadline=deadline_alert(WEEKLY_REPORT))
def with_deadline():
    @task
    def quick():
        return 1

    quick()


with_deadline()
"""


@pytest.fixture
def dags_env(airflow_db: Path, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "with_deadline.py").write_text(DAG)
    return {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)


def test_devtools_dags_test_runs_it_without_the_deadline_and_succeeds(dags_env: dict) -> None:
    done = run([sys.executable, "-m", "devtools.dags_test", "with_deadline"], dags_env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "with_deadline: run without its Deadline Alert" in output
    assert "DagRun Finished: dag_id=with_deadline" in output and "state=success" in output
