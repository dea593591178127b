"""pipeline.deadlines: the Deadline Alert each DAG carries and the email a missed deadline sends.

The context below has the shape Airflow hands a deadline callback (airflow.models.deadline.Deadline.handle_miss):
``dag_run`` as the REST API shows a run (JSON: ISO timestamps) and ``deadline`` with its id and time (a datetime).
tests/dags/test_approval_and_deadline_e2e.py has the scheduler miss a deadline and the email arrive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import free_port

from pipeline.deadlines import (
    ALERTS,
    BILL_DELIVERY_DELAY,
    RECONCILE,
    WEEKLY_REPORT,
    WEEKLY_REPORT_DUE_AFTER,
    deadline_alert,
    missed_deadline_email,
    notify_missed_deadline,
    send_missed_deadline_alert,
)

WEEKLY_RUN_ID = "scheduled__2026-12-07T07:00:00+00:00"


def context(
    *, dag_id: str, run_id: str, logical_date: str, deadline: datetime, state: str, **run: str | None
) -> dict:
    return {
        "dag_run": {
            "dag_run_id": run_id,
            "dag_id": dag_id,
            "logical_date": logical_date,
            "queued_at": run.get("queued_at"),
            "start_date": run.get("start_date"),
            "end_date": run.get("end_date"),
            "run_type": "scheduled",
            "state": state,
            "conf": {},
        },
        "deadline": {"id": "01a25140-5acd-78b4-b66b-c0a893d7bb44", "deadline_time": deadline},
    }


def weekly_context(state: str = "running") -> dict:
    return context(
        dag_id="weekly_cost_report",
        run_id=WEEKLY_RUN_ID,
        logical_date="2026-12-07T07:00:00Z",
        deadline=datetime(
            2026, 12, 7, 9, 0, 0, 604065, tzinfo=UTC
        ),  # queued_at + 2 h, as Airflow computes it
        state=state,
        queued_at="2026-12-07T07:00:00.604065Z",
        start_date="2026-12-07T07:00:02.909042Z",
    )


def test_the_weekly_alert_says_which_run_what_was_due_and_what_to_do() -> None:
    message = missed_deadline_email(
        WEEKLY_REPORT,
        weekly_context(),
        sender="rnn-cost-pipeline@localhost",
        recipients=["lead@example.com", "finops@example.com"],
        airflow_ui_url="http://airflow.example.com:8080/",
    )
    assert message["Subject"] == (
        f"[deadline missed] weekly_cost_report: run {WEEKLY_RUN_ID} not finished by 2026-12-07 09:00:00 UTC"
    )
    assert message["To"] == "lead@example.com, finops@example.com"
    assert message["From"] == "rnn-cost-pipeline@localhost"
    assert message["Message-ID"].endswith("@localhost>")
    body = message.get_content()
    assert body.startswith(
        "The weekly cost report was due in its recipients' mailboxes by 2026-12-07 09:00:00 UTC, 2 h after its "
        "run was queued (2026-12-07 07:00:00 UTC). The run had not finished by then."
    )
    lines = body.splitlines()
    assert "DAG            weekly_cost_report" in lines
    assert f"run            {WEEKLY_RUN_ID}" in lines
    assert "deadline       2026-12-07 09:00:00 UTC (2 h after the run was queued)" in lines
    assert "logical date   2026-12-07 07:00:00 UTC" in lines
    assert "state          running when the deadline passed" in lines
    assert "queued         2026-12-07 07:00:00 UTC" in lines
    # the run's page, its id quoted (':' and '+'), the base URL's trailing slash dropped
    assert (
        "in Airflow     http://airflow.example.com:8080/dags/weekly_cost_report/runs/"
        "scheduled__2026-12-07T07%3A00%3A00%2B00%3A00"
    ) in lines
    steps = lines[lines.index("What to do:") + 1 :]
    assert steps[0].startswith("1. Open the run (link above)")
    assert any(step.startswith("3. send_email failed or is retrying") for step in steps)
    assert "docs/reports.md" in body


def test_the_reconcile_alert_counts_from_the_logical_date_the_bill_delay_and_says_the_run_failed() -> None:
    message = missed_deadline_email(
        RECONCILE,
        context(
            dag_id="cost_reconcile",
            run_id="scheduled__2026-12-05T00:00:00+00:00",
            logical_date="2026-12-05T00:00:00Z",
            deadline="2026-12-07T00:00:00.25+00:00",  # ISO text is read as well as a datetime
            state="failed",
            queued_at="2026-12-05T00:00:00.25Z",
            end_date="2026-12-05T00:41:12.5Z",
        ),
        sender="costs@example.com",
        recipients=["finops@example.com"],
        airflow_ui_url="http://127.0.0.1:8080",
    )
    assert message["Subject"] == (
        "[deadline missed] cost_reconcile: run scheduled__2026-12-05T00:00:00+00:00 not finished by "
        "2026-12-07 00:00:00 UTC"
    )
    assert message["Message-ID"].endswith("@example.com>")
    body = message.get_content()
    assert body.startswith(
        "AWS delivers the bill for the usage up to 2026-12-05 00:00:00 UTC, when the run was queued, within 48 h "
        "(Data Exports and Cost Explorer arrive 24-48 h late), so by 2026-12-07 00:00:00 UTC it has arrived."
    )
    assert (
        "state          failed (ended 2026-12-05 00:41:12 UTC) when the deadline passed" in body.splitlines()
    )
    assert "fetch_bill: AccessDenied" in body and "docs/cost-reconciliation.md" in body


def test_a_run_that_never_started_is_said_to_be_queued() -> None:
    message = missed_deadline_email(
        WEEKLY_REPORT,
        {**weekly_context("queued"), "dag_run": {**weekly_context("queued")["dag_run"], "start_date": None}},
        sender="a@example.com",
        recipients=["b@example.com"],
        airflow_ui_url="http://127.0.0.1:8080",
    )
    lines = message.get_content().splitlines()
    assert "state          queued, not started when the deadline passed" in lines
    assert "started        -" in lines


def test_the_deadline_alert_is_airflows_with_the_production_interval_unless_told() -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    alert = deadline_alert(WEEKLY_REPORT)
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == WEEKLY_REPORT_DUE_AFTER == ALERTS[WEEKLY_REPORT].due_after
    # run by the triggerer, which reads Variables and Connections (an executor's callback cannot in 3.3.2)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "pipeline.deadlines.notify_missed_deadline"
    assert alert.callback.kwargs == {"alert": WEEKLY_REPORT}
    assert deadline_alert(RECONCILE).interval == BILL_DELIVERY_DELAY
    assert deadline_alert(WEEKLY_REPORT, due_after=timedelta(seconds=5)).interval == timedelta(seconds=5)
    with pytest.raises(KeyError):
        deadline_alert("no_such_dag")


@pytest.mark.integration  # an SMTP catcher, for the spool's second chance
def test_an_alert_that_cannot_be_sent_is_kept_in_the_spool_and_the_callback_fails(
    pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devtools.services import local_smtp_connection

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(free_port()))  # nothing listens
    monkeypatch.setenv("RNN_PIPELINE_EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("AIRFLOW_VAR_COST_REPORT_RECIPIENTS", json.dumps(["lead@example.com"]))

    from datetime import UTC, datetime
    from email import message_from_bytes, policy

    from pipeline.alerts import alerts_dir, send_spooled

    with pytest.raises(RuntimeError, match=r"it is kept in .* the next budget check") as failure:
        send_missed_deadline_alert(WEEKLY_REPORT, weekly_context())
    month = f"{datetime.now(UTC):%Y-%m}"
    [kept] = Path(alerts_dir(month)).iterdir()  # the alerts' spool, beside budget and anomaly alerts
    assert str(kept) in str(failure.value)
    assert kept.name.startswith("deadline__weekly_cost_report__scheduled__2026-12-07T07_00_00_00_00__")
    message = message_from_bytes(kept.read_bytes(), policy=policy.default)
    assert message["To"] == "lead@example.com"
    assert WEEKLY_RUN_ID in message["Subject"]
    # mail is back: the next budget check sends what the spool holds, once
    from devtools.mailcatcher import saved_messages
    from devtools.mailcatcher import start as start_mailcatcher

    port = free_port()
    controller = start_mailcatcher(pipeline_home / "mail", port)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(port))
        assert send_spooled(month, ["lead@example.com"])["sent"] == [str(kept)]
        assert send_spooled(month, ["lead@example.com"])["sent"] == []
        [delivered] = saved_messages(pipeline_home / "mail")
        assert WEEKLY_RUN_ID in message_from_bytes(delivered.read_bytes(), policy=policy.default)["Subject"]
    finally:
        controller.stop()


def test_the_async_callback_runs_the_mail_path_off_the_event_loop(
    pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The triggerer awaits notify_missed_deadline; the failure of the sync mail path reaches it whole."""
    import asyncio
    import inspect

    from devtools.services import local_smtp_connection

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(free_port()))  # nothing listens
    monkeypatch.setenv("RNN_PIPELINE_EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("AIRFLOW_VAR_COST_REPORT_RECIPIENTS", "lead@example.com")
    assert inspect.iscoroutinefunction(notify_missed_deadline)
    from datetime import UTC, datetime

    from pipeline.alerts import alerts_dir

    with pytest.raises(RuntimeError, match="it is kept in"):
        asyncio.run(notify_missed_deadline(WEEKLY_REPORT, weekly_context()))
    assert len(list(Path(alerts_dir(f"{datetime.now(UTC):%Y-%m}")).iterdir())) == 1


@pytest.mark.parametrize(
    ("page", "constant", "interval"),
    [
        ("reports.md", "WEEKLY_REPORT_DUE_AFTER", WEEKLY_REPORT_DUE_AFTER),
        ("cost-reconciliation.md", "BILL_DELIVERY_DELAY", BILL_DELIVERY_DELAY),
    ],
)
def test_the_docs_state_the_interval_the_code_has(page: str, constant: str, interval: timedelta) -> None:
    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / page).read_text().split())
    assert f"`{constant}`, {interval / timedelta(hours=1):g} h" in text
