"""The billed cost of a spot training run: its instance attempts at the spot price in force, plus storage.

A **billed estimate from AWS prices, not an invoice** (``cost.basis = billed-estimate``):

* **Instances** - :func:`costing.model.training.run_cost.spot_training_cost`: per attempt, the seconds from launch
  to termination (per-second billing with a minimum per launch) at the spot price in force in that
  attempt's AZ over that window, switching at each price change. Prices come from EC2's spot price
  history for each attempt's AZ and window (fetched through the hook, parsed by
  :func:`costing.pricing.parse.parse_spot_price_history`); on-demand rates (on-demand attempts, the
  on-demand comparison) from the newest pricing snapshot. If the history does not cover an
  attempt's launch, the snapshot's spot history is used instead, and the basis says so.
* **EBS and S3** - :mod:`costing.model.training.storage`: the gp3 root volume for the attempts'
  billed seconds; Standard storage of the run's prefix and its requests, counted where the pipeline
  makes them (uploads, marker reads, downloads, the trigger's HEAD polls: passed in from here) and
  estimated for the instance. Rates from the snapshot's price sheet.

Not included: data transfer (S3 <-> EC2 in one region is free), NAT gateway processing, taxes,
credits and discounts - hence "estimate".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costing.model import (
    AttemptTimings,
    InstanceAttempt,
    account_spot_run,
    billed_seconds,
    spot_training_cost,
)
from costing.model.training import S3Usage, StorageCost, StorageRates, run_s3_usage, storage_cost
from costing.pricing import (
    MARKET_SPOT,
    PriceCatalog,
    build_price_sheet,
    load_snapshot,
    parse_spot_price_history,
)
from costing.pricing.defaults import MINIMUM_BILLED_SECONDS
from pipeline import tracking
from pipeline.cost_record import record_cost
from pipeline.price_store import newest_snapshot_dir
from pipeline.settings import load_settings
from pipeline.spot.attempts import AttemptRecord, parse_utc
from pipeline.spot.layout import ATTEMPTS_ARTIFACT, DEFAULT_ROOT_VOLUME_GB
from rnn.metrics import read_metrics

if TYPE_CHECKING:
    from costing.pricing.catalog import PriceCatalog
    from costing.pricing.parse import SpotPricePoint

BILLED_LABEL = "billed-estimate from AWS prices (not an invoice)"


def instance_attempt(record: AttemptRecord) -> InstanceAttempt:
    """The costing value object of an attempt record (billing maths lives in ``costing.model.training.run_cost``).
    Here, not in :mod:`pipeline.spot.attempts`, which the DAG file's operator imports at parse time: the cost
    model loads when a run is billed."""
    if record.terminated_at is None:
        raise ValueError(
            f"attempt {record.attempt} ({record.instance_id}) has no terminate time; it cannot be billed yet"
        )
    return InstanceAttempt(
        instance_type=record.instance_type,
        availability_zone=record.availability_zone,
        market=record.market,
        launch_time=parse_utc(record.launched_at),
        terminate_time=parse_utc(record.terminated_at),
        interrupted=record.interrupted,
        instance_id=record.instance_id,
    )


def timings_for(attempts: list[AttemptRecord], segments: list[dict[str, Any]]) -> list[AttemptTimings | None]:
    """The training process of each attempt: the segment (metrics.json ``training.segments``) that
    started while that instance ran; None for an attempt whose process left no checkpoint."""
    parsed = [AttemptTimings.from_segment(segment) for segment in segments]
    found: list[AttemptTimings | None] = []
    for attempt in attempts:
        launched = parse_utc(attempt.launched_at)
        ended = parse_utc(attempt.terminated_at) if attempt.terminated_at else None
        found.append(
            next(
                (t for t in parsed if launched <= t.started_at and (ended is None or t.started_at <= ended)),
                None,
            )
        )
    return found


def estimate_s3_usage(
    *,
    attempts: Sequence[AttemptRecord],
    pipeline_counts: dict[str, int],
    global_steps: int,
    checkpoint_every_steps: int,
    epochs: int,
    stored_bytes: int,
    stored_seconds: float,
) -> S3Usage:
    """Requests of one run (:func:`costing.model.training.storage.run_s3_usage`) from its attempt records."""
    return run_s3_usage(
        attempts=len(attempts),
        interruptions=sum(1 for a in attempts if a.interrupted),
        pipeline_counts=pipeline_counts,
        global_steps=global_steps,
        checkpoint_every_steps=checkpoint_every_steps,
        epochs=epochs,
        stored_bytes=stored_bytes,
        stored_seconds=stored_seconds,
    )


def history_covers(points: Sequence[SpotPricePoint], attempts: Sequence[AttemptRecord]) -> list[str]:
    """Spot attempts whose launch has no price in force in ``points`` (empty: the history prices them all)."""
    uncovered = []
    for attempt in attempts:
        if attempt.market != MARKET_SPOT:
            continue
        launch = instance_attempt(attempt).launch_time
        if not any(
            p.availability_zone == attempt.availability_zone
            and p.instance_type == attempt.instance_type
            and p.timestamp <= launch
            for p in points
        ):
            uncovered.append(f"{attempt.attempt} ({attempt.availability_zone})")
    return uncovered


def billing_catalog(
    snapshot_dir: Path, history: Sequence[SpotPricePoint], attempts: Sequence[AttemptRecord]
) -> tuple[PriceCatalog, str]:
    """A catalog pricing ``attempts``: snapshot on-demand rates + the fetched spot history, else the
    snapshot's own spot history. Returns it with a sentence saying where spot prices came from."""

    snapshot = load_snapshot(snapshot_dir)
    uncovered = history_covers(history, attempts)
    if history and not uncovered:
        catalog = PriceCatalog(
            snapshot_id=f"{snapshot.snapshot_id}+spot-price-history",
            effective_date=PriceCatalog.from_snapshot(snapshot).effective_date,
            records=snapshot.price_records,
            spot_points=history,
        )
        return catalog, (
            f"spot prices from EC2 spot price history of each attempt's AZ and window "
            f"({len(history)} price changes); on-demand rates from snapshot {snapshot.snapshot_id}"
        )
    why = (
        "no spot price history returned" if not history else f"history does not cover {', '.join(uncovered)}"
    )
    return PriceCatalog.from_snapshot(snapshot), (
        f"spot prices from snapshot {snapshot.snapshot_id}'s spot history ({why}); on-demand rates from the "
        "same snapshot"
    )


