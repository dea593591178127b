"""``python -m devtools.sweep``: a small rnn_sweep on embedded defaults (what ``make sweep`` runs).

Runs the real DAG with ``airflow dags test`` (6 trials in 2 rounds by default, the built-in corpus), then
prints the trials, the Pareto front, the recommendation, the sweep's own spend and wall time, and how the
front compares with the baseline trial (``rnn_retraining``'s default model): whether it holds a
configuration cheaper at the target volume within the loss tolerance of the baseline's loss. ``make bench``
prints the same section.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from devtools.demo import airflow, run_dag
from pipeline import names, tracking
from pipeline.settings import load_settings

# Small enough for a laptop: the default model against smaller ones, served at fp32 or int8, 40 steps each,
# no load test.
DEFAULT_CONF: dict[str, Any] = {
    "search_space": {
        "hidden_size": [96, 192, 460],
        "num_layers": [1, 2],
        "learning_rate": [0.002, 0.004],
        "epochs": [1],
        "max_steps_per_epoch": [40],
        "precision": ["fp32", "int8"],
    },
    "max_trials": 6,
    "trials_per_round": 3,
    "requests_per_day": 1_000_000,
    "load_test_seconds": 0,
}


def latest_sweep() -> tuple[dict[str, Any], float] | None:
    """The newest sweep's ``sweep.json`` and its parent run's wall time (seconds)."""
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.SWEEP_EXPERIMENT)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{names.TAG_SWEEP_ROLE}` = 'parent'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    return tracking.load_json_artifact(run, names.SWEEP_ARTIFACT), (
        run.info.end_time - run.info.start_time
    ) / 1000


def summary_lines(document: dict[str, Any], wall_seconds: float) -> list[str]:
    """The trials, the front, the recommendation, the spend and the baseline comparison, in words."""
    target = document["target"]
    lines = [
        f"{len(document['trials'])} trials at {target['requests_per_day']:,.0f} requests/day ({target['region']}, "
        f"p95 <= {target['slo_ms']:,.0f} ms, retrained {target['retrain_cadence']}) in {wall_seconds:,.0f} s; "
        f"the sweep's training cost ${document['spent_usd']:.4f} of its ${document['budget_usd']:g} budget"
    ]
    for trial in document["trials"]:
        params = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial["params"].items()
        )
        cost = "n/a" if trial["usd_per_month"] is None else f"${trial['usd_per_month']:,.2f}/month"
        loss = "n/a" if trial["val_bpc"] is None else f"{trial['val_bpc']:.4f} bits/char"
        mark = " *front*" if trial["trial"] in document["front"] else ""
        lines.append(f"  trial {trial['trial']}: {cost}, {loss}, {trial['reason']}{mark} ({params})")
    lines.append(f"recommended: {document['recommendation']['rule']}")
    baseline = document.get("baseline")
    if baseline is None:
        lines.append("baseline: the space does not hold rnn_retraining's default model, so no comparison")
    elif not baseline.get("cheaper"):
        base = baseline["point"]
        lines.append(
            f"baseline (trial {baseline['trial']}, the default model's shape): "
            + (
                "it did not complete"
                if base["usd_per_month"] is None
                else f"${base['usd_per_month']:,.2f}/month at {base['val_bpc']:.4f} bits/char; the front holds "
                "nothing cheaper within the tolerance of its loss"
            )
        )
    else:
        base = baseline["point"]
        best = min(baseline["cheaper"], key=lambda p: p["usd_per_month"])
        lines.append(
            f"baseline (trial {baseline['trial']}, the default model's shape): ${base['usd_per_month']:,.2f}/month "
            f"at {base['val_bpc']:.4f} bits/char; the front holds {len(baseline['cheaper'])} configuration(s) "
            f"cheaper within {baseline['loss_bar_bpc']:.4f} bits/char, the cheapest trial {best['trial']} at "
            f"${best['usd_per_month']:,.2f}/month ({best['val_bpc']:.4f} bits/char)"
        )
    return lines


def run(conf: dict[str, Any], *, verbose: bool = False) -> tuple[int, list[str]]:
    """Run rnn_sweep with ``conf`` through ``airflow dags test``; its exit code and the summary lines."""
    settings = load_settings()
    if airflow("db", "migrate", log_file=settings.home / "logs" / "airflow-db-migrate.log") != 0:
        return 1, ["airflow db migrate failed; see its log"]
    started = time.monotonic()
    code = run_dag("rnn_sweep", conf, settings.home, verbose)
    found = latest_sweep()
    if code != 0 or found is None:
        return code or 1, [f"rnn_sweep failed after {time.monotonic() - started:.0f} s; see the log above"]
    document, wall = found
    return 0, summary_lines(document, wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sweep", description=__doc__)
    parser.add_argument(
        "--conf",
        type=Path,
        help="a JSON file of rnn_sweep Params (default: 6 trials in 2 rounds of the default model and smaller ones)",
    )
    parser.add_argument("--verbose", action="store_true", help="print the DAG run's whole log")
    args = parser.parse_args(argv)
    try:
        conf = json.loads(args.conf.read_text()) if args.conf else DEFAULT_CONF
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read --conf {args.conf}: {exc}", file=sys.stderr)
        return 2
    code, lines = run(conf, verbose=args.verbose)
    print("\n== rnn_sweep")
    for line in lines:
        print("  " + line)
    return code


if __name__ == "__main__":
    sys.exit(main())
