"""The alerts' spool: every alert is written, as the email it is, before it is sent, and sent once.

``<data root>/governance/alerts/<YYYY-MM>/<key>.eml``: a file that exists means the alert was raised this
month, so it is never raised twice (:func:`spool_alert`). Sending writes ``<key>.sent`` beside it;
:func:`send_spooled` sends every ``.eml`` without one, so an alert raised while mail was down goes out with
the next check, and nothing is lost or repeated. Budget alerts (:mod:`pipeline.tasks.governance`),
anomalies (:mod:`pipeline.tasks.anomalies`) and missed deadlines that could not be sent
(:mod:`pipeline.deadlines`) all go through it.

Light on purpose: :mod:`pipeline.deadlines` imports it when DAG files are parsed.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

from pipeline import names
from pipeline.mail import send_message
from pipeline.settings import load_settings, safe_path_part
from toolkit import storage

log = logging.getLogger(__name__)


def alerts_dir(month: str) -> str:
    return storage.join(load_settings().data_root, "governance", "alerts", month)


def alert_message(key: str, subject: str, body: str, *, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(domain="rnn-cost-pipeline")
    message["X-Rnn-Alert"] = key
    message.set_content(body)
    return message


def spooled_path(month: str, key: str) -> str:
    return storage.join(alerts_dir(month), f"{safe_path_part(key.replace('/', '__'))}.eml")


def spool_alert(month: str, key: str, subject: str, body: str, *, sender: str, recipients: list[str]) -> bool:
    """Write the alert's email to the month's spool unless it was raised already; True when it is new.
    ``key`` is unique within the month (a budget threshold, an anomaly)."""
    path = spooled_path(month, key)
    if storage.exists(path):
        return False
    storage.write_bytes_atomic(
        path, alert_message(key, subject, body, sender=sender, recipients=recipients).as_bytes()
    )
    log.warning("alert: %s", subject)
    return True


def spool_unsent(month: str, key: str, message: EmailMessage) -> str:
    """Keep a finished alert that could not be sent (a missed deadline's) in the month's spool, where the
    next budget check sends it; returns where it is."""
    path = spooled_path(month, key)
    storage.write_bytes_atomic(path, message.as_bytes())
    return path


def send_spooled(month: str, recipients: list[str]) -> dict[str, list[str]]:
    """Send every spooled alert of the month without a .sent marker; a failure keeps it for the next check."""
    sent: list[str] = []
    kept: list[str] = []
    for eml in _spooled(alerts_dir(month)):
        marker = eml.removesuffix(".eml") + ".sent"
        if storage.exists(marker):
            continue
        if not recipients:
            log.warning("%s is spooled: no recipients (Variable %s)", eml, names.VAR_REPORT_RECIPIENTS)
            kept.append(eml)
            continue
        try:
            raw = storage.read_bytes(eml)
            backend, message_id = send_message(
                message_from_bytes(raw, policy=policy.default), recipients, raw=raw
            )
        except Exception as error:  # mail down: the alert stays spooled, the next check sends it
            log.warning("could not send %s (%s: %s); it stays spooled", eml, type(error).__name__, error)
            kept.append(eml)
            continue
        storage.write_text_atomic(
            marker, json.dumps({"sent_at": datetime.now(UTC).isoformat(), "via": backend, "id": message_id})
        )
        sent.append(eml)
    return {"sent": sent, "kept": kept}


def _spooled(folder: str) -> list[str]:
    if not storage.exists(folder):
        return []
    return sorted(p for p in storage.list_files(folder) if p.endswith(".eml"))
