"""Every cost the project computes as FOCUS 1.2 rows: training attempts, storage, serving scenarios.

FOCUS (the FinOps Foundation's cost and usage specification) is what AWS Data Exports write, so a
FinOps reader can load these rows next to the bill. One row per charge:

* a **training run** (``cost.json`` of an ``rnn-textgen`` run): one row per instance attempt
  (``PricingCategory`` ``Dynamic`` for spot, ``Standard`` for on-demand; the attempt's training,
  wasted and overhead cost in ``x_`` columns), one for the EBS root volumes, one each for S3
  storage and requests; a local run is one estimated instance row;
* a **cost analysis** (``analysis.json`` of a ``rnn-cost-analysis`` run): for every request volume
  and every alternative (its best variant), one row per priced component of a month of serving; and,
  when the analysis priced the platform that runs the pipeline, one row per platform component (once:
  it does not depend on the volume), ``x_Component`` ``platform``, with the attribution share applied
  (the quantity and every cost are the full line x the share, stated in ``x_AttributionShare``).

Mandatory FOCUS columns are all present; ``x_``-prefixed columns say which MLflow run and experiment
a row comes from, what it is, and whether it is an ``estimate`` (priced as if), a
``billed-estimate`` (a real cloud run at AWS's prices) or ``invoice`` (reconciled). Prices are list
prices (no negotiated discounts), so ListCost is the on-demand price of the same usage and
ContractedCost = EffectiveCost = BilledCost. Pure functions; :func:`write_focus` writes CSV or
Parquet (pyarrow).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from costing.choices import COMMITTED_EC2_OPTIONS, EC2_SPOT
from costing.units import BYTES_PER_GB, SECONDS_PER_HOUR, SECONDS_PER_MONTH

FOCUS_VERSION = "1.2"
CURRENCY = "USD"
BASIS_ESTIMATE = "estimate"
BASIS_BILLED_ESTIMATE = "billed-estimate"
BASIS_INVOICE = "invoice"

AWS = "AWS"  # ProviderName, PublisherName and InvoiceIssuerName of AWS's own charges

# FOCUS 1.2 columns this export writes, in order (mandatory + the conditional ones AWS supports)
FOCUS_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "AvailabilityZone",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
)
EXTENSION_COLUMNS = (
    "x_CostBasis",  # estimate | billed-estimate | invoice
    "x_MlflowRunId",
    "x_MlflowExperiment",
    "x_DagRunId",  # "<dag_id>/<run_id>"
    "x_Component",  # training-attempt | ebs | s3-storage | s3-requests | serving | platform
    "x_Attempt",  # "<task try>.<attempt>" of a spot run
    "x_TrainingCost",  # the part of BilledCost whose work survived
    "x_WastedCost",  # work after the last checkpoint, thrown away by an interruption
    "x_OverheadCost",  # boot, install, data download, restore, checkpoint writes, shutdown
    "x_RequestsPerDay",  # the serving scenario
    "x_Option",  # the serving alternative, e.g. ec2-spot:c7g.large
    "x_SnapshotId",  # the pricing snapshot the prices came from
    "x_AttributionShare",  # platform rows: the share of a shared platform charged here (costs = full x share)
)
COLUMNS = FOCUS_COLUMNS + EXTENSION_COLUMNS
DECIMAL_COLUMNS = (
    "BilledCost",
    "CommitmentDiscountQuantity",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "x_TrainingCost",
    "x_WastedCost",
    "x_OverheadCost",
    "x_RequestsPerDay",
    "x_AttributionShare",
)
DATETIME_COLUMNS = ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart")
# the FOCUS applicability criteria that hold for AWS (the validator checks the rules they enable)
AWS_APPLICABILITY = (
    "ACCOUNT_NAMING_SUPPORTED",
    "AVAILABILITY_ZONE_SUPPORTED",
    "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",
    "CAPACITY_RESERVATION_SUPPORTED",
    "COMMITMENT_DISCOUNT_SUPPORTED",
    "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",
    "PUBLIC_PRICE_LIST_SUPPORTED",
    "REGION_SUPPORTED",
    "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",
    "SUB_ACCOUNT_SUPPORTED",
    "TAGGING_SUPPORTED",
    "UNIT_PRICING_SUPPORTED",
    "USAGE_MEASUREMENT_SUPPORTED",
)

# Price List service code -> (ServiceName, ServiceCategory, ServiceSubcategory, provider)
SERVICES: dict[str, tuple[str, str, str, str]] = {
    "AmazonEC2": ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", AWS),
    "AmazonEBS": ("Amazon Elastic Block Store", "Storage", "Block Storage", AWS),
    "AmazonS3": ("Amazon Simple Storage Service", "Storage", "Object Storage", AWS),
    "AWSLambda": ("AWS Lambda", "Compute", "Serverless Compute", AWS),
    "AmazonSageMaker": ("Amazon SageMaker", "AI and Machine Learning", "Machine Learning", AWS),
    "AmazonECS": ("Amazon Elastic Container Service", "Compute", "Containers", AWS),
    "AWSELB": ("Elastic Load Balancing", "Networking", "Application Networking", AWS),
    "AmazonVPC": ("Amazon Virtual Private Cloud", "Networking", "Network Connectivity", AWS),
    "AWSDataTransfer": ("AWS Data Transfer", "Networking", "Network Connectivity", AWS),
    "AmazonCloudWatch": ("Amazon CloudWatch", "Management and Governance", "Observability", AWS),
    "CloudflareWorkers": ("Workers", "Compute", "Serverless Compute", "Cloudflare"),
    # the platform that runs the pipeline (costing.model.pipeline_platform)
    "AmazonRDS": ("Amazon Relational Database Service", "Databases", "Relational Databases", AWS),
    "AmazonElastiCache": ("Amazon ElastiCache", "Databases", "Caching", AWS),
    "AmazonMWAA": (
        "Amazon Managed Workflows for Apache Airflow",
        "Integration",
        "Workflow Orchestration",
        AWS,
    ),
    "AmazonSES": (
        "Amazon Simple Email Service",
        "Business Applications",
        "Other (Business Applications)",
        AWS,
    ),
}
# serving alternative -> FOCUS PricingCategory
_OPTION_PRICING = {
    EC2_SPOT: "Dynamic",
    **dict.fromkeys(COMMITTED_EC2_OPTIONS, "Committed"),
}
# the cost model's units -> FOCUS UnitFormat ("Hours", "GB-Months", "1000000 Requests", ...)
_UNITS = {
    "hours": "Hours",
    "months": "Months",
    "GB": "GB",
    "GB-months": "GB-Months",
    "GB-seconds": "GB-Seconds",
    "LCU-hours": "LCU-Hours",
    "1M requests": "1000000 Requests",
    "1k requests": "1000 Requests",
    "1k emails": "1000 Emails",
    "1M CPU-ms": "1000000 CPU Milliseconds",
    "metrics": "Metrics",
    "requests": "Requests",
}


def focus_unit(unit: str) -> str:
    """The FOCUS UnitFormat spelling of one of the cost model's units."""
    if unit in _UNITS:
        return _UNITS[unit]
    words = unit.replace("-", " - ").split()
    return " ".join(word if word != word.lower() else word.capitalize() for word in words).replace(" - ", "-")


