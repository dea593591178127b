"""The pipeline on the production topology, driven through Airflow's REST API only.

rnn_retraining trains on a Celery worker; its MLflow run is a row in the MLflow Postgres DB, its
artifacts are objects in S3 and the model is registered; cost_recompute and weekly_cost_report then
run, and the weekly email reaches the SMTP catcher.
"""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from helpers import TINY_RUN_CONF
from production_testbed import TRAIN_STEPS, Deployment

from pipeline import names

# the rest of a sweep trial's shape: the tiny whole-DAG runs' (what a space leaves out keeps the default model's)
SWEEP_SHAPE = {k: v for k, v in TINY_RUN_CONF.items() if k not in ("hidden_size", "checkpoint_every_steps")}

# Generous: the first test of a session also starts the deployment and trains the reference run.
pytestmark = [pytest.mark.production, pytest.mark.timeout(1800)]


def test_retraining_runs_on_celery_logs_to_postgres_and_s3_and_registers(
    deployment: Deployment, trained: dict
) -> None:
    assert trained["state"] == "success"
    run_id = trained["run_id"]
    tries = {ti["task_id"]: ti for ti in deployment.api.task_instances("rnn_retraining", run_id)}
    assert tries["train_local"]["state"] == "success"
    assert tries["train_local"]["queue"] == "default"  # a Celery queue: CeleryExecutor ran it
    assert tries["register"]["state"] in ("success", "skipped")

    runs = deployment.runs_of(names.TRAINING_EXPERIMENT, "rnn_retraining", run_id)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics[names.TRAIN_TOKENS_PER_S] > 0
    # The serving capacity was measured by a load test on the Celery worker, against the real server.
    assert run.data.metrics[names.SERVE_MAX_RPS_AT_SLO] > 0
    assert run.data.metrics[names.SERVE_SLO_MS] == 1000

    with deployment.postgres("mlflow", "mlflow") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status, artifact_uri FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        status, artifact_uri = cursor.fetchone()
    assert status == "FINISHED"
    # The server proxies artifacts to s3://rnn-pipeline/mlflow (MLFLOW_ARTIFACTS_DESTINATION).
    assert artifact_uri.startswith("mlflow-artifacts:/")
    stored = deployment.keys(f"mlflow/{run.info.experiment_id}/{run.info.run_id}/artifacts/")
    assert any(key.endswith("/metrics.json") for key in stored)
    assert any(key.endswith("/validation/validation.json") or "/validation/" in key for key in stored)
    model_objects = deployment.keys(f"mlflow/{run.info.experiment_id}/models/")
    assert any(key.endswith("/MLmodel") for key in model_objects)

    metrics = json.loads(
        deployment.s3()
        .get_object(
            Bucket=deployment.topology.bucket,
            Key=f"data/rnn_retraining/{run_id.replace(':', '_').replace('+', '_')}/train/metrics.json",
        )["Body"]
        .read()
    )
    assert metrics["training"]["global_steps"] == TRAIN_STEPS
    assert metrics["training"]["attempts"] == 1

    client = deployment.mlflow()
    versions = client.search_model_versions(f"name='{names.REGISTERED_MODEL}'")
    assert [v.run_id for v in versions if v.run_id == run.info.run_id] == [run.info.run_id]


def test_cost_recompute_and_the_weekly_report_reach_the_mailbox(
    deployment: Deployment, trained: dict
) -> None:
    before = set(deployment.topology.mail_dir.glob("*.eml"))

    recompute_run, state = deployment.run_and_wait("cost_recompute")
    assert state == "success"
    analyses = deployment.runs_of(names.COST_EXPERIMENT, "cost_recompute", recompute_run)
    assert [r.info.status for r in analyses] == ["FINISHED"]
    assert analyses[0].data.tags[names.TAG_ANALYSIS_KIND] == "recompute"

    _weekly_run, state = deployment.run_and_wait("weekly_cost_report")
    assert state == "success"
    report_keys = deployment.keys("data/reports/weekly_cost_report/")
    assert any(key.endswith("/report.json") for key in report_keys)

    new_mail = sorted(set(deployment.topology.mail_dir.glob("*.eml")) - before)
    assert len(new_mail) == 1
    message = message_from_bytes(new_mail[0].read_bytes(), policy=policy.default)
    assert message["Subject"].startswith(("Weekly cost report", "[pricing stale] Weekly cost report"))
    assert message["To"] == "cost-reports@localhost"
    assert "1 run" in message["Subject"] or "runs" in message["Subject"]


def test_a_sweeps_trials_spread_over_the_celery_workers_and_its_study_outlives_a_scheduler_restart(
    deployment: Deployment, trained: dict
) -> None:
    """rnn_sweep on Celery: one round of 3 tiny trials (2 workers x concurrency 2: one worker takes 2 at
    most), the study in the `optuna` Postgres database, a child MLflow run per trial under the sweep's
    parent. The scheduler restarts mid-run (once the round's trials are asked) and the run completes: the
    fault test of a scheduler restarted mid-run."""
    space = {
        "hidden_size": [16, 24, 32],
        "learning_rate": {"low": 0.003, "high": 0.03, "log": True},
        **{key: [value] for key, value in SWEEP_SHAPE.items()},
    }
    run_id = deployment.api.trigger(
        "rnn_sweep", {"search_space": space, "max_trials": 3, "trials_per_round": 3, "load_test_seconds": 0}
    )
    # the scheduler restarts once the study holds the round's trials: the sweep goes on from the database
    deployment.api.wait_task_state("rnn_sweep", run_id, "plan_round_1", {"success"}, timeout_seconds=600)
    old_pid = deployment.topology.pid("airflow-scheduler")
    deployment.topology.restart("airflow-scheduler")
    assert deployment.topology.pid("airflow-scheduler") not in (None, old_pid)
    state = deployment.api.wait("rnn_sweep", run_id, timeout_seconds=900)
    tries = deployment.api.task_instances("rnn_sweep", run_id)
    assert state == "success", [(t["task_id"], t.get("map_index"), t["state"]) for t in tries]
    trials = [t for t in tries if t["task_id"] == "trials_round_1"]
    assert len(trials) == 3 and {t["state"] for t in trials} == {"success"}
    hosts = {t["hostname"] for t in trials}
    assert len(hosts) > 1, hosts  # more than one Celery worker ran them
    assert all(host.startswith("airflow-worker-") for host in hosts), hosts

    with deployment.postgres("optuna", "airflow") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = %s AND t.state = 'COMPLETE'",
            (f"rnn_sweep/{run_id}",),
        )
        assert cursor.fetchone()[0] == 3

    runs = deployment.runs_of(names.SWEEP_EXPERIMENT, "rnn_sweep", run_id)
    [parent] = [r for r in runs if r.data.tags.get(names.TAG_SWEEP_ROLE) == "parent"]
    assert parent.data.metrics["sweep.trials"] == 3 and parent.data.metrics["sweep.front_size"] >= 1
