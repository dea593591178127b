"""Fetch prices from AWS and turn them into a new pricing snapshot: the library behind ``pricing_refresh``.

Three steps, each usable on its own:

* :func:`fetch_price_lists` - the Price List Query API (``pricing.get_products``, paginated) for every
  service the cost model prices, with the filters in :data:`PRICE_QUERIES` (one place for them).
* :func:`fetch_spot_price_history` - ``ec2.describe_spot_price_history`` (paginated, Linux/UNIX, every
  AZ of the region) over a window, e.g. the last 30 days. The whole series is kept.
* :func:`refresh_snapshot` - fetch, parse with the same parser as the shipped snapshot, validate
  (:mod:`costing.pricing.price_validation`), write a new immutable snapshot (a local folder, or ``s3://...``), diff it
  against the previous one. When credentials are missing, the API fails or validation rejects the
  prices, it writes **nothing** and reports the last good snapshot as stale, with its age and why.

Clients are passed in, never created here (costing does not import boto3): tests hand in a
``botocore.stub.Stubber``'d pricing client and an EC2 client pointed at a moto server; the pipeline
builds them from the amazon provider's hooks (``pipeline.tasks.pricing.aws_clients``). botocore's
exception classes are imported inside the functions that catch them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from costing.choices import REFRESH_INSTANCE_TYPES, REFRESH_REGIONS, REFRESH_SPOT_WINDOW_DAYS
from costing.pricing.bulk import (
    SAVINGS_PLANS_OFFER,
    BulkOfferError,
    BulkOffers,
    any_of,
    attribute_filter,
    spot_advisor_document,
    stream_offer,
    stream_savings_plans,
)
from costing.pricing.defaults import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_SNAPSHOT_ROOT,
    EC2_SERVICE_CODE,
    SPOT_PRODUCT_DESCRIPTION,
)
from costing.pricing.diff import diff_snapshots
from costing.pricing.gate import check_candidate
from costing.pricing.parse import (
    ParseIssue,
    PriceRecord,
    SpotPricePoint,
    ec2_product_filters,
    format_timestamp,
    parse_price_list,
    parse_spot_price_history,
)
from costing.pricing.price_validation import DEFAULT_MAX_CHANGE, required_prices, validate_prices
from costing.pricing.snapshot import (
    PricingSnapshot,
    Provenance,
    download_snapshot,
    is_remote,
    list_snapshot_ids,
    load_snapshot,
    publish_snapshot,
    snapshot_age_days,
    write_snapshot,
)

logger = logging.getLogger(__name__)

# The Price List Query API is served from these regions only; prices for every region come from any of them.
PRICING_API_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
PRICE_LIST_FORMAT_VERSION = "aws_v1"
GET_PRODUCTS_PAGE_SIZE = 100  # the API's maximum
SPOT_HISTORY_PAGE_SIZE = 1000  # the API's maximum
# What a refresh fetches unless told otherwise: defined in costing.choices, which the pricing_refresh
# DAG's Params read too, so `python -m costing refresh` and the DAG build the same snapshot.
DEFAULT_SPOT_WINDOW_DAYS = REFRESH_SPOT_WINDOW_DAYS
DEFAULT_REFRESH_REGIONS = REFRESH_REGIONS
DEFAULT_REFRESH_INSTANCE_TYPES = REFRESH_INSTANCE_TYPES
DEFAULT_SAGEMAKER_INSTANCE_TYPES = (
    "ml.t2.medium",
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.c5.large",
    "ml.c5.xlarge",
)

STATUS_FRESH, STATUS_STALE, STATUS_FAILED = "fresh", "stale", "failed"


@dataclass(frozen=True)
class PriceQuery:
    """One kind of ``get_products`` request: a service code and its TERM_MATCH filters (the region
    filter is added per region; ``per_instance_type`` makes one request per instance type)."""

    name: str
    service_code: str
    filters: tuple[tuple[str, str], ...] = ()
    region_field: str = "regionCode"  # data transfer products are filed under their source region
    per_instance_type: str = ""  # "instanceType" (EC2) or "instanceName" (SageMaker); "" for one request
    required: bool = True  # False: an empty answer is a warning, not a failure
    note: str = ""

    def filters_for(self, *, region: str, instance_type: str | None = None) -> list[dict[str, str]]:
        """The ``Filters`` argument of ``get_products`` for one region (and instance type)."""
        if self.name == "ec2_instances":
            return ec2_product_filters(region=region, instance_type=instance_type)
        wanted = {self.region_field: region, **dict(self.filters)}
        if self.per_instance_type and instance_type is not None:
            wanted[self.per_instance_type] = instance_type
        return [{"Type": "TERM_MATCH", "Field": name, "Value": value} for name, value in wanted.items()]


# Filters are as narrow as the attribute values are certain; where a value is not, the query asks for a
# whole product family (or a whole service in a region) and the parser's classification picks the rows.
PRICE_QUERIES: tuple[PriceQuery, ...] = (
    # EC2 Linux on-demand and reserved instance prices, with the filters real tools use
    # (instanceType, regionCode, operatingSystem=Linux, tenancy=Shared, preInstalledSw=NA,
    # capacitystatus=Used, licenseModel=No License required): see costing.pricing.parse.ec2_product_filters.
    PriceQuery("ec2_instances", EC2_SERVICE_CODE, per_instance_type="instanceType"),
    PriceQuery("ebs_gp3", EC2_SERVICE_CODE, (("productFamily", "Storage"), ("volumeApiName", "gp3"))),
    PriceQuery("nat_gateway", EC2_SERVICE_CODE, (("productFamily", "NAT Gateway"),)),
    PriceQuery(
        "s3_storage",
        "AmazonS3",
        (("productFamily", "Storage"),),
        note="every storage class; Standard is picked",
    ),
    PriceQuery(
        "s3_requests",
        "AmazonS3",
        (("productFamily", "API Request"),),
        note="Tier1 (PUT...) and Tier2 (GET...)",
    ),
    PriceQuery(
        "data_transfer_out",
        "AWSDataTransfer",
        (("transferType", "AWS Outbound"),),
        region_field="fromRegionCode",
        note="outbound transfer from the region; DataTransfer-Out-Bytes (to the internet) is picked",
    ),
    PriceQuery("alb", "AWSELB", (("productFamily", "Load Balancer-Application"),)),
    PriceQuery(
        "public_ipv4",
        "AmazonVPC",
        note="whole service in the region (endpoints, IPAM, addresses); PublicIPv4:InUseAddress and the "
        "interface endpoints' VpcEndpoint-Hours and VpcEndpoint-Bytes are picked",
    ),
    PriceQuery(
        "cloudwatch", "AmazonCloudWatch", note="whole service in the region: metrics, logs ingest and storage"
    ),
    PriceQuery(
        "lambda", "AWSLambda", (("productFamily", "Serverless"),), note="requests and duration, x86 and Arm"
    ),
    PriceQuery("fargate", "AmazonECS", (("productFamily", "Compute"),), note="vCPU and memory, x86 and ARM"),
    PriceQuery(
        "eventbridge",
        "AWSEvents",
        required=False,
        note="whole service in the region; Scheduler-Invocation (a keep-warm ping's schedule) is picked",
    ),
    PriceQuery(
        "sagemaker_hosting",
        "AmazonSageMaker",
        (("component", "Hosting"),),
        per_instance_type="instanceName",
        required=False,
    ),
    PriceQuery(
        "sagemaker_serverless",
        "AmazonSageMaker",
        (("component", "Serverless Inference"),),
        required=False,
        note="attribute value not verified against a live response; an empty answer leaves serverless out",
    ),
    # the platform that runs the pipeline (Amazon MWAA, or self-hosted Airflow's database, broker and mail):
    # optional, so a region or a tree without them leaves those designs out instead of failing the refresh
    PriceQuery(
        "mwaa",
        "AmazonMWAA",
        required=False,
        note="whole service in the region (its productFamily is empty); the per-class Airflow-<Size>Environment, "
        "-Worker and -Scheduler rows and Airflow-StandardDatabaseStorage are picked, web servers are not",
    ),
    PriceQuery(
        "rds_postgres",
        "AmazonRDS",
        (
            ("productFamily", "Database Instance"),
            ("databaseEngine", "PostgreSQL"),
            ("deploymentOption", "Single-AZ"),
        ),
        required=False,
        note="every db.* class; InstanceUsage:db.* is picked (Extended Support and Multi-AZ rows are not)",
    ),
    PriceQuery(
        "rds_storage",
        "AmazonRDS",
        (("productFamily", "Database Storage"),),
        required=False,
        note="every storage type and deployment; RDS:GP3-Storage (Single-AZ) is picked",
    ),
    PriceQuery(
        "rds_backup",
        "AmazonRDS",
        (("productFamily", "Storage Snapshot"),),
        required=False,
        note="RDS:ChargedBackupUsage (backup beyond the free allowance) is picked",
    ),
    PriceQuery(
        "elasticache_redis",
        "AmazonElastiCache",
        (("productFamily", "Cache Instance"), ("cacheEngine", "Redis")),
        required=False,
        note="node-based, every cache.* type; NodeUsage:cache.* is picked (Extended Support rows are not)",
    ),
    PriceQuery(
        "ses",
        "AmazonSES",
        required=False,
        note="whole service in the region; outbound email (usage type Recipients) is picked",
    ),
)


class FetchError(RuntimeError):
    """A call to AWS failed; says what was being fetched, where, and the underlying error."""

    def __init__(self, what: str, region: str, error: BaseException) -> None:
        self.what, self.region, self.error = what, region, error
        super().__init__(f"{what} in {region}: {type(error).__name__}: {error}")


@dataclass(frozen=True)
class FetchNote:
    """A request that succeeded but returned nothing (worth a warning, or a failure if required)."""

    query: str
    region: str
    instance_type: str = ""
    required: bool = True

    def __str__(self) -> str:
        what = f"{self.query} {self.instance_type}".strip()
        return f"get_products returned no product for {what} in {self.region}" + (
            "" if self.required else " (optional)"
        )


# -- fetching ------------------------------------------------------------------------------------------


def fetch_products(
    pricing_client: Any,
    *,
    service_code: str,
    filters: Sequence[Mapping[str, str]],
    page_size: int = GET_PRODUCTS_PAGE_SIZE,
) -> list[str]:
    """All ``PriceList`` items (JSON strings) of one ``get_products`` query, every page."""
    paginator = pricing_client.get_paginator("get_products")
    items: list[str] = []
    for page in paginator.paginate(
        ServiceCode=service_code,
        Filters=list(filters),
        FormatVersion=PRICE_LIST_FORMAT_VERSION,
        PaginationConfig={"PageSize": page_size},
    ):
        items.extend(page.get("PriceList", []))
    return items


def fetch_price_lists(
    pricing_client: Any,
    *,
    regions: Iterable[str],
    instance_types: Iterable[str],
    sagemaker_instance_types: Iterable[str] = DEFAULT_SAGEMAKER_INSTANCE_TYPES,
    services: Iterable[str] | None = None,
    queries: Sequence[PriceQuery] = PRICE_QUERIES,
    page_size: int = GET_PRODUCTS_PAGE_SIZE,
    notes: list[FetchNote] | None = None,
) -> dict[str, dict[str, list[str]]]:
    """``service code -> region -> PriceList items`` for every query in ``queries`` and every region.

    ``services`` restricts to some service codes (default: all). Identical items are de-duplicated within
    a service and region (queries may overlap); two different documents for one SKU are both kept, so
    validation names the disagreement instead of the first one winning. Requests that return nothing are appended to ``notes``.
    AWS errors propagate as :class:`FetchError` naming the query and region.
    """
    _check_pricing_client(pricing_client)
    regions = list(dict.fromkeys(regions))
    ec2_types = list(dict.fromkeys(instance_types))
    sagemaker_types = list(dict.fromkeys(sagemaker_instance_types))
    wanted_services = set(services) if services is not None else None
    result: dict[str, dict[str, list[str]]] = {}
    seen: dict[tuple[str, str], dict[str, set[str]]] = {}
    for query in queries:
        if wanted_services is not None and query.service_code not in wanted_services:
            continue
        per_type: list[str | None] = [None]
        if query.per_instance_type == "instanceType":
            per_type = list(ec2_types)
        elif query.per_instance_type == "instanceName":
            per_type = list(sagemaker_types)
        for region in regions:
            for instance_type in per_type:
                filters = query.filters_for(region=region, instance_type=instance_type)
                try:
                    items = fetch_products(
                        pricing_client, service_code=query.service_code, filters=filters, page_size=page_size
                    )
                except Exception as error:
                    if _is_aws_error(error):
                        raise FetchError(
                            f"get_products {query.name} {instance_type or ''}".strip(), region, error
                        ) from error
                    raise
                if not items and notes is not None:
                    # a requested type may not be offered in a region: only the training default must be
                    required = query.required and (
                        query.per_instance_type != "instanceType" or instance_type == DEFAULT_INSTANCE_TYPE
                    )
                    notes.append(FetchNote(query.name, region, instance_type or "", required))
                bucket = result.setdefault(query.service_code, {}).setdefault(region, [])
                known = seen.setdefault((query.service_code, region), {})
                for item in items:
                    sku, canonical = _sku_of(item), _canonical(item)
                    if sku and canonical in known.get(sku, ()):
                        continue  # overlapping queries return the same document: keep one
                    # the same SKU with other content is kept too: validation refuses the disagreement
                    known.setdefault(sku, set()).add(canonical)
                    bucket.append(item)
    return result


def fetch_spot_price_history(
    ec2_client: Any,
    *,
    region: str,
    instance_types: Iterable[str],
    start: datetime,
    end: datetime,
    product_description: str = SPOT_PRODUCT_DESCRIPTION,
    page_size: int = SPOT_HISTORY_PAGE_SIZE,
) -> list[dict[str, Any]]:
    """Every spot price change of ``instance_types`` in every AZ of ``region`` between ``start`` and ``end``
    (``describe_spot_price_history``, all pages), as the API returns the items."""
    client_region = getattr(getattr(ec2_client, "meta", None), "region_name", None)
    if client_region != region:
        raise ValueError(
            f"EC2 client is for region {client_region!r}, but spot history for {region!r} was asked for; "
            "spot prices are regional: create one EC2 client per region"
        )
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware datetimes (UTC), e.g. datetime.now(UTC)")
    if end <= start:
        raise ValueError(f"spot window end {end.isoformat()} is not after start {start.isoformat()}")
    paginator = ec2_client.get_paginator("describe_spot_price_history")
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(
        InstanceTypes=list(dict.fromkeys(instance_types)),
        ProductDescriptions=[product_description],
        StartTime=start,
        EndTime=end,
        PaginationConfig={"PageSize": page_size},
    ):
        items.extend(page.get("SpotPriceHistory", []))
    return items


# -- refreshing a snapshot --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did. ``status`` "fresh": a new snapshot was written; "stale": nothing was written and
    the last good snapshot stays in use; "failed": nothing was written and there is nothing to fall back to."""

    status: str
    snapshot_id: str  # the snapshot to use now (new, or kept); "" when failed
    snapshot_uri: str  # its folder or URL
    message: str  # one line for logs and the Airflow UI
    checked_at: str  # when the refresh ran (ISO, UTC)
    age_days: float | None = None  # age of snapshot_id at checked_at
    reason: str = ""  # why it is stale / failed
    failures: tuple[Mapping[str, str], ...] = ()  # {"what", "region", "error"}
    warnings: tuple[str, ...] = ()
    provenance: Provenance | None = (
        None  # new snapshot's; for a stale one, the kept one's marked source "snapshot"
    )
    validation: Any = None  # costing.pricing.price_validation.PriceValidation, when validation ran
    diff: Any = None  # costing.pricing.diff.SnapshotDiff, when a new snapshot was written
    previous_snapshot_id: str | None = None

    @property
    def is_fresh(self) -> bool:
        return self.status == STATUS_FRESH

    @property
    def is_stale(self) -> bool:
        return self.status != STATUS_FRESH

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "snapshot_id": self.snapshot_id,
            "snapshot_uri": self.snapshot_uri,
            "message": self.message,
            "checked_at": self.checked_at,
            "age_days": self.age_days,
            "reason": self.reason,
            "failures": [dict(f) for f in self.failures],
            "warnings": list(self.warnings),
            "previous_snapshot_id": self.previous_snapshot_id,
            "provenance": self.provenance.to_dict() if self.provenance else None,
            "validation": self.validation.to_dict() if self.validation is not None else None,
            "diff": self.diff.to_dict() if self.diff is not None else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


