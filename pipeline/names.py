"""One place for every name other systems see: MLflow experiments, metrics, tags, registry, assets."""

from __future__ import annotations

from costing import records
from toolkit import registry

# MLflow experiments
TRAINING_EXPERIMENT = "rnn-textgen"
SWEEP_EXPERIMENT = "rnn-textgen-sweeps"  # rnn_sweep: a parent run per sweep, a child run per trial
COST_EXPERIMENT = "rnn-cost-analysis"
# The registered model, and the alias of the version cost_recompute, the ad hoc analysis and the report price
REGISTERED_MODEL = registry.REGISTERED_MODEL  # "rnn-textgen"
CHAMPION_ALIAS = registry.CHAMPION_ALIAS  # "champion"
# Experiment tag the MLflow 3 UI reads to open an experiment on its runs (not on GenAI traces)
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_MODEL_TRAINING = "custom_model_development"
DATASET_CONTEXT_TRAINING = "training"  # the corpus, as the run's MLflow dataset input

# Tags on runs
TAG_DAG_ID = records.TAG_DAG_ID  # "airflow.dag_id" (costing reads these back: costing/records.py)
TAG_RUN_ID = records.TAG_RUN_ID  # "airflow.run_id"
TAG_SNAPSHOT_ID = "pricing.snapshot_id"
TAG_COST_BASIS = "cost.basis"  # "estimate" (local, priced as if) | "billed-estimate" | "invoice" (reconciled)
COST_BASIS_INVOICE = "invoice"
TAG_COST_DESCRIPTION = "cost.description"
TAG_REGISTRY_DECISION = "registry.decision"  # "registered" | "not-registered"
TAG_REGISTRY_REASON = "registry.reason"
TAG_REGISTRY_VERSION = "registry.version"
TAG_LOGGED_MODEL_ID = "model.logged_model_id"
TAG_VALIDATION = "dataset.validation"  # "passed" | "failed"
TAG_COMPUTE_BACKEND = "compute.backend"
COMPUTE_LOCAL = "local"  # train on the Airflow worker
COMPUTE_EC2_SPOT = "ec2_spot"  # train on a spot EC2 instance (pipeline.spot)
COMPUTE_BACKENDS = (COMPUTE_LOCAL, COMPUTE_EC2_SPOT)

TAG_EVAL_DATASET_URI = "eval.dataset_uri"  # the corpus whose evaluation split the gate compared on
TAG_EVAL_DATASET_SHA256 = "eval.dataset_sha256"
TAG_REGISTRY_COMPARED_WITH = (
    "registry.compared_with"  # "version 3" | "" (no champion yet, or a corpus change)
)
# the replace_champion_reason param of the run, when one was given (a deliberate corpus change)
TAG_REGISTRY_REPLACE_REASON = "registry.replace_champion_reason"

# Tags on registered model versions: the lineage (also written out in the version's description)
VERSION_TAG_VAL_LOSS = registry.VERSION_TAG_VAL_LOSS  # "val_loss": the training run's own validation loss
VERSION_TAG_AIRFLOW_RUN_ID = "airflow.run_id"
VERSION_TAG_DATASET_URI = "lineage.dataset_uri"  # trained on
VERSION_TAG_DATASET_SHA256 = "lineage.dataset_sha256"
VERSION_TAG_EVAL_URI = "lineage.eval_uri"  # accepted on: the evaluation split of this corpus
VERSION_TAG_EVAL_SHA256 = "lineage.eval_sha256"
VERSION_TAG_EVAL_VAL_FRACTION = "lineage.eval_val_fraction"
VERSION_TAG_EVAL_LOSS = "lineage.eval_loss"
# ... and, on a version that replaced the champion on purpose (a corpus change), what it replaced and why;
# its own corpus and score are the lineage.eval_* tags above
VERSION_TAG_REPLACE_REASON = "replacement.reason"  # the replace_champion_reason param, as written
VERSION_TAG_REPLACED_VERSION = "replacement.champion_version"
VERSION_TAG_REPLACED_EVAL_URI = "replacement.champion_eval_uri"  # the corpus the champion was accepted on
VERSION_TAG_REPLACED_EVAL_SHA256 = "replacement.champion_eval_sha256"
VERSION_TAG_REPLACED_EVAL_LOSS = "replacement.champion_eval_loss"  # its recorded loss there ("" if none)
VERSION_TAG_UNIGRAM_LOSS = "replacement.unigram_loss"  # the quality bar's baseline, on the new split
VERSION_TAG_QUALITY_BAR_LOSS = "replacement.quality_bar_loss"  # the loss it had to stay below

