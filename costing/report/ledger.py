"""The cost ledger: every cost the pipeline recorded in MLflow, read back as FOCUS rows.

Training runs carry ``cost.json``, cost analyses ``analysis/analysis.json`` (names in
:mod:`costing.records`); every experiment of the tracking store is searched, so the rows say which
experiment each cost belongs to. Used by ``python -m costing focus-export`` and the weekly report.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from costing.records import (
    ANALYSIS_ARTIFACT_DIR,
    ANALYSIS_DOCUMENT,
    TAG_DAG_ID,
    TAG_RUN_ID,
    TRAINING_COST_ARTIFACT,
)
from costing.report.focus import UNASSIGNED, Account, RunRef, analysis_rows, training_rows
from toolkit.paths import INCLUDE_DIR

SEARCH_PAGE = 500


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else the pipeline's local store (same rule as its settings, without importing them)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    home = os.environ.get("RNN_PIPELINE_HOME")
    root = Path(home) if home else INCLUDE_DIR.parent / ".local"
    return f"sqlite:///{root.resolve() / 'mlflow' / 'mlflow.db'}"


def _runs(client: Any, experiment_id: str, since: datetime, until: datetime | None) -> Iterator[Any]:
    clauses = [f"attributes.start_time >= {int(since.timestamp() * 1000)}"]
    if until is not None:
        clauses.append(f"attributes.start_time < {int(until.timestamp() * 1000)}")
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=" and ".join(clauses),
            order_by=["attributes.start_time ASC"],
            max_results=SEARCH_PAGE,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _load_json(client: Any, run_id: str, path: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(Path(client.download_artifacts(run_id, path, tmp)).read_text())


def focus_rows_since(
    since: datetime,
    until: datetime | None = None,
    *,
    tracking_uri: str | None = None,
    account: Account = UNASSIGNED,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """FOCUS rows of every run that started in [since, until), oldest first, from every experiment."""
    from mlflow import MlflowClient
    from tqdm.auto import tqdm

    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name}={moment!r} has no timezone")
    if until is not None and until <= since:
        raise ValueError(f"--until {until:%Y-%m-%d} is not after --since {since:%Y-%m-%d}")
    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise ValueError(
            f"no MLflow store at {uri}: run the pipeline first (make demo), or pass --tracking-uri / "
            "set MLFLOW_TRACKING_URI"
        )
    client = MlflowClient(tracking_uri=uri)
    found = [
        (experiment.name, run)
        for experiment in client.search_experiments()
        for run in _runs(client, experiment.experiment_id, since, until)
    ]
    rows: list[dict[str, Any]] = []
    for experiment, run in tqdm(found, desc="runs", unit="run", disable=not progress):
        tags = run.data.tags
        ref = RunRef(
            mlflow_run_id=run.info.run_id,
            experiment=experiment,
            dag_run_id=f"{tags[TAG_DAG_ID]}/{tags[TAG_RUN_ID]}"
            if TAG_DAG_ID in tags and TAG_RUN_ID in tags
            else "",
            started_at=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        )
        artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
        if TRAINING_COST_ARTIFACT in artifacts:
            rows += training_rows(_load_json(client, run.info.run_id, TRAINING_COST_ARTIFACT), ref, account)
        if ANALYSIS_ARTIFACT_DIR in artifacts:
            document_path = f"{ANALYSIS_ARTIFACT_DIR}/{ANALYSIS_DOCUMENT}"
            inside = {item.path for item in client.list_artifacts(run.info.run_id, ANALYSIS_ARTIFACT_DIR)}
            if document_path in inside:
                rows += analysis_rows(_load_json(client, run.info.run_id, document_path), ref, account)
    return rows