def billed_cost(
    attempts: Sequence[AttemptRecord],
    catalog: PriceCatalog,
    spot_price_source: str,
    *,
    epochs: int,
    storage: StorageCost,
    timings: Sequence[AttemptTimings | None] | None = None,
) -> dict[str, Any]:
    """Instances (billed per attempt, each split into training / wasted / overhead) + storage, as the
    ``cost.json`` dict logged to MLflow. ``timings[i]``: what attempt i's training process measured."""
    instance_attempts = [instance_attempt(a) for a in attempts]
    instances = spot_training_cost(instance_attempts, catalog, epochs=epochs)
    accounting = account_spot_run(
        instance_attempts, list(timings) if timings is not None else [None] * len(attempts), catalog
    )
    usd = instances.usd + storage.usd
    on_demand_usd = instances.on_demand_usd + storage.usd
    rows = []
    for a, ia, split, attempt_usd in zip(
        attempts, instance_attempts, accounting.attempts, accounting.attempt_usd, strict=True
    ):
        usd_per_second = attempt_usd / split.billable_seconds
        rows.append(
            {
                **a.to_dict(),
                "seconds": round(a.seconds or 0.0, 3),
                "billed_seconds": billed_seconds(ia),
                "usd": attempt_usd,
                "training_seconds": round(split.training_seconds, 3),
                "wasted_seconds": round(split.wasted_seconds, 3),
                "overhead_seconds": round(split.overhead_seconds, 3),
                "startup_seconds": round(split.startup_seconds, 3),
                "checkpoint_seconds": round(split.checkpoint_seconds, 3),
                "training_usd": split.training_seconds * usd_per_second,
                "wasted_usd": split.wasted_seconds * usd_per_second,
                "overhead_usd": split.overhead_seconds * usd_per_second,
                "measured": split.measured,
            }
        )
    interruptions = sum(1 for a in attempts if a.interrupted)
    return {
        "label": BILLED_LABEL,
        "is_estimate": False,
        "usd": usd,
        "on_demand_usd": on_demand_usd,
        "spot_savings_pct": _savings_pct(usd, on_demand_usd),
        "per_epoch_usd": usd / epochs,
        "usd_per_hour": instances.usd_per_hour,
        "billed_seconds": instances.billed_seconds,
        "interruptions": interruptions,
        "instance_type": instances.instance_type,
        "region": instances.region,
        "market": instances.market,
        "snapshot_id": instances.snapshot_id,
        "instances": instances.to_dict(),
        "storage": {
            "usd": storage.usd,
            "s3_storage_usd": storage.s3_storage_usd,
            "s3_requests_usd": storage.s3_requests_usd,
            "ebs_usd": storage.ebs_usd,
            "usage": asdict(storage.usage),
            "ebs_gb_seconds": storage.ebs_gb_seconds,
            "rates": asdict(storage.rates),
        },
        "attempts": rows,
        "accounting": {
            "training_seconds": accounting.seconds("training_seconds"),
            "wasted_seconds": accounting.seconds("wasted_seconds"),
            "overhead_seconds": accounting.seconds("overhead_seconds"),
            "training_usd": accounting.training_usd,
            "wasted_usd": accounting.wasted_usd,
            "overhead_usd": accounting.overhead_usd,
            "on_demand_equivalent_seconds": accounting.on_demand_equivalent_seconds,
            "on_demand_equivalent_usd": accounting.on_demand_equivalent_usd,
            # On the headline's basis: storage is paid whichever market trained, so it is on both sides
            # (otherwise a run with waste could show an effective saving above its spot saving).
            "effective_savings_pct": _savings_pct(usd, accounting.on_demand_equivalent_usd + storage.usd),
            "unmeasured_attempts": sum(1 for split in accounting.attempts if not split.measured),
        },
        "basis": (
            f"{BILLED_LABEL}: {len(attempts)} attempt(s) of {instances.instance_type} in {instances.region} "
            f"({interruptions} interrupted), per-second billing with a {MINIMUM_BILLED_SECONDS}-second minimum "
            "per attempt; "
            f"{spot_price_source}; plus EBS root volume and S3 storage/requests at {storage.rates.source}"
        ),
    }


