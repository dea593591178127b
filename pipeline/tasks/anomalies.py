"""Cost anomalies, detected right after the task that produced the cost (:mod:`costing.model.anomaly`).

Where each detector runs, and so how soon after the event its alert goes out:

=====================  ==================================================  ==================================
anomaly                 task                                               after the event
=====================  ==================================================  ==================================
run cost, cost/token    ``rnn_retraining.watch_spend``, after ``cost``     the same DAG run, seconds after
                                                                           the cost was logged
price jump              ``pricing_refresh.detect_price_anomalies``         the same DAG run as the snapshot
reconciliation error    ``cost_reconcile.detect_reconciliation_anomalies`` the same DAG run as the bill
leaked instance         ``sweep_stale_instances`` (start of every spot     at most a day (cost_reconcile
                        training, of every spot sweep) and                 is daily), and it is terminated
                        ``cost_reconcile.sweep_leaked_instances`` (daily)  on the spot
=====================  ==================================================  ==================================

Each anomaly is recorded once, as a row ``<data root>/governance/anomalies/<month>/<key>.json`` (the
weekly report's *Anomalies* table reads them), and alerted once, through the budget alerts' spool
(:func:`pipeline.alerts.spool_alert`): never lost if mail is down, never sent twice.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from costing.model.anomaly import (
    Anomaly,
    leaked_instance_anomaly,
    price_jump_anomalies,
    reconciliation_anomalies,
    run_cost_anomalies,
)
from costing.pricing.catalog import PriceCatalog
from pipeline import names, tracking
from pipeline.alerts import send_spooled, spool_alert
from pipeline.mail import report_recipients, report_sender
from pipeline.price_store import newest_snapshot_dir
from pipeline.settings import load_settings, safe_path_part
from pipeline.spot.cleanup import sweep_task
from toolkit import storage

log = logging.getLogger(__name__)

HISTORY_RUNS = 20  # earlier runs a run is judged against


def anomalies_dir(month: str) -> str:
    return storage.join(load_settings().data_root, "governance", "anomalies", month)


def record_anomalies(anomalies: list[Anomaly]) -> list[str]:
    """Record and alert each anomaly not recorded yet; every unsent alert is sent. The keys newly recorded."""
    recipients, sender = report_recipients(), report_sender()
    recorded, months = [], set()
    for anomaly in anomalies:
        month = anomaly.detected_at[:7]
        months.add(month)
        row = storage.join(anomalies_dir(month), f"{safe_path_part(anomaly.key.replace('/', '__'))}.json")
        if storage.exists(row):
            continue
        storage.write_text_atomic(row, json.dumps(anomaly.to_dict(), indent=2, default=str))
        body = (
            f"{anomaly.subject}\n\nEvidence: {anomaly.evidence}\n\nDetected by {anomaly.detected_by} at "
            f"{anomaly.detected_at}"
            + (
                f", {anomaly.minutes_to_detect:.1f} minutes after the event ({anomaly.event_at})."
                if anomaly.minutes_to_detect is not None
                else "."
            )
        )
        spool_alert(
            month,
            f"anomaly/{anomaly.key}",
            f"[anomaly] {anomaly.subject}",
            body,
            sender=sender,
            recipients=recipients,
        )
        recorded.append(anomaly.key)
    for month in months:
        send_spooled(month, recipients)
    return recorded


def anomalies_between(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The anomalies detected in [start, end), oldest first (the weekly report's table)."""
    rows = []
    month = datetime(start.year, start.month, 1, tzinfo=UTC)
    while month < end:
        for path in storage.list_files(anomalies_dir(f"{month:%Y-%m}")):
            if path.endswith(".json"):
                row = json.loads(storage.read_bytes(path))
                if start <= datetime.fromisoformat(row["detected_at"]) < end:
                    rows.append(row)
        month = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return sorted(rows, key=lambda r: r["detected_at"])


def anomalies_of_period(period_end: datetime, days: int) -> tuple[dict[str, Any], ...]:
    """The weekly report's rows: the anomalies detected in the ``days`` before ``period_end``."""
    return tuple(anomalies_between(period_end - timedelta(days=days), period_end))


def _now() -> str:
    return datetime.now(UTC).isoformat()


# -- after a training run's cost ------------------------------------------------------------------------------


def run_history(
    experiment: str, exclude_run_id: str, limit: int = HISTORY_RUNS
) -> tuple[list[float], list[float]]:
    """(cost.train_usd, cost.usd_per_million_tokens) of the latest finished runs before this one."""
    from mlflow import MlflowClient

    settings = tracking.configure()
    runs = MlflowClient().search_runs(
        [tracking.experiment_id(experiment, settings)],
        filter_string=f"attributes.status = 'FINISHED' and metrics.`{names.COST_TRAIN_USD}` >= 0",
        order_by=["attributes.start_time DESC"],
        max_results=limit + 1,
    )
    earlier = [r for r in runs if r.info.run_id != exclude_run_id][:limit]
    return (
        [float(r.data.metrics[names.COST_TRAIN_USD]) for r in earlier],
        [
            float(r.data.metrics[names.COST_USD_PER_MILLION_TOKENS])
            for r in earlier
            if names.COST_USD_PER_MILLION_TOKENS in r.data.metrics
        ],
    )


