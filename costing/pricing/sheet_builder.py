"""Build the :class:`~costing.pricing.sheet.PriceSheet` the cost model computes with, from one pricing snapshot.

``build_price_sheet(snapshot, region)`` reads every price through the snapshot's parsed records (the
same parser for the shipped snapshot and a live refresh), adds the two reference tables (Cloudflare
Workers, Spot interruption frequency) and returns plain numbers with units in their names.

Rules it follows:

* Tiered prices (S3 storage, data transfer, CloudWatch metrics, Lambda duration) give the **first
  paid tier**: the lowest tier with a non-zero rate. Free allowances are left to the cost model.
* Each price must be in one of the units its key is published in (:data:`~costing.pricing.parse.PRICE_KEY_UNITS`);
  per-request prices are scaled to the sheet's units (per 1,000 or per million requests).
* Anything the snapshot does not have is ``None`` and gets a sentence in ``notes``; nothing is ever
  filled with zero or a guess.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import date
from pathlib import Path

from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import DEFAULT_REGION
from costing.pricing.parse import (
    PRICE_KEY_UNITS,
    TERM_ON_DEMAND,
    TERM_RESERVED,
    PriceRecord,
    sagemaker_serverless_memory_gb,
)
from costing.pricing.reference_tables import (
    CLOUDFLARE_WORKERS_TABLE,
    INTERRUPTION_TABLE,
    InterruptionTable,
    load_cloudflare_workers,
    load_interruption_table,
)
from costing.pricing.sheet import InstanceRates, PriceSheet, SageMakerInstanceRates
from costing.pricing.snapshot import PricingSnapshot, latest_snapshot_dir, load_snapshot

# PriceSheet field -> (price key, factor from the published unit to the field's unit)
SERVICE_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("ebs_gp3_usd_per_gb_month", "ebs.gp3.storage", 1),
    ("s3_standard_usd_per_gb_month", "s3.standard.storage", 1),
    ("s3_put_usd_per_1k_requests", "s3.requests.tier1", 1_000),
    ("s3_get_usd_per_1k_requests", "s3.requests.tier2", 1_000),
    ("data_transfer_out_usd_per_gb", "data_transfer.out.internet", 1),
    ("alb_usd_per_hour", "alb.hours", 1),
    ("alb_usd_per_lcu_hour", "alb.lcu_hours", 1),
    ("nat_gateway_usd_per_hour", "nat_gateway.hours", 1),
    ("nat_gateway_usd_per_gb", "nat_gateway.data_processed", 1),
    ("cloudwatch_usd_per_metric_month", "cloudwatch.metrics", 1),
    ("cloudwatch_logs_ingest_usd_per_gb", "cloudwatch.logs.ingest", 1),
    ("cloudwatch_logs_storage_usd_per_gb_month", "cloudwatch.logs.storage", 1),
    ("lambda_usd_per_million_requests", "lambda.requests.x86", 1_000_000),
    ("lambda_x86_usd_per_gb_second", "lambda.duration.x86", 1),
    ("lambda_arm_usd_per_gb_second", "lambda.duration.arm", 1),
    ("fargate_usd_per_vcpu_hour", "fargate.vcpu_hours.x86", 1),
    ("fargate_usd_per_gb_hour", "fargate.memory_gb_hours.x86", 1),
    ("fargate_arm_usd_per_vcpu_hour", "fargate.vcpu_hours.arm", 1),
    ("fargate_arm_usd_per_gb_hour", "fargate.memory_gb_hours.arm", 1),
    ("sagemaker_serverless_usd_per_gb_processed", "sagemaker.serverless.data", 1),
)


def build_price_sheet(
    snapshot: PricingSnapshot | Path | str | None = None,
    region: str = DEFAULT_REGION,
    *,
    instance_types: Iterable[str] | None = None,
    cloudflare_table: Path | str | None = CLOUDFLARE_WORKERS_TABLE,
    interruption_table: InterruptionTable | Path | str | None = INTERRUPTION_TABLE,
) -> PriceSheet:
    """Every rate of :class:`PriceSheet` for ``region`` from ``snapshot`` (default: the newest shipped one).

    ``instance_types`` limits ``instances`` to those types (default: every type with an on-demand
    price in the region); a requested type the snapshot cannot price is left out with a note.
    Pass ``cloudflare_table=None`` / ``interruption_table=None`` to leave those tables out.
    """
    if snapshot is None:
        snapshot = load_snapshot(latest_snapshot_dir())
    elif not isinstance(snapshot, PricingSnapshot):
        snapshot = load_snapshot(snapshot)
    provenance = snapshot.provenance
    if region not in provenance.regions:
        raise ValueError(
            f"snapshot {snapshot.snapshot_id} has no prices for region {region!r}; "
            f"its regions are {', '.join(provenance.regions)}. Refresh prices for {region} or pick one of those"
        )
    notes: list[str] = []
    records = [r for r in snapshot.price_records if r.region == region]
    by_key: dict[str, list[PriceRecord]] = defaultdict(list)
    for record in records:
        if record.price_key and record.term == TERM_ON_DEMAND:
            by_key[record.price_key].append(record)

    table = _interruption_table(interruption_table, notes)
    instances = _instances(snapshot, region, records, instance_types, table, notes)

    values: dict[str, float | None] = {}
    for field_name, price_key, factor in SERVICE_FIELDS:
        rate = _first_paid_rate(by_key.get(price_key, []), price_key, notes)
        values[field_name] = None if rate is None else _clean(rate * factor)
        if rate is None and not any(note.startswith(f"{price_key}:") for note in notes):
            notes.append(
                f"{price_key}: no price for {region} in snapshot {snapshot.snapshot_id}; {field_name} is None"
            )

    serverless = _serverless_usd_per_gb_second(by_key.get("sagemaker.serverless.compute", []), notes)
    if serverless is None and not any(note.startswith("sagemaker.serverless.compute") for note in notes):
        notes.append(
            f"sagemaker.serverless.compute: no price for {region} in snapshot {snapshot.snapshot_id}; "
            "sagemaker_serverless_usd_per_gb_second is None"
        )
    sagemaker = _sagemaker_instances(snapshot, region, by_key.get("sagemaker.hosting.instance", []), notes)

    cloudflare = None
    if cloudflare_table is not None:
        cloudflare = load_cloudflare_workers(cloudflare_table)
    else:
        notes.append("cloudflare_workers: no Workers table given; cloudflare_workers is None")

    if provenance.source == "recorded":
        notes.append(
            f"snapshot {snapshot.snapshot_id} was recorded by hand (source 'recorded', prices as of "
            f"{provenance.prices_as_of}); its spot history is illustrative, not AWS's record - see its provenance notes"
        )
    elif provenance.source == "snapshot" or provenance.failures:
        notes.append(
            f"snapshot {snapshot.snapshot_id} is a fallback copy or had failures: {list(provenance.failures)}"
        )

    return PriceSheet(
        region=region,
        snapshot_id=snapshot.snapshot_id,
        prices_as_of=date.fromisoformat(provenance.prices_as_of[:10]),
        instances=instances,
        sagemaker_instances=sagemaker,
        sagemaker_serverless_usd_per_gb_second=serverless,
        cloudflare_workers=cloudflare,
        notes=tuple(notes),
        **values,
    )


def none_fields(sheet: PriceSheet) -> list[str]:
    """Names of the sheet's price fields that are None (what the notes should explain)."""
    return [f.name for f in fields(sheet) if getattr(sheet, f.name) is None]