@dataclass
class _Fetched:
    price_lists: dict[str, dict[str, list[str]]]
    spot: dict[str, list[dict[str, Any]]]
    notes: list[FetchNote] = field(default_factory=list)
    savings_plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # region -> offer document
    spot_advisor: dict[str, Any] | None = None
    offers: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # bulk files read


def fetch_bulk_price_lists(
    bulk: BulkOffers,
    *,
    regions: Sequence[str],
    instance_types: Sequence[str],
    sagemaker_instance_types: Sequence[str] = DEFAULT_SAGEMAKER_INSTANCE_TYPES,
    queries: Sequence[PriceQuery] = PRICE_QUERIES,
) -> _Fetched:
    """Every query's products from the public bulk offer files, one streamed file per service and region,
    kept by the same TERM_MATCH filters the Price List API is sent. :class:`BulkOfferError` on failure."""
    types = {
        "instanceType": list(dict.fromkeys(instance_types)),
        "instanceName": list(sagemaker_instance_types),
    }
    fetched = _Fetched(price_lists={}, spot={})
    services = list(dict.fromkeys(q.service_code for q in queries))
    for service in services:
        service_queries = [q for q in queries if q.service_code == service]
        for region in regions:
            keep = any_of(
                _bulk_filter(q, region, types.get(q.per_instance_type, [])) for q in service_queries
            )
            try:
                offer = bulk.offer_file(service, region)
            except BulkOfferError:
                if any(q.required for q in service_queries):
                    raise
                # only optional prices come from this service: a tree that does not publish it leaves them out
                fetched.notes.extend(FetchNote(q.name, region, "", required=False) for q in service_queries)
                continue
            with bulk.open(offer.url) as response:
                streamed = stream_offer(response, keep, url=offer.url, service_code=service)
            items = [json.dumps(item) for item in streamed.items]
            fetched.price_lists.setdefault(service, {})[region] = items
            fetched.offers.setdefault(service, {})[region] = {
                "url": offer.url,
                "version": streamed.version,
                "publication_date": streamed.publication_date,
                "products_read": str(streamed.products_seen),
                "products_kept": str(len(items)),
            }
            for query in service_queries:
                for instance_type in (
                    types.get(query.per_instance_type, [None]) if query.per_instance_type else [None]
                ):
                    if not any(
                        _bulk_filter(query, region, [instance_type] if instance_type else [])(i["product"])
                        for i in streamed.items
                    ):
                        required = query.required and (
                            query.per_instance_type != "instanceType"
                            or instance_type == DEFAULT_INSTANCE_TYPE
                        )
                        fetched.notes.append(FetchNote(query.name, region, instance_type or "", required))
    return fetched


