"""Budgets against a real MLflow store and a real SMTP server: month to date, alerts sent once per threshold
per month, spooled while mail is down and sent by the next check, a malformed document refused."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)  # a Thursday: @weekly still starts Dec 13, 20 and 27
BUDGETS = json.dumps({"month_usd": {"training": 1.0, "total": 500.0}, "alert_at_pct": [80, 100]})


def log_training_run(name: str, usd: float, started: datetime, *, billed_usd: float | None = None) -> None:
    from mlflow import MlflowClient

    from pipeline import names, tracking

    settings = tracking.configure()
    client = MlflowClient()
    run = client.create_run(
        tracking.experiment_id(names.TRAINING_EXPERIMENT, settings),
        start_time=int(started.timestamp() * 1000),
        run_name=name,
    )
    client.log_metric(run.info.run_id, names.COST_TRAIN_USD, usd)
    if billed_usd is not None:
        client.log_metric(run.info.run_id, names.COST_BILLED_ACTUAL_USD, billed_usd)
    client.set_terminated(run.info.run_id, status="FINISHED")


def check(**overrides):
    from pipeline.tasks.governance import check_budgets

    return check_budgets(
        **{
            "budgets_variable": BUDGETS,
            "recipients": ["finops@example.com"],
            "sender": "p@example.com",
            "now": NOW,
        }
        | overrides
    )


def subjects(mail_dir: Path) -> list[str]:
    from email import message_from_bytes, policy

    from devtools.mailcatcher import saved_messages

    return sorted(
        str(message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"])
        for p in saved_messages(mail_dir)
    )


def test_the_remaining_runs_are_what_the_schedule_still_starts_this_month() -> None:
    from pipeline.tasks.governance import month_bounds, remaining_scheduled_runs

    start, end, month = month_bounds(NOW)
    assert (start, end, month) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
        "2026-12",
    )
    assert remaining_scheduled_runs(NOW, end, "@weekly") == 3
    assert remaining_scheduled_runs(NOW, end, "@daily") == 21


def test_alerts_go_once_per_threshold_and_month_and_survive_a_mail_outage(
    pipeline_home: Path, smtp_catcher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import free_port

    from devtools.services import local_smtp_connection

    log_training_run("last month", 50.0, datetime(2026, 11, 28, tzinfo=UTC))  # not this month's spend
    log_training_run("billed run", 0.30, datetime(2026, 12, 2, tzinfo=UTC), billed_usd=0.35)
    log_training_run("estimated run", 0.50, datetime(2026, 12, 6, tzinfo=UTC))

    status = check()
    training = next(c for c in status["categories"] if c["category"] == "training")
    # the bill's $0.35 where reconciled, the estimate $0.50 elsewhere; last month's run is not this month's
    assert training["actual_usd"] == pytest.approx(0.85) and training["estimated_usd"] == pytest.approx(0.50)
    # three more weekly runs, each one of the three recent runs' costs: at least 3 x $0.30 more
    assert training["forecast_p10_usd"] >= 0.85 + 3 * 0.30 - 1e-9
    assert training["forecast_p90_usd"] <= 0.85 + 3 * 50.0 + 1e-9
    assert sorted(status["alerts_raised"]) == [
        "2026-12/training/actual-80pct",
        "2026-12/training/forecast-over-budget",
    ]
    sent = subjects(smtp_catcher)
    assert len(sent) == 2 and all(s.startswith("[budget] training 2026-12") for s in sent)
    assert any("$0.85 spent, 80% of the budget $1.00" in s for s in sent)

    assert check()["alerts_raised"] == [] and len(subjects(smtp_catcher)) == 2  # never twice a month

    # mail down: the 100 % alert is raised and kept in the spool, complete; nothing is lost
    log_training_run("another run", 0.40, datetime(2026, 12, 9, tzinfo=UTC))
    working = os.environ["AIRFLOW_CONN_SMTP_DEFAULT"]
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(free_port()))
    down = check()
    assert down["alerts_raised"] == ["2026-12/training/actual-100pct"] and down["alerts_sent"] == []
    [kept] = down["alerts_kept"]
    assert "100% of the budget" in Path(kept).read_text() and len(subjects(smtp_catcher)) == 2

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", working)  # mail is back: the next check sends it, once
    back = check()
    assert back["alerts_raised"] == [] and back["alerts_sent"] == [kept]
    assert len(subjects(smtp_catcher)) == 3 and check()["alerts_sent"] == []


def test_a_malformed_budget_document_is_refused_naming_the_key(pipeline_home: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks.governance import load_budgets

    with pytest.raises(AirflowFailException, match=r"Variable rnn_budgets.*month_usd.gpu: unknown category"):
        load_budgets(json.dumps({"month_usd": {"gpu": 3}}))
    with pytest.raises(
        AirflowFailException, match=r"alert_at_pct\[0\] must be a percentage above 0 and at most 100"
    ):
        load_budgets(json.dumps({"month_usd": {"total": 3}, "alert_at_pct": [150]}))
    with pytest.raises(AirflowFailException, match="is not JSON"):
        load_budgets("{month_usd: 3")
    assert load_budgets(None).month_usd["total"] > 0  # include/budgets.json, the shipped default, is valid
