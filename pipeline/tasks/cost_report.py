"""Task bodies of ``weekly_cost_report`` and the report half of ``adhoc_cost_analysis``.

gather (MLflow runs of the period, snapshot diffs, pricing status, latest analysis, spot history)
-> render and store (``costing.report.document``: HTML with charts, text, CSV, JSON, and the finished MIME
message ``email.eml``, under ``<data_root>/reports/<dag_id>/<date>_<run>/`` and as MLflow artifacts)
-> send (``pipeline.mail``: SMTP connection via the smtp provider, or SES via the amazon provider). The
report is stored before sending, so a mail outage loses nothing: the send task retries, then fails, and
the report is already on disk / S3 and in MLflow.

Email configuration (``pipeline.mail``): ``RNN_PIPELINE_EMAIL_BACKEND`` = ``smtp`` (default; connection
``RNN_PIPELINE_SMTP_CONN_ID``, default ``smtp_default``) or ``ses`` (connection
``RNN_PIPELINE_AWS_CONN_ID``, default ``aws_default``). Recipients: the Airflow Variable
``cost_report_recipients`` (or the ad hoc form's field), else ``cost-reports@localhost``.
"""

from __future__ import annotations

import itertools
import json
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from costing.pricing import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_REGION,
    PriceCatalog,
    diff_snapshots,
    list_snapshot_ids,
    load_snapshot,
)
from costing.report import (
    ReportInputs,
    SpotSeries,
    TrainingRunRow,
    build_email,
    focus_bytes,
    focus_rows_since,
    render_report,
    write_report,
)
from pipeline import names, tracking
from pipeline.mail import send_message
from pipeline.price_store import local_snapshot_dir, newest_snapshot_dir, refresh_status, seed_pricing_root
from pipeline.settings import Settings, load_settings, safe_path_part
from pipeline.ui.links import (
    MLFLOW_MODEL_TRAINING_VIEW,
    airflow_ui_url,
    mlflow_experiment_url,
    mlflow_run_url,
    mlflow_ui_url,
)
from pipeline.ui.reports_app import list_reports, reports_root
from toolkit import storage
from toolkit.storage import join

log = logging.getLogger(__name__)

EMAIL_FILE = "email.eml"
FOCUS_CSV = "focus.csv"  # the period's costs as FOCUS 1.2 rows (docs/cost-reconciliation.md)
FOCUS_PARQUET = "focus.parquet"


def report_dir(settings: Settings, dag_id: str, run_id: str, day: datetime) -> tuple[str, str]:
    """(uri, path relative to the reports root) of a report: dated and run-scoped."""
    relative = f"{safe_path_part(dag_id)}/{day:%Y-%m-%d}_{safe_path_part(run_id)}"
    return join(settings.data_root, "reports", *relative.split("/")), relative


def latest_report(dag_id: str) -> str | None:
    """Location of the newest stored report.html of a DAG (for summaries and links)."""
    for report in list_reports():
        if report.path.startswith(f"{safe_path_part(dag_id)}/"):
            return join(reports_root(), *report.path.split("/"), "report.html")
    return None


# -- gathering ---------------------------------------------------------------------------------------------


def training_runs(
    start: datetime, end: datetime, experiment_name: str = names.TRAINING_EXPERIMENT
) -> list[Any]:
    """The period's runs of rnn-textgen (or another experiment of training runs: the sweeps') as
    costing.report.document.TrainingRunRow, oldest first."""
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.start_time >= {int(start.timestamp() * 1000)} and "
        f"attributes.start_time < {int(end.timestamp() * 1000)}",
        order_by=["attributes.start_time ASC"],
        max_results=1000,
    )
    rows = []
    for run in runs:
        m, t, p = run.data.metrics, run.data.tags, run.data.params
        rows.append(
            TrainingRunRow(
                run_id=run.info.run_id,
                run_name=run.info.run_name or run.info.run_id,
                started_at=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
                status=run.info.status,
                cost_usd=m.get(names.COST_TRAIN_USD),
                on_demand_usd=m.get(names.COST_TRAIN_ON_DEMAND_USD),
                cost_basis=t.get(names.TAG_COST_BASIS, ""),
                val_loss=m.get(names.VAL_LOSS),
                interruptions=int(m.get(names.TRAIN_INTERRUPTIONS, 0)),
                instance_type=p.get("compute.instance_type", ""),
                market=p.get("compute.market", ""),
                region=p.get("compute.region", ""),
                registered=t.get(names.TAG_REGISTRY_DECISION) == "registered",
                mlflow_url=mlflow_run_url(experiment.experiment_id, run.info.run_id),
                billed_seconds=m.get(names.COST_BILLED_SECONDS),
                wasted_usd=m.get(names.COST_WASTED_USD),
                overhead_usd=m.get(names.COST_OVERHEAD_USD),
                effective_savings_pct=m.get(names.COST_EFFECTIVE_SAVINGS_PCT),
                tagged_estimate_usd=m.get(names.COST_TAGGED_ESTIMATE_USD),
                billed_actual_usd=m.get(names.COST_BILLED_ACTUAL_USD),
                estimate_error_pct=m.get(names.COST_ESTIMATE_ERROR_PCT),
            )
        )
    return rows


