"""The production topology keeps working when parts of it fail (one fault per test).

Each test breaks one component of the shared deployment on purpose and checks the outcome through
the REST API, MLflow, S3 and the task logs; the ``prod`` fixture makes the deployment whole again.
"""

from __future__ import annotations

import json
import time

import psutil
import pytest
from production_testbed import ADHOC_CONF, FAULT_TRAIN_CONF, TRAIN_STEPS, Deployment

from devtools.production import WORKER_COUNT, worker_name
from pipeline import names
from pipeline.settings import safe_path_part

# Generous: the first test of a session also starts the deployment and trains the reference run.
pytestmark = [pytest.mark.production, pytest.mark.timeout(1800)]

RETRAINING, ADHOC = "rnn_retraining", "adhoc_cost_analysis"


def _train_dir(run_id: str) -> str:
    return f"data/{RETRAINING}/{safe_path_part(run_id)}/train"


def _wait_for_object(prod: Deployment, key: str, timeout_seconds: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while key not in prod.keys(key):
        assert time.monotonic() < deadline, f"s3://{prod.topology.bucket}/{key} never appeared"
        time.sleep(0.5)


def _worker_training(prod: Deployment) -> str | None:
    """The worker whose processes include `python -m rnn train` right now."""
    for number in range(1, WORKER_COUNT + 1):
        name = worker_name(number)
        for pid in prod.topology.descendants(name):
            try:
                if "rnn train" in " ".join(psutil.Process(pid).cmdline()):
                    return name
            except psutil.NoSuchProcess:
                continue
    return None


def _metrics(prod: Deployment, run_id: str) -> dict:
    body = prod.s3().get_object(Bucket=prod.topology.bucket, Key=f"{_train_dir(run_id)}/metrics.json")["Body"]
    return json.loads(body.read())


def test_worker_killed_mid_training_retries_on_the_other_worker_and_resumes(
    prod: Deployment, trained: dict
) -> None:
    reference = _metrics(prod, trained["run_id"])["training"]["global_steps"]
    assert reference == TRAIN_STEPS

    run_id = prod.api.trigger(RETRAINING, FAULT_TRAIN_CONF)
    prod.api.wait_task_state(RETRAINING, run_id, "train_local", {"running"})
    _wait_for_object(prod, f"{_train_dir(run_id)}/checkpoint.pt")  # mid-training, after a checkpoint
    victim = _worker_training(prod)
    assert victim is not None, "no worker is running `python -m rnn train`"
    prod.topology.kill(victim)  # SIGKILL to the worker and everything it started

    survivor, deadline = None, time.monotonic() + 400
    while survivor is None and time.monotonic() < deadline:
        survivor = _worker_training(prod)
        if prod.api.run(RETRAINING, run_id)["state"] in ("success", "failed"):
            break
        time.sleep(1)
    assert prod.api.wait(RETRAINING, run_id, timeout_seconds=600) == "success"
    assert survivor not in (None, victim), f"the retry did not train on another worker ({survivor})"

    tries = prod.api.tries(RETRAINING, run_id, "train_local")
    assert [t["state"] for t in tries][-1] == "success"
    assert len(tries) == 2
    training = _metrics(prod, run_id)["training"]
    assert training["global_steps"] == reference  # same final step count as the uninterrupted run
    assert training["attempts"] == 2
    assert 0 < training["resumed_from_step"] < TRAIN_STEPS
    runs = prod.runs_of(names.TRAINING_EXPERIMENT, RETRAINING, run_id)
    assert [r.info.status for r in runs] == ["FINISHED"]  # one MLflow run, reopened by the retry


def test_mlflow_down_for_30_seconds_while_training_logs_to_it(prod: Deployment) -> None:
    run_id = prod.api.trigger(RETRAINING, FAULT_TRAIN_CONF)
    prod.api.wait_task_state(RETRAINING, run_id, "train_local", {"running"})
    _wait_for_object(prod, f"{_train_dir(run_id)}/checkpoint.pt")  # training, logging system metrics
    prod.topology.stop("mlflow")
    stopped = time.monotonic()
    while time.monotonic() - stopped < 30:
        time.sleep(1)
    prod.topology.start("mlflow")
    assert prod.api.wait(RETRAINING, run_id, timeout_seconds=600) == "success"

    runs = prod.runs_of(names.TRAINING_EXPERIMENT, RETRAINING, run_id)
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert _metrics(prod, run_id)["training"]["global_steps"] == TRAIN_STEPS
    # Retried: by the MLflow client (urllib3 retries logged in the task log) or by Airflow (a new try).
    tries = prod.api.tries(RETRAINING, run_id, "train_local")
    log = "\n".join(prod.task_log(RETRAINING, run_id, "train_local", t["try_number"]) for t in tries)
    assert len(tries) > 1 or "Retrying" in log or "Failed to" in log, log[-3000:]


def test_postgres_restarted_the_components_reconnect_and_the_next_run_succeeds(prod: Deployment) -> None:
    components = [c.name for c in prod.topology.components() if c.name.startswith("airflow-")] + ["mlflow"]
    pids = {name: prod.topology.pid(name) for name in components}
    prod.topology.restart("postgres")
    _run_id, state = prod.run_and_wait(ADHOC, ADHOC_CONF, timeout_seconds=300)
    assert state == "success"
    # Each component reconnected, or exited and was started again by compose's `restart: always` (the
    # dag processor exits when its database connection fails): the same supervised processes, all
    # healthy again (Airflow's health endpoint for the scheduler, DAG processor and triggerer).
    assert {name: prod.topology.pid(name) for name in components} == pids
    for name in components:
        prod.topology.wait_ready(prod.topology.component(name))


def test_s3_unreachable_while_a_report_is_stored(prod: Deployment) -> None:
    reports = f"data/reports/{ADHOC}/"
    listed_before = {k for k in prod.keys(reports) if k.endswith("/report.json")}
    # S3 goes away after the report's second file went through whole: the third PUT never arrives.
    prod.s3_proxy.trip_on(f"PUT /{prod.topology.bucket}/{reports}".encode(), after=2)
    run_id = prod.api.trigger(ADHOC, ADHOC_CONF)
    assert prod.api.wait(ADHOC, run_id, timeout_seconds=400) == "failed"
    assert prod.s3_proxy.tripped
    prod.s3_proxy.up()

    states = {ti["task_id"]: ti["state"] for ti in prod.api.task_instances(ADHOC, run_id)}
    assert states["analyze"] == "success"
    tries = prod.api.tries(ADHOC, run_id, "render_and_store")
    assert [t["state"] for t in tries] == ["failed", "failed"]  # retried, then failed
    first_log = prod.task_log(ADHOC, run_id, "render_and_store", 1)
    assert "could not store the report" in first_log

    # Nothing half-written: the two objects that went through are whole, report.json was never written,
    # so the report is not listed; the reports stored earlier are all still there.
    mine = [k for k in prod.keys(reports) if safe_path_part(run_id) in k]
    assert len(mine) == 2
    assert not any(k.endswith("/report.json") for k in mine)
    assert {k for k in prod.keys(reports) if k.endswith("/report.json")} == listed_before
    listing = prod.api.get_json("/cost-reports/api/reports")
    assert not any(safe_path_part(run_id) in r["path"] for r in listing)

    # The report is kept, complete, on the worker; the objects in S3 are byte-for-byte its files.
    spool = prod.topology.airflow_home / "rnn-pipeline" / "spool" / "reports" / ADHOC
    [kept] = [p for p in spool.iterdir() if p.name.endswith(safe_path_part(run_id))]
    meta = json.loads((kept / "report.json").read_text())
    assert set(meta["files"]) <= {p.name for p in kept.iterdir()}
    for key in mine:
        body = prod.s3().get_object(Bucket=prod.topology.bucket, Key=key)["Body"].read()
        assert body == (kept / key.rsplit("/", 1)[1]).read_bytes()
