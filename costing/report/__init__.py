"""Reports: the cost model's answers as text tables, an HTML page with charts, CSV, JSON and an email.

The caller gathers :class:`ReportInputs` (training runs, price changes, pricing status, the latest
analysis, spot history); :func:`render_report` turns them into a :class:`RenderedReport`,
:func:`write_report` stores it (local folder or ``s3://``, never half-written) and
:func:`build_email` packages it as one MIME message. The ``render_*`` functions print the CLI's
fixed-width tables. Pure: no Airflow, no MLflow, no network.
"""

from costing.report.document import render_report
from costing.report.inputs import RenderedReport, ReportInputs, SpotSeries, TrainingRunRow
from costing.report.mail import build_email
from costing.report.store import write_report
from costing.report.tables import (
    render_all,
    render_grid,
    render_prices,
    render_resources,
    render_sensitivity,
    render_tco,
)

__all__ = [
    "RenderedReport",
    "ReportInputs",
    "SpotSeries",
    "TrainingRunRow",
    "build_email",
    "render_all",
    "render_grid",
    "render_prices",
    "render_report",
    "render_resources",
    "render_sensitivity",
    "render_tco",
    "write_report",
]
