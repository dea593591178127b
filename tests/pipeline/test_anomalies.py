"""Anomalies against a real MLflow store and a real SMTP server: a run far outside its history is recorded
and alerted once, with its evidence, seconds after its cost was logged; the report lists it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def log_run(name: str, usd: float, usd_per_mtok: float) -> str:
    from mlflow import MlflowClient

    from pipeline import names, tracking

    settings = tracking.configure()
    client = MlflowClient()
    run = client.create_run(tracking.experiment_id(names.TRAINING_EXPERIMENT, settings), run_name=name)
    client.log_metric(run.info.run_id, names.COST_TRAIN_USD, usd)
    client.log_metric(run.info.run_id, names.COST_USD_PER_MILLION_TOKENS, usd_per_mtok)
    client.set_terminated(run.info.run_id, status="FINISHED")
    return run.info.run_id


def test_a_run_far_outside_its_history_is_recorded_and_alerted_once(
    pipeline_home: Path, smtp_catcher: Path
) -> None:
    from devtools.mailcatcher import saved_messages
    from pipeline.tasks.anomalies import anomalies_between, detect_run_anomalies

    for index, usd in enumerate([0.020, 0.021, 0.019, 0.022, 0.020, 0.018, 0.021]):
        log_run(f"weekly {index}", usd, usd * 25)
    normal = log_run("normal week", 0.021, 0.52)
    quiet = detect_run_anomalies(
        costed={"mlflow_run_id": normal, "cost": {"usd": 0.021}}, detected_by="t.watch"
    )
    assert quiet["anomalies"] == [] and quiet["history_runs"] == 7

    stuck = log_run("stuck week", 0.090, 2.25)  # 4.3x the cost, and 4.3x the cost per token: a dearer run
    found = detect_run_anomalies(
        costed={"mlflow_run_id": stuck, "cost": {"usd": 0.090}}, detected_by="rnn_retraining.watch_spend"
    )
    assert sorted(a["kind"] for a in found["anomalies"]) == ["cost-per-token", "run-cost"]
    assert len(found["recorded"]) == 2
    for anomaly in found["anomalies"]:
        # the pipeline's time to alert: the same DAG run, seconds after the cost task logged the cost
        assert 0 <= anomaly["minutes_to_detect"] < 1
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in saved_messages(smtp_catcher)]
    assert len(mails) == 2
    run_cost = next(
        m for m in mails if "cost $0.09 is 4.39x the recent median $0.0204939" in str(m["Subject"])
    )
    assert str(run_cost["Subject"]).startswith("[anomaly] training run stuck week")
    body = run_cost.get_content()
    assert (
        "against a median of $0.0204939 over 8 earlier runs" in body and "rnn_retraining.watch_spend" in body
    )

    again = detect_run_anomalies(
        costed={"mlflow_run_id": stuck, "cost": {"usd": 0.090}}, detected_by="t.watch"
    )
    assert again["recorded"] == [] and len(saved_messages(smtp_catcher)) == 2  # once

    now = datetime.now(UTC)
    rows = anomalies_between(now - timedelta(days=1), now + timedelta(minutes=1))
    assert sorted(r["kind"] for r in rows) == ["cost-per-token", "run-cost"]
    assert anomalies_between(now - timedelta(days=9), now - timedelta(days=2)) == []
