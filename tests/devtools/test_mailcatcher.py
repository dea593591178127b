"""The local SMTP catcher saves complete messages to disk."""

from __future__ import annotations

import smtplib
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import free_port

from devtools.mailcatcher import saved_messages, start


@pytest.mark.integration
def test_messages_are_saved_whole(tmp_path: Path) -> None:
    port = free_port()
    controller = start(tmp_path, port)
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "hello"
        message.set_content("plain body")
        message.add_alternative("<p>html body</p>", subtype="html")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message)
            client.send_message(message)
    finally:
        controller.stop()
    files = saved_messages(tmp_path)
    assert len(files) == 2
    parsed = message_from_bytes(files[0].read_bytes())
    assert parsed["Subject"] == "hello"
    assert [part.get_content_type() for part in parsed.walk()][1:] == ["text/plain", "text/html"]
    assert not list(tmp_path.glob(".incoming-*"))
