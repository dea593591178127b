"""Reports: the cost model's answers as text tables, an HTML page with charts, CSV, JSON and an email.

The caller gathers :class:`ReportInputs` (training runs, price changes, pricing status, the latest
analysis, spot history); :func:`render_report` turns them into a :class:`RenderedReport`,
:func:`write_report` stores it (local folder or ``s3://``, never half-written) and
:func:`build_email` packages it as one MIME message. The ``render_*`` functions print the CLI's
fixed-width tables. :func:`training_rows` / :func:`analysis_rows` turn costs into FOCUS 1.2 rows and
:func:`write_focus` writes them (CSV or Parquet); :func:`focus_rows_since` reads them back from MLflow.
Pure but for that reader: no Airflow, no network.
"""

from costing.report.document import render_report
from costing.report.focus import (
    FOCUS_VERSION,
    UNASSIGNED,
    Account,
    RunRef,
    analysis_rows,
    focus_bytes,
    training_rows,
    write_focus,
)
from costing.report.inputs import RenderedReport, ReportInputs, SpotSeries, TrainingRunRow
from costing.report.ledger import focus_rows_since
from costing.report.mail import build_email
from costing.report.store import write_report
from costing.report.tables import (
    render_all,
    render_grid,
    render_platform_comparison,
    render_prices,
    render_resources,
    render_sensitivity,
    render_tco,
)

__all__ = [
    "FOCUS_VERSION",
    "UNASSIGNED",
    "Account",
    "RenderedReport",
    "ReportInputs",
    "RunRef",
    "SpotSeries",
    "TrainingRunRow",
    "analysis_rows",
    "build_email",
    "focus_bytes",
    "focus_rows_since",
    "render_all",
    "render_grid",
    "render_platform_comparison",
    "render_prices",
    "render_report",
    "render_resources",
    "render_sensitivity",
    "render_tco",
    "training_rows",
    "write_focus",
    "write_report",
]