# AWS cost allocation tags on every resource a run creates (instances, volumes, S3 objects of its
# prefix); activated in the Billing console, they reach Cost Explorer and the Data Exports
TAG_ALLOCATION_MLFLOW_RUN_ID = "rnn:mlflow_run_id"
TAG_ALLOCATION_DAG_RUN_ID = "rnn:dag_run_id"  # "<dag_id>/<run_id>"

# Artifacts costing reads back (python -m costing focus-export)
TRAINING_COST_ARTIFACT = records.TRAINING_COST_ARTIFACT  # "cost.json"
ANALYSIS_ARTIFACT_DIR = records.ANALYSIS_ARTIFACT_DIR  # "analysis"
ANALYSIS_DOCUMENT_ARTIFACT = records.ANALYSIS_DOCUMENT_PATH  # "analysis/analysis.json"
TAG_COST_ARTIFACT = records.TAG_COST_ARTIFACT  # "cost.artifact": which of the two a run carries

# Metrics: cost of the training run (at the price paid / estimated for the configured market)
COST_TRAIN_USD = "cost.train_usd"
COST_USD_PER_MILLION_TOKENS = "cost.usd_per_million_tokens"  # cost.train_usd per million tokens trained
COST_TRAIN_ON_DEMAND_USD = "cost.train_on_demand_usd"
# the same in micro-dollars (1 = $0.000001): MLflow's charts round to two decimals, so $0.0018 and
# $0.0004 would both read 0.00; as 1800 and 400 they compare at a glance
COST_TRAIN_MICRO_USD = "cost.train_micro_usd"
COST_TRAIN_ON_DEMAND_MICRO_USD = "cost.train_on_demand_micro_usd"
COST_SPOT_SAVINGS_PCT = "cost.spot_savings_pct"
COST_PER_EPOCH_USD = "cost.per_epoch_usd"
COST_USD_PER_HOUR = "cost.usd_per_hour"
COST_BILLED_SECONDS = "cost.billed_seconds"
# Spot-true accounting of cloud runs (instances only): billed = training + wasted + overhead
COST_TRAINING_USD = "cost.training_usd"  # seconds whose work survived
COST_WASTED_USD = "cost.wasted_usd"  # work after the last checkpoint that an interruption threw away
COST_OVERHEAD_USD = "cost.overhead_usd"  # boot, install, data download, restore, checkpoint writes, shutdown
COST_ON_DEMAND_EQUIVALENT_USD = "cost.on_demand_equivalent_usd"  # the same work, one on-demand instance
COST_EFFECTIVE_SAVINGS_PCT = "cost.effective_savings_pct"  # (1 - billed / on-demand equivalent) x 100

# Reconciliation with the bill (cost_reconcile); cost.train_usd, the estimate, stays beside them
COST_BILLED_ACTUAL_USD = "cost.billed_actual_usd"  # the run's tagged lines in the bill
COST_TAGGED_ESTIMATE_USD = "cost.tagged_estimate_usd"  # the estimate of the same resources (instances + EBS)
COST_ESTIMATE_ERROR_PCT = "cost.estimate_error_pct"  # (tagged estimate - billed) / billed x 100
TAG_BILLED_SOURCE = "cost.billed_source"  # "data-export s3://..." | "cost-explorer ..."
TAG_BILLED_VERSION = "cost.billed_version"  # the export delivery the numbers come from
TAG_RECONCILED_AT = "cost.reconciled_at"
VAR_BILLING_EXPORT_URI = (
    "rnn_billing_export_uri"  # s3://bucket/prefix of an AWS Data Export; empty: Cost Explorer
)