def finished_sweeps(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """``sweep.json`` of every rnn_sweep parent run that finished in the period, oldest first."""
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.SWEEP_EXPERIMENT)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{names.TAG_SWEEP_ROLE}` = 'parent' and attributes.end_time >= "
        f"{int(start.timestamp() * 1000)} and attributes.end_time < {int(end.timestamp() * 1000)}",
        order_by=["attributes.end_time ASC"],
        max_results=100,
    )
    documents = []
    for run in runs:
        try:
            document = tracking.load_json_artifact(run, names.SWEEP_ARTIFACT)
        except Exception as exc:
            log.info("sweep run %s has no %s yet: %s", run.info.run_id, names.SWEEP_ARTIFACT, exc)
            continue
        documents.append(
            {**document, "mlflow_url": mlflow_run_url(experiment.experiment_id, run.info.run_id)}
        )
    return documents


def price_changes(start: datetime, end: datetime, settings: Settings) -> list[dict[str, Any]]:
    """Diffs of the snapshots fetched in the period against their predecessors."""
    ids = list_snapshot_ids(settings.pricing_root)
    diffs = []
    for previous_id, current_id in itertools.pairwise(ids):
        current = load_snapshot(local_snapshot_dir(settings, current_id))
        if start <= current.fetched_at < end:
            diffs.append(
                diff_snapshots(load_snapshot(local_snapshot_dir(settings, previous_id)), current).to_dict()
            )
    return diffs


def latest_analysis(kind: str = "recompute") -> tuple[dict[str, Any] | None, str | None]:
    """(analysis.json, MLflow run id) of the newest finished analysis run of that kind."""
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.COST_EXPERIMENT)
    if experiment is None:
        return None, None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{names.TAG_ANALYSIS_KIND}` = '{kind}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None, None
    return tracking.load_json_artifact(runs[0], names.ANALYSIS_DOCUMENT_ARTIFACT), runs[0].info.run_id


def spot_history(instance_type: str, region: str) -> list[Any]:
    catalog = PriceCatalog.load(newest_snapshot_dir())
    try:
        points = catalog.spot_history(instance_type, region)
    except ValueError as exc:
        log.info("no spot history for the chart: %s", exc)
        return []
    by_az: dict[str, list[tuple[datetime, float]]] = {}
    for point in points:
        by_az.setdefault(point.availability_zone, []).append((point.timestamp, point.usd_per_hour))
    return [
        SpotSeries(instance_type=instance_type, availability_zone=az, points=tuple(sorted(series)))
        for az, series in sorted(by_az.items())
    ]


def training_experiment_url() -> str:
    """The training runs in MLflow (the UI's front page if there are none yet)."""
    from mlflow import MlflowClient

    tracking.configure()
    experiment = MlflowClient().get_experiment_by_name(names.TRAINING_EXPERIMENT)
    if experiment is None:
        return f"{mlflow_ui_url()}/#/?{MLFLOW_MODEL_TRAINING_VIEW}"
    return mlflow_experiment_url(experiment.experiment_id)


def links() -> dict[str, str]:
    return {
        "MLflow": training_experiment_url(),
        "Airflow": airflow_ui_url(),
        "Cost reports": f"{airflow_ui_url()}/cost-reports/",
    }


def weekly_inputs(
    period_end: datetime,
    days: int = 7,
    budget: dict[str, Any] | None = None,
    anomalies: tuple[dict[str, Any], ...] = (),
) -> Any:
    """The weekly report's inputs; ``budget`` and ``anomalies`` come from pipeline.tasks.governance and
    pipeline.tasks.anomalies (which read reports' settings from here)."""
    settings = load_settings()
    seed_pricing_root(settings)
    period_start = period_end - timedelta(days=days)
    runs = training_runs(period_start, period_end)
    previous_runs = training_runs(period_start - timedelta(days=days), period_start)
    analysis, _ = latest_analysis("recompute")
    instance_type = next((r.instance_type for r in reversed(runs) if r.instance_type), DEFAULT_INSTANCE_TYPE)
    region = next((r.region for r in reversed(runs) if r.region), DEFAULT_REGION)
    return ReportInputs(
        title=f"Weekly cost report, {period_start:%Y-%m-%d} – {period_end:%Y-%m-%d}",
        kind="weekly",
        period_start=period_start,
        period_end=period_end,
        generated_at=datetime.now(UTC),
        training_runs=tuple(runs),
        price_changes=tuple(price_changes(period_start, period_end, settings)),
        pricing_status=refresh_status(settings),
        analysis=analysis,
        spot_history=tuple(spot_history(instance_type, region)),
        links=links(),
        previous_training_runs=tuple(previous_runs),
        sweeps=tuple(finished_sweeps(period_start, period_end)),
        budget=budget,
        anomalies=anomalies,
    )