def _bulk_filter(query: PriceQuery, region: str, instance_types: Sequence[str]):
    """A bulk product filter equal to ``query``'s get_products filters (any of ``instance_types``)."""
    keep = attribute_filter(query.filters_for(region=region))
    if not query.per_instance_type:
        return keep
    wanted, field_name = set(instance_types), query.per_instance_type
    return lambda product: keep(product) and (product.get("attributes") or {}).get(field_name) in wanted


def _add_savings_plans_and_advisor(
    fetched: _Fetched,
    bulk: BulkOffers | None,
    spot_advisor_url: str | None,
    *,
    regions: Sequence[str],
    instance_types: Sequence[str],
    now: datetime,
) -> list[str]:
    """Savings Plans rates (bulk files) and the Spot Instance Advisor document: optional, warnings if not."""
    warnings = []
    if bulk is not None:
        for region in regions:
            try:
                offer = bulk.offer_file(SAVINGS_PLANS_OFFER, region)
                with bulk.open(offer.url) as response:
                    document = stream_savings_plans(
                        response, region=region, instance_types=instance_types, url=offer.url
                    )
            except BulkOfferError as error:
                warnings.append(f"{region}: no Savings Plans rates ({error}); those options are infeasible")
                continue
            fetched.savings_plans[region] = document
            fetched.offers.setdefault(SAVINGS_PLANS_OFFER, {})[region] = {
                "url": offer.url,
                "version": str(document.get("version", "")),
                "publication_date": str(document.get("publicationDate", "")),
            }
    if spot_advisor_url:
        reader = bulk or BulkOffers()
        try:
            fetched.spot_advisor = spot_advisor_document(
                reader,
                spot_advisor_url,
                regions=regions,
                instance_types=instance_types,
                fetched_at=format_timestamp(now),
            )
        except BulkOfferError as error:
            warnings.append(
                f"no Spot Instance Advisor document ({error}); interruption buckets from the shipped table"
            )
    return warnings


