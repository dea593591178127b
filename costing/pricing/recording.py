"""Build a pricing snapshot from hand-recorded rates: ``python -m costing record``.

A *recording* is a folder of small tables (``include/pricing/recorded/<yyyy-mm>/``):

* ``recording.json`` - snapshot id, date, regions and AZs, spot window and seed, provenance notes
* ``instance_types.csv`` - non-price product attributes (vCPU, memory, processor, ...)
* ``on_demand.csv`` - ``region,instance_type,usd_per_hour``
* ``reserved.csv`` - ``region,instance_type,lease_contract_length,offering_class,purchase_option,
  recurring_usd_per_hour,upfront_usd``
* ``spot_levels.csv`` - ``region,family,spot_fraction_of_on_demand``: the level an illustrative spot
  history is generated around
* ``services.json`` (optional, named by ``recording.json``'s ``services_file``) - every other price the
  cost model uses (EBS, S3, data transfer, ALB, NAT Gateway, public IPv4, CloudWatch, Lambda, Fargate,
  SageMaker, and the platform that runs the pipeline: MWAA, RDS for PostgreSQL, ElastiCache for Redis,
  SES): per product its service code, product family, attributes, usage type and published tiers per region
* ``reserved_ratios.csv`` (optional, ``reserved_ratios_file``) - ``lease_contract_length,offering_class,
  purchase_option,effective_fraction_of_on_demand,upfront_fraction``: reserved terms **derived** for
  every type priced on demand that ``reserved.csv`` does not record (effective rate = on-demand x the
  fraction; the upfront fee is that fraction of the term's total). Provenance lists them as derived.
* ``savings_plan_ratios.csv`` (optional, ``savings_plan_ratios_file``) - ``plan_type,lease_contract_length,
  purchase_option,rate_fraction_of_on_demand``: Savings Plans rates **derived** the same way, written
  as the regions' ``AWSComputeSavingsPlan`` offer documents.

``record`` turns it into the documents the AWS APIs would have returned (``get_products``
``PriceList`` strings, ``describe_spot_price_history`` items) and writes them with
:func:`costing.pricing.snapshot.write_snapshot`, with provenance source ``"recorded"``. This is the offline
stand-in for the pricing refresh; it never talks to AWS. A recording states the snapshot schema
version it was written in (``recording.json`` ``schema_version``, 1 when absent), so re-recording it
reproduces the shipped snapshot byte for byte.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from costing.pricing.defaults import (
    DEFAULT_SNAPSHOT_ROOT,
    EC2_CAPACITY_STATUS,
    EC2_LICENSE_MODEL,
    EC2_OPERATING_SYSTEM,
    EC2_PRE_INSTALLED_SW,
    EC2_PRODUCT_FAMILY,
    EC2_SERVICE_CODE,
    EC2_TENANCY,
    SPOT_PRODUCT_DESCRIPTION,
)
from costing.pricing.parse import (
    HOURLY_RATE_CODE,
    LEASE_CONTRACT_LENGTHS,
    ON_DEMAND_OFFER_TERM_CODE,
    REGION_LOCATIONS,
    RESERVED_OFFER_TERM_CODES,
    UPFRONT_FEE_RATE_CODE,
    format_timestamp,
    parse_timestamp,
)
from costing.pricing.snapshot import Provenance, write_snapshot
from costing.units import HOURS_PER_YEAR
from toolkit.paths import INCLUDE_DIR

RECORDINGS_ROOT = INCLUDE_DIR / "pricing" / "recorded"
DEFAULT_RECORDING_DIR = RECORDINGS_ROOT / "2026-12-07"

SERVICE_NAMES = {
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonS3": "Amazon Simple Storage Service",
    "AWSDataTransfer": "AWS Data Transfer",
    "AWSELB": "Elastic Load Balancing",
    "AmazonCloudWatch": "AmazonCloudWatch",
    "AWSLambda": "AWS Lambda",
    "AmazonECS": "Amazon Elastic Container Service",
    "AmazonSageMaker": "Amazon SageMaker",
    "AWSEvents": "Amazon EventBridge",
    "AmazonMWAA": "Amazon Managed Workflows for Apache Airflow",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonElastiCache": "Amazon ElastiCache",
    "AmazonSES": "Amazon Simple Email Service",
}

# Price List usage-type prefix per region ("BoxUsage:r6i.xlarge" in us-east-1, "EU-BoxUsage:..." in Ireland).
USAGE_TYPE_PREFIXES = {
    "us-east-1": "",
    "us-east-2": "USE2-",
    "us-west-1": "USW1-",
    "us-west-2": "USW2-",
    "eu-west-1": "EU-",
    "eu-west-2": "EUW2-",
    "eu-west-3": "EUW3-",
    "eu-central-1": "EUC1-",
}

_CAPACITY_ROWS = {
    # capacitystatus -> (usage type stem, description template, priced at the on-demand rate?)
    EC2_CAPACITY_STATUS: ("BoxUsage", "${rate} per On Demand Linux {type} Instance Hour", True),
    "UnusedCapacityReservation": (
        "UnusedBox",
        "${rate} per Unused Reservation Linux {type} Instance Hour",
        True,
    ),
    "AllocatedCapacityReservation": (
        "Reservation",
        "$0.00 per Reservation Linux {type} Instance Hour",
        False,
    ),
}


@dataclass(frozen=True)
class Recording:
    """The hand-recorded tables of one recording folder."""

    path: Path
    meta: Mapping[str, Any]
    instance_types: Mapping[str, Mapping[str, str]]
    on_demand: Sequence[Mapping[str, str]]
    reserved: Sequence[Mapping[str, str]]
    spot_levels: Mapping[tuple[str, str], float]
    services: Sequence[Mapping[str, Any]] = ()  # products of services.json
    reserved_ratios: Sequence[Mapping[str, str]] = ()  # reserved_ratios.csv: derived reserved terms
    savings_plan_ratios: Sequence[Mapping[str, str]] = ()  # savings_plan_ratios.csv: derived plans

    @property
    def schema_version(self) -> int:
        return int(self.meta.get("schema_version", 1))

    @classmethod
    def read(cls, path: Path | str) -> Recording:
        path = Path(path)
        meta = json.loads((path / "recording.json").read_text(encoding="utf-8"))
        instance_types = {row["instance_type"]: row for row in _read_csv(path / "instance_types.csv")}
        on_demand = _read_csv(path / "on_demand.csv")
        reserved = _read_csv(path / "reserved.csv")
        spot_levels = {
            (row["region"], row["family"]): float(row["spot_fraction_of_on_demand"])
            for row in _read_csv(path / "spot_levels.csv")
        }
        for row in [*on_demand, *reserved]:
            if row["instance_type"] not in instance_types:
                raise ValueError(
                    f"{path}: {row['instance_type']} is priced but missing from instance_types.csv; add its attributes"
                )
            if row["region"] not in meta["regions"]:
                raise ValueError(
                    f"{path}: region {row['region']} is priced but not listed in recording.json regions"
                )
        services: list[Mapping[str, Any]] = []
        if meta.get("services_file"):
            services = json.loads((path / meta["services_file"]).read_text(encoding="utf-8"))["products"]
            for product in services:
                unknown = set(product["tiers"]) - set(meta["regions"])
                if unknown:
                    raise ValueError(
                        f"{path}: product {product['name']} is priced in {sorted(unknown)}, "
                        "which recording.json does not list under regions"
                    )
        reserved_ratios = (
            _read_csv(path / meta["reserved_ratios_file"]) if meta.get("reserved_ratios_file") else []
        )
        for row in reserved_ratios:
            if (row["lease_contract_length"], row["offering_class"], row["purchase_option"]) not in (
                RESERVED_OFFER_TERM_CODES
            ):
                raise ValueError(f"{path}: reserved ratio {dict(row)} names no published reserved term")
        savings_plan_ratios = (
            _read_csv(path / meta["savings_plan_ratios_file"]) if meta.get("savings_plan_ratios_file") else []
        )
        return cls(
            path,
            meta,
            instance_types,
            on_demand,
            reserved,
            spot_levels,
            services,
            reserved_ratios,
            savings_plan_ratios,
        )

    def reserved_rows(
        self, region: str, instance_type: str, on_demand_usd_per_hour: float
    ) -> list[dict[str, str]]:
        """The recorded reserved terms of a type, plus one derived row per reserved ratio it lacks."""
        recorded = [r for r in self.reserved if r["region"] == region and r["instance_type"] == instance_type]
        have = {(r["lease_contract_length"], r["offering_class"], r["purchase_option"]) for r in recorded}
        rows = [dict(r) for r in recorded]
        for ratio in self.reserved_ratios:
            term = (ratio["lease_contract_length"], ratio["offering_class"], ratio["purchase_option"])
            if term in have:
                continue
            effective = on_demand_usd_per_hour * float(ratio["effective_fraction_of_on_demand"])
            upfront_share = float(ratio["upfront_fraction"])
            hours = LEASE_CONTRACT_LENGTHS[term[0]] * HOURS_PER_YEAR
            rows.append(
                {
                    "region": region,
                    "instance_type": instance_type,
                    "lease_contract_length": term[0],
                    "offering_class": term[1],
                    "purchase_option": term[2],
                    "recurring_usd_per_hour": f"{effective * (1 - upfront_share):.6f}",
                    "upfront_usd": f"{effective * upfront_share * hours:.2f}",
                }
            )
        order = list(RESERVED_OFFER_TERM_CODES)
        return sorted(
            rows,
            key=lambda r: order.index(
                (r["lease_contract_length"], r["offering_class"], r["purchase_option"])
            ),
        )

    def derived_provenance(self) -> list[dict[str, Any]]:
        """What :meth:`reserved_rows` and the Savings Plans documents derive, for provenance.json."""
        entries: list[dict[str, Any]] = []
        regions = sorted(self.meta["regions"])
        if self.reserved_ratios:
            entries.append(
                {
                    "what": "ec2.reserved",
                    "rule": "effective $/h = on-demand $/h x effective_fraction_of_on_demand; upfront fee = "
                    "upfront_fraction of the term's total, the rest hourly",
                    "source": f"{_display_path(self.path)}/{self.meta['reserved_ratios_file']}",
                    "regions": regions,
                    "except": sorted(
                        f"{r['region']} {r['instance_type']} {r['lease_contract_length']}/{r['offering_class']}/"
                        f"{r['purchase_option']}"
                        for r in self.reserved
                    ),
                }
            )
        if self.savings_plan_ratios:
            entries.append(
                {
                    "what": "ec2.savings_plan",
                    "rule": "Savings Plan $/h = on-demand $/h x rate_fraction_of_on_demand",
                    "source": f"{_display_path(self.path)}/{self.meta['savings_plan_ratios_file']}",
                    "regions": regions,
                    "except": [],
                }
            )
        return entries


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def placeholder_sku(*parts: str) -> str:
    """A deterministic 16-character SKU of the Price List's shape ([A-Z2-7]), for recorded documents."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def _usd(value: float) -> str:
    return f"{value:.10f}"


