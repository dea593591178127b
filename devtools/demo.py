"""``python -m devtools.demo``: run the pipeline end to end on embedded defaults and summarise it.

What ``make demo`` runs. Every step is a real Airflow DAG run (``airflow dags test``) against the
local Airflow DB and MLflow store under ``.local/``; the summary is read back from MLflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from costing.__main__ import main as costing_main
from devtools.mailcatcher import saved_messages
from devtools.mailcatcher import start as start_mailcatcher
from devtools.services import local_smtp_connection, mail_dir, smtp_port
from pipeline import names, tracking
from pipeline.price_store import newest_snapshot_dir, refresh_status
from pipeline.settings import Settings, load_settings
from pipeline.tasks.cost_analysis import champion_model_source
from pipeline.tasks.cost_report import latest_report

QUIET_MARKERS = (
    "step ",
    "epoch ",
    "corpus validation",
    "FAIL ",
    "model registry",
    "cost:",
    "stale:",
    "fresh:",
    "cheapest option per scenario",
    "error:",
    "resumed from",
    "parameters |",
    "serving capacity:",
    "| sent ",
    "starting the inference server",
    "inference server stopped",
)
DEMO_LOAD_TEST_SECONDS = 75  # the load test's budget in the demo (the DAG's default is 90)


def airflow(*args: str, log_file: Path | None = None, echo_all: bool = False) -> int:
    """Run the airflow CLI; with a log file, keep the full output there and echo only the story."""
    return run_logged([str(Path(sys.executable).with_name("airflow")), *args], log_file, echo_all)


def run_logged(command: list[str], log_file: Path | None = None, echo_all: bool = False) -> int:
    """Run a command; with a log file, keep the full output there and echo only the story."""
    if log_file is None:
        return subprocess.run(command, check=False).returncode
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as sink:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            if echo_all or any(marker in line for marker in QUIET_MARKERS):
                print("  " + _tidy(line), flush=True)
        return proc.wait()


def _tidy(line: str) -> str:
    # Airflow prefixes task log lines with timestamps and logger names; keep the message.
    line = line.rstrip()
    for marker in ("] ", "INFO - ", "} "):
        if marker in line and any(m in line.split(marker, 1)[1] for m in QUIET_MARKERS):
            line = line.split(marker, 1)[1]
    return line[:200]


def run_dag(dag_id: str, conf: dict | None, settings_home: Path, echo_all: bool) -> int:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    log_file = settings_home / "logs" / f"demo-{dag_id}-{stamp}.log"
    print(f"\n== {dag_id} (full log: {log_file})", flush=True)
    # `airflow dags test`, without the DAG's Deadline Alert: Airflow 3.3.2's fails after a successful run
    # of a DAG that has one (devtools/dags_test.py)
    command = [sys.executable, "-m", "devtools.dags_test", dag_id]
    if conf:
        command += ["--conf", json.dumps(conf)]
    return run_logged(command, log_file=log_file, echo_all=echo_all)


def training_summary() -> list[str]:
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.TRAINING_EXPERIMENT)
    if experiment is None:
        return ["no MLflow run found"]
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    if not runs:
        return ["no MLflow run found"]
    run = runs[0]
    m, t = run.data.metrics, run.data.tags
    lines = [
        f"MLflow run          {run.info.run_id}  (experiment {names.TRAINING_EXPERIMENT}, status {run.info.status})",
        f"validation loss     {m.get(names.VAL_LOSS, float('nan')):.4f}  (perplexity "
        f"{m.get(names.VAL_PERPLEXITY, float('nan')):.2f})",
        f"training speed      {m.get(names.TRAIN_TOKENS_PER_S, 0):,.0f} tokens/s over "
        f"{m.get(names.TRAIN_WALL_SECONDS, 0):.0f} s ({m.get(names.MODEL_PARAMETERS, 0):,.0f} parameters)",
        f"inference latency   p50 {m.get(names.INFER_LATENCY_P50_MS, float('nan')):.1f} ms, p95 "
        f"{m.get(names.INFER_LATENCY_P95_MS, float('nan')):.1f} ms for a 200-char completion",
        f"cost of this run    ${m.get(names.COST_TRAIN_USD, float('nan')):.6f} "
        f"({t.get(names.TAG_COST_DESCRIPTION, '')})",
        f"                    on-demand ${m.get(names.COST_TRAIN_ON_DEMAND_USD, float('nan')):.6f}, "
        f"spot savings {m.get(names.COST_SPOT_SAVINGS_PCT, float('nan')):.1f}%",
        serving_line(m),
        f"model registry      {t.get(names.TAG_REGISTRY_DECISION, '?')}: {t.get(names.TAG_REGISTRY_REASON, '')}",
    ]
    return lines


def serving_line(m: dict) -> str:
    """The load test's result: requests/s at the SLO, measured on this machine."""
    if names.SERVE_MAX_RPS_AT_SLO not in m:
        return "serving capacity    not measured (load_test_seconds=0): fleets are sized by the formula"
    p95 = m.get(names.SERVE_P95_MS_AT_MAX)
    return (
        f"serving capacity    {m[names.SERVE_MAX_RPS_AT_SLO]:,.1f} requests/s at p95 <= "
        f"{m.get(names.SERVE_SLO_MS, float('nan')):,.0f} ms"
        + (f" (p95 {p95:,.0f} ms)" if p95 is not None else "")
        + f", measured on {m.get(names.SERVE_CPU_COUNT, 0):.0f} CPUs (load test of python -m rnn serve); "
        f"server peak RSS {m.get(names.SERVE_RSS_BYTES, 0) / 2**20:,.0f} MiB"
    )


