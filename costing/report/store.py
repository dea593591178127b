"""Storing a rendered report under a local folder or an fsspec URL (``s3://...``), never half-written.

Local files go to a temporary sibling and are renamed into place, mode :data:`FILE_MODE`; object
stores make a PUT visible only once complete. Twin: ``rnn/storage.py`` (``rnn`` and ``costing``
may not import each other): same rules.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from costing.report.formatting import iso_or_none
from costing.report.inputs import REPORT_META, RenderedReport

FILE_MODE = 0o644  # mkstemp makes 0600; a report is meant to be read by the web UI and people

# -- storing ---------------------------------------------------------------------------------------------------


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _join(base: str, name: str) -> str:
    if _is_remote(base):
        return f"{base.rstrip('/')}/{name}"
    return str(Path(base.removeprefix("file://")) / name)


def _write(uri: str, data: bytes) -> None:
    """All-or-nothing: local files via a temporary sibling and ``os.replace``; object stores via one PUT."""
    if _is_remote(uri):
        import fsspec

        with fsspec.open(uri, "wb") as handle:
            handle.write(data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(rendered: RenderedReport, out_dir: str, *, meta: dict | None = None) -> list[str]:
    """Write report.html, the PNGs, the CSVs, report.txt, data.json and - last - report.json to ``out_dir``
    (a local folder or an fsspec URL such as ``s3://bucket/reports/...``). Returns the written locations."""
    files: list[tuple[str, bytes]] = [("report.html", rendered.html_file.encode("utf-8"))]
    files += list(rendered.images.items())
    files += [(name, text.encode("utf-8")) for name, text in rendered.csv_tables.items()]
    files.append(("report.txt", rendered.text.encode("utf-8")))
    files.append(
        ("data.json", json.dumps(rendered.data, indent=2, sort_keys=True, default=str).encode("utf-8"))
    )
    for name, _ in files:
        if not name or "/" in name or "\\" in name or name.startswith(".") or name == REPORT_META:
            raise ValueError(f"report file name {name!r} must be a plain file name other than {REPORT_META}")
    created = str(rendered.data.get("generated_at") or iso_or_none(datetime.now(UTC)))
    report_meta = {
        "title": rendered.data.get("title", ""),
        "kind": rendered.data.get("kind", ""),
        "created_at": created,
        "summary": rendered.summary,
        "subject": rendered.subject,
        "period_start": rendered.data.get("period_start"),
        "period_end": rendered.data.get("period_end"),
        "files": [name for name, _ in files],
        **(meta or {}),
    }
    written = []
    for name, data in files:
        uri = _join(out_dir, name)
        _write(uri, data)
        written.append(uri)
    uri = _join(out_dir, REPORT_META)
    _write(
        uri, json.dumps(report_meta, indent=2, default=str).encode("utf-8")
    )  # last: it makes the report visible
    written.append(uri)
    return written