def _short(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


def product_document(
    *,
    region: str,
    instance_type: str,
    attributes: Mapping[str, str],
    on_demand_usd_per_hour: float,
    reserved: Sequence[Mapping[str, str]],
    capacity_status: str,
    published_at: datetime,
) -> dict[str, Any]:
    """One ``get_products`` product document for an EC2 Linux shared-tenancy instance."""
    usage_stem, description, at_on_demand_rate = _CAPACITY_ROWS[capacity_status]
    sku = placeholder_sku(region, instance_type, capacity_status)
    published = format_timestamp(published_at).replace(".000Z", "Z")
    rate = on_demand_usd_per_hour if at_on_demand_rate else 0.0
    product_attributes = {
        "instanceFamily": attributes["instance_family"],
        "vcpu": attributes["vcpu"],
        "memory": attributes["memory"],
        "physicalProcessor": attributes["physical_processor"],
        "clockSpeed": attributes["clock_speed"],
        "networkPerformance": attributes["network_performance"],
        "storage": attributes["storage"],
        "processorArchitecture": "64-bit",
        "currentGeneration": "Yes",
        "normalizationSizeFactor": attributes["normalization_size_factor"],
        **({"gpu": attributes["gpu"]} if attributes.get("gpu") else {}),
        "instanceType": instance_type,
        "usagetype": f"{USAGE_TYPE_PREFIXES[region]}{usage_stem}:{instance_type}",
        "operation": "RunInstances",
        "operatingSystem": EC2_OPERATING_SYSTEM,
        "tenancy": EC2_TENANCY,
        "licenseModel": EC2_LICENSE_MODEL,
        "preInstalledSw": EC2_PRE_INSTALLED_SW,
        "capacitystatus": capacity_status,
        "marketoption": "OnDemand",
        "availabilityzone": "NA",
        "location": REGION_LOCATIONS[region],
        "locationType": "AWS Region",
        "regionCode": region,
        "servicecode": EC2_SERVICE_CODE,
        "servicename": "Amazon Elastic Compute Cloud",
    }
    on_demand_key = f"{sku}.{ON_DEMAND_OFFER_TERM_CODE}"
    terms: dict[str, Any] = {
        "OnDemand": {
            on_demand_key: {
                "priceDimensions": {
                    f"{on_demand_key}.{HOURLY_RATE_CODE}": {
                        "unit": "Hrs",
                        "endRange": "Inf",
                        "description": description.format(rate=_short(rate), type=instance_type),
                        "appliesTo": [],
                        "rateCode": f"{on_demand_key}.{HOURLY_RATE_CODE}",
                        "beginRange": "0",
                        "pricePerUnit": {"USD": _usd(rate)},
                    }
                },
                "sku": sku,
                "effectiveDate": published,
                "offerTermCode": ON_DEMAND_OFFER_TERM_CODE,
                "termAttributes": {},
            }
        }
    }
    if capacity_status == EC2_CAPACITY_STATUS and reserved:
        terms["Reserved"] = {
            key: term
            for key, term in (_reserved_term(sku, instance_type, row, published) for row in reserved)
        }
    return {
        "product": {"productFamily": EC2_PRODUCT_FAMILY, "attributes": product_attributes, "sku": sku},
        "serviceCode": EC2_SERVICE_CODE,
        "terms": terms,
        "version": published_at.strftime("%Y%m%d%H%M%S"),
        "publicationDate": published,
    }


def _reserved_term(sku: str, instance_type: str, row: Mapping[str, str], published: str) -> tuple[str, dict]:
    lease, offering_class, option = (
        row["lease_contract_length"],
        row["offering_class"],
        row["purchase_option"],
    )
    code = RESERVED_OFFER_TERM_CODES[lease, offering_class, option]
    key = f"{sku}.{code}"
    dimensions: dict[str, Any] = {
        f"{key}.{HOURLY_RATE_CODE}": {
            "unit": "Hrs",
            "endRange": "Inf",
            "description": f"Linux/UNIX (Amazon VPC), {instance_type} reserved instance applied",
            "appliesTo": [],
            "rateCode": f"{key}.{HOURLY_RATE_CODE}",
            "beginRange": "0",
            "pricePerUnit": {"USD": _usd(float(row["recurring_usd_per_hour"]))},
        }
    }
    if option != "No Upfront":
        dimensions[f"{key}.{UPFRONT_FEE_RATE_CODE}"] = {
            "unit": "Quantity",
            "description": "Upfront Fee",
            "appliesTo": [],
            "rateCode": f"{key}.{UPFRONT_FEE_RATE_CODE}",
            "pricePerUnit": {"USD": _short(float(row["upfront_usd"]))},
        }
    term = {
        "priceDimensions": dimensions,
        "sku": sku,
        "effectiveDate": published,
        "offerTermCode": code,
        "termAttributes": {
            "LeaseContractLength": lease,
            "OfferingClass": offering_class,
            "PurchaseOption": option,
        },
    }
    return key, term


def service_product_document(
    product: Mapping[str, Any], *, region: str, published_at: datetime
) -> dict[str, Any]:
    """One ``get_products`` product document for a ``services.json`` product in ``region``.

    Each tier ``[beginRange, endRange, usd]`` becomes one OnDemand price dimension, as the Price List
    publishes tiered prices; the first tier's rate code is the common ``6YS6EN2CT7``, later tiers get
    deterministic placeholders of the same shape.
    """
    service = product["service"]
    name = product["name"]
    sku = placeholder_sku(region, service, name)
    published = format_timestamp(published_at).replace(".000Z", "Z")
    location = REGION_LOCATIONS[region]
    region_fields = product.get("region_attributes", {"code": "regionCode", "location": "location"})
    attributes = {
        **product.get("attributes", {}),
        "usagetype": product["usage_type"][region],
        region_fields["location"]: location,
        f"{region_fields['location']}Type": "AWS Region",
        region_fields["code"]: region,
        "servicecode": service,
        "servicename": SERVICE_NAMES.get(service, service),
    }
    on_demand_key = f"{sku}.{ON_DEMAND_OFFER_TERM_CODE}"
    dimensions: dict[str, Any] = {}
    for index, (begin, end, usd) in enumerate(product["tiers"][region]):
        rate_code = (
            HOURLY_RATE_CODE if index == 0 else placeholder_sku(region, service, name, str(index))[:10]
        )
        key = f"{on_demand_key}.{rate_code}"
        dimensions[key] = {
            "unit": product["unit"],
            "endRange": str(end),
            "description": product["description"].format(rate=_short(float(usd)), location=location),
            "appliesTo": [],
            "rateCode": key,
            "beginRange": str(begin),
            "pricePerUnit": {"USD": _usd(float(usd))},
        }
    return {
        "product": {"productFamily": product["product_family"], "attributes": attributes, "sku": sku},
        "serviceCode": service,
        "terms": {
            "OnDemand": {
                on_demand_key: {
                    "priceDimensions": dimensions,
                    "sku": sku,
                    "effectiveDate": published,
                    "offerTermCode": ON_DEMAND_OFFER_TERM_CODE,
                    "termAttributes": {},
                }
            }
        },
        "version": published_at.strftime("%Y%m%d%H%M%S"),
        "publicationDate": published,
    }


def illustrative_spot_history(
    *,
    region: str,
    instance_type: str,
    availability_zones: Sequence[str],
    on_demand_usd_per_hour: float,
    fraction_of_on_demand: float,
    window_start: datetime,
    window_end: datetime,
    seed: str,
) -> list[dict[str, str]]:
    """A plausible describe_spot_price_history for one type: per AZ, the change in force at the window
    start plus 1-3 changes inside the window. Deterministic for a given seed. Not AWS data."""
    family = instance_type.split(".")[0]
    items = []
    window_seconds = (window_end - window_start).total_seconds()
    for az in availability_zones:
        # Sizes of one family move together in an AZ; each type adds a little noise of its own.
        az_level = random.Random(f"{seed}|{region}|{family}|{az}").uniform(0.92, 1.10)
        rng = random.Random(f"{seed}|{region}|{instance_type}|{az}")
        price = on_demand_usd_per_hour * fraction_of_on_demand * az_level * rng.uniform(0.98, 1.02)
        times = [window_start - timedelta(seconds=rng.uniform(1, 20) * 86400)]
        times += sorted(
            window_start + timedelta(seconds=rng.uniform(0, window_seconds)) for _ in range(rng.randint(1, 3))
        )
        for when in times:
            price = min(max(price, 0.2 * on_demand_usd_per_hour), 0.9 * on_demand_usd_per_hour)
            items.append(
                {
                    "AvailabilityZone": az,
                    "InstanceType": instance_type,
                    "ProductDescription": SPOT_PRODUCT_DESCRIPTION,
                    "SpotPrice": f"{round(price, 4):.6f}",
                    "Timestamp": format_timestamp(when.replace(microsecond=0)),
                }
            )
            price *= rng.uniform(0.95, 1.06)
    return items


SAVINGS_PLAN_FAMILIES = {"Compute": "ComputeSavingsPlans", "EC2Instance": "EC2InstanceSavingsPlans"}


def savings_plans_document(recording: Recording, region: str) -> dict[str, Any] | None:
    """One region's ``AWSComputeSavingsPlan`` offer document (bulk shape) with the derived rates of
    every type priced on demand there; None when the recording has no Savings Plans ratios."""
    if not recording.savings_plan_ratios:
        return None
    published = recording.meta["recorded_at"]
    prefix = USAGE_TYPE_PREFIXES[region]
    rows = [r for r in recording.on_demand if r["region"] == region]
    products, terms = [], []
    for ratio in recording.savings_plan_ratios:
        plan_type, lease, option = (
            ratio["plan_type"],
            ratio["lease_contract_length"],
            ratio["purchase_option"],
        )
        compact = f"{lease}{option.replace(' ', '')}"
        # Compute plans cover every family in every region; EC2 Instance plans one family in one region
        groups = (
            {"": rows}
            if plan_type == "Compute"
            else {
                family: [r for r in rows if r["instance_type"].split(".")[0] == family]
                for family in sorted({r["instance_type"].split(".")[0] for r in rows})
            }
        )
        for family, members in groups.items():
            sku = placeholder_sku("savings-plan", region, plan_type, lease, option, family)
            prefix_sp = "ComputeSP" if plan_type == "Compute" else f"{prefix}EC2SP:{family}."
            products.append(
                {
                    "sku": sku,
                    "productFamily": SAVINGS_PLAN_FAMILIES[plan_type],
                    "serviceCode": SAVINGS_PLAN_FAMILIES[plan_type],
                    "usageType": f"{prefix_sp}{compact}",
                    "operation": "",
                    "attributes": {
                        "purchaseOption": option,
                        "granularity": "hourly",
                        "instanceType": family,
                        "purchaseTerm": lease,
                        "locationType": "AWS Region",
                        "location": "Any" if plan_type == "Compute" else REGION_LOCATIONS[region],
                    },
                }
            )
            rates = [
                {
                    "discountedSku": placeholder_sku(region, row["instance_type"], EC2_CAPACITY_STATUS),
                    "discountedUsageType": f"{prefix}BoxUsage:{row['instance_type']}",
                    "discountedOperation": "RunInstances",
                    "discountedServiceCode": EC2_SERVICE_CODE,
                    "rateCode": f"{sku}.{placeholder_sku(region, row['instance_type'])[:10]}",
                    "unit": "Hrs",
                    "discountedRate": {
                        "price": f"{float(row['usd_per_hour']) * float(ratio['rate_fraction_of_on_demand']):.6f}",
                        "currency": "USD",
                    },
                }
                for row in sorted(members, key=lambda r: r["instance_type"])
            ]
            terms.append(
                {
                    "sku": sku,
                    "description": f"{lease} {option} {plan_type} Savings Plan",
                    "effectiveDate": published,
                    "leaseContractLength": {"duration": LEASE_CONTRACT_LENGTHS[lease], "unit": "year"},
                    "rates": rates,
                }
            )
    return {
        "version": parse_timestamp(published).strftime("%Y%m%d%H%M%S"),
        "publicationDate": published,
        "regionCode": region,
        "products": products,
        "terms": {"savingsPlan": terms},
    }


def build_documents(recording: Recording) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[dict]]]:
    """The PriceList items (service -> region -> items) and SpotPriceHistory items (region -> items) a
    recording stands for."""
    meta = recording.meta
    published_at = parse_timestamp(meta["recorded_at"])
    window_start = parse_timestamp(meta["spot_window_start"])
    window_end = parse_timestamp(meta["spot_window_end"])
    capacity_rows_for = set(meta.get("capacity_reservation_rows_for", ()))
    az_families: Mapping[str, Sequence[str]] = meta.get("availability_zone_families", {})

    price_lists: dict[str, list[str]] = {region: [] for region in meta["regions"]}
    spot: dict[str, list[dict]] = {region: [] for region in meta["regions"]}
    for row in recording.on_demand:
        region, instance_type = row["region"], row["instance_type"]
        rate = float(row["usd_per_hour"])
        reserved = recording.reserved_rows(region, instance_type, rate)
        statuses = list(_CAPACITY_ROWS) if instance_type in capacity_rows_for else [EC2_CAPACITY_STATUS]
        for status in statuses:
            document = product_document(
                region=region,
                instance_type=instance_type,
                attributes=recording.instance_types[instance_type],
                on_demand_usd_per_hour=rate,
                reserved=reserved,
                capacity_status=status,
                published_at=published_at,
            )
            price_lists[region].append(json.dumps(document))

        family = instance_type.split(".")[0]
        fraction = recording.spot_levels.get((region, family))
        if fraction is None:
            raise ValueError(f"{recording.path}: spot_levels.csv has no level for {family} in {region}")
        zones = [
            az
            for az in meta["availability_zones"][region]
            if az not in az_families or family in az_families[az]
        ]
        spot[region].extend(
            illustrative_spot_history(
                region=region,
                instance_type=instance_type,
                availability_zones=zones,
                on_demand_usd_per_hour=rate,
                fraction_of_on_demand=fraction,
                window_start=window_start,
                window_end=window_end,
                seed=meta["spot_seed"],
            )
        )
    for items in spot.values():
        items.sort(key=lambda item: item["Timestamp"], reverse=True)  # newest first, as the API returns it
    documents: dict[str, dict[str, list[str]]] = {EC2_SERVICE_CODE: price_lists}
    for product in recording.services:
        for region in product["tiers"]:
            document = service_product_document(product, region=region, published_at=published_at)
            documents.setdefault(product["service"], {}).setdefault(region, []).append(json.dumps(document))
    return documents, spot


