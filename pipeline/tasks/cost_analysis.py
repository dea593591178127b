"""The cost analysis behind ``cost_recompute`` and ``adhoc_cost_analysis``.

Inputs: the measured ``metrics.json`` of the champion (the rnn-textgen version with the alias
``champion``; or the reference profile shipped in include/ when nothing is registered yet, clearly
labelled) and the newest pricing
snapshot. Output: the scenario grid, TCO with break-evens and the sensitivity analysis, written as
JSON and CSV under a run-scoped path and logged as one run of the MLflow experiment
``rnn-cost-analysis``. The cost on the training run stays the price paid; the training cost at
today's prices is recorded here, on the analysis run.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costing.model import (
    REFERENCE_LABEL,
    REFERENCE_METRICS_PATH,
    AnalysisRequest,
    analyze_request,
    estimate_training_cost,
    map_resources,
    profile_from_metrics,
)
from costing.model.training import DEFAULT_RUN_OVERHEAD, RunOverhead
from costing.pricing import (
    DEFAULT_INSTANCE_TYPE,
    PriceCatalog,
    PriceSheet,
    PricingSnapshot,
    build_price_sheet,
    load_snapshot,
    snapshot_age_days,
)
from pipeline import names, registry, tracking
from pipeline.price_store import newest_snapshot_dir
from pipeline.settings import Settings, load_settings, run_dir
from pipeline.spot.ledger import run_overhead
from toolkit import storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    metrics: dict[str, Any]
    description: str  # "rnn-textgen version 3 (run abc…)" or the reference profile
    version: str | None
    training_run_id: str | None


def champion_model_source(
    settings: Settings | None = None, *, allow_reference: bool = False
) -> ModelSource | None:
    """metrics.json of the rnn-textgen version with the ``champion`` alias (the model in service);
    the reference profile if allowed and nothing is registered."""
    from mlflow import MlflowClient

    tracking.configure(settings)
    client = MlflowClient()
    champion = registry.current_champion(client)
    if champion is not None:
        metrics = tracking.load_json_artifact(client.get_run(champion.run_id), "metrics.json")
        alias = (
            f"@{names.CHAMPION_ALIAS}" if champion.by_alias else " (best registered; no champion alias yet)"
        )
        return ModelSource(
            metrics=metrics,
            version=champion.version,
            training_run_id=champion.run_id,
            description=f"{names.REGISTERED_MODEL}{alias}, version {champion.version} (run {champion.run_id[:8]})",
        )
    if not allow_reference:
        return None

    return ModelSource(
        metrics=json.loads(REFERENCE_METRICS_PATH.read_text()),
        version=None,
        training_run_id=None,
        description=f"no registered model yet: {REFERENCE_LABEL}",
    )


def run_analysis(
    source: ModelSource,
    request: AnalysisRequest,
    sheet: PriceSheet,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> Any:
    """costing.model.analyze_request on the model's measurements and the snapshot's prices (``sheet``:
    the snapshot's prices in the request's region; ``overhead``: a training run's boot and upload), as
    ``python -m costing analyze`` runs it."""
    profile = profile_from_metrics(source.metrics, source=source.description)
    return analyze_request(profile, sheet, request, metrics=source.metrics, overhead=overhead)


def resource_mapping(
    source: ModelSource,
    request: AnalysisRequest,
    sheet: PriceSheet,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> dict[str, Any] | None:
    """Parameters, memory, FLOPs and the instance types that fit the model, at the largest requested volume."""
    profile = profile_from_metrics(source.metrics, source=source.description)
    try:
        mapping = map_resources(
            source.metrics,
            profile,
            sheet,
            serving_requests_per_day=max(request.requests_per_day),
            assumptions=request.serving_assumptions(),
            training_overhead=overhead,
        )
    except ValueError as exc:
        log.warning("no resource mapping: %s", exc)
        return None
    return mapping.to_json_dict()


def option_filter(document: dict[str, Any], options: tuple[str, ...] | None) -> dict[str, Any]:
    """Keep only the chosen pricing models in the grid of an analysis document (for display)."""
    if not options:
        return document
    for scenario in document["grid"]["scenarios"]:
        scenario["options"] = [o for o in scenario["options"] if o["option"] in options]
    return document


def training_cost_today(
    source: ModelSource, snapshot: PricingSnapshot, overhead: RunOverhead = DEFAULT_RUN_OVERHEAD
) -> dict[str, Any] | None:
    """The model's training run repriced at the snapshot's prices (same seconds, instance, market), with a
    cloud run's boot and upload ``overhead``."""
    compute = source.metrics.get("compute") or {}
    training = source.metrics.get("training") or {}
    if not compute.get("instance_type") or not training.get("total_wall_seconds"):
        return None
    try:
        cost = estimate_training_cost(
            duration_seconds=training["total_wall_seconds"],
            epochs=max(1, len(training.get("epochs") or [])),
            instance_type=compute["instance_type"],
            region=compute["region"],
            market=compute["market"],
            catalog=PriceCatalog.from_snapshot(snapshot),
            overhead=overhead,
        )
    except ValueError as exc:
        log.warning("cannot reprice the training run: %s", exc)
        return None
    return cost.to_dict()


def write_outputs(document: dict[str, Any], analysis: Any, out_dir: str) -> dict[str, str]:
    paths = {
        "analysis.json": json.dumps(document, indent=2, default=str),
        "grid.csv": analysis.grid.to_dataframe().to_csv(index=False),
        "grid_components.csv": analysis.grid.to_dataframe(components=True).to_csv(index=False),
        "tco.csv": analysis.tco.to_dataframe().to_csv(index=False),
    }
    written = {}
    for name, text in paths.items():
        uri = storage.join(out_dir, name)
        storage.write_text_atomic(uri, text)
        written[name] = uri
    return written


def summary_metrics(document: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Flat MLflow metrics and tags: per-scenario option costs, cheapest, TCO, break-evens, MC band."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    for scenario in document["grid"]["scenarios"]:
        rpd = scenario["requests_per_day"]
        best: dict[str, float] = {}
        for option in scenario["options"]:
            if option["feasible"] and option["monthly_cost"] is not None:
                key = option["option"]
                best[key] = min(best.get(key, float("inf")), option["monthly_cost"])
        for key, usd in best.items():
            metrics[names.scenario_metric(rpd, f"{key}.usd_per_month")] = usd
        cheapest = next((o for o in scenario["options"] if o["key"] == scenario["cheapest"]), None)
        if cheapest:
            tags[names.scenario_tag(rpd)] = cheapest["key"]
            metrics[names.scenario_metric(rpd, "cheapest_usd_per_month")] = cheapest["monthly_cost"]
            metrics[names.scenario_metric(rpd, "cheapest_usd_per_1k_requests")] = cheapest[
                "usd_per_1k_requests"
            ]
    for scenario in document["tco"]["scenarios"]:
        cheapest = next((o for o in scenario["options"] if o["key"] == scenario["cheapest"]), None)
        if cheapest:
            metrics[names.scenario_metric(scenario["requests_per_day"], "tco_total_usd")] = cheapest[
                "total_usd"
            ]
    platform = document["tco"].get("platform")
    tags[names.TAG_PLATFORM_DESIGN] = platform["design"] if platform else "none"
    if platform:
        metrics[names.PLATFORM_USD_PER_MONTH] = platform["usd_per_month"]
        metrics[names.PLATFORM_FULL_USD_PER_MONTH] = platform["full_usd_per_month"]
        metrics[names.PLATFORM_SHARE] = platform["attribution_share"]
    breakevens = document["tco"]["breakevens"]
    if breakevens:
        metrics[names.BREAKEVEN_REQUESTS_PER_DAY] = breakevens[0]["requests_per_day"]
    for scenario in document["sensitivity"]["monte_carlo"]:
        rpd = scenario["requests_per_day"]
        cheapest_key = tags.get(names.scenario_tag(rpd))
        band = next((o for o in scenario["options"] if o["key"] == cheapest_key), None)
        if band:
            for q in ("p10", "p50", "p90"):
                metrics[names.scenario_metric(rpd, f"cheapest_{q}_usd_per_month")] = band[
                    f"{q}_usd_per_month"
                ]
    return metrics, tags


def analysis_run_name(kind: str, source: ModelSource, request: AnalysisRequest, snapshot_id: str) -> str:
    """What the analysis was, for MLflow's runs table: "recompute · champion v3 · us-east-1 · prices 2025-06-02"."""
    model = f"champion v{source.version}" if source.version else "reference profile"
    if kind == "adhoc":
        volumes = ", ".join(f"{rpd:,.0f}" for rpd in request.requests_per_day)
        return f"ad hoc · {volumes} req/day · {request.region} · {model} · prices {snapshot_id}"
    return f"{kind} · {model} · {request.region} · prices {snapshot_id}"


def log_analysis(
    *,
    dag_id: str,
    run_id: str,
    kind: str,
    source: ModelSource,
    request: AnalysisRequest,
    document: dict[str, Any],
    outputs: dict[str, str],
    snapshot_age_days: float,
    training_today: dict[str, Any] | None,
) -> tuple[str, str]:
    """One run in rnn-cost-analysis (found again by its tags when a task is retried)."""
    import mlflow

    settings = load_settings()
    mlflow_run_id = tracking.get_or_create_run(
        names.COST_EXPERIMENT,
        dag_id,
        run_id,
        run_name=analysis_run_name(kind, source, request, document["snapshot_id"]),
        settings=settings,
    )
    metrics, tags = summary_metrics(document)
    metrics[names.PRICING_SNAPSHOT_AGE_DAYS] = snapshot_age_days
    if training_today:
        metrics[names.COST_TRAIN_AT_TODAYS_PRICES_USD] = training_today["usd"]
        metrics[names.COST_TRAIN_AT_TODAYS_PRICES_ON_DEMAND_USD] = training_today["on_demand_usd"]
    with tracking.task_run(mlflow_run_id) as run:
        with tempfile.TemporaryDirectory() as tmp:
            for name, uri in outputs.items():
                Path(tmp, name).write_bytes(storage.read_bytes(uri))
            mlflow.log_artifacts(tmp, artifact_path=names.ANALYSIS_ARTIFACT_DIR)
        # one request for the numbers, the request and the tags, after the files (see cost.artifact)
        tracking.log_batch(
            mlflow_run_id,
            metrics=metrics,
            params={
                f"request.{k}": (",".join(map(str, v)) if isinstance(v, list) else v)
                for k, v in request.to_dict().items()
            },
            tags={
                **tags,
                names.TAG_SNAPSHOT_ID: document["snapshot_id"],
                names.TAG_ANALYSIS_KIND: kind,
                names.TAG_MODEL_VERSION: source.version or "reference",
                names.TAG_MODEL_TRAINING_RUN: source.training_run_id or "",
                "model.source": source.description,
                "model.metrics_source": document.get("metrics_source", ""),
                "cost.free_tiers_applied": str(bool(document.get("free_tiers_applied"))).lower(),
                "pricing.stale_sources": ", ".join(
                    s["source"] for s in document.get("price_sources", []) if s.get("stale")
                ),
                # after the files: the ledger (FOCUS export) fetches the document this names, unlisted
                names.TAG_COST_ARTIFACT: names.ANALYSIS_DOCUMENT_ARTIFACT,
            },
        )
        experiment_id = run.info.experiment_id
    return mlflow_run_id, experiment_id


def recompute(
    *,
    dag_id: str,
    run_id: str,
    params: dict[str, Any],
    kind: str = "recompute",
    allow_reference: bool = False,
) -> dict[str, Any]:
    """The whole grid for the champion model against the newest snapshot, stored and logged."""
    from airflow.sdk.exceptions import AirflowSkipException

    settings = load_settings()
    source = champion_model_source(settings, allow_reference=allow_reference)
    if source is None:
        raise AirflowSkipException("no champion rnn-textgen model yet: run rnn_retraining first")
    if not (source.metrics.get("inference") or {}).get("latency_ms"):
        raise AirflowSkipException(f"{source.description} has no inference benchmark in its metrics.json")
    request = AnalysisRequest.from_params(params)
    snapshot = load_snapshot(newest_snapshot_dir(settings))  # read and checked once, for every use below
    overhead = run_overhead(
        (source.metrics.get("compute") or {}).get("instance_type") or DEFAULT_INSTANCE_TYPE
    )
    try:
        sheet = build_price_sheet(snapshot, request.region)
        analysis = run_analysis(source, request, sheet, overhead)
    except ValueError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"cost analysis refused its inputs: {exc}") from exc
    document = option_filter(analysis.to_json_dict(), request.options)
    training_today = training_cost_today(source, snapshot, overhead)
    document["resources"] = resource_mapping(source, request, sheet, overhead)
    document["model"] = {
        "source": source.description,
        "version": source.version,
        "training_run_id": source.training_run_id,
        "training_cost_paid": (source.metrics.get("compute") or {}).get("cost"),
        "training_cost_at_todays_prices": training_today,
    }
    out = run_dir(settings, dag_id, run_id)
    outputs = write_outputs(document, analysis, out)
    age = snapshot_age_days(snapshot)
    mlflow_run_id, experiment_id = log_analysis(
        dag_id=dag_id,
        run_id=run_id,
        kind=kind,
        source=source,
        request=request,
        document=document,
        outputs=outputs,
        snapshot_age_days=age,
        training_today=training_today,
    )
    cheapest = {str(s["requests_per_day"]): s["cheapest"] for s in document["grid"]["scenarios"]}
    log.info(
        "cheapest option per scenario: %s (snapshot %s, %s)",
        cheapest,
        document["snapshot_id"],
        source.description,
    )
    return {
        "mlflow_run_id": mlflow_run_id,
        "experiment_id": experiment_id,
        "run_dir": out,
        "outputs": outputs,
        "snapshot_id": document["snapshot_id"],
        "cheapest": cheapest,
        "model": document["model"],
    }
