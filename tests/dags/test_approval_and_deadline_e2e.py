"""Governance through real Airflow components: approval answered over the REST API (approve, reject and
timeout), and a missed deadline's email.

One throwaway Airflow home (SQLite) on 127.0.0.1 serves both tests: the API server, the scheduler with its
LocalExecutor, the DAG processor and the triggerer, each its own process. Its DAG folder holds copies of
this repository's DAGs and a stand-in for ``weekly_cost_report`` whose run does not finish in time.
``dag.test()`` cannot stand in: it has no scheduler loop, so an approval's timeout never resolves and a
deadline is never found missed.

**Approval.** On Airflow 3.3 a human-in-the-loop task waits in the ``awaiting_input`` state, resumed by the
API server when someone answers and by the scheduler when the response timeout passes (the triggerer is
only used for that by Airflow < 3.3). With a threshold of $0 every run waits:

* ``rnn_retraining`` run 1 is rejected by bob (``PATCH .../taskInstances/approve_training/-1/hitlDetails``):
  training and everything after it are skipped, the MLflow run ends KILLED saying who rejected;
* ``rnn_retraining`` run 2 is approved by alice: it trains, costs and registers the tiny model;
* ``rnn_sweep`` is never answered: after its 6 s timeout the scheduler applies the default, Reject; no
  round starts and its parent MLflow run says it timed out.

The sweep runs beside the two retraining runs (which run one at a time: max_active_runs=1).

**Deadline.** Every scheduler loop looks for deadlines that passed before their run finished and queues
their callback as a trigger; the triggerer runs the AsyncCallback ``pipeline.deadlines.notify_missed_deadline``,
which reads the ``cost_report_recipients`` Variable and the ``smtp_default`` connection (set through the REST
API, in the metadata DB as in production) through the execution API and sends the email to a real SMTP
catcher. The stand-in has ``weekly_cost_report``'s ``deadline_alert(WEEKLY_REPORT, ...)`` with a 5 s interval
(the production DAG keeps ``WEEKLY_REPORT_DUE_AFTER``) and one task that hangs until the test lets it go, as
a send that does not finish. Every wait is bounded; one that runs out fails with the components' logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from helpers import REPO_ROOT, TINY_DAG_CONF, free_port, migrated_airflow_db, shared_tmp

from devtools.airflow_api import AirflowApi, AirflowApiError
from devtools.mailcatcher import saved_messages
from devtools.mailcatcher import start as start_mailcatcher
from devtools.production import STATIC_DAG_FILES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

USERS = ("alice", "bob")  # simple auth manager users, both admins
HITL = "/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails"
SWEEP_TIMEOUT_MINUTES = 0.1  # 6 s
# The timeout sweep runs at [scheduler] trigger_timeout_check_interval (15 s by default)
CHECK_INTERVAL_SECONDS = 2
TRAINING_BUDGET_USD = 3.0  # this month's, in the rnn_budgets Variable; nothing is spent before the test
PRELOAD_IN_THE_SCHEDULER = """import sys

if sys.argv[1:2] == ["scheduler"]:
    from pipeline.celery_worker import preload

    preload()
"""
# the deadline test's stand-in for weekly_cost_report
LATE_DAG_ID = "weekly_cost_report_late"
DUE_AFTER_SECONDS = 5
RECIPIENTS = "lead@example.com, finops@example.com"
LATE_DAG = f'''
"""weekly_cost_report's deadline on a run that does not finish (tests/dags/test_approval_and_deadline_e2e.py)."""
import time
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from pipeline.deadlines import WEEKLY_REPORT, deadline_alert

RELEASE = Path(__file__).with_name("release")


