"""Parse AWS pricing documents into flat, typed price records.

Two document kinds come in, both in AWS's own response shape:

* ``pricing.get_products`` -> ``PriceList``: a list of JSON *strings*, one product document each
  (``{"product": {...}, "serviceCode": ..., "terms": {"OnDemand": {...}, "Reserved": {...}}, ...}``).
  Pages of one paginated call are simply concatenated.
* ``ec2.describe_spot_price_history`` -> ``SpotPriceHistory``: a list of price changes per AZ.

The same parser reads live responses and the shipped snapshot, so a snapshot can always be checked
against the documents it was built from. Nothing here talks to AWS.

Bad input never crashes the parser and never turns into a made-up number: a product without
attributes, a term without price dimensions or a dimension without a USD price is skipped and
reported as a :class:`ParseIssue`. A real published price of zero is kept and flagged.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from costing.defaults import (
    EC2_CAPACITY_STATUS,
    EC2_LICENSE_MODEL,
    EC2_OPERATING_SYSTEM,
    EC2_PRE_INSTALLED_SW,
    EC2_PRODUCT_FAMILY,
    EC2_SERVICE_CODE,
    EC2_TENANCY,
    HOURS_PER_YEAR,
    SPOT_PRODUCT_DESCRIPTION,
)

logger = logging.getLogger(__name__)

TERM_ON_DEMAND = "OnDemand"
TERM_RESERVED = "Reserved"
TERM_SPOT = "Spot"

UNIT_HOURS = "Hrs"
UNIT_QUANTITY = "Quantity"  # a one-off fee, e.g. a reserved term's upfront payment

# Offer-term and rate codes are stable across the Price List: "<sku>.<offerTermCode>.<rateCode>".
ON_DEMAND_OFFER_TERM_CODE = "JRTCKXETXF"
HOURLY_RATE_CODE = "6YS6EN2CT7"
UPFRONT_FEE_RATE_CODE = "2TG2D8R56U"

PURCHASE_OPTIONS = ("No Upfront", "Partial Upfront", "All Upfront")
OFFERING_CLASSES = ("standard", "convertible")
LEASE_CONTRACT_LENGTHS = {"1yr": 1, "3yr": 3}

# (LeaseContractLength, OfferingClass, PurchaseOption) -> offerTermCode, as published for EC2.
RESERVED_OFFER_TERM_CODES: dict[tuple[str, str, str], str] = {
    ("1yr", "standard", "No Upfront"): "4NA7Y494T4",
    ("1yr", "standard", "Partial Upfront"): "HU7G6KETJZ",
    ("1yr", "standard", "All Upfront"): "6QCMYABX3D",
    ("3yr", "standard", "No Upfront"): "BPH4J8HBKS",
    ("3yr", "standard", "Partial Upfront"): "38NPMPTW36",
    ("3yr", "standard", "All Upfront"): "NQ3QZPMQV9",
    ("1yr", "convertible", "No Upfront"): "7NE97W5U4E",
    ("1yr", "convertible", "Partial Upfront"): "CUZHX8X6JH",
    ("1yr", "convertible", "All Upfront"): "VJWZNREJX2",
    ("3yr", "convertible", "No Upfront"): "Z2E3P23VKM",
    ("3yr", "convertible", "Partial Upfront"): "R5XV2EPZQZ",
    ("3yr", "convertible", "All Upfront"): "MZU6U2429S",
}

# Region code -> the Price List's "location" attribute (older documents carry no "regionCode").
REGION_LOCATIONS: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "sa-east-1": "South America (Sao Paulo)",
}

_AZ_PATTERN = re.compile(r"^(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d+)(?P<zone>[a-z]|-.+)$")


@dataclass(frozen=True)
class ParseIssue:
    """Something in a pricing document that was skipped or flagged, with where it was."""

    region: str
    sku: str
    message: str

    def __str__(self) -> str:
        return f"{self.region} sku={self.sku or '?'}: {self.message}"


@dataclass(frozen=True)
class PriceRecord:
    """One published price: one OnDemand price dimension, or one Reserved offer term.

    These fields are, in this order, the columns of a snapshot's ``prices.csv`` (spot rows use the
    same columns; see :data:`PRICE_TABLE_COLUMNS`).
    """

    service: str  # Price List service code, e.g. "AmazonEC2"
    sku: str  # product SKU; empty for spot rows
    region: str  # region code, e.g. "us-east-1"
    instance_type: str  # e.g. "r6i.xlarge"; empty for products that are not instances
    usage_type: str  # Price List "usagetype", e.g. "EU-BoxUsage:r6i.xlarge"
    operating_system: str  # "Linux", ...
    tenancy: str  # "Shared", "Dedicated", ...
    pre_installed_sw: str  # "NA" for plain instances
    capacity_status: str  # "Used" for instance prices
    availability_zone: str  # spot rows only; empty otherwise
    term: str  # "OnDemand" | "Reserved" | "Spot"
    unit: str  # what usd_rate is per: "Hrs", "GB-Mo", ...
    usd_rate: float  # effective USD per unit; Reserved: recurring + upfront / hours in the term
    recurring_usd_rate: float  # the pay-as-you-go part of usd_rate (equal to it for OnDemand)
    upfront_usd: float  # one-off fee for the whole reserved term; 0 for OnDemand / No Upfront
    lease_contract_length: str  # Reserved: "1yr" | "3yr"; empty otherwise
    offering_class: str  # Reserved: "standard" | "convertible"
    purchase_option: str  # Reserved: "No Upfront" | "Partial Upfront" | "All Upfront"
    offer_term_code: str  # e.g. "JRTCKXETXF" (OnDemand), "4NA7Y494T4" (1yr standard No Upfront)
    rate_code: str  # "<sku>.<offerTermCode>.<rateCode>" of the recurring dimension
    effective_date: str  # ISO timestamp the price took effect (spot: the price change time)
    zero_price: bool  # True when the published rate is exactly 0 (kept, but worth a second look)

    @property
    def lease_years(self) -> int | None:
        return LEASE_CONTRACT_LENGTHS.get(self.lease_contract_length)

    def to_row(self) -> dict[str, str]:
        """This record as a ``prices.csv`` row (strings, floats written losslessly)."""
        return {f.name: _cell(getattr(self, f.name)) for f in fields(self)}


PRICE_TABLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PriceRecord))


@dataclass(frozen=True)
class SpotPricePoint:
    """A spot price change: from ``timestamp`` on, ``usd_per_hour`` applies in that AZ."""

    instance_type: str
    availability_zone: str
    usd_per_hour: float
    timestamp: datetime  # timezone-aware, UTC

    @property
    def region(self) -> str:
        return region_of_availability_zone(self.availability_zone)

    def to_row(self) -> dict[str, str]:
        """This point as a ``prices.csv`` row (term "Spot")."""
        record = PriceRecord(
            service=EC2_SERVICE_CODE,
            sku="",
            region=self.region,
            instance_type=self.instance_type,
            usage_type="",
            operating_system=EC2_OPERATING_SYSTEM,
            tenancy=EC2_TENANCY,
            pre_installed_sw=EC2_PRE_INSTALLED_SW,
            capacity_status="",
            availability_zone=self.availability_zone,
            term=TERM_SPOT,
            unit=UNIT_HOURS,
            usd_rate=self.usd_per_hour,
            recurring_usd_rate=self.usd_per_hour,
            upfront_usd=0.0,
            lease_contract_length="",
            offering_class="",
            purchase_option="",
            offer_term_code="",
            rate_code="",
            effective_date=format_timestamp(self.timestamp),
            zero_price=self.usd_per_hour == 0,
        )
        return record.to_row()


# -- helpers shared with the fetching code ---------------------------------------------------------


def ec2_product_filters(*, region: str, instance_type: str | None = None) -> list[dict[str, str]]:
    """``Filters`` for ``pricing.get_products`` that select EC2 Linux shared-tenancy instance prices.

    The same attribute values are what :class:`costing.catalog.PriceCatalog` selects on, so a live
    fetch and the shipped snapshot describe the same rows.
    """
    wanted = {
        "regionCode": region,
        "operatingSystem": EC2_OPERATING_SYSTEM,
        "tenancy": EC2_TENANCY,
        "preInstalledSw": EC2_PRE_INSTALLED_SW,
        "licenseModel": EC2_LICENSE_MODEL,
        "capacitystatus": EC2_CAPACITY_STATUS,
    }
    if instance_type is not None:
        wanted["instanceType"] = instance_type
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted.items()]


def region_of_availability_zone(availability_zone: str) -> str:
    """``"us-east-1a"`` -> ``"us-east-1"`` (also local zones such as ``"us-east-1-bos-1a"``)."""
    match = _AZ_PATTERN.match(availability_zone)
    if match is None:
        raise ValueError(
            f"cannot tell the region of availability zone {availability_zone!r}; "
            "expected a name like 'us-east-1a'"
        )
    return match.group("region")


def parse_timestamp(value: str | datetime) -> datetime:
    """A timezone-aware UTC datetime from an ISO string ("...Z" allowed) or a datetime from boto3."""
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone; AWS timestamps are UTC, write e.g. '...Z'")
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a trailing ``Z``, as the AWS CLI prints it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- Price List documents ----------------------------------------------------------------------------


def parse_price_list(
    price_list: Iterable[str | Mapping[str, Any]],
    *,
    region: str,
    issues: list[ParseIssue] | None = None,
) -> list[PriceRecord]:
    """Flatten a ``get_products`` ``PriceList`` (one or several pages, concatenated) into records.

    ``region`` is the region the documents were requested for; a document for another region is an
    error in the request, so it raises ``ValueError`` instead of being priced under the wrong region.
    Skipped or flagged items are appended to ``issues`` (when given) and logged as warnings.
    For EC2 compute instances only ``capacitystatus == "Used"`` rows are kept: the unused and
    allocated capacity-reservation rows are not what a running instance costs.
    """
    collected: list[ParseIssue] = []
    records: list[PriceRecord] = []
    for position, item in enumerate(price_list):
        records.extend(_parse_product(item, position=position, region=region, issues=collected))
    for issue in collected:
        logger.warning("price list: %s", issue)
    if issues is not None:
        issues.extend(collected)
    return records


def _parse_product(
    item: str | Mapping[str, Any], *, position: int, region: str, issues: list[ParseIssue]
) -> list[PriceRecord]:
    def skip(sku: str, message: str) -> list[PriceRecord]:
        issues.append(ParseIssue(region=region, sku=sku, message=message))
        return []

    if isinstance(item, str):
        try:
            doc = json.loads(item)
        except json.JSONDecodeError as error:
            return skip("", f"PriceList item #{position} is not valid JSON ({error}); skipped")
    else:
        doc = item
    if not isinstance(doc, Mapping):
        return skip("", f"PriceList item #{position} is a {type(doc).__name__}, not a product document")

    product = doc.get("product")
    attributes = product.get("attributes") if isinstance(product, Mapping) else None
    sku = str(product.get("sku", "")) if isinstance(product, Mapping) else ""
    if not isinstance(attributes, Mapping) or not attributes:
        return skip(sku, "product has no attributes; skipped")

    _check_region(attributes, region=region, sku=sku)
    service = str(doc.get("serviceCode") or attributes.get("servicecode") or "")
    product_family = str(product.get("productFamily", ""))
    instance_type = str(attributes.get("instanceType", ""))
    capacity_status = str(attributes.get("capacitystatus", ""))
    if service == EC2_SERVICE_CODE and product_family == EC2_PRODUCT_FAMILY:
        if not instance_type:
            return skip(sku, "EC2 compute instance without an instanceType attribute; skipped")
        if capacity_status and capacity_status != EC2_CAPACITY_STATUS:
            return []  # capacity-reservation bookkeeping rows, not instance prices

    base = {
        "service": service,
        "sku": sku,
        "region": region,
        "instance_type": instance_type,
        "usage_type": str(attributes.get("usagetype", "")),
        "operating_system": str(attributes.get("operatingSystem", "")),
        "tenancy": str(attributes.get("tenancy", "")),
        "pre_installed_sw": str(attributes.get("preInstalledSw", "")),
        "capacity_status": capacity_status,
        "availability_zone": "",
    }
    terms = doc.get("terms")
    if not isinstance(terms, Mapping) or not any(terms.get(name) for name in (TERM_ON_DEMAND, TERM_RESERVED)):
        return skip(sku, "product has no OnDemand or Reserved terms; skipped")

    records: list[PriceRecord] = []
    for term_key, term in _terms(terms.get(TERM_ON_DEMAND)):
        records.extend(_on_demand_records(base, term_key, term, skip))
    for term_key, term in _terms(terms.get(TERM_RESERVED)):
        record = _reserved_record(base, term_key, term, skip)
        if record is not None:
            records.append(record)
    for record in records:
        if record.zero_price:
            issues.append(
                ParseIssue(
                    region=region,
                    sku=sku,
                    message=f"published {record.term} price is 0 USD/{record.unit} "
                    f"({record.instance_type or record.usage_type}); kept and flagged zero_price",
                )
            )
    return records


def _check_region(attributes: Mapping[str, Any], *, region: str, sku: str) -> None:
    region_code = attributes.get("regionCode")
    location = attributes.get("location")
    if region_code:
        found = str(region_code)
    elif location and region in REGION_LOCATIONS:
        found = region if location == REGION_LOCATIONS[region] else str(location)
    else:
        return
    if found != region:
        raise ValueError(
            f"price list for region {region!r} contains sku {sku} for {found!r}; "
            "request one region per get_products call (Filters regionCode=...) and parse each separately"
        )


def _terms(section: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(section, Mapping):
        return []
    return [(str(key), term) for key, term in section.items() if isinstance(term, Mapping)]


def _usd(dimension: Mapping[str, Any]) -> float | None:
    """The dimension's USD price, or None when it is absent or not a finite number."""
    price = dimension.get("pricePerUnit")
    raw = price.get("USD") if isinstance(price, Mapping) else None
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _dimensions(term: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    section = term.get("priceDimensions")
    if not isinstance(section, Mapping):
        return []
    return [(str(key), dim) for key, dim in section.items() if isinstance(dim, Mapping)]


def _on_demand_records(base: dict[str, Any], term_key: str, term: Mapping[str, Any], skip) -> list[PriceRecord]:
    dimensions = _dimensions(term)
    if not dimensions:
        return skip(base["sku"], f"OnDemand term {term_key} has no priceDimensions; skipped")
    records = []
    for dim_key, dim in dimensions:
        usd = _usd(dim)
        if usd is None:
            skip(base["sku"], f"OnDemand dimension {dim_key} has no usable USD price; skipped")
            continue
        records.append(
            PriceRecord(
                **base,
                term=TERM_ON_DEMAND,
                unit=str(dim.get("unit", "")),
                usd_rate=usd,
                recurring_usd_rate=usd,
                upfront_usd=0.0,
                lease_contract_length="",
                offering_class="",
                purchase_option="",
                offer_term_code=str(term.get("offerTermCode", "")),
                rate_code=str(dim.get("rateCode", dim_key)),
                effective_date=str(term.get("effectiveDate", "")),
                zero_price=usd == 0,
            )
        )
    return records


def _reserved_record(base: dict[str, Any], term_key: str, term: Mapping[str, Any], skip) -> PriceRecord | None:
    sku = base["sku"]
    attributes = term.get("termAttributes")
    if not isinstance(attributes, Mapping):
        skip(sku, f"Reserved term {term_key} has no termAttributes; skipped")
        return None
    lease = str(attributes.get("LeaseContractLength", ""))
    offering_class = str(attributes.get("OfferingClass", ""))
    purchase_option = str(attributes.get("PurchaseOption", ""))
    if lease not in LEASE_CONTRACT_LENGTHS:
        skip(sku, f"Reserved term {term_key} has LeaseContractLength {lease!r}, not 1yr/3yr; skipped")
        return None

    hourly: list[tuple[str, float]] = []
    upfront: list[float] = []
    for dim_key, dim in _dimensions(term):
        usd = _usd(dim)
        if usd is None:
            skip(sku, f"Reserved dimension {dim_key} has no usable USD price; term {term_key} skipped")
            return None
        unit = dim.get("unit")
        if unit == UNIT_HOURS:
            hourly.append((str(dim.get("rateCode", dim_key)), usd))
        elif unit == UNIT_QUANTITY:
            upfront.append(usd)
    if len(hourly) != 1:
        skip(sku, f"Reserved term {term_key} has {len(hourly)} hourly dimensions, expected 1; skipped")
        return None
    if len(upfront) > 1:
        skip(sku, f"Reserved term {term_key} has {len(upfront)} upfront fees, expected at most 1; skipped")
        return None

    rate_code, recurring = hourly[0]
    upfront_usd = upfront[0] if upfront else 0.0
    hours_in_term = LEASE_CONTRACT_LENGTHS[lease] * HOURS_PER_YEAR
    effective = recurring + upfront_usd / hours_in_term
    return PriceRecord(
        **base,
        term=TERM_RESERVED,
        unit=UNIT_HOURS,
        usd_rate=effective,
        recurring_usd_rate=recurring,
        upfront_usd=upfront_usd,
        lease_contract_length=lease,
        offering_class=offering_class,
        purchase_option=purchase_option,
        offer_term_code=str(term.get("offerTermCode", "")),
        rate_code=rate_code,
        effective_date=str(term.get("effectiveDate", "")),
        zero_price=effective == 0,
    )


# -- spot price history ------------------------------------------------------------------------------


def parse_spot_price_history(
    history: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    region: str,
    product_description: str = SPOT_PRODUCT_DESCRIPTION,
    issues: list[ParseIssue] | None = None,
) -> list[SpotPricePoint]:
    """Spot price changes from a ``describe_spot_price_history`` response (or its pages' items).

    Accepts the response dict or the ``SpotPriceHistory`` list; timestamps may be datetimes (boto3)
    or ISO strings (a saved response). Only ``product_description`` rows are kept. Points are
    returned sorted by instance type, AZ and time. An AZ outside ``region`` raises ``ValueError``.
    """
    items = history.get("SpotPriceHistory", []) if isinstance(history, Mapping) else history
    collected: list[ParseIssue] = []
    points: list[SpotPricePoint] = []
    for position, item in enumerate(items):
        description = item.get("ProductDescription")
        if description is not None and description != product_description:
            continue
        az = str(item.get("AvailabilityZone", ""))
        instance_type = str(item.get("InstanceType", ""))
        label = f"SpotPriceHistory item #{position} ({instance_type or '?'} in {az or '?'})"
        if not az or not instance_type:
            collected.append(ParseIssue(region, "", f"{label} lacks AvailabilityZone/InstanceType; skipped"))
            continue
        az_region = region_of_availability_zone(az)
        if az_region != region:
            raise ValueError(
                f"spot price history for region {region!r} contains availability zone {az!r} "
                f"of region {az_region!r}; call describe_spot_price_history once per region"
            )
        usd = _usd({"pricePerUnit": {"USD": item.get("SpotPrice")}})
        if usd is None:
            collected.append(ParseIssue(region, "", f"{label} has no usable SpotPrice; skipped"))
            continue
        try:
            timestamp = parse_timestamp(item["Timestamp"])
        except (KeyError, ValueError) as error:
            collected.append(ParseIssue(region, "", f"{label} has no usable Timestamp ({error}); skipped"))
            continue
        points.append(SpotPricePoint(instance_type, az, usd, timestamp))
    for issue in collected:
        logger.warning("spot price history: %s", issue)
    if issues is not None:
        issues.extend(collected)
    return sorted(points, key=lambda p: (p.instance_type, p.availability_zone, p.timestamp))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
