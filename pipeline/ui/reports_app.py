"""The "Cost reports" page: a small FastAPI app mounted in the Airflow API server by the plugin.

``/cost-reports/`` lists every stored report (newest first); ``/cost-reports/view/<path>`` serves
a report's files (HTML, PNG, CSV, JSON) from the reports root, local or s3://, never outside it.
"""

from __future__ import annotations

import html
import json
import mimetypes
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from pipeline.settings import load_settings
from toolkit.storage import join

REPORT_META = "report.json"


@dataclass(frozen=True)
class StoredReport:
    path: str  # "<dag_id>/<run>" under the reports root
    title: str
    kind: str
    created_at: str
    summary: str


def reports_root() -> str:
    return join(load_settings().data_root, "reports")


def list_reports(root: str | None = None) -> list[StoredReport]:
    import fsspec

    root = root or reports_root()
    fs, base = fsspec.core.url_to_fs(root)
    reports = []
    for meta_path in fs.glob(f"{base.rstrip('/')}/*/*/{REPORT_META}"):
        try:
            meta = json.loads(fs.cat_file(meta_path))
        except (OSError, ValueError):
            continue
        relative = meta_path[len(base.rstrip("/")) + 1 : -len(REPORT_META) - 1]
        reports.append(
            StoredReport(
                path=relative,
                title=meta.get("title", relative),
                kind=meta.get("kind", ""),
                created_at=meta.get("created_at", ""),
                summary=meta.get("summary", ""),
            )
        )
    return sorted(reports, key=lambda r: r.created_at, reverse=True)


def read_report_file(path: str, root: str | None = None) -> bytes:
    """A file of a stored report; refuses anything that would escape the reports root."""
    import fsspec

    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") or "\\" in p for p in parts):
        raise FileNotFoundError(path)
    fs, base = fsspec.core.url_to_fs(root or reports_root())
    return fs.cat_file(f"{base.rstrip('/')}/{'/'.join(parts)}")


def render_index(reports: list[StoredReport]) -> str:
    rows = (
        "\n".join(
            f"<tr><td>{html.escape(r.created_at[:19].replace('T', ' '))}</td><td>{html.escape(r.kind)}</td>"
            f"<td><a href='view/{html.escape(r.path)}/report.html' target='_blank'>{html.escape(r.title)}</a></td>"
            f"<td>{html.escape(r.summary)}</td></tr>"
            for r in reports
        )
        or "<tr><td colspan='4'>No reports yet: run <code>weekly_cost_report</code> or trigger "
        "<code>adhoc_cost_analysis</code>.</td></tr>"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Cost reports</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2933}}table{{border-collapse:collapse;width:100%}}
th,td{{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #d9e2ec}}th{{background:#f0f4f8}}</style></head>
<body><h1>Cost reports</h1><p>{len(reports)} report(s) in <code>{html.escape(reports_root())}</code></p>
<table><thead><tr><th>Created (UTC)</th><th>Kind</th><th>Report</th><th>Summary</th></tr></thead>
<tbody>{rows}</tbody></table></body></html>"""


async def airflow_login(request: Request) -> None:
    """Airflow's own check: a Bearer token from /auth/token, or the UI's session cookie; else 401."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPBearer

    await get_user(request, None, await HTTPBearer(auto_error=False)(request))


def create_app(*, login_required: bool = False) -> Any:
    """The app; with ``login_required`` (the plugin) every route needs an Airflow login."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, Response

    app = FastAPI(
        title="Cost reports",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(airflow_login)] if login_required else [],
    )

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return render_index(list_reports())

    @app.get("/api/reports")
    def reports_json() -> list[dict[str, str]]:
        return [r.__dict__ for r in list_reports()]

    @app.get("/view/{path:path}")
    def view(path: str) -> Response:
        try:
            data = read_report_file(path)
        except (FileNotFoundError, IsADirectoryError, OSError) as exc:
            raise HTTPException(status_code=404, detail=f"no report file {path!r}") from exc
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return Response(content=data, media_type=media_type)

    return app