@dag(
    dag_id={LATE_DAG_ID!r},
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


@dataclass
class Stack:
    home: Path
    corpus: Path
    mlflow_uri: str
    api: dict[str, AirflowApi]  # one logged-in client per user
    base_url: str

    def logs(self) -> str:
        """The tail of every component's log, for a failure message."""
        parts = []
        for path in sorted((self.home / "logs").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}")
        return "\n".join(parts)

    def deadlines(self) -> list[tuple[str, bool, str, str]]:
        """(deadline time, missed, where its callback runs, its state) of every deadline, from the metadata DB."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow" / "airflow.db", timeout=10)) as db:
            rows = db.execute(
                "SELECT d.deadline_time, d.missed, c.type, c.state FROM deadline d "
                "JOIN callback c ON c.id = d.callback_id"
            ).fetchall()
        return [(when, bool(missed), kind, state) for when, missed, kind, state in rows]

    def answer(self, user: str, dag_id: str, run_id: str, task_id: str, option: str) -> dict:
        path = HITL.format(dag_id=dag_id, run_id=run_id, task_id=task_id)
        return self.api[user].request("PATCH", path, json={"chosen_options": [option]})

    def hitl(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.api["alice"].request("GET", HITL.format(dag_id=dag_id, run_id=run_id, task_id=task_id))

    def states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {
            t["task_id"]: t["state"]
            for t in self.api["alice"].task_instances(dag_id, run_id)
            if t["map_index"] < 0
        }

    def log(self, dag_id: str, run_id: str, task_id: str) -> str:
        content = self.api["alice"].request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1",
            params={"full_content": True},
        )["content"]
        return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)


def _start(name: str, command: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen:
    with (logs / f"{name}.log").open("ab") as sink:
        return subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
        )


def _stop(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_healthy(url: str, processes: list[subprocess.Popen], logs: Path, timeout_seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[1:3]} exited with {proc.returncode}; logs in {logs}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(1)
    raise AssertionError(
        f"the API server did not answer {url} within {timeout_seconds:.0f} s; logs in {logs}"
    )


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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from rnn.corpus import default_corpus_text

    home = tmp_path_factory.mktemp("approval-stack")
    logs = home / "logs"
    logs.mkdir()
    corpus = home / "corpus.txt"
    corpus.write_text(default_corpus_text()[:40_000], encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (home / "mlflow").mkdir()
    dags = home / "dags"  # this repository's DAGs and the deadline test's stand-in
    dags.mkdir()
    for dag_file in (REPO_ROOT / "dags").glob("*.py"):
        shutil.copy(dag_file, dags / dag_file.name)
    (dags / f"{LATE_DAG_ID}.py").write_text(LATE_DAG)
    mlflow_uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        # this checkout's packages, before any other the venv may have installed (a git worktree's tests)
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "AIRFLOW_HOME": str(home / "airflow"),
        "RNN_PIPELINE_HOME": str(home / "pipeline"),
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **STATIC_DAG_FILES,  # the DAG files never change: parsed once
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:admin" for user in USERS),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        # one key for every component (production sets it too): each would otherwise write its own random
        # one into a new airflow.cfg, and a Variable the API server encrypted could not be read elsewhere
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs this test triggers
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": str(CHECK_INTERVAL_SECONDS),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
        # the log servers of the scheduler's workers and of the triggerer, off the ports of a running Airflow
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "RNN_PIPELINE_EMAIL_BACKEND": "smtp",
        "GX_ANALYTICS_ENABLED": "False",
        # the budget document the request's "budget left" comes from (pipeline.tasks.governance)
        "AIRFLOW_VAR_RNN_BUDGETS": json.dumps({"month_usd": {"training": TRAINING_BUDGET_USD}}),
    }
    for name in (
        "AIRFLOW__CORE__UNIT_TEST_MODE",
        "AIRFLOW_CONN_SMTP_DEFAULT",
        "AIRFLOW_VAR_COST_REPORT_RECIPIENTS",
    ):
        env.pop(name, None)
    # the MLflow store, created before the runs' first tasks would race to create its tables
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=mlflow_uri).search_experiments()
    # The scheduler imports the task libraries once, so the LocalExecutor's task processes (forks of it)
    # inherit them, as the production Celery workers do (pipeline/celery_worker.py); the other components
    # never run a task and skip it.
    (home / "airflow" / "config").mkdir(parents=True)
    (home / "airflow" / "config" / "airflow_local_settings.py").write_text(PRELOAD_IN_THE_SCHEDULER)
    airflow = str(bin_dir / "airflow")
    migrated_airflow_db(home / "airflow" / "airflow.db", shared_tmp(tmp_path_factory) / "airflow-db-template")
    processes = [
        _start(name, [airflow, *command], env, logs)
        for name, command in (
            ("api-server", ["api-server"]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
            ("triggerer", ["triggerer"]),
        )
    ]
    clients: dict[str, AirflowApi] = {}
    try:
        _wait_healthy(f"{base}/api/v2/monitor/health", processes, logs, 180)
        passwords = json.loads((home / "passwords.json").read_text())
        clients = {user: AirflowApi(base, user, passwords[user]) for user in USERS}
        clients["alice"].wait_for_dags(["rnn_retraining", "rnn_sweep", LATE_DAG_ID], timeout_seconds=180)
        for dag_id in ("rnn_retraining", "rnn_sweep", LATE_DAG_ID):
            clients["alice"].unpause(dag_id)
        yield Stack(home=home, corpus=corpus, mlflow_uri=mlflow_uri, api=clients, base_url=base)
    finally:
        (dags / "release").touch()  # the stand-in's hanging task returns
        for client in clients.values():
            client.close()
        _stop(processes)


def _wait_awaiting_input(stack: Stack, dag_id: str, run_id: str, task_id: str) -> dict:
    """Until the approval task waits for an answer and the scheduler has seen its worker exit; fails at once
    if the run failed before.

    The second condition is the scheduler log's ``TaskInstance Finished ... state=awaiting_input`` line. An
    answer that lands before it (within a second or so of the task parking) makes Airflow 3.3.2's
    scheduler take the parked worker's exit for a task that died while queued again: the try is failed
    and retried, and the retry asks again (seen here with an answer 0.4 s after parking). A person never
    answers that fast; this test would.
    """
    parked = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id}, map_index=-1"
    scheduler_log = stack.home / "logs" / "scheduler.log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        states = stack.states(dag_id, run_id)
        failed = {t: s for t, s in states.items() if s in ("failed", "upstream_failed", "up_for_retry")}
        assert not failed, f"{dag_id} {run_id}: {failed} before the approval"
        if states.get(task_id) == "awaiting_input" and any(
            parked in line and "state=awaiting_input" in line
            for line in scheduler_log.read_text(errors="replace").splitlines()
        ):
            return stack.hitl(dag_id, run_id, task_id)
        time.sleep(1)
    raise AssertionError(f"{dag_id} {run_id} never waited for approval: {stack.states(dag_id, run_id)}")


def _mlflow_run(stack: Stack, experiment: str, dag_id: str, run_id: str):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_uri)
    found = client.get_experiment_by_name(experiment)
    [run] = client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`airflow.dag_id` = '{dag_id}' and tags.`airflow.run_id` = '{run_id}'",
    )
    return run


def test_approve_reject_and_timeout_over_the_rest_api(stack: Stack) -> None:
    from pipeline import names
    from pipeline.approval.request import usd

    started = time.monotonic()
    alice = stack.api["alice"]
    approval = {"approval_threshold_usd": 0.0, "approval_timeout_minutes": 10}
    conf = {**TINY_DAG_CONF, "corpus_uri": str(stack.corpus), **approval}
    rejected = alice.trigger("rnn_retraining", conf, run_id="to_reject")
    approved = alice.trigger("rnn_retraining", conf, run_id="to_approve")  # queued behind the first
    sweep = alice.trigger(
        "rnn_sweep",
        {
            "corpus_uri": str(stack.corpus),
            "search_space": {"hidden_size": [16], "epochs": [1], "max_steps_per_epoch": [4]},
            "max_trials": 1,
            "trials_per_round": 1,
            "load_test_seconds": 0,
            **approval,
            "approval_timeout_minutes": SWEEP_TIMEOUT_MINUTES,
        },
        run_id="to_time_out",
    )

    # -- reject -------------------------------------------------------------------------------------------
    request = _wait_awaiting_input(stack, "rnn_retraining", rejected, "approve_training")
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    assert request["subject"].startswith(f"Approve training run rnn_retraining / {rejected}? Estimated $")
    body = request["body"]
    [budget_left] = [
        line for line in body.splitlines() if line.startswith("| Training budget left this month |")
    ]
    assert budget_left.startswith("| Training budget left this month | $3.00 (")
    assert "; training budget $3.00 for " in budget_left and ", $0.0000 spent so far |" in budget_left
    assert "| Instance type | r6i.xlarge |" in body and "| Market | spot |" in body
    assert "**How it was estimated:** " in body and "tokens/s" in body
    answer = stack.answer("bob", "rnn_retraining", rejected, "approve_training", "Reject")
    assert answer["responded_by"]["name"] == "bob" and answer["chosen_options"] == ["Reject"]
    with pytest.raises(AirflowApiError, match="409"):  # answered once, and only once
        stack.answer("alice", "rnn_retraining", rejected, "approve_training", "Approve")

    # -- approve ------------------------------------------------------------------------------------------
    _wait_awaiting_input(stack, "rnn_retraining", approved, "approve_training")
    stack.answer("alice", "rnn_retraining", approved, "approve_training", "Approve")

    # -- timeout: nobody answers the sweep -------------------------------------------------------------------
    for dag_id, run_id in (("rnn_retraining", rejected), ("rnn_sweep", sweep), ("rnn_retraining", approved)):
        assert alice.wait(dag_id, run_id, timeout_seconds=300, poll_seconds=1) == "success", stack.states(
            dag_id, run_id
        )

    # Rejected: the approval succeeded (a decision, not a failure), everything after it was skipped
    states = stack.states("rnn_retraining", rejected)
    assert states["approve_training"] == "success"
    after = {
        t: s
        for t, s in states.items()
        if t not in ("validate_dataset", "estimate_training_cost", "approval_gate", "approve_training")
    }
    assert set(after.values()) == {"skipped"}, after
    assert {"train_local", "train_ec2_spot", "register", "cleanup_ec2_instances"} <= set(after)
    run = _mlflow_run(stack, names.TRAINING_EXPERIMENT, "rnn_retraining", rejected)
    assert run.info.status == "KILLED"
    assert run.data.tags[names.TAG_APPROVAL_DECISION] == "rejected"
    assert run.data.tags[names.TAG_APPROVAL_REASON].startswith("rejected by bob at ")
    assert run.data.tags[names.TAG_APPROVAL_RESPONDED_BY] == "bob"
    estimate = float(run.data.tags[names.TAG_APPROVAL_ESTIMATE_USD])
    assert f"$3.00 ({usd(TRAINING_BUDGET_USD - estimate)} after this run)" in budget_left
    assert f"| Pre-flight estimate | **{usd(estimate)}** |" in body
    assert names.TRAIN_TOKENS_PER_S not in run.data.metrics  # nothing trained
    assert "rejected by bob at " in stack.log("rnn_retraining", rejected, "approve_training")

    # Approved: trained, costed, registered
    states = stack.states("rnn_retraining", approved)
    assert states["approve_training"] == "success"
    for task_id in ("choose_backend", "train_local", "benchmark", "log_to_mlflow", "cost", "register"):
        assert states[task_id] == "success", (task_id, states)
    run = _mlflow_run(stack, names.TRAINING_EXPERIMENT, "rnn_retraining", approved)
    assert run.info.status == "FINISHED"
    assert run.data.tags[names.TAG_APPROVAL_DECISION] == "approved"
    assert run.data.tags[names.TAG_APPROVAL_RESPONDED_BY] == "alice"
    assert run.data.metrics[names.TRAIN_TOKENS_PER_S] > 0 and run.data.metrics[names.COST_TRAIN_USD] > 0
    # the estimate the person was shown is the one recorded
    shown = stack.hitl("rnn_retraining", approved, "approve_training")["body"]
    assert (
        f"| Pre-flight estimate | **{usd(float(run.data.tags[names.TAG_APPROVAL_ESTIMATE_USD]))}** |" in shown
    )

    # Timed out: the scheduler applied the default (Reject) with no one named; no round started
    answered = stack.hitl("rnn_sweep", sweep, "approve_sweep")
    assert answered["chosen_options"] == ["Reject"] and answered["responded_by_user"] is None
    states = stack.states("rnn_sweep", sweep)
    assert states["approve_sweep"] == "success"
    for task_id in (
        "sweep_stale_instances",
        "plan_round_1",
        "trials_round_1",
        "tell_round_1",
        "summarize",
        "cleanup_ec2_instances",
    ):
        assert states[task_id] == "skipped", (task_id, states)
    parent = _mlflow_run(stack, names.SWEEP_EXPERIMENT, "rnn_sweep", sweep)
    assert parent.info.status == "KILLED"
    assert parent.data.tags[names.TAG_APPROVAL_DECISION] == "timed-out"
    assert parent.data.tags[names.TAG_APPROVAL_REASON].startswith("no answer within 6 s (timed out at ")
    assert "no answer within 6 s" in stack.log("rnn_sweep", sweep, "approve_sweep")
    print(f"three runs answered and finished in {time.monotonic() - started:.0f} s")


@pytest.fixture
def smtp_catcher(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """(where it saves each message, its port on 127.0.0.1)"""
    port = free_port()
    controller = start_mailcatcher(tmp_path / "mail", port)
    yield tmp_path / "mail", port
    controller.stop()


def test_a_missed_deadline_emails_the_report_recipients_through_the_scheduler_and_triggerer(
    stack: Stack, smtp_catcher: tuple[Path, int]
) -> None:
    mail, smtp_port = smtp_catcher
    api = stack.api["alice"]
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

    run_id = api.trigger(LATE_DAG_ID)  # as the production tests trigger: no logical date, queued now
    queued_at = datetime.fromisoformat(api.run(LATE_DAG_ID, run_id)["queued_at"])
    deadline = queued_at + timedelta(seconds=DUE_AFTER_SECONDS)

    [sent] = wait_for("the missed-deadline email", lambda: saved_messages(mail), 45, stack.logs)
    # The deadline passed while the run was still working: the run is unfinished, its task still running.
    assert api.run(LATE_DAG_ID, run_id)["state"] == "running"
    assert api.task_instance(LATE_DAG_ID, run_id, "send_email")["state"] == "running"
    assert datetime.fromtimestamp(sent.stat().st_mtime, UTC) >= deadline  # not sent before it passed
    (stack.home / "dags" / "release").touch()  # the task may finish now: the alert is out

    message = message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert message["To"] == RECIPIENTS  # the Variable, read through the execution API
    assert message["From"] == "rnn-cost-pipeline@localhost"
    assert message["Subject"] == (
        f"[deadline missed] {LATE_DAG_ID}: run {run_id} not finished by {deadline:%Y-%m-%d %H:%M:%S} UTC"
    )
    body = message.get_content()
    assert (
        f"mailboxes by {deadline:%Y-%m-%d %H:%M:%S} UTC, {DUE_AFTER_SECONDS} s after its run was queued "
        f"({queued_at:%Y-%m-%d %H:%M:%S} UTC)"
    ) in body
    lines = body.splitlines()
    assert f"DAG            {LATE_DAG_ID}" in lines
    assert f"run            {run_id}" in lines
    assert any(
        line.startswith("state          running") or line.startswith("state          queued")
        for line in lines
    )
    assert f"in Airflow     {stack.base_url}/dags/{LATE_DAG_ID}/runs/{run_id}" in lines
    assert "What to do:" in lines

    # Airflow's record of it: one deadline, missed, its callback run by the triggerer to success.
    [(deadline_time, missed, runs_on, _)] = wait_for(
        "the callback recorded as a success",
        lambda: [row for row in stack.deadlines() if row[3] == "success"],
        20,
        lambda: f"{stack.deadlines()}\n{stack.logs()}",
    )
    assert (missed, runs_on) == (True, "triggerer")
    assert deadline_time.startswith(f"{deadline:%Y-%m-%d %H:%M:%S}")
    assert saved_messages(mail) == [sent]  # one email per missed deadline
