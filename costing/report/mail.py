"""The report as one MIME message: ``multipart/mixed[ multipart/alternative[ text/plain,
multipart/related[ text/html, image/png ... ] ], text/csv ... ]``."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from costing.report.document import content_id
from costing.report.inputs import CID_DOMAIN, RenderedReport

# -- email -----------------------------------------------------------------------------------------------------


def build_email(rendered: RenderedReport, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """multipart/mixed[ multipart/alternative[ text/plain, multipart/related[ text/html, image/png... ] ],
    text/csv attachments... ]; each image is inline with the Content-ID the HTML's ``cid:`` refers to."""
    if isinstance(recipients, str):
        recipients = [recipients]
    if not recipients:
        raise ValueError("build_email needs at least one recipient address")
    if not sender:
        raise ValueError("build_email needs a sender address (From)")
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    address = parseaddr(sender)[1]
    domain = address.rsplit("@", 1)[-1] if "@" in address else CID_DOMAIN  # never ask DNS for our hostname
    message["Message-ID"] = make_msgid(idstring="rnn-cost-report", domain=domain)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html_email, subtype="html")
    html_part = message.get_payload()[-1]
    for name, png in rendered.images.items():
        cid = rendered.content_ids.get(name) or content_id(name, png)
        if f"cid:{cid}" not in rendered.html_email:
            raise ValueError(
                f"image {name} (cid {cid}) is not referenced by the HTML; render it with render_report"
            )
        html_part.add_related(
            png, maintype="image", subtype="png", cid=f"<{cid}>", filename=name, disposition="inline"
        )
    for name, text in rendered.csv_tables.items():
        message.add_attachment(text, subtype="csv", filename=name)
    return message
