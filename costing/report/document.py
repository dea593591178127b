"""The whole report: charts, the HTML page (email and file flavours), text, CSV and data, in one call.

:func:`render_report` -> :class:`~costing.report.inputs.RenderedReport`: charts
(:mod:`costing.report.charts`), the HTML page from ``include/templates/report.html.j2`` (Jinja2,
autoescaped) twice - once with ``cid:`` image references for the email, once with ``<name>.png``
for storage and browsers -, the plain text, CSV tables, a one-line summary and ``data`` (JSON:
everything the page shows). Pure: no Airflow, no MLflow, no torch, no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from costing.report import charts
from costing.report.exports import csv_tables
from costing.report.formatting import (
    datetime_text,
    number_text,
    pct_text,
    rate_text,
    requests_long,
    requests_short,
    signed_pct_text,
    signed_usd_text,
    usd_text,
)
from costing.report.inputs import (
    CHART_TITLES,
    CID_DOMAIN,
    HTML_TEMPLATE,
    TEMPLATE_DIR,
    RenderedReport,
    ReportInputs,
)
from costing.report.sweep import sweep_chart_name, sweep_front_chart
from costing.report.text import render_text
from costing.report.view import build_view, subject_line, summary_line

# -- charts, HTML, the whole report ---------------------------------------------------------------------------


def render_charts(inputs: ReportInputs, view: Mapping[str, Any]) -> dict[str, bytes]:
    """The charts that have data, in page order."""
    runs = [
        dict(row, started_at_dt=run.started_at)
        for row, run in zip(
            view["training_runs"]["rows"],
            sorted(inputs.training_runs, key=lambda r: (r.started_at, r.run_id)),
            strict=True,
        )
    ]
    analysis = view["analysis"] or {}
    drawn = {
        "budget.png": charts.budget_chart(view.get("budget")),
        "cost_per_run.png": charts.cost_per_run_chart(runs, total_usd=view["training_runs"]["total_usd"]),
        "cost_vs_val_loss.png": charts.cost_vs_loss_chart(runs),
        "estimate_vs_bill.png": charts.estimate_vs_bill_chart(view.get("reconciliation")),
        "spot_history.png": charts.spot_history_chart(
            inputs.spot_history, marks=[r.started_at for r in inputs.training_runs]
        ),
        "scenarios.png": charts.scenario_chart(analysis.get("matrix") or {}),
        "tco_breakdown.png": charts.tco_breakdown_chart(analysis.get("tco")),
        "tornado.png": charts.tornado_chart(analysis.get("tornado")),
        "monte_carlo.png": charts.monte_carlo_chart(analysis.get("monte_carlo") or {}),
        # one front per sweep finished in the period, in the order the page lists them
        **{sweep_chart_name(i): sweep_front_chart(sweep) for i, sweep in enumerate(inputs.sweeps)},
    }
    return {name: png for name, png in drawn.items() if png}


def content_id(name: str, png: bytes) -> str:
    """A Content-ID for an inline image, stable for the same bytes (so the same inputs give the same email HTML)."""
    stem = name.rsplit(".", 1)[0].replace("_", "-")
    return f"{stem}.{hashlib.sha256(png).hexdigest()[:16]}@{CID_DOMAIN}"


def _environment(template_dir: Path | str | None = None):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir or TEMPLATE_DIR)),
        autoescape=True,  # every value is escaped; the template marks nothing safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        usd=usd_text,
        rate=rate_text,
        pct=pct_text,
        signed_pct=signed_pct_text,
        signed_usd=signed_usd_text,
        when=datetime_text,
        num=number_text,
        rpd=requests_short,
        rpd_long=requests_long,
    )
    return env


def render_html(
    view: Mapping[str, Any],
    image_src: Mapping[str, str],
    *,
    csv_names: Sequence[str] = (),
    template_dir: Path | str | None = None,
) -> str:
    template = _environment(template_dir).get_template(HTML_TEMPLATE)
    charts = {name: {"src": src, "alt": CHART_TITLES.get(name, name)} for name, src in image_src.items()}
    return template.render(v=view, charts=charts, csv_names=list(csv_names))


def render_report(inputs: ReportInputs, *, template_dir: Path | str | None = None) -> RenderedReport:
    """Charts, HTML (email and file flavours), text, CSV tables, summary and data of one report."""
    view = build_view(inputs)
    images = render_charts(inputs, view)
    tables = csv_tables(inputs, view)
    content_ids = {name: content_id(name, png) for name, png in images.items()}
    html_email = render_html(
        view,
        {name: f"cid:{cid}" for name, cid in content_ids.items()},
        csv_names=list(tables),
        template_dir=template_dir,
    )
    html_file = render_html(
        view, {name: name for name in images}, csv_names=list(tables), template_dir=template_dir
    )
    summary = summary_line(view)
    data = {**view, "summary": summary, "images": list(images), "csv_tables": list(tables)}
    return RenderedReport(
        subject=subject_line(view),
        html_email=html_email,
        html_file=html_file,
        text=render_text(view, csv_names=list(tables)),
        images=images,
        csv_tables=tables,
        summary=summary,
        data=data,
        content_ids=content_ids,
    )