def _savings_pct(usd: float, on_demand_usd: float) -> float:
    return (on_demand_usd - usd) / on_demand_usd * 100 if on_demand_usd > 0 else 0.0


def fetch_history(
    hook: Any, attempts: Sequence[AttemptRecord], region: str
) -> tuple[list[SpotPricePoint], str]:
    """Spot price changes for each spot attempt's type, AZ and billed window (through the hook)."""
    points: dict[tuple[str, str, Any], SpotPricePoint] = {}
    try:
        for attempt in attempts:
            if attempt.market != "spot":
                continue
            ia = instance_attempt(attempt)
            end = ia.launch_time + timedelta(seconds=billed_seconds(ia))
            items = hook.spot_price_history(
                attempt.instance_type, attempt.availability_zone, ia.launch_time, end
            )
            for point in parse_spot_price_history(items, region=region):
                points[point.instance_type, point.availability_zone, point.timestamp] = point
    except (
        Exception
    ) as error:  # no ec2:DescribeSpotPriceHistory permission, throttling: price from the snapshot
        return [], f"{type(error).__name__}: {error}"
    return sorted(points.values(), key=lambda p: (p.availability_zone, p.timestamp)), ""


def record_billed_cost(
    *, logged: dict[str, Any], hook_factory: Callable[[dict[str, Any]], Any] | None = None
) -> dict[str, Any]:
    """The ``cost`` task for ``compute=ec2_spot``: price the attempts, write metrics.json, log to MLflow."""
    import mlflow

    settings = load_settings()
    spot_run = logged["spot"]
    attempts = [AttemptRecord.from_dict(a) for a in spot_run["attempts"]]
    metrics = read_metrics(logged["metrics_uri"])
    training, config = metrics["training"], metrics["config"]
    epochs = max(len(training["epochs"]), 1)
    hook = (hook_factory or _hook)(spot_run)
    snapshot_dir = newest_snapshot_dir(settings)

    with tracking.task_run(logged["mlflow_run_id"]):
        history, history_error = fetch_history(hook, attempts, spot_run["region"])
        catalog, source = billing_catalog(snapshot_dir, history, attempts)
        if history_error:
            source += f" (spot price history failed: {history_error})"
        # Everything the instance wrote under the prefix gets the run's cost allocation tags too.
        tags = spot_run.get("allocation_tags")  # absent from a train result of an older version
        tagging = (
            hook.tag_prefix(spot_run["bucket"], spot_run["prefix"] + "/", tags)
            if tags
            else {"list_requests": 0, "get_requests": 0, "put_requests": 0}
        )
        usage_now = hook.prefix_usage(spot_run["bucket"], spot_run["prefix"] + "/")
        counts = {
            **spot_run["s3"],
            "list_requests": usage_now["list_requests"] + tagging["list_requests"],
            "put_requests": spot_run["s3"]["put_requests"] + tagging["put_requests"],
            "get_requests": spot_run["s3"]["get_requests"] + tagging["get_requests"],
        }
        first_launch = min(instance_attempt(a).launch_time for a in attempts)
        last_end = max(instance_attempt(a).terminate_time for a in attempts)
        usage = estimate_s3_usage(
            attempts=attempts,
            pipeline_counts=counts,
            global_steps=int(training["global_steps"]),
            checkpoint_every_steps=int(config.get("checkpoint_every_steps", 50)),
            epochs=epochs,
            stored_bytes=usage_now["bytes"],
            stored_seconds=(last_end - first_launch).total_seconds(),
        )
        sheet = build_price_sheet(
            snapshot_dir, spot_run["region"], instance_types=[attempts[0].instance_type]
        )
        storage = storage_cost(
            usage,
            StorageRates.from_sheet(sheet),
            ebs_gb=float(spot_run.get("root_volume_gb", DEFAULT_ROOT_VOLUME_GB)),
            billed_seconds=sum(billed_seconds(instance_attempt(a)) for a in attempts),
        )
        try:
            cost_dict = billed_cost(
                attempts,
                catalog,
                source,
                epochs=epochs,
                storage=storage,
                timings=timings_for(attempts, training.get("segments") or []),
            )
        except ValueError as error:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"cannot price this spot run: {error}") from error
        columns = (
            "attempt",
            "instance_id",
            "instance_type",
            "availability_zone",
            "market",
            "launched_at",
            "terminated_at",
            "seconds",
            "billed_seconds",
            "usd",
            "training_seconds",
            "wasted_seconds",
            "overhead_seconds",
            "training_usd",
            "wasted_usd",
            "overhead_usd",
            "interrupted",
            "outcome",
            "end_reason",
        )
        mlflow.log_table(
            {column: [row[column] for row in cost_dict["attempts"]] for column in columns},
            artifact_file=ATTEMPTS_ARTIFACT,
        )
        record_cost(
            cost_dict,
            interruptions=int(cost_dict["interruptions"]),
            metrics=metrics,
            metrics_uri=logged["metrics_uri"],
            compute={**logged["compute"], "attempts": [a.to_dict() for a in attempts]},
        )
    return {**logged, "cost": cost_dict}


def _hook(spot_run: dict[str, Any]) -> Any:
    from pipeline.spot.hooks import (
        SpotTrainingHook,  # boto3 (amazon provider): imported on use, not at DAG parse
    )

    return SpotTrainingHook(
        aws_conn_id=spot_run.get("aws_conn_id", "aws_default"), region_name=spot_run["region"]
    )
