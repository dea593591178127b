"""The cost ledger: every cost the pipeline recorded in MLflow, read back as FOCUS rows.

Training runs carry ``cost.json``, cost analyses ``analysis/analysis.json`` (names in
:mod:`costing.records`); every experiment of the tracking store is searched, so the rows say which
experiment each cost belongs to. Used by ``python -m costing focus-export`` and the weekly report.

A run says which of the two it carries in its ``cost.artifact`` tag, which the run search returns: that
file is fetched alone. A run without the tag (logged before it existed, or by someone else) has its
artifacts listed, as before. Against a tracking server every request is a round trip through it (and
its login check), so the files are fetched a few at a time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from costing.records import (
    ANALYSIS_ARTIFACT_DIR,
    ANALYSIS_DOCUMENT_PATH,
    COST_ARTIFACTS,
    TAG_COST_ARTIFACT,
    TAG_DAG_ID,
    TAG_RUN_ID,
    TRAINING_COST_ARTIFACT,
)
from costing.report.focus import UNASSIGNED, Account, RunRef, analysis_rows, training_rows
from toolkit.paths import INCLUDE_DIR

SEARCH_PAGE = 500
FETCH_THREADS = 4  # runs whose cost files are fetched at once


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


def cost_artifacts(run: Any, repository: Any) -> list[str]:
    """The cost files a run carries: the one its ``cost.artifact`` tag names, else those its listing shows."""
    tagged = run.data.tags.get(TAG_COST_ARTIFACT)
    if tagged in COST_ARTIFACTS:
        return [tagged]
    root = {item.path for item in repository.list_artifacts()}
    found = [TRAINING_COST_ARTIFACT] if TRAINING_COST_ARTIFACT in root else []
    if ANALYSIS_ARTIFACT_DIR in root and ANALYSIS_DOCUMENT_PATH in {
        item.path for item in repository.list_artifacts(ANALYSIS_ARTIFACT_DIR)
    }:
        found.append(ANALYSIS_DOCUMENT_PATH)
    return found


def _load_json(repository: Any, path: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp, Path(path).name)
        # The file alone: the public download_artifacts first lists the path to see whether it is a folder.
        repository._download_file(path, str(local))
        return json.loads(local.read_text())


def _run_rows(tracking_uri: str, experiment: str, run: Any, account: Account) -> list[dict[str, Any]]:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    tags = run.data.tags
    ref = RunRef(
        mlflow_run_id=run.info.run_id,
        experiment=experiment,
        dag_run_id=f"{tags[TAG_DAG_ID]}/{tags[TAG_RUN_ID]}"
        if TAG_DAG_ID in tags and TAG_RUN_ID in tags
        else "",
        started_at=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
    )
    repository = get_artifact_repository(run.info.artifact_uri, tracking_uri=tracking_uri)
    rows: list[dict[str, Any]] = []
    for path in cost_artifacts(run, repository):
        to_rows = training_rows if path == TRAINING_COST_ARTIFACT else analysis_rows
        rows += to_rows(_load_json(repository, path), ref, account)
    return rows


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
    with ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="focus-ledger") as pool:
        per_run = pool.map(lambda found_run: _run_rows(uri, *found_run, account), found)
        return [
            row
            for run_rows in tqdm(per_run, total=len(found), desc="runs", unit="run", disable=not progress)
            for row in run_rows
        ]
