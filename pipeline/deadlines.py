"""Deadline Alerts: a late DAG run emails its owners which run, what was due and what to do.

Airflow's own Deadline Alerts (``airflow.sdk.DeadlineAlert``), not a sensor that polls. When a DAG
run is created, Airflow stores its deadline (when the run was queued + the interval below). The
scheduler compares the unfinished runs' deadlines with the clock; when one passes, it queues the
callback as a trigger, and the triggerer runs :func:`notify_missed_deadline` (an ``AsyncCallback``).
A run that succeeds before its deadline has its deadline removed, and nothing is sent.

Why the triggerer and not the executor (``SyncCallback``): in Airflow 3.3.2 an executor callback runs
with the workload token it was queued with, and the Execution API serves Variables and Connections
only to execution tokens, so ``Variable.get`` and the SMTP connection are refused (403,
``AirflowSecretsBackendAccessDenied``; apache/airflow#66141). The triggerer serves its triggers
through its in-process Execution API, where both are read as a task reads them.

| alert                | measured from                                      | due after                 |
|----------------------|----------------------------------------------------|---------------------------|
| `weekly_cost_report` | when the run was queued (scheduled: Mon 07:00 UTC) | `WEEKLY_REPORT_DUE_AFTER` |
| `cost_reconcile`     | when the run was queued (scheduled: 00:00 UTC)     | `BILL_DELIVERY_DELAY`     |

The report is expected Monday morning, and a run takes minutes (its retries under half an hour). The
bill for the usage up to a day has arrived two days later (AWS delivers it 24-48 h late); a
reconciliation still unfinished then holds the next daily runs back (``max_active_runs=1``), so that
bill is not read.

Measured from when the run was queued, not from its logical date: every run has one (a run triggered
through the REST API may have no logical date, and then no logical-date deadline), and a run the
scheduler creates late (after a pause or an outage) is not reported late before it could start. For a
run created on time the two are the same moment.

The callback goes through the reports' mail path (``pipeline.mail``): recipients from
the Variable ``cost_report_recipients``, sender ``cost_report_sender``, SMTP or SES as
``RNN_PIPELINE_EMAIL_BACKEND`` says. A message that cannot be sent is kept in
the alerts' spool (``<data root>/governance/alerts/<month>/``: the next budget check sends it, as it
does budget and anomaly alerts) and the callback fails (its log says where).

This module is imported when the DAG files are parsed: nothing heavy at the top (``airflow.sdk``, the
standard library, ``pipeline.mail``); no Variable is read until a deadline is missed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from pipeline.alerts import spool_unsent
from pipeline.mail import report_recipients, report_sender, send_message
from pipeline.settings import load_settings

log = logging.getLogger(__name__)

WEEKLY_REPORT = "weekly_cost_report"
RECONCILE = "cost_reconcile"

# How long after it was queued each DAG run may take before its owners are told.
WEEKLY_REPORT_DUE_AFTER = timedelta(hours=2)  # Monday 07:00 UTC -> the email by 09:00 UTC
BILL_DELIVERY_DELAY = timedelta(hours=48)  # AWS Data Exports and Cost Explorer: 24-48 h after the usage


@dataclass(frozen=True)
class LateRunAlert:
    """What one DAG's deadline means to the people it emails."""

    due_after: timedelta  # after the run was queued
    name: str  # the deadline's name in Airflow
    due: str  # what was due by the deadline; {queued}, {deadline} and {interval} are filled in
    what_to_do: tuple[str, ...]


ALERTS: dict[str, LateRunAlert] = {
    WEEKLY_REPORT: LateRunAlert(
        due_after=WEEKLY_REPORT_DUE_AFTER,
        name="weekly report sent",
        due="The weekly cost report was due in its recipients' mailboxes by {deadline}, {interval} after its "
        "run was queued ({queued}). The run had not finished by then.",
        what_to_do=(
            "Open the run (link above) and read the log of the task that failed or is still retrying.",
            "render_and_store failed: the report is not stored (MLflow or the data root unreachable; a report "
            "the data root refused is kept whole in the worker's spool, $RNN_PIPELINE_HOME/spool/reports/). "
            "Fix the cause and clear the task; send_email follows.",
            "send_email failed or is retrying: the report is stored (Browse > Cost reports) but the mail "
            "backend refused it (RNN_PIPELINE_EMAIL_BACKEND, the connection smtp_default or aws_default). "
            "Fix it and clear send_email: it sends the stored message as it is.",
            "Queued and never started: no scheduler or worker took it; check them.",
            "How the report is made and sent: docs/reports.md.",
        ),
    ),
    RECONCILE: LateRunAlert(
        due_after=BILL_DELIVERY_DELAY,
        name="bill reconciled",
        due="AWS delivers the bill for the usage up to {queued}, when the run was queued, within {interval} "
        "(Data Exports and Cost Explorer arrive 24-48 h late), so by {deadline} it has arrived. The run had "
        "not finished by then, and while it has not, no later daily run starts (max_active_runs=1): the "
        "training runs in that bill stay unreconciled, their cost an estimate.",
        what_to_do=(
            "Open the run (link above) and read the log of the task that failed or is still retrying.",
            "fetch_bill: AccessDenied means the AWS connection lacks ce:GetCostAndUsage (Cost Explorer) or "
            "s3:ListBucket and s3:GetObject on the export; 'no Parquet files under' means the export_uri "
            "param or the Variable rnn_billing_export_uri does not point at the Data Export.",
            "gather_runs or record: MLflow is unreachable or refuses the login (connection mlflow_default).",
            "Once fixed, clear the failed task: the next daily runs reconcile every pending training run, "
            "and a re-run changes nothing already reconciled.",
            "Queued and never started: no scheduler or worker took it; check them.",
            "What is compared and how to point it at a Data Export: docs/cost-reconciliation.md.",
        ),
    ),
}


