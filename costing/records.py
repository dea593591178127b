"""Where the pipeline records costs in MLflow, so costing can read them back (``focus-export``).

The pipeline writes these (``pipeline.names`` re-exports them); ``costing.report.ledger`` reads them.
Defined here, in the lower layer, so both sides share one definition.
"""

from __future__ import annotations

TAG_DAG_ID = "airflow.dag_id"  # on every MLflow run the pipeline creates
TAG_RUN_ID = "airflow.run_id"
TRAINING_COST_ARTIFACT = "cost.json"  # a training run's cost (estimate or billed, with its attempts)
ANALYSIS_ARTIFACT_DIR = "analysis"  # a cost analysis run's outputs
ANALYSIS_DOCUMENT = "analysis.json"  # the grid, TCO and sensitivity document in that folder
ANALYSIS_DOCUMENT_PATH = f"{ANALYSIS_ARTIFACT_DIR}/{ANALYSIS_DOCUMENT}"
# Which of the two a run carries (its artifact path), tagged once the artifact is logged: the ledger reads
# it from the run search instead of listing every run's artifacts. Runs from before the tag are listed.
TAG_COST_ARTIFACT = "cost.artifact"
COST_ARTIFACTS = (TRAINING_COST_ARTIFACT, ANALYSIS_DOCUMENT_PATH)