def refresh_snapshot(
    *,
    pricing_client: Any = None,
    ec2_clients: Mapping[str, Any] | Callable[[str], Any] | None = None,
    bulk: BulkOffers | None = None,
    spot_advisor_url: str | None = None,
    root: Path | str = DEFAULT_SNAPSHOT_ROOT,
    regions: Sequence[str] = DEFAULT_REFRESH_REGIONS,
    instance_types: Sequence[str] = DEFAULT_REFRESH_INSTANCE_TYPES,
    sagemaker_instance_types: Sequence[str] = DEFAULT_SAGEMAKER_INSTANCE_TYPES,
    now: datetime | None = None,
    spot_window_days: int = DEFAULT_SPOT_WINDOW_DAYS,
    snapshot_id: str | None = None,
    max_change: float | None = None,
    storage_options: Mapping[str, Any] | None = None,
    cache_dir: Path | str | None = None,
    queries: Sequence[PriceQuery] = PRICE_QUERIES,
) -> RefreshResult:
    """Fetch, validate and write a new snapshot under ``root`` (a folder, or ``s3://bucket/prefix``).

    Two sources: with ``pricing_client`` (and ``ec2_clients``), the Price List Query API and spot price
    history (an AWS account); without, the public bulk offer files read through ``bulk`` (no account; no
    spot history). ``bulk`` also supplies the Savings Plans rates in both cases, and
    ``spot_advisor_url`` the Spot Instance Advisor document (interruption buckets; the spot estimate
    when there is no history); either failing is a warning, not a stale refresh.

    Never writes zeros and never writes a partial snapshot: missing credentials, any AWS error, a
    document for the wrong region, or prices that fail validation (null, zero or negative where a price
    is expected, wrong units, a required price missing, a move beyond ±``max_change`` against the
    previous snapshot) leave ``root`` untouched and return a "stale" result naming the snapshot kept,
    its age and the reason. ``snapshot_id`` defaults to the refresh time (``2026-11-27T0600Z``); a
    snapshot that already exists under that id (a retried task) is returned as is.
    """

    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now={now!r} has no timezone; pass an aware datetime, e.g. datetime.now(UTC)")
    if pricing_client is None and bulk is None:
        raise ValueError("give a pricing_client (Price List API) or bulk (the public bulk offer files)")
    if spot_window_days <= 0:
        raise ValueError(
            f"spot_window_days={spot_window_days!r}: the spot history window must be at least one day"
        )
    max_change = DEFAULT_MAX_CHANGE if max_change is None else max_change
    regions = list(dict.fromkeys(regions))
    checked_at = format_timestamp(now)
    snapshot_id = snapshot_id or now.astimezone(UTC).strftime("%Y-%m-%dT%H%MZ")
    cache = Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="pricing-snapshots-"))

    existing = _existing(root, snapshot_id, storage_options, cache)
    if existing is not None:
        return _fresh_result(
            existing,
            _uri(root, snapshot_id),
            checked_at,
            now,
            None,
            None,
            None,
            note="already written by an earlier attempt with the same snapshot id",
        )

    previous = _previous(root, storage_options, cache)

    def stale(
        reason: str,
        failures: Sequence[Mapping[str, str]],
        validation: Any = None,
        warnings: Sequence[str] = (),
    ) -> RefreshResult:
        return _stale_result(previous, root, checked_at, now, reason, failures, validation, warnings)

    window_start, window_end = now - timedelta(days=spot_window_days), now
    try:
        if pricing_client is not None:
            fetched = _fetch_all(
                pricing_client,
                ec2_clients or {},
                regions,
                instance_types,
                sagemaker_instance_types,
                window_start,
                window_end,
                queries,
            )
        else:
            assert bulk is not None
            fetched = fetch_bulk_price_lists(
                bulk,
                regions=regions,
                instance_types=instance_types,
                sagemaker_instance_types=sagemaker_instance_types,
                queries=queries,
            )
    except BulkOfferError as error:
        logger.warning("pricing refresh: %s", error)
        return stale(str(error), [{"what": "bulk", "region": "", "error": str(error)}])
    except FetchError as error:
        logger.warning("pricing refresh: %s", error)
        return stale(
            f"{type(error.error).__name__}: {error.error}",
            [
                {
                    "what": error.what,
                    "region": error.region,
                    "error": f"{type(error.error).__name__}: {error.error}",
                }
            ],
        )
    except Exception as error:
        if not _is_aws_error(error):
            raise
        return stale(f"{type(error).__name__}: {error}", [{"what": "AWS", "region": "", "error": str(error)}])

    extra_warnings = _add_savings_plans_and_advisor(
        fetched, bulk, spot_advisor_url, regions=regions, instance_types=instance_types, now=now
    )

    issues: list[ParseIssue] = []
    try:
        records, points = _parse(fetched, issues)
    except ValueError as error:  # e.g. a document for another region: the request or the API is wrong
        return stale(f"unusable documents: {error}", [{"what": "parse", "region": "", "error": str(error)}])

    required_missing = [note for note in fetched.notes if note.required]
    warnings = [str(note) for note in fetched.notes if not note.required] + extra_warnings
    warnings += [str(issue) for issue in issues if not issue.blocking]
    # Only the training default must be priced in every region; another requested type may not be offered
    # in one (the gate below refuses a type that *was* priced and no longer is).
    validation = validate_prices(
        records,
        spot_points=points,
        required=required_prices(
            regions, instance_types=[t for t in instance_types if t == DEFAULT_INSTANCE_TYPE]
        ),
        previous=previous,
        max_change=max_change,
        snapshot_id=snapshot_id,
    )
    warnings += list(validation.warnings)
    failures = [
        {"what": f"validation:{f.check}", "region": f.region, "error": f.message} for f in validation.failures
    ]
    failures += [
        {"what": "parse", "region": issue.region, "error": f"sku {issue.sku or '?'}: {issue.message}"}
        for issue in issues
        if issue.blocking
    ]
    failures += [
        {"what": "fetch:empty", "region": note.region, "error": str(note)} for note in required_missing
    ]
    if failures:
        first = failures[0]["error"]
        return stale(
            f"validation failed ({len(failures)} problem(s)); first: {first}", failures, validation, warnings
        )

    if pricing_client is not None:
        how = (
            "Fetched with the AWS Price List Query API (pricing.get_products, "
            f"endpoint {getattr(pricing_client.meta, 'region_name', '?')}) and ec2.describe_spot_price_history "
            f"({SPOT_PRODUCT_DESCRIPTION}, every AZ, {spot_window_days} days); request filters: "
            "costing.pricing.fetch.PRICE_QUERIES."
        )
    else:
        how = (
            f"Read from the public Price List bulk offer files under {bulk.base_url if bulk else '?'} (no AWS "
            "account): offer index -> region index -> offer file, streamed, products kept by the filters of "
            "costing.pricing.fetch.PRICE_QUERIES. No spot price history without an account: spot prices are "
            "the Spot Instance Advisor's savings over on-demand (raw/spot_advisor.json)."
        )
    provenance = Provenance(
        snapshot_id=snapshot_id,
        source="api" if pricing_client is not None else "bulk",
        fetched_at=checked_at,
        prices_as_of=now.astimezone(UTC).date().isoformat(),
        regions=tuple(sorted(regions)),
        publication_dates=_publication_dates(fetched.price_lists),
        spot_window_start=format_timestamp(window_start) if fetched.spot else None,
        spot_window_end=format_timestamp(window_end) if fetched.spot else None,
        failures=(),
        notes=(
            how,
            f"Validated with Great Expectations against {validation.previous_snapshot_id or 'no previous snapshot'} "
            f"(max change ±{max_change:.0%}).",
            *warnings,
        ),
        offers=fetched.offers,
    )
    candidate = load_snapshot(_stage(provenance, fetched, cache))
    rejections, gate_warnings = check_candidate(
        candidate, previous=previous, regions=regions, instance_types=instance_types, now=now
    )
    warnings += gate_warnings
    if rejections:
        shutil.rmtree(candidate.path, ignore_errors=True)
        failures = [rejection.to_failure() for rejection in rejections]
        return stale(
            f"the cost model cannot use the candidate ({len(failures)} problem(s)); first: {rejections[0]}",
            failures,
            validation,
            warnings,
        )
    written = _publish(root, candidate.path, storage_options)
    current = load_snapshot(written)

    diff = diff_snapshots(previous, current)
    return _fresh_result(
        current, _uri(root, snapshot_id), checked_at, now, validation, diff, previous, warnings=warnings
    )