def deadline_alert(alert: str, *, due_after: timedelta | None = None) -> DeadlineAlert:
    """The Deadline Alert of one of :data:`ALERTS`, for a DAG's ``deadline=``: due ``due_after`` (default:
    the alert's own) after the run was queued; :func:`notify_missed_deadline` when it passes."""
    spec = ALERTS[alert]
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=spec.due_after if due_after is None else due_after,
        callback=AsyncCallback(notify_missed_deadline, kwargs={"alert": alert}),
        name=spec.name,
    )


# -- the message ---------------------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    """A timestamp from the callback's context (ISO text or datetime) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _duration(interval: timedelta) -> str:
    seconds = round(interval.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _state_then(run: Mapping[str, Any]) -> str:
    state = run.get("state") or "unknown"
    if state == "failed":
        return f"failed (ended {_utc(_when(run.get('end_date')))})"
    if state == "success":
        return f"succeeded late (ended {_utc(_when(run.get('end_date')))})"
    if state == "queued":
        return "queued, not started"
    return state


def run_url(airflow_ui_url: str, dag_id: str, run_id: str) -> str:
    """The DAG run's page in the Airflow UI."""
    return f"{airflow_ui_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def missed_deadline_email(
    alert: str,
    context: Mapping[str, Any],
    *,
    sender: str,
    recipients: list[str],
    airflow_ui_url: str,
) -> EmailMessage:
    """The email for a missed deadline, from the context Airflow hands the callback: ``dag_run`` (the run as
    the REST API shows it, when the miss was handled) and ``deadline`` (its ``id`` and ``deadline_time``)."""
    from email.utils import formatdate, make_msgid, parseaddr

    spec = ALERTS[alert]
    run = context["dag_run"]
    dag_id, run_id = run["dag_id"], run["dag_run_id"]
    deadline = _when(context["deadline"]["deadline_time"])
    queued = _when(run.get("queued_at"))
    interval = _duration(deadline - queued) if deadline and queued else "-"
    due = spec.due.format(queued=_utc(queued), deadline=_utc(deadline), interval=interval)
    facts = [
        ("DAG", dag_id),
        ("run", run_id),
        ("deadline", f"{_utc(deadline)} ({interval} after the run was queued)"),
        ("state", f"{_state_then(run)} when the deadline passed"),
        ("logical date", _utc(_when(run.get("logical_date")))),
        ("queued", _utc(queued)),
        ("started", _utc(_when(run.get("start_date")))),
        ("in Airflow", run_url(airflow_ui_url, dag_id, run_id)),
    ]
    steps = "\n".join(f"{number}. {step}" for number, step in enumerate(spec.what_to_do, start=1))
    body = (
        f"{due}\n\n"
        + "\n".join(f"{label:<15}{value}" for label, value in facts)
        + f"\n\nWhat to do:\n{steps}\n\n"
        + f"-- the Deadline Alert '{spec.name}' of {dag_id} (pipeline/deadlines.py)\n"
    )
    message = EmailMessage()
    message["Subject"] = f"[deadline missed] {dag_id}: run {run_id} not finished by {_utc(deadline)}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    address = parseaddr(sender)[1]
    domain = address.rsplit("@", 1)[-1] if "@" in address else "localhost"  # never ask DNS for our hostname
    message["Message-ID"] = make_msgid(idstring="rnn-deadline", domain=domain)
    message.set_content(body)
    return message


# -- the callback (run by the triggerer when a deadline passes) ----------------------------------------------


async def notify_missed_deadline(alert: str, context: dict[str, Any]) -> None:
    """AsyncCallback of :func:`deadline_alert`: email the report recipients that the run is late.

    The mail path is synchronous (Variable lookups, SMTP or SES): it runs in a thread, so the
    triggerer's event loop goes on serving its other triggers meanwhile."""
    from asgiref.sync import sync_to_async

    await sync_to_async(send_missed_deadline_alert, thread_sensitive=False)(alert, context)


def send_missed_deadline_alert(alert: str, context: Mapping[str, Any]) -> None:
    """Email the report recipients that the run is late, through the reports' mail path; a message that
    cannot be sent is kept in the alerts' spool (``<data root>/governance/alerts/<month>/``, which the next
    budget check sends) and this fails, saying where."""
    settings = load_settings()
    recipients = report_recipients()
    message = missed_deadline_email(
        alert, context, sender=report_sender(), recipients=recipients, airflow_ui_url=settings.airflow_ui_url
    )
    try:
        backend, _ = send_message(message, recipients)
    except Exception as exc:
        run = context["dag_run"]
        kept = spool_unsent(
            f"{datetime.now(UTC):%Y-%m}",
            f"deadline/{run['dag_id']}/{run['dag_run_id']}/{context['deadline']['id']}",
            message,
        )
        raise RuntimeError(
            f"could not send the missed-deadline alert {message['Subject']!r} to {', '.join(recipients)} "
            f"({type(exc).__name__}: {exc}); it is kept in {kept}, and the next budget check "
            "(rnn_retraining.watch_spend, weekly_cost_report.check_budgets) sends it"
        ) from exc
    log.info("sent %r to %s via %s", message["Subject"], ", ".join(recipients), backend)
