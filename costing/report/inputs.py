"""What a report is made from (:class:`ReportInputs`) and what rendering makes (:class:`RenderedReport`).

The Airflow side gathers the inputs (training runs of the period from MLflow, snapshot diffs, the
pricing status, the latest ``rnn-cost-analysis`` document, spot price history); the rest of
:mod:`costing.report` only renders, stores and packages them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from toolkit.paths import INCLUDE_DIR

TEMPLATE_DIR = INCLUDE_DIR / "templates"
HTML_TEMPLATE = "report.html.j2"
REPORT_META = "report.json"  # what the plugin's Cost reports page lists
REPORT_FILES = ("report.html", "report.txt", "data.json")
CID_DOMAIN = "rnn-cost-report"
KIND_WEEKLY, KIND_ADHOC = "weekly", "adhoc"
KINDS = (KIND_WEEKLY, KIND_ADHOC)
STATUS_FINISHED = "FINISHED"
TOP_PRICE_CHANGES = 15  # rows of the price-change table; the CSV has all of them
TEXT_RUN_ROWS = 10  # runs listed in the plain-text part

CHART_TITLES = {  # file name -> alt text, in page order
    "budget.png": "Budget, actual so far and forecast to month end, per category",
    "cost_per_run.png": "Training cost per run over time",
    "cost_vs_val_loss.png": "Cost per run against validation loss",
    "estimate_vs_bill.png": "Estimated against billed cost per reconciled run",
    "spot_history.png": "Spot price history per availability zone",
    "scenarios.png": "Serving cost per month by alternative and scenario",
    "tco_breakdown.png": "Cost of ownership per month of the cheapest option: training, serving, storage, platform",
    "tornado.png": "Sensitivity (tornado) of the monthly cost of ownership",
    "monte_carlo.png": "Monte Carlo P10-P90 band of the monthly cost of ownership",
}

TRAINING_RUN_COLUMNS = (
    "run_id",
    "run_name",
    "started_at",
    "status",
    "cost_usd",
    "on_demand_usd",
    "cost_basis",
    "val_loss",
    "interruptions",
    "instance_type",
    "market",
    "region",
    "registered",
    "mlflow_url",
    "billed_seconds",
    "wasted_usd",
    "overhead_usd",
    "effective_savings_pct",
    "tagged_estimate_usd",
    "billed_actual_usd",
    "estimate_error_pct",
)


# -- inputs and outputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRunRow:
    """One run of the training experiment, as the report shows it."""

    run_id: str
    run_name: str
    started_at: datetime  # timezone-aware, UTC
    status: str  # MLflow run status: FINISHED, FAILED, ...
    cost_usd: float | None  # cost.train_usd: the price paid (billed) or estimated
    on_demand_usd: float | None  # the same run at the on-demand rate
    cost_basis: str  # "estimate" | "billed-estimate"
    val_loss: float | None
    interruptions: int  # spot interruptions during the run
    instance_type: str
    market: str  # "spot" | "on-demand"
    region: str
    registered: bool  # the run's model was registered
    mlflow_url: str | None = None
    billed_seconds: float | None = None  # cost.billed_seconds: instance-seconds billed (usage)
    wasted_usd: float | None = None  # cloud runs: work thrown away by interruptions
    overhead_usd: float | None = None  # cloud runs: boot, install, restore, checkpoints, shutdown
    effective_savings_pct: float | None = None  # 1 - billed / on-demand equivalent, waste included
    tagged_estimate_usd: float | None = None  # reconciled runs: the estimate of the tagged resources
    billed_actual_usd: float | None = None  # reconciled runs: what the bill says for them
    estimate_error_pct: float | None = None  # (tagged estimate - billed) / billed x 100

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError(
                f"training run {self.run_name!r}: started_at={self.started_at!r} has no timezone; "
                "pass an aware datetime, e.g. datetime.fromtimestamp(ms / 1000, tz=UTC)"
            )


@dataclass(frozen=True)
class SpotSeries:
    """One line on the spot price chart."""

    instance_type: str
    availability_zone: str
    points: tuple[tuple[datetime, float], ...]  # (timestamp, usd_per_hour), sorted by time


@dataclass(frozen=True)
class ReportInputs:
    title: str  # "Weekly cost report, 2026-11-21 – 2026-11-27"
    kind: str  # "weekly" | "adhoc"
    period_start: datetime | None
    period_end: datetime | None
    generated_at: datetime
    training_runs: tuple[TrainingRunRow, ...]  # may be empty (an empty week)
    price_changes: tuple[dict, ...]  # costing.pricing.diff.SnapshotDiff.to_dict() per refresh in the period
    pricing_status: (
        dict | None
    )  # {"status": "fresh"|"stale"|"failed", "snapshot_id", "message", "age_days", ...}
    analysis: dict | None  # the rnn-cost-analysis document (+ "model"), or None before the first
    spot_history: tuple[SpotSeries, ...]
    request: dict | None = None  # the ad hoc inputs, shown in an ad hoc report
    links: dict[str, str] = field(default_factory=dict)  # "MLflow", "Airflow" -> URL
    notes: tuple[str, ...] = ()
    previous_training_runs: tuple[TrainingRunRow, ...] = ()  # the period before: the week's change in cost
    sweeps: tuple[
        dict, ...
    ] = ()  # rnn_sweep's sweep.json of each sweep finished in the period (+ "mlflow_url")
    budget: dict | None = None  # the month against its budgets (pipeline.tasks.governance.check_budgets)
    anomalies: tuple[
        dict, ...
    ] = ()  # costing.model.anomaly.Anomaly.to_dict() of those detected in the period

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"report kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.generated_at.tzinfo is None:
            raise ValueError(f"generated_at={self.generated_at!r} has no timezone; pass datetime.now(UTC)")


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    html_email: str  # images as <img src="cid:...">
    html_file: str  # the same page with <img src="<name>.png">, for storage and browsers
    text: str  # short plain-text summary
    images: dict[str, bytes]  # "cost_per_run.png" -> PNG bytes; only charts that have data
    csv_tables: dict[str, str]  # "training_runs.csv" (always) and the other tables that have data
    summary: str  # one line for listings
    data: dict  # JSON-serialisable: everything the page shows
    content_ids: dict[str, str] = field(default_factory=dict)  # image name -> Content-ID (no angle brackets)
