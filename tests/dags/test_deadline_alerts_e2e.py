"""A missed deadline end to end: Airflow's scheduler finds it, its triggerer runs the pipeline's callback, and
the email arrives at a real SMTP catcher on 127.0.0.1.

``dag.test()`` runs tasks, not the scheduler loop, so it never finds a deadline missed. This test starts
the components that do, each its own process on a throwaway SQLite home (``airflow db migrate`` first):

* the DAG processor, which serializes the DAG and, with it, its Deadline Alert;
* the API server: the REST API the test sets the ``cost_report_recipients`` Variable and the
  ``smtp_default`` connection through (in the metadata DB, not in the environment, as in production)
  and triggers the run; the execution API the run's task reports to;
* the scheduler with the LocalExecutor: it runs the task, and every loop looks for deadlines that passed
  before their run finished and queues their callback as a trigger;
* the triggerer: it runs the AsyncCallback ``pipeline.deadlines.notify_missed_deadline``, which reads
  the Variable and the connection through the triggerer's execution API and sends the email.

The DAG stands in for ``weekly_cost_report``: the same ``deadline_alert(WEEKLY_REPORT, ...)`` with a 5 s
interval (the production DAG keeps ``WEEKLY_REPORT_DUE_AFTER``), and one task that hangs until the test
lets it go, as a send that does not finish. 30 s on two idle cores, 40-75 s beside a CI job on them, most
of it starting Airflow; every wait is bounded and one that runs out fails the test with the components' logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, free_port

from devtools.airflow_api import AirflowApi
from devtools.mailcatcher import saved_messages
from devtools.mailcatcher import start as start_mailcatcher
from devtools.production import STATIC_DAG_FILES

# A backstop only: every wait below is bounded, about 4 minutes in all at worst.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DAG_ID = "weekly_cost_report_late"
DUE_AFTER_SECONDS = 5
RECIPIENTS = "lead@example.com, finops@example.com"
AIRFLOW = Path(sys.executable).with_name("airflow")
LATE_DAG = f'''
"""weekly_cost_report's deadline on a run that does not finish (tests/dags/test_deadline_alerts_e2e.py)."""
import time
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from pipeline.deadlines import WEEKLY_REPORT, deadline_alert

RELEASE = Path(__file__).with_name("release")


@dag(
    dag_id={DAG_ID!r},
    schedule=None,
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    deadline=deadline_alert(WEEKLY_REPORT, due_after=timedelta(seconds={DUE_AFTER_SECONDS})),
)
def late():
    @task(retries=0)
    def send_email():
        """Hangs like a send that does not finish, until the test lets it go (at most 120 s)."""
        give_up = time.monotonic() + 120
        while not RELEASE.exists() and time.monotonic() < give_up:
            time.sleep(0.5)

    send_email()


