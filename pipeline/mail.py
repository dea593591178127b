"""Mail, sent the same way by the reports and the deadline alerts: who gets it, from whom, through what.

Recipients: the Airflow Variable ``cost_report_recipients`` (a JSON list, or addresses separated by
commas, spaces or newlines), else ``cost-reports@localhost``; sender: ``cost_report_sender``, else
``rnn-cost-pipeline@localhost``. Backend: ``RNN_PIPELINE_EMAIL_BACKEND`` = ``smtp`` (default; the
connection ``RNN_PIPELINE_SMTP_CONN_ID``, default ``smtp_default``, smtp provider) or ``ses`` (the
connection ``RNN_PIPELINE_AWS_CONN_ID``, default ``aws_default``, amazon provider).

Light to import (the standard library and ``pipeline.names``/``settings``; the providers' hooks load when
a message is sent): the DAG files load it at parse time through ``pipeline.deadlines``. Variables are
read when a task or callback runs, never at parse.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from pipeline import names
from pipeline.settings import load_settings


def recipients_from(value: Any) -> list[str]:
    """A Variable or param value -> addresses: JSON list, or comma/space/newline separated."""
    if value in (None, "", []):
        return []
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value).strip()
        try:
            parsed = json.loads(text)
            items = [str(v) for v in parsed] if isinstance(parsed, list) else [text]
        except json.JSONDecodeError:
            items = text.replace(",", " ").split()
    addresses = [a.strip() for a in items if a.strip()]
    bad = [a for a in addresses if "@" not in a]
    if bad:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"not an email address: {', '.join(bad)}")
    return addresses


def report_recipients() -> list[str]:
    """Who gets the weekly report and the deadline alerts: the Variable ``cost_report_recipients``, else
    ``cost-reports@localhost``. Read when a task or callback runs, never at DAG parse."""
    from airflow.sdk import Variable

    configured = recipients_from(Variable.get(names.VAR_REPORT_RECIPIENTS, default=None))
    return configured or list(names.DEFAULT_REPORT_RECIPIENTS)


def report_sender() -> str:
    """The From address: the Variable ``cost_report_sender``, else ``rnn-cost-pipeline@localhost``."""
    from airflow.sdk import Variable

    return Variable.get(names.VAR_REPORT_SENDER, default=names.DEFAULT_REPORT_SENDER)


def send_message(
    message: EmailMessage, recipients: list[str], *, raw: bytes | None = None
) -> tuple[str, str]:
    """Send a finished MIME message through the configured backend (``RNN_PIPELINE_EMAIL_BACKEND``): SMTP
    (connection ``RNN_PIPELINE_SMTP_CONN_ID``, smtp provider) or SES (``RNN_PIPELINE_AWS_CONN_ID``, amazon
    provider). ``raw``: the message's bytes as stored, sent as they are (else ``message.as_bytes()``).
    Returns (backend, message id)."""
    settings = load_settings()
    backend = settings.email_backend
    if backend == "ses":
        from airflow.providers.amazon.aws.hooks.ses import SesHook

        hook = SesHook(aws_conn_id=settings.aws_conn_id)
        # Recipients come from the message's own To header (SES reads it when Destinations is omitted).
        response = hook.conn.send_raw_email(
            Source=str(message["From"]), RawMessage={"Data": raw if raw is not None else message.as_bytes()}
        )
        return backend, response.get("MessageId", "")
    if backend == "smtp":
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=settings.smtp_conn_id) as hook:
            # The hook owns host, port, TLS and login; the message (inline images, CSV) is ours.
            hook._smtp_client.send_message(message, to_addrs=recipients)
        return backend, str(message["Message-ID"] or "")
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(f"RNN_PIPELINE_EMAIL_BACKEND={backend!r}: use 'smtp' or 'ses'")