def record_snapshot(
    recording_dir: Path | str, *, root: Path | str = DEFAULT_SNAPSHOT_ROOT, snapshot_id: str | None = None
) -> Path:
    """Write the snapshot a recording stands for; returns its folder."""
    recording = Recording.read(recording_dir)
    meta = recording.meta
    price_lists, spot = build_documents(recording)
    savings_plans = {
        region: document
        for region in sorted(meta["regions"])
        if (document := savings_plans_document(recording, region)) is not None
    }
    provenance = Provenance(
        snapshot_id=snapshot_id or meta["snapshot_id"],
        source="recorded",
        fetched_at=meta["recorded_at"],
        prices_as_of=meta["prices_as_of"],
        regions=tuple(sorted(meta["regions"])),
        publication_dates={
            service: {region: meta["recorded_at"] for region in sorted(by_region)}
            for service, by_region in sorted(price_lists.items())
        },
        spot_window_start=meta["spot_window_start"],
        spot_window_end=meta["spot_window_end"],
        failures=(),
        notes=(f"recording: {_display_path(recording.path)}", *meta.get("notes", ())),
        schema_version=recording.schema_version,
        derived=tuple(recording.derived_provenance()),
    )
    return write_snapshot(
        root,
        provenance=provenance,
        price_lists=price_lists,
        spot_price_histories=spot,
        savings_plans=savings_plans or None,
    )


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(INCLUDE_DIR.parent))
    except ValueError:
        return str(path)