# -- instances -------------------------------------------------------------------------------------------


def _instances(
    snapshot: PricingSnapshot,
    region: str,
    records: Sequence[PriceRecord],
    instance_types: Iterable[str] | None,
    table: InterruptionTable | None,
    notes: list[str],
) -> dict[str, InstanceRates]:
    catalog = PriceCatalog.from_snapshot(snapshot)
    available = catalog.instance_types(region)
    wanted = list(dict.fromkeys(instance_types)) if instance_types is not None else available
    specs = snapshot.instance_specs(region)
    reserved: dict[str, dict[str, float]] = defaultdict(dict)
    for record in records:
        if record.term == TERM_RESERVED and record.price_key in ("ec2.instance", ""):
            key = f"{record.lease_contract_length}/{record.offering_class}/{record.purchase_option}"
            reserved[record.instance_type][key] = _clean(record.usd_rate)

    instances: dict[str, InstanceRates] = {}
    no_spot, no_bucket = [], []
    for instance_type in wanted:
        if instance_type not in available:
            notes.append(
                f"ec2.instance: {instance_type} has no on-demand price in {region} in snapshot {snapshot.snapshot_id}; "
                "left out of instances"
            )
            continue
        spec = specs.get(instance_type)
        if spec is None:
            notes.append(
                f"ec2.instance: {instance_type} has no vcpu/memory attributes in the snapshot; left out"
            )
            continue
        try:
            spot = _clean(catalog.current_spot_usd_per_hour(instance_type, region))
            spot_p90 = _clean(catalog.spot_percentile_usd_per_hour(instance_type, region, 0.9))
        except ValueError:
            spot = spot_p90 = None
            no_spot.append(instance_type)
        interruption = table.rate_per_month(instance_type, region) if table is not None else None
        if table is not None and interruption is None:
            no_bucket.append(instance_type)
        instances[instance_type] = InstanceRates(
            instance_type=instance_type,
            vcpus=spec.vcpus,
            memory_gib=spec.memory_gib,
            architecture=spec.architecture,
            on_demand_usd_per_hour=catalog.on_demand_usd_per_hour(instance_type, region),
            spot_usd_per_hour=spot,
            spot_p90_usd_per_hour=spot_p90,
            reserved_usd_per_hour=dict(sorted(reserved.get(instance_type, {}).items())),
            interruption_rate_per_month=interruption,
        )
    if no_spot:
        notes.append(
            f"ec2.spot: no spot price history in {region} for {', '.join(no_spot)}; spot prices are None"
        )
    if no_bucket:
        notes.append(
            f"interruption: no Spot Advisor bucket in {region} for {', '.join(no_bucket)}; "
            "interruption_rate_per_month is None"
        )
    with_reserved = sorted(t for t in instances if instances[t].reserved_usd_per_hour)
    notes.append(
        f"ec2.reserved: reserved terms in {region} in this snapshot only for "
        + (
            ", ".join(f"{t} ({', '.join(instances[t].reserved_usd_per_hour)})" for t in with_reserved)
            or "no instance type"
        )
        + "; other types have an empty reserved_usd_per_hour"
    )
    return instances


