"""Build the :class:`~costing.pricing.sheet.PriceSheet` the cost model computes with, from one pricing snapshot.

``build_price_sheet(snapshot, region)`` reads every price through the snapshot's parsed records (the
same parser for the shipped snapshot and a live refresh), adds the two reference tables (Cloudflare
Workers, Spot interruption frequency) and returns plain numbers with units in their names.

Rules it follows:

* Tiered prices (S3 storage, data transfer, CloudWatch metrics, Lambda duration) give the **first
  paid tier** (the lowest tier with a non-zero rate) *and* every published tier
  (:data:`~costing.pricing.sheet.TIERED_RATES`), which the cost model applies at the volume reached.
  Free allowances are left to the cost model.
* Reserved terms and Savings Plans rates the snapshot *derived* (provenance ``derived``) are marked
  in :attr:`~costing.pricing.sheet.InstanceRates.derived_rates`.
* Each price must be in one of the units its key is published in (:data:`~costing.pricing.parse.PRICE_KEY_UNITS`);
  per-request prices are scaled to the sheet's units (per 1,000 or per million requests).
* Rates per type (RDS for PostgreSQL by ``db.*`` class, ElastiCache for Redis by ``cache.*`` type, Amazon
  MWAA by environment class) are dicts: a type without one usable rate is left out, an empty dict gets a
  note, and an MWAA class lacking its additional worker or scheduler rate keeps ``None`` there.
* Anything the snapshot does not have is ``None`` and gets a sentence in ``notes``; nothing is ever
  filled with zero or a guess.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path

from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import DEFAULT_REGION
from costing.pricing.freshness import TABLE, snapshot_source_ages, source_age
from costing.pricing.parse import (
    PRICE_KEY_UNITS,
    TERM_ON_DEMAND,
    TERM_RESERVED,
    PriceRecord,
    mwaa_environment_class,
    parse_timestamp,
    sagemaker_serverless_memory_gb,
)
from costing.pricing.reference_tables import (
    CLOUDFLARE_WORKERS_TABLE,
    FREE_TIER_TABLE,
    INTERRUPTION_TABLE,
    InterruptionTable,
    interruption_table_from_advisor,
    load_cloudflare_workers,
    load_free_tier,
    load_interruption_table,
)
from costing.pricing.savings_plans import TERM_SAVINGS_PLAN, savings_plan_key
from costing.pricing.sheet import (
    TIERED_RATES,
    InstanceRates,
    MwaaClassRates,
    PriceSheet,
    PriceTier,
    SageMakerInstanceRates,
)
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
    ("public_ipv4_usd_per_hour", "vpc.public_ipv4", 1),
    ("vpc_endpoint_usd_per_hour", "vpc.endpoint.hours", 1),
    ("vpc_endpoint_usd_per_gb", "vpc.endpoint.data_processed", 1),
    ("cloudwatch_usd_per_metric_month", "cloudwatch.metrics", 1),
    ("cloudwatch_logs_ingest_usd_per_gb", "cloudwatch.logs.ingest", 1),
    ("cloudwatch_logs_storage_usd_per_gb_month", "cloudwatch.logs.storage", 1),
    ("lambda_usd_per_million_requests", "lambda.requests.x86", 1_000_000),
    ("lambda_x86_usd_per_gb_second", "lambda.duration.x86", 1),
    ("lambda_arm_usd_per_gb_second", "lambda.duration.arm", 1),
    ("lambda_provisioned_usd_per_gb_second", "lambda.provisioned_concurrency.x86", 1),
    ("lambda_provisioned_duration_usd_per_gb_second", "lambda.provisioned_duration.x86", 1),
    ("eventbridge_scheduler_usd_per_million_invocations", "eventbridge.scheduler.invocations", 1_000_000),
    ("fargate_usd_per_vcpu_hour", "fargate.vcpu_hours.x86", 1),
    ("fargate_usd_per_gb_hour", "fargate.memory_gb_hours.x86", 1),
    ("fargate_arm_usd_per_vcpu_hour", "fargate.vcpu_hours.arm", 1),
    ("fargate_arm_usd_per_gb_hour", "fargate.memory_gb_hours.arm", 1),
    ("sagemaker_serverless_usd_per_gb_processed", "sagemaker.serverless.data", 1),
    ("mwaa_metadata_usd_per_gb_month", "mwaa.metadata_storage", 1),
    ("rds_gp3_usd_per_gb_month", "rds.gp3.storage", 1),
    ("rds_backup_usd_per_gb_month", "rds.backup", 1),
    ("ses_usd_per_1k_emails", "ses.emails", 1_000),
)
# PriceSheet field -> the price key of its per-type hourly rates (keyed by the row's instanceType)
HOURLY_BY_TYPE_FIELDS: tuple[tuple[str, str], ...] = (
    ("rds_postgres_usd_per_hour", "rds.postgres.instance"),
    ("elasticache_redis_usd_per_hour", "elasticache.redis.node"),
)


def build_price_sheet(
    snapshot: PricingSnapshot | Path | str | None = None,
    region: str = DEFAULT_REGION,
    *,
    instance_types: Iterable[str] | None = None,
    cloudflare_table: Path | str | None = CLOUDFLARE_WORKERS_TABLE,
    interruption_table: InterruptionTable | Path | str | None = INTERRUPTION_TABLE,
    free_tier_table: Path | str | None = FREE_TIER_TABLE,
    now: datetime | None = None,
) -> PriceSheet:
    """Every rate of :class:`PriceSheet` for ``region`` from ``snapshot`` (default: the newest shipped one).

    ``instance_types`` limits ``instances`` to those types (default: every type with an on-demand
    price in the region); a requested type the snapshot cannot price is left out with a note.
    Pass ``cloudflare_table=None`` / ``interruption_table=None`` / ``free_tier_table=None`` to leave
    those tables out.
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

    advisor = snapshot.spot_advisor()
    if advisor is not None and interruption_table is not None:
        # the snapshot carries the Advisor document it was refreshed with: its buckets, not the shipped table
        table = interruption_table_from_advisor(
            advisor, fetched_at=parse_timestamp(str(advisor.get("fetched_at") or provenance.fetched_at))
        )
    else:
        table = _interruption_table(interruption_table, notes)
    instances = _instances(snapshot, region, records, instance_types, table, notes)

    values: dict[str, object] = {}
    for name, (flat_field, tier_field) in TIERED_RATES.items():
        price_key = next(key for field_name, key, _ in SERVICE_FIELDS if field_name == flat_field)
        values[tier_field] = _tiers(by_key.get(price_key, []), price_key, name, notes)
    for field_name, price_key, factor in SERVICE_FIELDS:
        rate = _first_paid_rate(by_key.get(price_key, []), price_key, notes)
        values[field_name] = None if rate is None else _clean(rate * factor)
        if rate is None and not any(note.startswith(f"{price_key}:") for note in notes):
            notes.append(
                f"{price_key}: no price for {region} in snapshot {snapshot.snapshot_id}; {field_name} is None"
            )

    per_gb_second: dict[str, float | None] = {}
    for price_key, field_name in SERVERLESS_PER_SECOND_FIELDS:
        per_gb_second[field_name] = _serverless_usd_per_gb_second(by_key.get(price_key, []), price_key, notes)
        if per_gb_second[field_name] is None and not any(note.startswith(price_key) for note in notes):
            notes.append(
                f"{price_key}: no price for {region} in snapshot {snapshot.snapshot_id}; {field_name} is None"
            )
    sagemaker = _sagemaker_instances(snapshot, region, by_key.get("sagemaker.hosting.instance", []), notes)
    mwaa_classes = _mwaa_classes(snapshot, region, by_key, notes)
    by_type: dict[str, dict[str, float]] = {}
    for field_name, price_key in HOURLY_BY_TYPE_FIELDS:
        by_type[field_name] = _hourly_by_type(by_key.get(price_key, []), price_key, notes)
        if not by_type[field_name]:
            notes.append(
                f"{price_key}: no price for {region} in snapshot {snapshot.snapshot_id}; {field_name} is empty"
            )

    cloudflare = None
    if cloudflare_table is not None:
        cloudflare = load_cloudflare_workers(cloudflare_table)
    else:
        notes.append("cloudflare_workers: no Workers table given; cloudflare_workers is None")

    free_tier = load_free_tier(free_tier_table) if free_tier_table is not None else None
    now = now or datetime.now(UTC)
    ages = snapshot_source_ages(snapshot, now=now)
    for name, table_as_of, basis in (
        ("Cloudflare Workers table", cloudflare.as_of if cloudflare else None, "recorded by hand"),
        ("AWS Free Tier table", free_tier.as_of if free_tier else None, "recorded by hand"),
        ("Spot interruption table", table.as_of if table else None, table.how_recorded if table else ""),
    ):
        if table_as_of is not None:
            ages.append(source_age(name, TABLE, table_as_of, basis or "recorded by hand", now))
    notes += [f"stale: {age.describe()}" for age in ages if age.stale]

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
        mwaa_classes=mwaa_classes,
        **by_type,  # type: ignore[arg-type]
        **per_gb_second,  # type: ignore[arg-type]
        cloudflare_workers=cloudflare,
        free_tier=free_tier,
        notes=tuple(notes),
        source_ages=tuple(ages),
        **values,  # type: ignore[arg-type]
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
    plans: dict[str, dict[str, float]] = defaultdict(dict)
    derived: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.term == TERM_RESERVED and record.price_key == "ec2.instance":
            key = f"{record.lease_contract_length}/{record.offering_class}/{record.purchase_option}"
            reserved[record.instance_type][key] = _clean(record.usd_rate)
            if snapshot.is_derived("ec2.reserved", region, f"{record.instance_type} {key}"):
                derived[record.instance_type].add(key)
        elif record.term == TERM_SAVINGS_PLAN and record.price_key == "ec2.savings_plan":
            key = savings_plan_key(
                record.offering_class, record.lease_contract_length, record.purchase_option
            )
            plans[record.instance_type][key] = _clean(record.usd_rate)
            if snapshot.is_derived("ec2.savings_plan", region, f"{record.instance_type} {key}"):
                derived[record.instance_type].add(key)

    instances: dict[str, InstanceRates] = {}
    no_spot, no_bucket, advisor_spot = [], [], []
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
        spot_basis = "spot price history"
        try:
            spot = _clean(catalog.current_spot_usd_per_hour(instance_type, region))
            spot_p90 = _clean(catalog.spot_percentile_usd_per_hour(instance_type, region, 0.9))
        except ValueError:
            spot = spot_p90 = None
            bucket = table.buckets.get((region, instance_type)) if table is not None else None
            if bucket is not None and bucket.savings_pct is not None and table.how_recorded == "advisor feed":
                # no history (no AWS account): the Advisor's savings over on-demand, labelled as such
                spot = _clean(
                    catalog.on_demand_usd_per_hour(instance_type, region) * (1 - bucket.savings_pct / 100)
                )
                spot_basis = f"Spot Instance Advisor savings ({bucket.savings_pct:g}% off on-demand)"
                advisor_spot.append(instance_type)
            else:
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
            savings_plan_usd_per_hour=dict(sorted(plans.get(instance_type, {}).items())),
            derived_rates=frozenset(derived.get(instance_type, ())),
            spot_basis=spot_basis,
        )
    if advisor_spot:
        notes.append(
            f"ec2.spot: no spot price history in {region} (none without an AWS account): spot prices of "
            f"{', '.join(advisor_spot)} are on-demand less the Spot Instance Advisor's savings, an estimate"
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
    notes.extend(_term_notes(instances, region, snapshot))
    return instances


def _term_notes(instances: dict[str, InstanceRates], region: str, snapshot: PricingSnapshot) -> list[str]:
    """How complete the reserved and Savings Plans rates are, and how many were derived rather than recorded."""
    notes = []
    for what, attribute in (
        ("ec2.reserved", "reserved_usd_per_hour"),
        ("ec2.savings_plan", "savings_plan_usd_per_hour"),
    ):
        label = "reserved terms" if what == "ec2.reserved" else "Savings Plans rates"
        counts = {t: getattr(r, attribute) for t, r in instances.items()}
        total = sum(len(terms) for terms in counts.values())
        missing = sorted(t for t, terms in counts.items() if not terms)
        derived = sum(
            len([k for k in terms if k in instances[t].derived_rates]) for t, terms in counts.items()
        )
        if not total:
            notes.append(
                f"{what}: no {label} in {region} in snapshot {snapshot.snapshot_id}; those options are infeasible"
            )
            continue
        rule = next((e.get("rule", "") for e in snapshot.provenance.derived if e.get("what") == what), "")
        text = f"{what}: {total} {label} for {len(instances) - len(missing)} instance types in {region}"
        if derived:
            text += f", {derived} of them DERIVED, not AWS's record ({rule}; see the snapshot's provenance)"
        if missing:
            text += f"; none for {', '.join(missing)}"
        notes.append(text)
    return notes


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


# -- the platform that runs the pipeline ---------------------------------------------------------------------


def _hourly_by_type(records: Sequence[PriceRecord], price_key: str, notes: list[str]) -> dict[str, float]:
    """One rate per instance type (``db.t4g.micro``, ``cache.t4g.micro``), in type order; a type whose rows are
    unusable (unit, zero, two rates) is left out with the note :func:`_first_paid_rate` writes."""
    rates: dict[str, float] = {}
    for instance_type in sorted({r.instance_type for r in records}):
        if not instance_type:
            notes.append(f"{price_key}: a row without an instanceType attribute; left out")
            continue
        rate = _first_paid_rate([r for r in records if r.instance_type == instance_type], price_key, notes)
        if rate is not None:
            rates[instance_type] = _clean(rate)
    return rates


def _mwaa_classes(
    snapshot: PricingSnapshot, region: str, by_key: dict[str, list[PriceRecord]], notes: list[str]
) -> dict[str, MwaaClassRates]:
    """Every MWAA class with an environment rate; its additional worker and scheduler rates where priced."""
    per_class: dict[tuple[str, str], list[PriceRecord]] = defaultdict(list)
    for price_key in ("mwaa.environment", "mwaa.worker", "mwaa.scheduler"):
        for record in by_key.get(price_key, []):
            environment_class = mwaa_environment_class(record.usage_type)
            if environment_class is not None:
                per_class[environment_class, price_key].append(record)
    classes: dict[str, MwaaClassRates] = {}
    for environment_class in sorted({c for c, _ in per_class}):
        rates = {
            price_key: _first_paid_rate(per_class.get((environment_class, price_key), []), price_key, notes)
            for price_key in ("mwaa.environment", "mwaa.worker", "mwaa.scheduler")
        }
        if rates["mwaa.environment"] is None:
            notes.append(
                f"mwaa.environment: {environment_class} has worker or scheduler rates but no usable environment "
                f"rate in {region}; left out of mwaa_classes"
            )
            continue
        missing = [key for key in ("mwaa.worker", "mwaa.scheduler") if rates[key] is None]
        if missing:
            notes.append(
                f"mwaa.environment: {environment_class} in {region} has no {' or '.join(missing)} rate; "
                "environments that need more than the included ones cannot be priced"
            )
        classes[environment_class] = MwaaClassRates(
            environment_class=environment_class,
            environment_usd_per_hour=_clean(rates["mwaa.environment"]),
            worker_usd_per_hour=None if rates["mwaa.worker"] is None else _clean(rates["mwaa.worker"]),
            scheduler_usd_per_hour=None
            if rates["mwaa.scheduler"] is None
            else _clean(rates["mwaa.scheduler"]),
        )
    classes = dict(
        sorted(classes.items(), key=lambda item: item[1].environment_usd_per_hour)
    )  # smallest first
    if not classes:
        notes.append(
            f"mwaa.environment: no Amazon MWAA prices for {region} in snapshot {snapshot.snapshot_id}; "
            "mwaa_classes is empty"
        )
    return classes


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


def _tiers(
    records: Sequence[PriceRecord], price_key: str, name: str, notes: list[str]
) -> tuple[PriceTier, ...]:
    """Every published tier of a tiered rate, in order; () with a note when they do not chain from 0 to Inf."""
    usable = [r for r in records if r.unit in PRICE_KEY_UNITS[price_key]]
    if not usable:
        return ()
    ordered = sorted(usable, key=lambda r: (r.begin_range_value, r.end_range_value))
    tiers = []
    for record in ordered:
        if tiers and (record.begin_range_value, record.end_range_value) == (tiers[-1].begin, tiers[-1].end):
            if record.usd_rate != tiers[-1].usd_per_unit:
                notes.append(
                    f"{price_key}: two rates for the tier from {record.begin_range or '0'} "
                    f"({tiers[-1].usd_per_unit:.10g}, {record.usd_rate:.10g}; sku {record.sku}); {name} tiers left out"
                )
                return ()
            continue
        try:
            tiers.append(PriceTier(record.begin_range_value, record.end_range_value, _clean(record.usd_rate)))
        except ValueError as error:
            notes.append(f"{price_key}: {error}; {name} tiers left out")
            return ()
    chained = (
        tiers[0].begin == 0
        and math.isinf(tiers[-1].end)
        and all(a.end == b.begin for a, b in itertools.pairwise(tiers))
    )
    if not chained:
        notes.append(
            f"{price_key}: tiers {[(t.begin, t.end) for t in tiers]} do not run from 0 to Inf without gaps; "
            f"{name} is priced at its first paid tier at any volume"
        )
        return ()
    return tuple(tiers)


# SageMaker serverless prices published per second at each memory size -> the PriceSheet's per-GB-second field
SERVERLESS_PER_SECOND_FIELDS: tuple[tuple[str, str], ...] = (
    ("sagemaker.serverless.compute", "sagemaker_serverless_usd_per_gb_second"),
    ("sagemaker.serverless.provisioned_concurrency", "sagemaker_serverless_provisioned_usd_per_gb_second"),
    (
        "sagemaker.serverless.provisioned_duration",
        "sagemaker_serverless_provisioned_duration_usd_per_gb_second",
    ),
)


def _serverless_usd_per_gb_second(
    records: Sequence[PriceRecord], price_key: str, notes: list[str]
) -> float | None:
    """SageMaker serverless prices are published per second for each memory size; the sheet wants per GB-second."""
    field_name = dict(SERVERLESS_PER_SECOND_FIELDS)[price_key]
    per_gb = []
    for record in records:
        memory_gb = sagemaker_serverless_memory_gb(record.usage_type)
        if record.unit not in PRICE_KEY_UNITS[price_key] or not memory_gb or record.usd_rate <= 0:
            continue
        per_gb.append(
            (memory_gb, record.usd_rate if record.unit == "GB-Second" else record.usd_rate / memory_gb)
        )
    if not per_gb:
        if records:
            notes.append(f"{price_key}: no row with a readable memory size and unit; {field_name} is None")
        return None
    rates = {round(rate, 12) for _, rate in per_gb}
    if len(rates) > 1:
        notes.append(
            f"{price_key}: per-GB-second rate differs by memory size ({sorted(rates)}); "
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
