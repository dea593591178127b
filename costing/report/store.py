"""Storing a rendered report under a local folder or an fsspec URL (``s3://...``), never half-written.

Every file is written whole by :mod:`toolkit.storage`; ``report.json`` goes last, so a report is
listed only once all its files are there.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from costing.report.formatting import iso_or_none
from costing.report.inputs import REPORT_META, RenderedReport
from toolkit.storage import join, write_bytes_atomic


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
        uri = join(out_dir, name)
        write_bytes_atomic(uri, data)
        written.append(uri)
    uri = join(out_dir, REPORT_META)
    write_bytes_atomic(
        uri, json.dumps(report_meta, indent=2, default=str).encode("utf-8")
    )  # last: it makes the report visible
    written.append(uri)
    return written
