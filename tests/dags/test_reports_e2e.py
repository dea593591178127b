"""weekly_cost_report and adhoc_cost_analysis through dag.test(): stored reports, real MIME mail, faults."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from helpers import TINY_DAG_CONF, free_port, load_dag

from devtools.mailcatcher import saved_messages

pytestmark = pytest.mark.e2e


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def parse(path: Path):
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def check_mime(message, *, subject_contains: str) -> dict[str, str]:
    """Subject, an HTML part whose cid: images are all inline parts, and CSV attachments; returns the CSVs."""
    assert subject_contains in message["Subject"]
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "<table" in html and text.strip()
    inline = {
        part["Content-ID"].strip("<>"): part
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }
    assert inline, "no inline charts"
    for cid in inline:
        assert f"cid:{cid}" in html
        assert inline[cid].get_content_disposition() == "inline"
        assert inline[cid].get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    csvs = {
        part.get_filename(): part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "text/csv"
    }
    assert csvs, "no CSV attachments"
    return {
        name: content.decode() if isinstance(content, bytes) else content for name, content in csvs.items()
    }


def test_weekly_report_is_stored_logged_and_mailed(
    airflow_db: Path, pipeline_home: Path, tiny_corpus: Path, smtp_catcher: Path
) -> None:
    assert (
        load_dag("rnn_retraining").test(run_conf={**TINY_DAG_CONF, "corpus_uri": str(tiny_corpus)}).state
        == "success"
    )
    assert load_dag("cost_recompute").test(run_conf={"samples": 1000}).state == "success"

    dag_run = load_dag("weekly_cost_report").test()
    assert task_states(dag_run) == {"render_and_store": "success", "send_email": "success"}

    [stored] = list((pipeline_home / "data" / "reports" / "weekly_cost_report").iterdir())
    files = {p.name for p in stored.iterdir()}
    assert {"report.html", "report.json", "email.eml", "training_runs.csv", "scenarios.csv"} <= files
    # the week's costs as FOCUS rows: the training run (a local estimate) and the recompute's serving months
    import pyarrow.parquet as pq

    from costing.report import RunRef, analysis_rows
    from pipeline.tasks.cost_report import latest_analysis

    focus = pq.read_table(stored / "focus.parquet").to_pylist()
    [training_row] = [r for r in focus if r["x_MlflowExperiment"] == "rnn-textgen"]
    assert training_row["x_CostBasis"] == "estimate" and training_row["BilledCost"] > 0
    # one row per priced component of each feasible alternative (how many are feasible depends on the
    # latency measured on this machine, under whatever load it has)
    document, recompute_run = latest_analysis("recompute")
    expected = analysis_rows(document, RunRef(recompute_run, "rnn-cost-analysis"))
    exported = [r for r in focus if r["x_MlflowRunId"] == recompute_run]
    assert len(exported) == len(expected)
    assert sum(r["BilledCost"] for r in exported) == pytest.approx(sum(r["BilledCost"] for r in expected))
    assert len((stored / "focus.csv").read_text().splitlines()) == 1 + len(focus)
    assert any(name.endswith(".png") for name in files)
    meta = json.loads((stored / "report.json").read_text())
    assert meta["kind"] == "weekly" and "1 run" in meta["summary"]

    [mail] = saved_messages(smtp_catcher)
    message = parse(mail)
    assert message["To"] == "cost-reports@localhost"
    csvs = check_mime(message, subject_contains="Weekly cost report")
    rows = list(csv.DictReader(io.StringIO(csvs["training_runs.csv"])))
    assert len(rows) == 1 and float(rows[0]["cost_usd"]) > 0

    from mlflow import MlflowClient

    from pipeline import names, tracking

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.COST_EXPERIMENT)
    [report_run] = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`analysis.kind` = 'weekly-report'"
    )
    artifacts = {a.path for a in client.list_artifacts(report_run.info.run_id, "report")}
    assert {"report/report.html", "report/email.eml"} <= artifacts


def test_empty_week_still_reports_and_smtp_down_keeps_the_report(
    airflow_db: Path, pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devtools.services import local_smtp_connection

    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(free_port())
    )  # nothing listens there
    monkeypatch.setenv("RNN_PIPELINE_EMAIL_BACKEND", "smtp")
    dag = load_dag("weekly_cost_report")
    dag.get_task("send_email").retry_delay = timedelta(seconds=1)
    dag_run = dag.test()
    states = task_states(dag_run)
    assert states == {"render_and_store": "success", "send_email": "failed"}
    [send] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "send_email"]
    assert send.try_number == 1 + dag.get_task("send_email").retries  # it retried before failing
    [stored] = list((pipeline_home / "data" / "reports" / "weekly_cost_report").iterdir())
    assert "No training runs in this period" in (stored / "report.html").read_text()
    assert (stored / "email.eml").exists()


def test_adhoc_analysis_with_form_values_reports_and_mails(
    airflow_db: Path, pipeline_home: Path, smtp_catcher: Path
) -> None:
    conf = {
        "requests_per_day": [5000, 2000000],
        "region": "eu-west-1",
        "pricing_models": ["ec2-on-demand", "ec2-spot", "lambda", "fargate"],
        "horizon_months": 24,
        "retrain_cadence": "monthly",
        "latency_slo_ms": 2000,
        "tokens_per_request": 100,
        "peak_factor": 2.5,
        "platform_design": "self-hosted",
        "platform_share": 0.5,
        "platform_workers": 2,
        "recipients": ["lead@example.com", "finops@example.com"],
    }
    dag_run = load_dag("adhoc_cost_analysis").test(run_conf=conf)
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)

    [stored] = list((pipeline_home / "data" / "reports" / "adhoc_cost_analysis").iterdir())
    analysis = json.loads(next(pipeline_home.rglob("analysis.json")).read_text())
    assert analysis["region"] == "eu-west-1"
    assert [s["requests_per_day"] for s in analysis["grid"]["scenarios"]] == [5000, 2000000]
    assert {o["option"] for s in analysis["grid"]["scenarios"] for o in s["options"]} <= {
        "ec2-on-demand",
        "ec2-spot",
        "lambda",
        "fargate",
    }
    assert analysis["tco"]["horizon_months"] == 24 and analysis["tco"]["retrain_cadence"] == "monthly"
    assert analysis["grid"]["assumptions"]["latency_slo_ms"] == 2000
    assert "reference measurements" in analysis["model"]["source"]  # nothing registered yet
    platform = analysis["tco"]["platform"]
    assert (platform["design"], platform["attribution_share"], platform["region"]) == (
        "self-hosted",
        0.5,
        "eu-west-1",
    )
    assert platform["usd_per_month"] == pytest.approx(platform["full_usd_per_month"] / 2)
    assert any(c["name"].startswith("Celery workers (2) (") for c in platform["components"])

    [mail] = saved_messages(smtp_catcher)
    message = parse(mail)
    assert message["To"] == "lead@example.com, finops@example.com"
    check_mime(message, subject_contains="eu-west-1")
    assert "2,000,000" in (stored / "report.html").read_text()


def test_adhoc_without_recipients_stores_but_does_not_mail(
    airflow_db: Path, pipeline_home: Path, smtp_catcher: Path
) -> None:
    dag_run = load_dag("adhoc_cost_analysis").test(run_conf={"requests_per_day": [1000], "samples": 500})
    assert task_states(dag_run)["send_email"] == "skipped"
    assert saved_messages(smtp_catcher) == []
    assert list((pipeline_home / "data" / "reports" / "adhoc_cost_analysis").iterdir())


@pytest.mark.parametrize(
    "conf,field",
    [
        ({"requests_per_day": [-5]}, "requests_per_day"),
        ({"region": "mars-north-1"}, "region"),
        ({"horizon_months": 0}, "horizon_months"),
        ({"pricing_models": ["free-lunch"]}, "pricing_models"),
        ({"platform_design": "kubernetes"}, "platform_design"),
        ({"platform_share": 0}, "platform_share"),
        ({"platform_share": 1.5}, "platform_share"),
        ({"platform_workers": 0}, "platform_workers"),
        ({"redis": "memcached"}, "redis"),
        ({"db_instance_class": "postgres"}, "db_instance_class"),
    ],
)
def test_out_of_bounds_form_values_are_rejected(
    airflow_db: Path, pipeline_home: Path, conf: dict, field: str
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=field):
        load_dag("adhoc_cost_analysis").test(run_conf=conf)


def test_ses_backend_sends_the_same_message(
    airflow_db: Path, pipeline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from aws_fakes import running_moto_server

    with running_moto_server() as endpoint:
        monkeypatch.setenv("RNN_PIPELINE_EMAIL_BACKEND", "ses")
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
                }
            ),
        )
        ses = boto3.client(
            "ses",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ses.verify_email_identity(EmailAddress="rnn-cost-pipeline@localhost")
        dag_run = load_dag("adhoc_cost_analysis").test(
            run_conf={"requests_per_day": [1000], "recipients": ["lead@example.com"]}
        )
        assert task_states(dag_run)["send_email"] == "success"
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        [sent] = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        assert set(sent.destinations) == {"lead@example.com"}
        check_mime(
            message_from_bytes(
                sent.raw_data.encode() if isinstance(sent.raw_data, str) else sent.raw_data,
                policy=policy.default,
            ),
            subject_contains="Ad hoc cost analysis",
        )