def _sagemaker_instances(
    snapshot: PricingSnapshot, region: str, records: Sequence[PriceRecord], notes: list[str]
) -> dict[str, SageMakerInstanceRates]:
    if not records:
        notes.append(
            f"sagemaker.hosting.instance: no SageMaker real-time inference prices for {region} in snapshot "
            f"{snapshot.snapshot_id}; sagemaker_instances is empty"
        )
        return {}
    specs = snapshot.instance_specs(region)
    result: dict[str, SageMakerInstanceRates] = {}
    for instance_type in sorted({r.instance_type for r in records}):
        rate = _first_paid_rate(
            [r for r in records if r.instance_type == instance_type], "sagemaker.hosting.instance", notes
        )
        spec = specs.get(instance_type)
        if rate is None or spec is None:
            notes.append(
                f"sagemaker.hosting.instance: {instance_type} lacks a usable price or vCPU/memory; left out"
            )
            continue
        result[instance_type] = SageMakerInstanceRates(
            instance_type=instance_type,
            vcpus=spec.vcpus,
            memory_gib=spec.memory_gib,
            usd_per_hour=_clean(rate),
        )
    return result


# -- service prices ----------------------------------------------------------------------------------------


def _first_paid_rate(records: Sequence[PriceRecord], price_key: str, notes: list[str]) -> float | None:
    """The rate of the lowest non-free tier, after checking units; None (with a note) if unusable."""
    if not records:
        return None
    expected_units = PRICE_KEY_UNITS[price_key]
    wrong_unit = [r for r in records if r.unit not in expected_units]
    if wrong_unit:
        notes.append(
            f"{price_key}: published in {sorted({r.unit for r in wrong_unit})}, expected {list(expected_units)} "
            f"(sku {wrong_unit[0].sku}); refusing to mix units, left as None"
        )
        return None
    paid = [r for r in records if r.usd_rate > 0]
    if not paid:
        notes.append(
            f"{price_key}: only zero-priced rows (sku {records[0].sku}); left as None rather than priced at 0"
        )
        return None
    first_begin = min(r.begin_range_value for r in paid)
    rates = sorted({r.usd_rate for r in paid if r.begin_range_value == first_begin})
    if len(rates) > 1:
        notes.append(
            f"{price_key}: {len(rates)} different first-tier rates {rates}; the snapshot is ambiguous, left as None"
        )
        return None
    return rates[0]


def _serverless_usd_per_gb_second(records: Sequence[PriceRecord], notes: list[str]) -> float | None:
    """SageMaker serverless compute is published per second for each memory size; the sheet wants per GB-second."""
    per_gb = []
    for record in records:
        memory_gb = sagemaker_serverless_memory_gb(record.usage_type)
        if (
            record.unit not in PRICE_KEY_UNITS["sagemaker.serverless.compute"]
            or not memory_gb
            or record.usd_rate <= 0
        ):
            continue
        per_gb.append(
            (memory_gb, record.usd_rate if record.unit == "GB-Second" else record.usd_rate / memory_gb)
        )
    if not per_gb:
        if records:
            notes.append(
                "sagemaker.serverless.compute: no row with a readable memory size and unit; "
                "sagemaker_serverless_usd_per_gb_second is None"
            )
        return None
    rates = {round(rate, 12) for _, rate in per_gb}
    if len(rates) > 1:
        notes.append(
            f"sagemaker.serverless.compute: per-GB-second rate differs by memory size ({sorted(rates)}); "
            "using the smallest memory size's"
        )
    return _clean(min(per_gb)[1])


def _interruption_table(
    table: InterruptionTable | Path | str | None, notes: list[str]
) -> InterruptionTable | None:
    if table is None:
        notes.append("interruption: no Spot interruption table given; interruption_rate_per_month is None")
        return None
    loaded = table if isinstance(table, InterruptionTable) else load_interruption_table(table)
    if loaded.how_recorded != "advisor feed":
        notes.append(
            f"interruption: Spot Advisor buckets recorded {loaded.how_recorded or 'by hand'} as of "
            f"{loaded.as_of.isoformat()} and approximate (see the table's notes); refresh from the Advisor feed"
        )
    return loaded


def _clean(value: float) -> float:
    """Strip binary noise from scaled prices (0.0000004 * 1000 -> 0.0004, not 0.00039999999999999996)."""
    return float(f"{value:.12g}") if math.isfinite(value) else value
