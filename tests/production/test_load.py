"""10 ad hoc analyses triggered at once through the REST API (more than the 2 workers x 2 slots take at once):
all succeed, one MLflow run each. ``make bench`` measures the throughput of 20."""

from __future__ import annotations

import pytest
from production_testbed import ADHOC_CONF, Deployment

from devtools.airflow_api import run_concurrently
from pipeline import names

# Generous: the first test of a session also starts the deployment and trains the reference run.
pytestmark = [pytest.mark.production, pytest.mark.timeout(1800)]

RUNS = 10


def test_concurrent_adhoc_analyses_all_succeed_with_one_mlflow_run_each(prod: Deployment) -> None:
    result = run_concurrently(prod.api, "adhoc_cost_analysis", ADHOC_CONF, RUNS, timeout_seconds=1500)
    assert len(set(result.run_ids)) == RUNS
    assert result.count("success") == RUNS, result.states
    print(
        f"\n{RUNS} concurrent adhoc_cost_analysis runs in {result.seconds:.0f} s: {result.runs_per_minute:.1f} runs/min"
    )

    client = prod.mlflow()
    experiment = client.get_experiment_by_name(names.COST_EXPERIMENT)
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{names.TAG_DAG_ID}` = 'adhoc_cost_analysis'",
        max_results=1000,
    )
    by_dag_run: dict[str, list[str]] = {}
    for run in runs:
        by_dag_run.setdefault(run.data.tags[names.TAG_RUN_ID], []).append(run.info.status)
    for run_id in result.run_ids:  # none lost, none duplicated, none left open
        assert by_dag_run.get(run_id) == ["FINISHED"], (run_id, by_dag_run.get(run_id))