late()
'''


def wait_for(what: str, check: Callable[[], Any], timeout_seconds: float, explain: Callable[[], str]) -> Any:
    """``check()``'s first truthy answer, asked every 0.5 s; fails with ``explain()`` after the timeout."""
    give_up = time.monotonic() + timeout_seconds
    while True:
        with contextlib.suppress(OSError, ConnectionError):
            answer = check()
            if answer:
                return answer
        if time.monotonic() > give_up:
            pytest.fail(f"{what}: not within {timeout_seconds:.0f} s\n{explain()}")
        time.sleep(0.5)


class Airflow:
    """Airflow's components as processes, each in its own process group (stopped whole), logs in files."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        (home / "dags").mkdir(parents=True)
        (home / "plugins").mkdir()
        (home / "logs").mkdir()
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            **STATIC_DAG_FILES,  # the DAG files never change: parsed once
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",  # the task and the callback; LocalExecutor forks this many
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # the log servers of the scheduler's workers and of the triggerer, off the ports of a running Airflow
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # this checkout's pipeline package, whichever checkout the venv was installed from
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "RNN_PIPELINE_HOME": str(home / "pipeline"),
            "RNN_PIPELINE_EMAIL_BACKEND": "smtp",
        }
        for name in (
            "AIRFLOW__CORE__UNIT_TEST_MODE",
            "AIRFLOW_CONN_SMTP_DEFAULT",
            "AIRFLOW_VAR_COST_REPORT_RECIPIENTS",
        ):
            self.env.pop(name, None)
        self.processes: dict[str, subprocess.Popen] = {}

    def run(self, *args: str, timeout_seconds: float) -> None:
        done = subprocess.run(
            [str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, timeout=timeout_seconds
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def start(self, component: str) -> None:
        with (self.home / "logs" / f"{component}.log").open("ab") as sink:
            self.processes[component] = subprocess.Popen(
                [str(AIRFLOW), component],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: its workers and task processes stop with it
            )

    def stop(self, grace_seconds: float = 8.0) -> None:
        """SIGTERM to every component's process group at once; SIGKILL to what is left after the grace."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        give_up = time.monotonic() + grace_seconds
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, give_up - time.monotonic()))
        for process in running:  # the group too: a worker or task process its component left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def logs(self) -> str:
        """The tail of every component's log, for a failure message."""
        parts = []
        for path in sorted((self.home / "logs").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}")
        return "\n".join(parts)

    def password(self) -> str:
        generated = self.home / "airflow" / "simple_auth_manager_passwords.json.generated"
        return json.loads(generated.read_text())["admin"]

    def healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
        except httpx.HTTPError:  # not listening yet
            return False

    def deadlines(self) -> list[tuple[str, bool, str, str]]:
        """(deadline time, missed, where its callback runs, its state) of every deadline, from the metadata DB."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow" / "airflow.db", timeout=10)) as db:
            rows = db.execute(
                "SELECT d.deadline_time, d.missed, c.type, c.state FROM deadline d "
                "JOIN callback c ON c.id = d.callback_id"
            ).fetchall()
        return [(when, bool(missed), kind, state) for when, missed, kind, state in rows]


@pytest.fixture
def smtp_catcher(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """(where it saves each message, its port on 127.0.0.1)"""
    port = free_port()
    controller = start_mailcatcher(tmp_path / "mail", port)
    yield tmp_path / "mail", port
    controller.stop()


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[Airflow]:
    components = Airflow(tmp_path / "deployment")
    (components.home / "dags" / f"{DAG_ID}.py").write_text(LATE_DAG)
    components.run("db", "migrate", timeout_seconds=60)
    try:
        for component in ("api-server", "dag-processor", "scheduler", "triggerer"):
            components.start(component)
        yield components
    finally:
        (components.home / "dags" / "release").touch()  # the hanging task returns
        components.stop()


def test_a_missed_deadline_emails_the_report_recipients_through_the_scheduler_and_triggerer(
    airflow: Airflow, smtp_catcher: tuple[Path, int]
) -> None:
    mail, smtp_port = smtp_catcher
    wait_for("the API server to answer", airflow.healthy, 60, airflow.logs)
    api = AirflowApi(airflow.base_url, "admin", airflow.password())
    api.wait_for_dags([DAG_ID], timeout_seconds=30)
    api.request("POST", "/variables", json={"key": "cost_report_recipients", "value": RECIPIENTS})
    api.request(
        "POST",
        "/connections",
        json={
            "connection_id": "smtp_default",
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port,
            "extra": json.dumps({"disable_ssl": True, "disable_tls": True, "timeout": 10, "retry_limit": 1}),
        },
    )

    run_id = api.trigger(DAG_ID)  # as the production tests trigger: no logical date, queued now
    queued_at = datetime.fromisoformat(api.run(DAG_ID, run_id)["queued_at"])
    deadline = queued_at + timedelta(seconds=DUE_AFTER_SECONDS)

    [sent] = wait_for("the missed-deadline email", lambda: saved_messages(mail), 45, airflow.logs)
    # The deadline passed while the run was still working: the run is unfinished, its task still running.
    assert api.run(DAG_ID, run_id)["state"] == "running"
    assert api.task_instance(DAG_ID, run_id, "send_email")["state"] == "running"
    assert datetime.fromtimestamp(sent.stat().st_mtime, UTC) >= deadline  # not sent before it passed
    (airflow.home / "dags" / "release").touch()  # the task may finish now: the alert is out

    message = message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert message["To"] == RECIPIENTS  # the Variable, read through the execution API
    assert message["From"] == "rnn-cost-pipeline@localhost"
    assert message["Subject"] == (
        f"[deadline missed] {DAG_ID}: run {run_id} not finished by {deadline:%Y-%m-%d %H:%M:%S} UTC"
    )
    body = message.get_content()
    assert (
        f"mailboxes by {deadline:%Y-%m-%d %H:%M:%S} UTC, {DUE_AFTER_SECONDS} s after its run was queued "
        f"({queued_at:%Y-%m-%d %H:%M:%S} UTC)"
    ) in body
    lines = body.splitlines()
    assert f"DAG            {DAG_ID}" in lines
    assert f"run            {run_id}" in lines
    assert any(
        line.startswith("state          running") or line.startswith("state          queued")
        for line in lines
    )
    assert f"in Airflow     {airflow.base_url}/dags/{DAG_ID}/runs/{run_id}" in lines
    assert "What to do:" in lines

    # Airflow's record of it: one deadline, missed, its callback run by the triggerer to success.
    [(deadline_time, missed, runs_on, _)] = wait_for(
        "the callback recorded as a success",
        lambda: [row for row in airflow.deadlines() if row[3] == "success"],
        20,
        lambda: f"{airflow.deadlines()}\n{airflow.logs()}",
    )
    assert (missed, runs_on) == (True, "triggerer")
    assert deadline_time.startswith(f"{deadline:%Y-%m-%d %H:%M:%S}")
    assert saved_messages(mail) == [sent]  # one email per missed deadline