# Metrics: training (per-epoch metrics are logged with step = epoch)
EPOCH_TRAIN_LOSS = "epoch.train_loss"
EPOCH_VAL_LOSS = "epoch.val_loss"
EPOCH_VAL_PERPLEXITY = "epoch.val_perplexity"
EPOCH_WALL_SECONDS = "epoch.wall_seconds"
EPOCH_TOKENS_PER_S = "epoch.tokens_per_s"
TRAIN_TOKENS_PER_S = "train.tokens_per_s"
TRAIN_WALL_SECONDS = "train.wall_seconds"
TRAIN_STEP_SECONDS = "train.step_seconds"
TRAIN_PEAK_RSS_BYTES = "train.peak_rss_bytes"
TRAIN_FINAL_LOSS = "train.final_loss"
VAL_LOSS = "val.loss"
VAL_PERPLEXITY = "val.perplexity"
VAL_CHARS = "val.chars"  # characters val.loss scores (a fixed sample of the held-out tail)
EVAL_LOSS = "eval.loss"  # this run's model on the gate's evaluation split (comparable across runs)
EVAL_CHARS = "eval.chars"  # characters eval.loss (and eval.champion_loss) score
EVAL_CHAMPION_LOSS = "eval.champion_loss"  # the champion it was compared with, on the same split
# a corpus change (replace_champion_reason): the unigram baseline of the run's own evaluation split
EVAL_UNIGRAM_LOSS = "eval.unigram_loss"
MODEL_PARAMETERS = "model.parameters"
MODEL_FILE_BYTES = "model.file_size_bytes"
DATASET_BYTES = "dataset.size_bytes"
DATASET_CHARS = "dataset.chars"
DATASET_VOCAB = "dataset.vocab_size"
TRAIN_INTERRUPTIONS = "train.interruptions"

# Metrics: inference benchmark
INFER_LATENCY_P50_MS = "infer.latency_p50_ms"
INFER_LATENCY_P95_MS = "infer.latency_p95_ms"
INFER_LATENCY_P99_MS = "infer.latency_p99_ms"


def infer_tokens_per_s(batch_size: int) -> str:
    return f"infer.tokens_per_s_batch{batch_size}"


# Metrics: serving, measured by the load test of `python -m rnn serve` (task load_test)
SERVE_MAX_RPS_AT_SLO = "serve.max_rps_at_slo"  # highest Poisson arrival rate with p95 <= SLO, < 1 % errors
SERVE_P95_MS_AT_MAX = "serve.p95_ms_at_max"
SERVE_RSS_BYTES = "serve.rss_bytes"  # peak resident memory of the server process
SERVE_SLO_MS = "serve.slo_ms"
SERVE_CPU_COUNT = "serve.cpu_count"  # CPUs of the host the capacity was measured on
# Cold starts, measured in the same task (python -m rnn coldstart; metrics.json cold_start)
SERVE_COLD_READY_SECONDS = "serve.cold_start.server_ready_seconds"  # process start -> listening, model loaded
SERVE_COLD_FIRST_REQUEST_MS = "serve.cold_start.server_first_request_ms"  # the server's first completion
# a serverless-style handler: a fresh process imports torch and the decoder, loads the model, answers once
SERVE_COLD_HANDLER_SECONDS = "serve.cold_start.handler_seconds"  # spawn -> its first answer
SERVE_COLD_HANDLER_ADDED_SECONDS = "serve.cold_start.handler_added_seconds"  # that minus a warm request
SERVE_COLD_HANDLER_IMPORT_SECONDS = "serve.cold_start.handler_import_seconds"
SERVE_COLD_HANDLER_LOAD_SECONDS = "serve.cold_start.handler_load_seconds"


# Airflow assets
MODEL_ASSET_NAME = "rnn_textgen_model"
MODEL_ASSET_URI = "file://rnn-cost-pipeline/registry/rnn-textgen"
PRICING_ASSET_NAME = "pricing_snapshot"
PRICING_ASSET_URI = "file://rnn-cost-pipeline/pricing/snapshots"

# Airflow Variables (read inside tasks only, never at parse time)
VAR_CORPUS_URI = "rnn_corpus_uri"
VAR_EVAL_CORPUS_URI = "rnn_eval_corpus_uri"  # champion and challenger compared on this corpus