# -- helpers --------------------------------------------------------------------------------------------


def _fetch_all(
    pricing_client: Any,
    ec2_clients: Mapping[str, Any] | Callable[[str], Any],
    regions: Sequence[str],
    instance_types: Sequence[str],
    sagemaker_instance_types: Sequence[str],
    start: datetime,
    end: datetime,
    queries: Sequence[PriceQuery],
) -> _Fetched:
    notes: list[FetchNote] = []
    price_lists = fetch_price_lists(
        pricing_client,
        regions=regions,
        instance_types=instance_types,
        sagemaker_instance_types=sagemaker_instance_types,
        queries=queries,
        notes=notes,
    )
    spot: dict[str, list[dict[str, Any]]] = {}
    for region in regions:
        client = ec2_clients(region) if callable(ec2_clients) else ec2_clients.get(region)
        if client is None:
            raise ValueError(f"no EC2 client for region {region!r}; pass one per region in ec2_clients")
        try:
            spot[region] = fetch_spot_price_history(
                client, region=region, instance_types=instance_types, start=start, end=end
            )
        except Exception as error:
            if _is_aws_error(error):
                raise FetchError("describe_spot_price_history", region, error) from error
            raise
    return _Fetched(price_lists=price_lists, spot=spot, notes=notes)


def _parse(fetched: _Fetched, issues: list[ParseIssue]) -> tuple[list[PriceRecord], list[SpotPricePoint]]:
    records: list[PriceRecord] = []
    for by_region in fetched.price_lists.values():
        for region, items in by_region.items():
            records += parse_price_list(items, region=region, issues=issues)
    points: list[SpotPricePoint] = []
    for region, items in fetched.spot.items():
        points += parse_spot_price_history(items, region=region, issues=issues)
    return records, points