def detect_run_anomalies(*, costed: dict[str, Any], detected_by: str) -> dict[str, Any]:
    """This run's cost and cost per million tokens against the runs before it (``rnn-textgen``)."""
    from mlflow import MlflowClient

    run_id = costed["mlflow_run_id"]
    tracking.configure()
    client = MlflowClient()
    run = client.get_run(run_id)
    usd = float(costed["cost"]["usd"])
    per_mtok = run.data.metrics.get(names.COST_USD_PER_MILLION_TOKENS)
    logged = client.get_metric_history(run_id, names.COST_TRAIN_USD)
    event_at = (
        datetime.fromtimestamp(logged[-1].timestamp / 1000, tz=UTC).isoformat() if logged else None
    )  # the moment the cost task logged the cost
    history_usd, history_per_mtok = run_history(names.TRAINING_EXPERIMENT, run_id)
    found = run_cost_anomalies(
        run_id=run_id,
        run_name=run.info.run_name or run_id,
        usd=usd,
        usd_per_mtok=per_mtok,
        history_usd=history_usd,
        history_usd_per_mtok=history_per_mtok,
        detected_by=detected_by,
        detected_at=_now(),
        event_at=event_at,
    )
    recorded = record_anomalies(found)
    log.info("%d anomaly(ies) in run %s against %d earlier runs", len(found), run_id, len(history_usd))
    return {"anomalies": [a.to_dict() for a in found], "recorded": recorded, "history_runs": len(history_usd)}


# -- after a pricing refresh, after reconciliation --------------------------------------------------------------


def detect_price_anomalies(*, diffed: dict[str, Any], detected_by: str) -> dict[str, Any]:
    diff = json.loads(storage.read_bytes(diffed["diff_uri"]))
    found = price_jump_anomalies(diff, detected_by=detected_by, detected_at=_now())
    return {"anomalies": [a.to_dict() for a in found], "recorded": record_anomalies(found)}


def detect_reconciliation_anomalies(*, recorded: dict[str, Any], detected_by: str) -> dict[str, Any]:
    """Each run reconciled now, its estimate-vs-bill error against the errors of the other reconciled runs."""
    from mlflow import MlflowClient

    settings = tracking.configure()
    client = MlflowClient()
    errors = client.search_runs(
        [tracking.experiment_id(names.TRAINING_EXPERIMENT, settings)],
        filter_string=f"metrics.`{names.COST_ESTIMATE_ERROR_PCT}` > -1000000",
        order_by=["attributes.start_time DESC"],
        max_results=HISTORY_RUNS * 5,
    )
    by_run = {r.info.run_id: r for r in errors}
    found: list[Anomaly] = []
    for run_id in recorded.get("reconciled", []):
        run = by_run.get(run_id) or client.get_run(run_id)
        history = [
            float(r.data.metrics[names.COST_ESTIMATE_ERROR_PCT]) for r in errors if r.info.run_id != run_id
        ][:HISTORY_RUNS]
        found += reconciliation_anomalies(
            run_id=run_id,
            run_name=run.info.run_name or run_id,
            error_pct=float(recorded["estimate_error_pct"][run_id]),
            history_error_pct=history,
            billed_usd=float(run.data.metrics.get(names.COST_BILLED_ACTUAL_USD, 0.0)),
            detected_by=detected_by,
            detected_at=_now(),
        )
    return {"anomalies": [a.to_dict() for a in found], "recorded": record_anomalies(found)}


# -- instances nobody is waiting for ----------------------------------------------------------------------------


def sweep_and_report(context: Any, *, detected_by: str) -> list[dict[str, Any]]:
    """Terminate instances of DAG runs that are over (:func:`pipeline.spot.cleanup.sweep_task`); each one is a
    leaked-instance anomaly that says what it cost, from launch to now, at the newest snapshot's price."""
    swept = sweep_task(context)
    if not swept:
        return swept
    catalog = PriceCatalog.load(newest_snapshot_dir())
    now = datetime.now(UTC)
    found = []
    for instance in swept:
        region = instance.get("availability_zone", "")[:-1] or context["params"].get("region") or ""
        try:
            rate = (
                catalog.current_spot_usd_per_hour(instance["instance_type"], region)
                if instance.get("market") == "spot"
                else catalog.on_demand_usd_per_hour(instance["instance_type"], region)
            )
        except ValueError as error:  # no price for it: still an anomaly, its cost unknown
            log.warning("no price for %s: %s", instance["instance_type"], error)
            rate = 0.0
        found.append(
            leaked_instance_anomaly(
                instance_id=instance["instance_id"],
                instance_type=instance["instance_type"],
                launched_at=datetime.fromisoformat(instance["launch_time"]),
                terminated_at=now,
                usd_per_hour=rate,
                dag_id=instance["dag_id"],
                run_id=instance["run_id"],
                dag_run_state=instance["dag_run_state"],
                detected_by=detected_by,
            )
        )
    record_anomalies(found)
    return [{**s, "anomaly": a.to_dict()} for s, a in zip(swept, found, strict=True)]