# Metrics of cost analyses (experiment rnn-cost-analysis); <rpd> is the requests/day figure
COST_TRAIN_AT_TODAYS_PRICES_USD = "cost.train_at_todays_prices_usd"
COST_TRAIN_AT_TODAYS_PRICES_ON_DEMAND_USD = "cost.train_at_todays_prices_on_demand_usd"
PRICING_SNAPSHOT_AGE_DAYS = "pricing.snapshot_age_days"
BREAKEVEN_REQUESTS_PER_DAY = "breakeven.requests_per_day"
# the platform that runs the pipeline (costing.model.pipeline_platform): the share charged to the model
PLATFORM_USD_PER_MONTH = "platform.usd_per_month"
PLATFORM_FULL_USD_PER_MONTH = "platform.full_usd_per_month"  # before the attribution share
PLATFORM_SHARE = "platform.attribution_share"
TAG_PLATFORM_DESIGN = "platform.design"
TAG_MODEL_VERSION = "model.version"
TAG_MODEL_TRAINING_RUN = "model.training_run_id"
TAG_ANALYSIS_KIND = "analysis.kind"  # "recompute" | "adhoc"


def _rpd(requests_per_day: float) -> str:
    # MLflow names allow [A-Za-z0-9_-. :/]: 1000000, not 1e+06
    value = float(requests_per_day)
    return f"{value:.0f}" if value.is_integer() else f"{value:.6f}".rstrip("0")


def scenario_metric(requests_per_day: float, what: str) -> str:
    """e.g. scenario.10000.cheapest_usd_per_month, scenario.100.lambda.usd_per_month."""
    return f"scenario.{_rpd(requests_per_day)}.{what}"


def scenario_tag(requests_per_day: float) -> str:
    return f"scenario.{_rpd(requests_per_day)}.cheapest"


# Reports and email (Airflow Variables are read inside tasks only)
VAR_REPORT_RECIPIENTS = "cost_report_recipients"  # comma-separated addresses or a JSON list
VAR_REPORT_SENDER = "cost_report_sender"
VAR_BUDGETS = "rnn_budgets"  # the budget document (JSON); unset: include/budgets.json
RETRAINING_SCHEDULE = "@weekly"  # rnn_retraining's schedule; the budget forecast counts its runs left
DEFAULT_REPORT_RECIPIENTS = ("cost-reports@localhost",)
DEFAULT_REPORT_SENDER = "rnn-cost-pipeline@localhost"

# Approval before expensive work (pipeline/approval/): on the run's MLflow run (rnn_retraining) or the
# sweep's parent run (rnn_sweep)
TAG_APPROVAL_DECISION = (
    "approval.decision"  # under-threshold | above-hard-limit | waiting | approved | rejected | timed-out
)
TAG_APPROVAL_REASON = "approval.reason"  # the sentence: who answered and when, or why no one was asked
TAG_APPROVAL_ESTIMATE_USD = "approval.estimate_usd"  # the figure held against the threshold
TAG_APPROVAL_THRESHOLD_USD = "approval.threshold_usd"
TAG_APPROVAL_RESPONDED_BY = "approval.responded_by"  # "<name> (<id>)"; empty on a timeout

# rnn_sweep (pipeline/tasks/sweep.py): tags and metrics of its parent and trial runs
TAG_SWEEP_ROLE = "sweep.role"  # "parent" | "trial"
TAG_SWEEP_TRIAL = "sweep.trial"
TAG_SWEEP_FEASIBLE = "sweep.feasible"  # "true" | "false" | "failed"
TAG_SWEEP_REASON = "sweep.reason"
TAG_SWEEP_OPTION = "sweep.option"  # what serves the trial's model at the target volume
TAG_MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
SWEEP_USD_PER_MONTH = "cost.monthly_at_target_usd"  # serving + retraining + storage at the target volume
SWEEP_SERVING_USD_PER_MONTH = "cost.serving_at_target_usd_per_month"
SWEEP_TRAINING_USD_PER_MONTH = "cost.retraining_usd_per_month"
VAL_BPC = "val.bits_per_char"
SWEEP_ARTIFACT = "sweep.json"  # the parent run's summary: trials, front, recommendation, spend
PARETO_ARTIFACT_DIR = "pareto"