def _publication_dates(price_lists: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, dict[str, str]]:
    dates: dict[str, dict[str, str]] = {}
    for service, by_region in sorted(price_lists.items()):
        for region, items in sorted(by_region.items()):
            published = [
                str(doc.get("publicationDate"))
                for doc in map(_doc_of, items)
                if doc and doc.get("publicationDate")
            ]
            if published:
                dates.setdefault(service, {})[region] = max(published)
    return dates


def _stage(provenance: Provenance, fetched: _Fetched, cache: Path) -> Path:
    """Write the candidate snapshot into a private staging folder (published only after the gate)."""
    price_lists = {
        s: {r: items for r, items in by_region.items() if items}
        for s, by_region in fetched.price_lists.items()
        if any(by_region.values())
    }
    staging_root = Path(tempfile.mkdtemp(prefix="candidates-", dir=_mkdir(cache)))
    return write_snapshot(
        staging_root,
        provenance=provenance,
        price_lists=price_lists,
        spot_price_histories=fetched.spot,
        savings_plans=fetched.savings_plans or None,
        spot_advisor=fetched.spot_advisor,
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _publish(root: Path | str, staged: Path, storage_options: Mapping[str, Any] | None) -> Path:
    """Move a checked candidate under ``root`` atomically (a local folder), or upload it (``s3://``)."""
    if is_remote(root):
        publish_snapshot(staged, str(root), storage_options=storage_options)
        return staged
    target = Path(root) / staged.name
    if target.exists():
        raise FileExistsError(f"snapshot {target} already exists; snapshots are immutable")
    landing = Path(tempfile.mkdtemp(prefix=f".{staged.name}.", dir=_mkdir(Path(root))))
    shutil.copytree(staged, landing, dirs_exist_ok=True)
    os.rename(landing, target)
    shutil.rmtree(staged.parent, ignore_errors=True)
    return target


def _previous(
    root: Path | str, storage_options: Mapping[str, Any] | None, cache: Path
) -> PricingSnapshot | None:
    ids = list_snapshot_ids(root, storage_options=storage_options)
    if not ids:
        return None
    if is_remote(root):
        return load_snapshot(download_snapshot(str(root), ids[-1], cache, storage_options=storage_options))
    return load_snapshot(Path(root) / ids[-1])


def _existing(
    root: Path | str, snapshot_id: str, storage_options: Mapping[str, Any] | None, cache: Path
) -> PricingSnapshot | None:
    if snapshot_id not in list_snapshot_ids(root, storage_options=storage_options):
        return None
    if is_remote(root):
        return load_snapshot(
            download_snapshot(str(root), snapshot_id, cache, storage_options=storage_options)
        )
    return load_snapshot(Path(root) / snapshot_id)


def _uri(root: Path | str, snapshot_id: str) -> str:
    return f"{str(root).rstrip('/')}/{snapshot_id}" if is_remote(root) else str(Path(root) / snapshot_id)


def _fresh_result(
    snapshot: PricingSnapshot,
    uri: str,
    checked_at: str,
    now: datetime,
    validation: Any,
    diff: Any,
    previous: PricingSnapshot | None,
    *,
    note: str = "",
    warnings: Sequence[str] = (),
) -> RefreshResult:
    counts = diff.counts() if diff is not None else None
    message = f"fresh: wrote {snapshot.snapshot_id}"
    if counts is not None:
        message += (
            f" ({counts['changed']} changed, {counts['added']} added, {counts['removed']} removed vs "
            f"{diff.previous_snapshot_id or 'nothing'})"
        )
    if note:
        message = f"fresh: {snapshot.snapshot_id} {note}"
    return RefreshResult(
        status=STATUS_FRESH,
        snapshot_id=snapshot.snapshot_id,
        snapshot_uri=uri,
        message=message,
        checked_at=checked_at,
        age_days=round(snapshot_age_days(snapshot, now), 3),
        warnings=tuple(warnings),
        provenance=snapshot.provenance,
        validation=validation,
        diff=diff,
        previous_snapshot_id=previous.snapshot_id if previous is not None else None,
    )


def _stale_result(
    previous: PricingSnapshot | None,
    root: Path | str,
    checked_at: str,
    now: datetime,
    reason: str,
    failures: Sequence[Mapping[str, str]],
    validation: Any,
    warnings: Sequence[str],
) -> RefreshResult:
    failures = tuple(
        {"what": str(f.get("what", "")), "region": str(f.get("region", "")), "error": str(f.get("error", ""))}
        for f in failures
    )
    if previous is None:
        return RefreshResult(
            status=STATUS_FAILED,
            snapshot_id="",
            snapshot_uri="",
            message=f"failed: no snapshot written and none to fall back to under {root}, because {reason}",
            checked_at=checked_at,
            reason=reason,
            failures=failures,
            warnings=tuple(warnings),
            validation=validation,
        )
    age = snapshot_age_days(previous, now)
    message = f"stale: kept {previous.snapshot_id}, age {age:.1f} days, because {reason}"
    # The kept snapshot is not touched on disk (snapshots are immutable); its provenance is reported as a
    # fallback copy (source "snapshot") that carries this refresh's failures.
    provenance = replace(
        previous.provenance,
        source="snapshot",
        failures=failures,
        notes=(*previous.provenance.notes, f"{checked_at}: {message}"),
    )
    return RefreshResult(
        status=STATUS_STALE,
        snapshot_id=previous.snapshot_id,
        snapshot_uri=_uri(root, previous.snapshot_id),
        message=message,
        checked_at=checked_at,
        age_days=round(age, 3),
        reason=reason,
        failures=failures,
        warnings=tuple(warnings),
        provenance=provenance,
        validation=validation,
        previous_snapshot_id=previous.snapshot_id,
    )


def _check_pricing_client(client: Any) -> None:
    region = getattr(getattr(client, "meta", None), "region_name", None)
    if region not in PRICING_API_REGIONS:
        raise ValueError(
            f"pricing client is for region {region!r}; the Price List Query API is only served from "
            f"{', '.join(PRICING_API_REGIONS)} (prices for every region come from there): "
            "create it with region_name='us-east-1'"
        )


def _is_aws_error(error: BaseException) -> bool:
    """botocore's errors (no credentials, endpoint unreachable, throttled, denied, ...), without importing boto3."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - botocore is a dependency of the amazon provider
        return False
    return isinstance(error, BotoCoreError | ClientError)


def _doc_of(item: str | Mapping[str, Any]) -> Mapping[str, Any] | None:
    if isinstance(item, Mapping):
        return item
    try:
        doc = json.loads(item)
    except (TypeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, Mapping) else None


def _canonical(item: str | Mapping[str, Any]) -> str:
    doc = _doc_of(item)
    return json.dumps(doc, sort_keys=True) if doc is not None else str(item)


def _sku_of(item: str | Mapping[str, Any]) -> str:
    doc = _doc_of(item)
    product = doc.get("product") if doc else None
    return str(product.get("sku", "")) if isinstance(product, Mapping) else ""
