"""``python -m devtools.mailcatcher``: a local SMTP server that saves every message to disk.

The embedded stand-in for a real mail relay (``make up`` starts it on 127.0.0.1:1025). Each
message is written whole to ``<dir>/<UTC timestamp>-<n>.eml`` (temp file, then rename), so a file
that exists is a complete message; open it with any mail client or ``python -m email``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pipeline.settings import DEFAULT_SMTP_PORT, load_settings


class SaveToDisk:
    """aiosmtpd handler: accept every message and store it as an .eml file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        with self._lock:
            number = next(self._counter)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.directory / f"{stamp}-{number:04d}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-", suffix=".eml")
        with os.fdopen(fd, "wb") as handle:
            handle.write(envelope.original_content or envelope.content)
        os.replace(tmp, target)
        return "250 Message accepted for delivery"


def start(directory: Path, port: int = DEFAULT_SMTP_PORT, host: str = "127.0.0.1"):
    """Start the catcher in a background thread; returns the aiosmtpd Controller (call .stop())."""
    from aiosmtpd.controller import Controller

    controller = Controller(SaveToDisk(directory), hostname=host, port=port)
    controller.start()
    return controller


def saved_messages(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.eml") if not p.name.startswith("."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.mailcatcher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        default=load_settings().smtp_port,
        help="port on 127.0.0.1 (default %(default)s)",
    )
    parser.add_argument("--dir", type=Path, required=True, help="where to save .eml files")
    args = parser.parse_args(argv)
    controller = start(args.dir, args.port)
    print(f"SMTP catcher on 127.0.0.1:{args.port}, saving to {args.dir}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