def ui_lines() -> list[str]:
    settings = load_settings()
    return [
        "Open the UIs:        make up   (Airflow http://127.0.0.1:8080, MLflow http://127.0.0.1:5000)",
        f"MLflow UI directly:  .venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri} --host 127.0.0.1",
    ]


def pricing_summary() -> list[str]:
    status = refresh_status()
    if status is None:
        return ["pricing refresh has not run"]
    return [f"pricing             {status['message']}"]


def champion_costing(command: str) -> str:
    """``python -m costing <command>`` for the champion model at the newest snapshot's prices: the
    100 / 10k / 1M table (``scenarios``), or the split by platform design (``platform``)."""
    import io

    source = champion_model_source(allow_reference=False)
    if source is None:
        return f"no champion model: no {command} table"
    metrics_path = load_settings().home / "cache" / f"{names.REGISTERED_MODEL}-v{source.version}-metrics.json"
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(source.metrics))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        costing_main([command, "--metrics", str(metrics_path), "--snapshot", str(newest_snapshot_dir())])
    return out.getvalue()


@contextlib.contextmanager
def local_mail(settings: Settings) -> Iterator[Path]:
    """Deliver mail to the local SMTP catcher: the one `make up` runs, or one started for the demo."""
    port, directory = smtp_port(), mail_dir(settings)
    os.environ.setdefault("AIRFLOW_CONN_SMTP_DEFAULT", local_smtp_connection(port))
    with socket.socket() as probe:
        already_running = probe.connect_ex(("127.0.0.1", port)) == 0
    if already_running:
        yield directory
        return
    controller = start_mailcatcher(directory, port)
    try:
        yield directory
    finally:
        controller.stop()


def report_lines(new_mail: list[Path]) -> list[str]:
    from email import message_from_bytes, policy

    lines = []
    report = latest_report("weekly_cost_report")
    if report:
        lines.append(f"HTML report         {report}")
    for path in new_mail:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        lines.append(f"email               {path}")
        lines.append(f"                    subject {message['Subject']!r} to {message['To']}")
    if not new_mail:
        lines.append("no email was delivered to the local SMTP catcher; see the weekly_cost_report log")
    return lines


def retraining_conf(args: argparse.Namespace) -> dict[str, Any]:
    """The ``rnn_retraining`` conf of the demo's flags: only what was given, plus the load test's budget."""
    given = {
        "epochs": args.epochs,
        "max_steps_per_epoch": args.max_steps_per_epoch,
        "corpus_uri": args.corpus,
        "replace_champion_reason": args.replace_champion_reason,
    }
    return {
        **{key: value for key, value in given.items() if value},
        "load_test_seconds": args.load_test_seconds,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, help="override the DAG's default epochs")
    parser.add_argument("--max-steps-per-epoch", type=int, help="cap each epoch (quick smoke runs)")
    parser.add_argument(
        "--load-test-seconds",
        type=int,
        default=DEMO_LOAD_TEST_SECONDS,
        help="budget of the serving load test (default %(default)s; 0 skips it)",
    )
    parser.add_argument(
        "--corpus",
        metavar="PATH|URI",
        help="train on this text instead of the built-in corpus (rnn_retraining's corpus_uri)",
    )
    parser.add_argument(
        "--replace-champion-reason",
        metavar="TEXT",
        help="a deliberate corpus change: let a model trained on another corpus than the champion's "
        "replace it if it clears the quality bar on its own corpus (docs/mlflow.md)",
    )
    parser.add_argument("--verbose", action="store_true", help="echo the whole Airflow output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    settings = load_settings()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    print(f"Local state in {settings.home} (Airflow DB, MLflow store, run outputs)", flush=True)
    if airflow("db", "migrate", log_file=settings.home / "logs" / "airflow-db-migrate.log") != 0:
        print("airflow db migrate failed; see the log above", file=sys.stderr)
        return 1
    conf = retraining_conf(args)
    started = time.monotonic()
    codes = {"rnn_retraining": run_dag("rnn_retraining", conf, settings.home, args.verbose)}
    # Offline, the refresh keeps the last good snapshot and says so (its task ends "skipped").
    codes["pricing_refresh"] = run_dag("pricing_refresh", None, settings.home, args.verbose)
    codes["cost_recompute"] = run_dag("cost_recompute", None, settings.home, args.verbose)
    with local_mail(settings) as mail_dir:
        before = set(saved_messages(mail_dir))
        codes["weekly_cost_report"] = run_dag("weekly_cost_report", None, settings.home, args.verbose)
        new_mail = sorted(set(saved_messages(mail_dir)) - before)

    print("\n== Summary")
    for line in training_summary() + pricing_summary():
        print("  " + line)
    print("\n== What serving this model would cost (cost_recompute, at the newest snapshot's prices)\n")
    print(champion_costing("scenarios"))
    print(
        "\n== What the whole pipeline costs a month: training, serving, storage and the platform that runs it\n"
    )
    print(champion_costing("platform"))
    print("\n== Weekly cost report")
    for line in report_lines(new_mail):
        print("  " + line)
    print(f"\n(pipeline took {time.monotonic() - started:.0f} s)\n")
    for line in ui_lines():
        print(line)
    failed = [dag_id for dag_id, code in codes.items() if code != 0]
    if failed:
        print(f"\n{', '.join(failed)} did not succeed; see the log files above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
