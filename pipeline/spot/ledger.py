"""The spot ledger: what earlier ``ec2_spot`` runs recorded about their instance attempts, in MLflow.

Each finished spot run's ``metrics.json`` (an artifact of its run in ``rnn-textgen``) holds its
attempts (``compute.attempts``: launch, training start, termination) and its training segments
(``training.segments``: when each process ended its loop). From them
:func:`costing.model.training.overhead_from_ledger` measures what a run bills outside its training
process; :func:`run_overhead` is the one place the pipeline asks for it (the budget guard, the local
run's cost estimate, the cost analysis).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from costing.model.training import RunOverhead, overhead_from_ledger, overhead_samples
from pipeline import names, tracking
from pipeline.spot import layout as spot

log = logging.getLogger(__name__)

LEDGER_SAMPLE_RUNS = 20  # earlier spot runs whose metrics.json are read


def earlier_spot_metrics(max_runs: int = LEDGER_SAMPLE_RUNS) -> list[dict[str, Any]]:
    """``metrics.json`` of the latest finished ec2_spot runs in ``rnn-textgen``, newest first."""
    from mlflow import MlflowClient

    settings = tracking.configure()
    client = MlflowClient()
    runs = client.search_runs(
        [tracking.experiment_id(names.TRAINING_EXPERIMENT, settings)],
        filter_string=f"attributes.status = 'FINISHED' and params.`compute.backend` = '{spot.BACKEND}'",
        order_by=["attributes.start_time DESC"],
        max_results=max_runs,
    )
    documents: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            try:
                path = client.download_artifacts(run.info.run_id, "metrics.json", tmp)
                documents.append(json.loads(Path(path).read_text()))
            except Exception as error:  # a run without the artifact: skip it, say so
                log.info("no attempts ledger in run %s: %s", run.info.run_id, error)
    return documents


def run_overhead(instance_type: str, documents: list[dict[str, Any]] | None = None) -> RunOverhead:
    """Boot and upload overhead of a run on ``instance_type``: from the ledger of earlier spot attempts
    (``documents``, else :func:`earlier_spot_metrics`), else the labelled default."""
    documents = earlier_spot_metrics() if documents is None else documents
    samples = [sample for document in documents for sample in overhead_samples(document)]
    return overhead_from_ledger(samples, instance_type)