def weekly_focus_files(period_end: datetime, days: int = 7) -> dict[str, bytes]:
    """The period's costs (every experiment) as FOCUS rows, CSV and Parquet, stored beside the report."""
    rows = focus_rows_since(
        period_end - timedelta(days=days), period_end, tracking_uri=tracking.configure().tracking_uri
    )
    return {FOCUS_CSV: focus_bytes(rows, "csv"), FOCUS_PARQUET: focus_bytes(rows, "parquet")}


def stored_analysis(outputs: dict[str, str]) -> dict[str, Any]:
    """The analysis document the ``analyze`` task stored (``outputs`` of its result: its analysis.json)."""
    return json.loads(storage.read_bytes(outputs["analysis.json"]))


def adhoc_inputs(analysis: dict[str, Any], request: dict[str, Any]) -> Any:
    rpd = ", ".join(f"{x:,.0f}" for x in request.get("requests_per_day", []))
    region = request.get("region", DEFAULT_REGION)
    instance_type = (request.get("instance_types") or [DEFAULT_INSTANCE_TYPE])[0]
    return ReportInputs(
        title=f"Ad hoc cost analysis: {rpd} requests/day in {region}",
        kind="adhoc",
        period_start=None,
        period_end=None,
        generated_at=datetime.now(UTC),
        training_runs=(),
        price_changes=(),
        pricing_status=refresh_status(),
        analysis=analysis,
        spot_history=tuple(spot_history(instance_type, region)),
        request=request,
        links=links(),
    )


# -- storing and sending -----------------------------------------------------------------------------------


def render_and_store(
    *,
    inputs: Any,
    dag_id: str,
    run_id: str,
    recipients: list[str],
    sender: str,
    mlflow_run_id: str | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Render, write every file (email.eml and ``extra_files`` included) under the run-scoped report dir,
    log to MLflow."""
    import mlflow

    settings = load_settings()
    rendered = render_report(inputs)
    day = inputs.period_end or inputs.generated_at
    out, relative = report_dir(settings, dag_id, run_id, day)
    meta = {"dag_id": dag_id, "run_id": run_id, "recipients": recipients}
    message = build_email(rendered, sender=sender, recipients=recipients) if recipients else None
    try:
        written, extra = _store(rendered, message, out, meta, extra_files)
    except Exception as exc:
        if not storage.is_remote(out):
            raise
        kept = storage.join(str(settings.home / "spool" / "reports"), *relative.split("/"))
        _store(rendered, message, kept, meta, extra_files)
        raise RuntimeError(
            f"could not store the report in {out} ({type(exc).__name__}: {exc}); it is kept, complete, in "
            f"{kept} on this worker. Airflow retries the task; the Cost reports page lists only complete "
            "reports (report.json is written last)."
        ) from exc
    if mlflow_run_id is None:
        mlflow_run_id = tracking.get_or_create_run(
            names.COST_EXPERIMENT, dag_id, run_id, run_name=f"report · {inputs.title}", settings=settings
        )
    with tracking.task_run(mlflow_run_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tag(names.TAG_ANALYSIS_KIND, f"{inputs.kind}-report")
        for uri in [*written, *extra]:
            name = uri.rstrip("/").rsplit("/", 1)[-1]
            Path(tmp, name).write_bytes(storage.read_bytes(uri))
        mlflow.log_artifacts(tmp, artifact_path="report")
        experiment_id = run.info.experiment_id
    log.info("report stored in %s: %s", out, rendered.summary)
    return {
        "report_dir": out,
        "report_path": relative,
        "summary": rendered.summary,
        "subject": rendered.subject,
        "recipients": recipients,
        "mlflow_run_id": mlflow_run_id,
        "experiment_id": experiment_id,
    }


def _store(
    rendered: Any, message: Any, out: str, meta: dict[str, Any], extra_files: dict[str, bytes] | None
) -> tuple[list[str], list[str]]:
    """The message (if any) and the extra files, then the report's files, report.json last; (report
    files, extra files)."""
    extra = []
    if message is not None:  # stored with the report, so sending can fail and retry alone
        storage.write_bytes_atomic(storage.join(out, EMAIL_FILE), message.as_bytes())
        extra.append(storage.join(out, EMAIL_FILE))
    for name, data in (extra_files or {}).items():
        storage.write_bytes_atomic(storage.join(out, name), data)
        extra.append(storage.join(out, name))
    return write_report(rendered, out, meta=meta), extra


def send_stored_email(*, stored: dict[str, Any]) -> dict[str, Any]:
    """Send the stored email.eml through SMTP (smtp provider) or SES (amazon provider)."""
    raw = storage.read_bytes(storage.join(stored["report_dir"], EMAIL_FILE))
    message = message_from_bytes(raw, policy=policy.default)
    recipients = stored["recipients"]
    backend, sent_id = send_message(message, recipients, raw=raw)
    log.info("sent %r to %s via %s", stored["subject"], ", ".join(recipients), backend)
    return {**stored, "sent_via": backend, "message_id": sent_id}