@dataclass(frozen=True)
class RunRef:
    """Which MLflow run a cost comes from (the ``x_`` columns and the tags)."""

    mlflow_run_id: str
    experiment: str
    dag_run_id: str = ""  # "<dag_id>/<run_id>"
    started_at: datetime | None = None  # when the run started (a local run's charge period)

    def __post_init__(self) -> None:
        if self.started_at is not None and self.started_at.tzinfo is None:
            raise ValueError(f"run {self.mlflow_run_id}: started_at={self.started_at!r} has no timezone")


@dataclass(frozen=True)
class Account:
    """The AWS account the rows belong to; unknown (``unassigned``) for estimates of runs that ran nowhere."""

    billing_account_id: str = "unassigned"
    billing_account_name: str = "unassigned"
    sub_account_id: str = "unassigned"
    sub_account_name: str = "unassigned"


UNASSIGNED = Account()


# -- building rows ---------------------------------------------------------------------------------------


def _iso(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone; FOCUS periods are UTC")
    return moment.astimezone(UTC)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def billing_period(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) containing ``moment``: [start, end)."""
    moment = _iso(moment)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + (moment.month == 12), moment.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _tags(run: RunRef, allocation: Mapping[str, str] | None = None) -> str:
    tags = {"rnn:mlflow_run_id": run.mlflow_run_id}
    if run.dag_run_id:
        tags["rnn:dag_run_id"] = run.dag_run_id
    tags.update(allocation or {})
    return json.dumps(tags, sort_keys=True)


def _row(
    *,
    run: RunRef,
    account: Account,
    basis: str,
    component: str,
    service_code: str,
    description: str,
    start: datetime,
    end: datetime,
    billed: float,
    list_cost: float,
    quantity: float,
    unit: str,
    unit_price: float | None,
    list_unit_price: float | None,
    pricing_category: str,
    region: str | None,
    snapshot_id: str,
    **extra: Any,
) -> dict[str, Any]:
    # a service this table does not know yet is still exported, under FOCUS's "Other"
    name, category, subcategory, provider = SERVICES.get(
        service_code, (service_code, "Other", "Other (Other)", AWS)
    )
    start, end = _iso(start), _iso(end)
    if end <= start:
        end = start + timedelta(seconds=1)
    period_start, period_end = billing_period(start)
    for label, value in (("billed", billed), ("list", list_cost), ("quantity", quantity)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{description}: {label} {value!r} is not a finite amount >= 0")
    row = dict.fromkeys(COLUMNS)
    row.update(
        {
            "BilledCost": billed,
            "BillingAccountId": account.billing_account_id,
            "BillingAccountName": account.billing_account_name,
            "BillingAccountType": "Billing Account",
            "BillingCurrency": CURRENCY,
            "BillingPeriodStart": period_start,
            "BillingPeriodEnd": period_end,
            "ChargeCategory": "Usage",
            "ChargeDescription": description,
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodStart": start,
            "ChargePeriodEnd": end,
            "ConsumedQuantity": quantity,
            "ConsumedUnit": unit,
            "ContractedCost": billed,
            "ContractedUnitPrice": unit_price,
            "EffectiveCost": billed,
            "InvoiceIssuerName": provider,
            "ListCost": list_cost,
            "ListUnitPrice": list_unit_price,
            "PricingCategory": pricing_category,
            "PricingCurrency": CURRENCY,
            "PricingCurrencyContractedUnitPrice": unit_price,
            "PricingCurrencyEffectiveCost": billed,
            "PricingCurrencyListUnitPrice": list_unit_price,
            "PricingQuantity": quantity,
            "PricingUnit": unit,
            "ProviderName": provider,
            "PublisherName": provider,
            "RegionId": region if provider == AWS else None,
            "RegionName": region if provider == AWS else None,
            "ServiceCategory": category,
            "ServiceName": name,
            "ServiceSubcategory": subcategory,
            "SubAccountId": account.sub_account_id,
            "SubAccountName": account.sub_account_name,
            "SubAccountType": "Account",
            "Tags": _tags(run),
            "x_CostBasis": basis,
            "x_MlflowRunId": run.mlflow_run_id,
            "x_MlflowExperiment": run.experiment,
            "x_DagRunId": run.dag_run_id or None,
            "x_Component": component,
            "x_SnapshotId": snapshot_id or None,
        }
    )
    unknown = set(extra) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown FOCUS columns {sorted(unknown)}")
    row.update(extra)
    if row["ResourceId"] is None:
        row["ResourceType"] = None  # FOCUS: no type without a resource
    return row


def training_rows(
    cost: Mapping[str, Any], run: RunRef, account: Account = UNASSIGNED
) -> list[dict[str, Any]]:
    """FOCUS rows of one training run from its ``cost.json`` (see the module docstring)."""
    # a billed run lists its attempts; an estimate (TrainingCost.to_dict()) only counts them
    attempts = cost.get("attempts") if isinstance(cost.get("attempts"), list) else []
    snapshot_id = str(cost.get("snapshot_id") or "")
    region = str(cost.get("region") or "") or None
    instance_type = cost.get("instance_type", "")
    if not attempts:  # a local run, priced as if it had run on the instance type
        if run.started_at is None:
            raise ValueError(f"run {run.mlflow_run_id}: a local run's rows need its started_at")
        seconds = float(cost["billed_seconds"])
        hours = seconds / SECONDS_PER_HOUR
        market = cost.get("market", "")
        return [
            _row(
                run=run,
                account=account,
                basis=BASIS_ESTIMATE if cost.get("is_estimate", True) else BASIS_BILLED_ESTIMATE,
                component="training-attempt",
                service_code="AmazonEC2",
                description=f"Training run as if on {instance_type} {market} ({hours:.4f} h): {cost.get('basis', '')}",
                start=run.started_at,
                end=run.started_at + timedelta(seconds=seconds),
                billed=float(cost["usd"]),
                list_cost=float(cost["on_demand_usd"]),
                quantity=hours,
                unit="Hours",
                unit_price=float(cost["usd_per_hour"]),
                list_unit_price=float(cost.get("on_demand_usd_per_hour") or 0.0) or None,
                pricing_category="Dynamic" if market == "spot" else "Standard",
                region=region,
                snapshot_id=snapshot_id,
                x_TrainingCost=float(cost["usd"]),
            )
        ]
    on_demand_rate = float((cost.get("instances") or {}).get("on_demand_usd_per_hour") or 0.0)
    rows = []
    for attempt in attempts:
        start = _parse(attempt["launched_at"])
        seconds = float(attempt["billed_seconds"])
        hours = seconds / SECONDS_PER_HOUR
        usd = float(attempt["usd"])
        spot = attempt["market"] == "spot"
        rows.append(
            _row(
                run=run,
                account=account,
                basis=BASIS_BILLED_ESTIMATE,
                component="training-attempt",
                service_code="AmazonEC2",
                description=(
                    f"{attempt['instance_type']} {attempt['market']} attempt {attempt['attempt']} "
                    f"({attempt.get('outcome') or 'ended'}), {hours:.4f} h"
                ),
                start=start,
                end=start + timedelta(seconds=seconds),
                billed=usd,
                list_cost=hours * on_demand_rate if on_demand_rate else usd,
                quantity=hours,
                unit="Hours",
                unit_price=usd / hours if hours else None,
                list_unit_price=on_demand_rate or None,
                pricing_category="Dynamic" if spot else "Standard",
                region=region,
                snapshot_id=snapshot_id,
                AvailabilityZone=attempt.get("availability_zone"),
                ResourceId=attempt.get("instance_id"),
                ResourceName=attempt.get("instance_id"),
                ResourceType="Instance",
                x_Attempt=attempt.get("attempt"),
                x_TrainingCost=attempt.get("training_usd"),
                x_WastedCost=attempt.get("wasted_usd"),
                x_OverheadCost=attempt.get("overhead_usd"),
            )
        )
    first = min(_parse(a["launched_at"]) for a in attempts)
    last = max(_parse(a["launched_at"]) + timedelta(seconds=float(a["billed_seconds"])) for a in attempts)
    storage = cost.get("storage") or {}
    rates = storage.get("rates") or {}
    usage = storage.get("usage") or {}
    common = {"run": run, "account": account, "basis": BASIS_BILLED_ESTIMATE, "start": first, "end": last}
    common |= {"pricing_category": "Standard", "region": region, "snapshot_id": snapshot_id}
    if storage:
        gb_months_ebs = float(storage.get("ebs_gb_seconds", 0.0)) / SECONDS_PER_MONTH
        rows.append(
            _row(
                **common,
                component="ebs",
                service_code="AmazonEBS",
                description=f"EBS gp3 root volumes while the instances ran ({gb_months_ebs:.6f} GB-months)",
                billed=float(storage["ebs_usd"]),
                list_cost=float(storage["ebs_usd"]),
                quantity=gb_months_ebs,
                unit="GB-Months",
                unit_price=rates.get("ebs_gp3_usd_per_gb_month"),
                list_unit_price=rates.get("ebs_gp3_usd_per_gb_month"),
                ResourceType="Volume",
            )
        )
        gb_months_s3 = (
            float(usage.get("stored_bytes", 0.0))
            / BYTES_PER_GB
            * float(usage.get("stored_seconds", 0.0))
            / SECONDS_PER_MONTH
        )
        rows.append(
            _row(
                **common,
                component="s3-storage",
                service_code="AmazonS3",
                description=f"S3 Standard storage of the run's prefix ({gb_months_s3:.8f} GB-months)",
                billed=float(storage["s3_storage_usd"]),
                list_cost=float(storage["s3_storage_usd"]),
                quantity=gb_months_s3,
                unit="GB-Months",
                unit_price=rates.get("s3_usd_per_gb_month"),
                list_unit_price=rates.get("s3_usd_per_gb_month"),
            )
        )
        requests = float(usage.get("put_requests", 0.0)) + float(usage.get("get_requests", 0.0))
        rows.append(
            _row(
                **common,
                component="s3-requests",
                service_code="AmazonS3",
                description=(
                    f"S3 requests of the run ({usage.get('put_requests', 0):.0f} PUT/LIST, "
                    f"{usage.get('get_requests', 0):.0f} GET/HEAD)"
                ),
                billed=float(storage["s3_requests_usd"]),
                list_cost=float(storage["s3_requests_usd"]),
                quantity=requests,
                unit="Requests",
                unit_price=float(storage["s3_requests_usd"]) / requests if requests else None,
                list_unit_price=None,
            )
        )
    return rows


def _best_per_option(options: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    best: dict[str, Mapping[str, Any]] = {}
    for option in options:
        if not option.get("feasible") or option.get("monthly_cost") is None:
            continue
        current = best.get(option["option"])
        if current is None or option["monthly_cost"] < current["monthly_cost"]:
            best[option["option"]] = option
    return [best[key] for key in sorted(best)]


def analysis_rows(
    document: Mapping[str, Any], run: RunRef, account: Account = UNASSIGNED, *, every_variant: bool = False
) -> list[dict[str, Any]]:
    """FOCUS rows of one cost analysis: a month of serving per request volume and alternative, and of the
    platform that runs the pipeline when it was priced.

    The month is the calendar month of the prices (``prices_as_of``); quantities and costs are the
    model's monthly ones. ``every_variant``: every instance type x market, not the best of each.
    """
    grid = document.get("grid") or document
    prices_as_of = str(grid.get("prices_as_of") or document.get("prices_as_of") or "")
    if not prices_as_of:
        raise ValueError(f"analysis of run {run.mlflow_run_id} has no prices_as_of")
    start, end = billing_period(
        datetime.combine(date.fromisoformat(prices_as_of[:10]), datetime.min.time(), UTC)
    )
    region = grid.get("region")
    snapshot_id = str(grid.get("snapshot_id") or "")
    rows = []
    for scenario in grid.get("scenarios") or []:
        options = scenario.get("options") or []
        chosen = [o for o in options if o.get("feasible")] if every_variant else _best_per_option(options)
        for option in chosen:
            for component in option.get("cost_components") or []:
                service = component.get("service", "")
                name = str(component.get("name", ""))
                if service == "AmazonEC2" and name.startswith("EBS"):
                    service = "AmazonEBS"
                usd = float(component.get("monthly_cost") or 0.0)
                quantity = float(component.get("monthly_quantity") or 0.0)
                price = component.get("price")
                rows.append(
                    _row(
                        run=run,
                        account=account,
                        basis=BASIS_ESTIMATE,
                        component="serving",
                        service_code=service,
                        description=f"{option.get('name')} at {scenario['requests_per_day']:,.0f} requests/day: {name}",
                        start=start,
                        end=end,
                        billed=usd,
                        list_cost=usd,
                        quantity=quantity,
                        unit=focus_unit(str(component.get("unit") or "Units")),
                        unit_price=price,
                        list_unit_price=price,
                        pricing_category=_OPTION_PRICING.get(str(option.get("option")), "Standard"),
                        region=region,
                        snapshot_id=snapshot_id,
                        x_RequestsPerDay=float(scenario["requests_per_day"]),
                        x_Option=option.get("key"),
                    )
                )
    platform = (document.get("tco") or {}).get("platform")
    if platform:
        rows += platform_rows(platform, run, account, start=start, end=end)
    return rows


def platform_rows(
    platform: Mapping[str, Any], run: RunRef, account: Account, *, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A month of the platform that runs the pipeline (``document["tco"]["platform"]``), one row per component,
    with the attribution share applied: quantity and costs are the full line x the share, unit prices unchanged."""
    share = float(platform.get("attribution_share", 1.0))
    design = str(platform.get("label") or platform.get("design") or "platform")
    rows = []
    for component in platform.get("components") or []:
        service = str(component.get("service", ""))
        name = str(component.get("name", ""))
        if service == "AmazonEC2" and "volume" in name.lower():
            service = "AmazonEBS"
        usd = float(component.get("monthly_cost") or 0.0) * share
        quantity = float(component.get("monthly_quantity") or 0.0) * share
        price = component.get("price")
        shared = "" if share == 1 else f" x {share:g} share"
        rows.append(
            _row(
                run=run,
                account=account,
                basis=BASIS_ESTIMATE,
                component="platform",
                service_code=service,
                description=f"Platform {design}: {name}{shared}",
                start=start,
                end=end,
                billed=usd,
                list_cost=usd,
                quantity=quantity,
                unit=focus_unit(str(component.get("unit") or "Units")),
                unit_price=price,
                list_unit_price=price,
                pricing_category="Standard",  # always-on instances are priced on demand
                region=platform.get("region"),
                snapshot_id=str(platform.get("snapshot_id") or ""),
                x_AttributionShare=share,
            )
        )
    return rows


# -- writing ---------------------------------------------------------------------------------------------


FORMATS = ("csv", "parquet")


def format_of(path: str | Path) -> str:
    """``csv`` or ``parquet`` from the file name; anything else is refused."""
    suffix = Path(str(path)).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(
            f"{str(path)!r}: the FOCUS export is written as .csv or .parquet, not {suffix or 'no suffix'!r}"
        )
    return suffix


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def focus_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_text(row.get(column)) for column in COLUMNS])
    return buffer.getvalue()


def focus_parquet(rows: Sequence[Mapping[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = []
    for column in COLUMNS:
        if column in DECIMAL_COLUMNS:
            kind = pa.float64()
        elif column in DATETIME_COLUMNS:
            kind = pa.timestamp("s", tz="UTC")
        else:
            kind = pa.string()
        fields.append(pa.field(column, kind))
    schema = pa.schema(fields)
    table = pa.table(
        {
            column: [
                (
                    row.get(column)
                    if column in DECIMAL_COLUMNS or column in DATETIME_COLUMNS
                    else (None if row.get(column) is None else str(row.get(column)))
                )
                for row in rows
            ]
            for column in COLUMNS
        },
        schema=schema,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def focus_bytes(rows: Sequence[Mapping[str, Any]], fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return focus_csv(rows).encode() if fmt == "csv" else focus_parquet(rows)


def write_focus(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` to ``path`` (.csv or .parquet), whole or not at all."""
    path = Path(path)
    data = focus_bytes(rows, format_of(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path
