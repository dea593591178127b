"""The platform that runs the pipeline in the price sheet: Amazon MWAA, RDS for PostgreSQL, ElastiCache for Redis
and SES. Rows in the Price List's shape are classified (Extended Support and Multi-AZ rows are not), the newest
shipped snapshot carries the recorded rates, and validation refuses an implausible one."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from aws_fakes import matches_filters

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.fetch import PRICE_QUERIES
from costing.pricing.parse import (
    PRICE_KEY_UNITS,
    classify_price,
    mwaa_environment_class,
    parse_price_list,
)
from costing.pricing.price_validation import OPTIONAL_PRICE_KEYS, PLAUSIBLE_USD_RATES, validate_prices
from costing.pricing.sheet import MwaaClassRates, PriceSheet
from costing.pricing.sheet_builder import build_price_sheet
from costing.pricing.snapshot import latest_snapshot_dir, load_snapshot

PLATFORM_SNAPSHOT = DEFAULT_SNAPSHOT_ROOT / "2026-12-07"
PLATFORM_KEYS = (
    "mwaa.environment",
    "mwaa.worker",
    "mwaa.scheduler",
    "mwaa.metadata_storage",
    "rds.postgres.instance",
    "rds.gp3.storage",
    "rds.backup",
    "elasticache.redis.node",
    "ses.emails",
)
PLATFORM_SERVICES = ("AmazonMWAA", "AmazonRDS", "AmazonElastiCache", "AmazonSES")


def document(
    service: str, family: str, usage: str, usd: str, *, unit: str, region: str, sku: str, **attributes: str
) -> str:
    """A get_products document (JSON string) with one OnDemand price dimension."""
    code = f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    return json.dumps(
        {
            "product": {
                "productFamily": family,
                "sku": sku,
                "attributes": {
                    "usagetype": usage,
                    "regionCode": region,
                    "servicecode": service,
                    **attributes,
                },
            },
            "serviceCode": service,
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            code: {
                                "unit": unit,
                                "beginRange": "0",
                                "endRange": "Inf",
                                "pricePerUnit": {"USD": usd},
                                "rateCode": code,
                                "description": "",
                                "appliesTo": [],
                            }
                        },
                        "sku": sku,
                        "offerTermCode": "JRTCKXETXF",
                        "effectiveDate": "2025-06-01T00:00:00Z",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20250601000000",
            "publicationDate": "2025-06-01T00:00:00Z",
        }
    )


POSTGRES_SINGLE_AZ = {"databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}


@pytest.mark.parametrize(
    ("service", "family", "usage", "attributes", "key"),
    [
        # MWAA: productFamily is empty in the real rows; per class Environment, Worker, Scheduler
        ("AmazonMWAA", "", "USE1-Airflow-SmallEnvironment", {}, "mwaa.environment"),
        ("AmazonMWAA", "", "USE1-Airflow-MediumScheduler", {}, "mwaa.scheduler"),
        ("AmazonMWAA", "", "USE1-Airflow-LargeWorker", {}, "mwaa.worker"),
        ("AmazonMWAA", "", "USE1-Airflow-StandardDatabaseStorage", {}, "mwaa.metadata_storage"),
        ("AmazonMWAA", "", "USE1-Airflow-SmallWebServer", {}, ""),  # web servers are not priced
        # RDS: the engine and deployment are attributes; every open-source engine bills InstanceUsage:db.*
        (
            "AmazonRDS",
            "Database Instance",
            "InstanceUsage:db.t4g.micro",
            POSTGRES_SINGLE_AZ,
            "rds.postgres.instance",
        ),
        (
            "AmazonRDS",
            "Database Instance",
            "EU-InstanceUsage:db.t4g.micro",
            POSTGRES_SINGLE_AZ,
            "rds.postgres.instance",
        ),
        (
            "AmazonRDS",
            "Database Instance",
            "InstanceUsage:db.t4g.micro",
            {"databaseEngine": "MySQL", "deploymentOption": "Single-AZ"},
            "",
        ),
        ("AmazonRDS", "Database Instance", "InstanceUsage:db.t4g.micro", {}, ""),  # engine unknown
        (
            "AmazonRDS",
            "Database Instance",
            "InstanceUsage:db.t4g.micro",
            {"databaseEngine": "Aurora PostgreSQL", "deploymentOption": "Single-AZ"},
            "",
        ),
        (
            "AmazonRDS",
            "Database Instance",
            "Multi-AZUsage:db.t4g.small",
            {"databaseEngine": "PostgreSQL", "deploymentOption": "Multi-AZ"},
            "",
        ),
        (  # a Multi-AZ deployment is refused by its attribute too, whatever its usage type
            "AmazonRDS",
            "Database Instance",
            "InstanceUsage:db.t4g.small",
            {"databaseEngine": "PostgreSQL", "deploymentOption": "Multi-AZ"},
            "",
        ),
        (
            "AmazonRDS",
            "Database Storage",
            "RDS:GP3-Storage",
            {"deploymentOption": "Single-AZ"},
            "rds.gp3.storage",
        ),
        ("AmazonRDS", "Database Storage", "EU-RDS:GP3-Storage", {}, "rds.gp3.storage"),
        ("AmazonRDS", "Database Storage", "RDS:Multi-AZ-GP3-Storage", {"deploymentOption": "Multi-AZ"}, ""),
        ("AmazonRDS", "Database Storage", "RDS:GP2-Storage", {}, ""),
        ("AmazonRDS", "Storage Snapshot", "RDS:ChargedBackupUsage", {}, "rds.backup"),
        ("AmazonRDS", "Database Instance", "ExtendedSupport:Yr1-Yr2:PostgreSQL11", POSTGRES_SINGLE_AZ, ""),
        # ElastiCache: node-based Redis; Valkey and Memcached bill the same usage type; Extended Support is a surcharge
        (
            "AmazonElastiCache",
            "Cache Instance",
            "NodeUsage:cache.t4g.micro",
            {"cacheEngine": "Redis"},
            "elasticache.redis.node",
        ),
        ("AmazonElastiCache", "Cache Instance", "NodeUsage:cache.t4g.micro", {"cacheEngine": "Valkey"}, ""),
        (
            "AmazonElastiCache",
            "Cache Instance",
            "NodeUsage:cache.t4g.micro",
            {"cacheEngine": "Memcached"},
            "",
        ),
        (
            "AmazonElastiCache",
            "Cache Instance",
            "ExtendedSupportYr1_Yr2-NodeUsage:cache.t4g.micro",
            {"cacheEngine": "Redis"},
            "",
        ),
        (
            "AmazonElastiCache",
            "ElastiCache Serverless",
            "USE1-CachedData:Redis",
            {"cacheEngine": "Redis"},
            "",
        ),
        # SES: outbound email
        ("AmazonSES", "Sending Email", "Recipients", {}, "ses.emails"),
        ("AmazonSES", "Sending Email", "EU-Recipients", {}, "ses.emails"),
        ("AmazonSES", "Sending Email", "Recipients-EC2", {}, ""),
    ],
)
def test_platform_rows_are_classified_by_usage_type_and_attributes(service, family, usage, attributes, key):
    assert (
        classify_price(service=service, product_family=family, usage_type=usage, attributes=attributes) == key
    )
    assert key == "" or key in PRICE_KEY_UNITS


def test_the_parser_keeps_single_az_postgres_and_redis_and_ignores_extended_support_and_multi_az():
    rds = [
        document(
            "AmazonRDS",
            "Database Instance",
            "InstanceUsage:db.t4g.micro",
            "0.0160000000",
            unit="Hrs",
            region="us-east-1",
            sku="RDSSINGLEAZ00001",
            instanceType="db.t4g.micro",
            licenseModel="No license required",
            **POSTGRES_SINGLE_AZ,
        ),
        document(
            "AmazonRDS",
            "Database Instance",
            "Multi-AZUsage:db.t4g.micro",
            "0.0320000000",
            unit="Hrs",
            region="us-east-1",
            sku="RDSMULTIAZ000001",
            instanceType="db.t4g.micro",
            databaseEngine="PostgreSQL",
            deploymentOption="Multi-AZ",
        ),
    ]
    cache = [
        document(
            "AmazonElastiCache",
            "Cache Instance",
            "NodeUsage:cache.t4g.micro",
            "0.0160000000",
            unit="Hrs",
            region="us-east-1",
            sku="CACHEREDIS000001",
            instanceType="cache.t4g.micro",
            cacheEngine="Redis",
        ),
        document(
            "AmazonElastiCache",
            "Cache Instance",
            "ExtendedSupportYr1_Yr2-NodeUsage:cache.t4g.micro",
            "0.0128000000",
            unit="Hrs",
            region="us-east-1",
            sku="CACHEEXTSUPPORT1",
            instanceType="cache.t4g.micro",
            cacheEngine="Redis",
        ),
    ]
    records = parse_price_list([*rds, *cache], region="us-east-1")
    keyed = {(r.sku, r.price_key) for r in records}
    assert keyed == {
        ("RDSSINGLEAZ00001", "rds.postgres.instance"),
        ("RDSMULTIAZ000001", ""),  # kept as a row, not a price the model uses
        ("CACHEREDIS000001", "elasticache.redis.node"),
        ("CACHEEXTSUPPORT1", ""),
    }
    single = next(r for r in records if r.sku == "RDSSINGLEAZ00001")
    assert (single.instance_type, single.usd_rate, single.unit) == ("db.t4g.micro", 0.016, "Hrs")


def test_the_real_mwaa_row_is_read():
    """The one real MWAA Price List row seen (an infracost pricing-database dump): productFamily empty."""
    row = document(
        "AmazonMWAA",
        "",
        "USE1-Airflow-MediumScheduler",
        "0.1100000000",
        unit="Hrs",
        region="us-east-1",
        sku="6BHH8YTJ6V9FQ4E9",
        size="Medium",
        type="Scheduler",
        version="1",
        location="US East (N. Virginia)",
        operation="",
        servicename="Amazon Managed Workflows for Apache Airflow",
        locationType="AWS Region",
    )
    (record,) = parse_price_list([row], region="us-east-1")
    assert (record.price_key, record.usd_rate, record.product_family) == ("mwaa.scheduler", 0.11, "")
    assert mwaa_environment_class(record.usage_type) == "mw1.medium"


@pytest.mark.parametrize(
    ("usage", "environment_class"),
    [
        ("USE1-Airflow-SmallEnvironment", "mw1.small"),
        ("USE1-Airflow-LargeWorker", "mw1.large"),
        ("EU-Airflow-2XLargeScheduler", "mw1.2xlarge"),
        ("Airflow-XLargeEnvironment", "mw1.xlarge"),
        ("USE1-Airflow-StandardDatabaseStorage", None),
        ("USE1-Airflow-SmallWebServer", None),
    ],
)
def test_the_mwaa_class_is_read_from_the_usage_type(usage, environment_class):
    assert mwaa_environment_class(usage) == environment_class


# -- the shipped snapshot --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def us_sheet() -> PriceSheet:
    return build_price_sheet(PLATFORM_SNAPSHOT, "us-east-1", instance_types=["r6i.xlarge"])


@pytest.fixture(scope="module")
def eu_sheet() -> PriceSheet:
    return build_price_sheet(PLATFORM_SNAPSHOT, "eu-west-1", instance_types=["r6i.xlarge"])


def test_the_platform_snapshot_is_the_default():
    assert latest_snapshot_dir() == PLATFORM_SNAPSHOT


def test_us_east_1_carries_the_recorded_platform_rates(us_sheet):
    assert us_sheet.mwaa_classes == {
        "mw1.small": MwaaClassRates("mw1.small", 0.49, 0.055, 0.055),
        "mw1.medium": MwaaClassRates("mw1.medium", 0.74, 0.11, 0.11),
        "mw1.large": MwaaClassRates("mw1.large", 0.99, 0.22, 0.22),
    }
    assert list(us_sheet.mwaa_classes) == ["mw1.small", "mw1.medium", "mw1.large"]  # smallest first
    assert us_sheet.mwaa_metadata_usd_per_gb_month == 0.10
    assert us_sheet.rds_postgres_usd_per_hour == {
        "db.t4g.medium": 0.065,
        "db.t4g.micro": 0.016,
        "db.t4g.small": 0.032,
    }
    assert us_sheet.rds_gp3_usd_per_gb_month == 0.115
    assert us_sheet.rds_backup_usd_per_gb_month == 0.095
    assert us_sheet.elasticache_redis_usd_per_hour == {"cache.t4g.micro": 0.016}
    assert us_sheet.ses_usd_per_1k_emails == 0.10  # $0.0001 per message x 1,000, without binary noise
    assert not [n for n in us_sheet.notes if n.split(".")[0] in ("mwaa", "rds", "elasticache", "ses")]


def test_eu_west_1_has_no_mwaa_and_its_own_rds_rates(eu_sheet):
    assert eu_sheet.mwaa_classes == {}
    assert eu_sheet.mwaa_metadata_usd_per_gb_month is None
    assert eu_sheet.rds_postgres_usd_per_hour == {"db.t4g.micro": 0.017, "db.t4g.small": 0.035}
    assert (eu_sheet.rds_gp3_usd_per_gb_month, eu_sheet.rds_backup_usd_per_gb_month) == (0.127, 0.095)
    assert eu_sheet.elasticache_redis_usd_per_hour == {}
    assert eu_sheet.ses_usd_per_1k_emails == 0.10
    notes = " | ".join(eu_sheet.notes)
    assert (
        "mwaa.environment: no Amazon MWAA prices for eu-west-1 in snapshot 2026-12-07; mwaa_classes is empty"
        in notes
    )
    assert "elasticache.redis.node: no price for eu-west-1 in snapshot 2026-12-07" in notes


def test_older_snapshots_price_no_platform_and_say_so():
    sheet = build_price_sheet(
        DEFAULT_SNAPSHOT_ROOT / "2026-12-04", "us-east-1", instance_types=["r6i.xlarge"]
    )
    assert (sheet.mwaa_classes, sheet.rds_postgres_usd_per_hour, sheet.ses_usd_per_1k_emails) == (
        {},
        {},
        None,
    )
    assert any(n.startswith("rds.postgres.instance: no price for us-east-1") for n in sheet.notes)


def test_a_price_sheet_built_without_the_platform_fields_still_constructs():
    sheet = PriceSheet(region="us-east-1", snapshot_id="test", prices_as_of=date(2025, 6, 1), instances={})
    assert (sheet.mwaa_classes, sheet.rds_postgres_usd_per_hour, sheet.elasticache_redis_usd_per_hour) == (
        {},
        {},
        {},
    )
    assert sheet.mwaa_metadata_usd_per_gb_month is None and sheet.ses_usd_per_1k_emails is None


def test_the_provenance_says_where_each_platform_rate_comes_from():
    notes = " ".join(load_snapshot(PLATFORM_SNAPSHOT).provenance.notes)
    assert "Supersedes 2026-12-04 (kept unchanged)" in notes
    assert "mwaa_environment_test.golden" in notes
    assert "NOT recorded for lack of a source: mw1.micro, mw1.xlarge and mw1.2xlarge" in notes
    assert "every eu-west-1 MWAA price" in notes
    assert "db.t4g.medium $0.065/h (APPROXIMATE" in notes
    assert (
        "usage type (Recipients, EU-Recipients), product family (Sending Email) and unit are RECONSTRUCTED"
        in notes
    )


# -- a live refresh asks for them; validation refuses an implausible one -------------------------------------------


def test_a_refresh_asks_for_the_platform_prices_and_may_go_without_them():
    queries = [q for q in PRICE_QUERIES if q.service_code in PLATFORM_SERVICES]
    assert {q.name: q.required for q in queries} == {
        "mwaa": False,
        "rds_postgres": False,
        "rds_storage": False,
        "rds_backup": False,
        "elasticache_redis": False,
        "ses": False,
    }
    assert all(q.note for q in queries)
    assert set(PLATFORM_KEYS) <= set(OPTIONAL_PRICE_KEYS)
    # each platform price of the shipped snapshot is what some query's filters select
    raw = PLATFORM_SNAPSHOT / "raw" / "pricing"
    for service in PLATFORM_SERVICES:
        for path in sorted((raw / service).glob("*.json")):
            for item in json.loads(path.read_text())["PriceList"]:
                doc = json.loads(item)
                assert any(
                    matches_filters(doc, q.service_code, q.filters_for(region=path.stem)) for q in queries
                ), (path.stem, doc["product"]["attributes"]["usagetype"])


@pytest.fixture(scope="module")
def platform_records():
    snapshot = load_snapshot(PLATFORM_SNAPSHOT)
    return [r for r in snapshot.price_records if r.service in PLATFORM_SERVICES]


def test_the_shipped_platform_rates_are_plausible(platform_records):
    assert {r.price_key for r in platform_records} == set(PLATFORM_KEYS)
    assert set(PLAUSIBLE_USD_RATES) == set(PLATFORM_KEYS)
    result = validate_prices(platform_records, optional_price_keys=())
    assert result.success, result.summary()


def test_a_rate_in_the_wrong_unit_is_refused(platform_records):
    def wrong(record):
        if record.price_key == "ses.emails" and record.region == "us-east-1":
            return replace(record, usd_rate=0.10, recurring_usd_rate=0.10)  # the per-1,000 price, per message
        if record.usage_type == "USE1-Airflow-SmallEnvironment":
            return replace(record, usd_rate=357.70, recurring_usd_rate=357.70)  # a month, as an hour
        if record.usage_type == "RDS:GP3-Storage":
            return replace(record, usd_rate=0.000158, recurring_usd_rate=0.000158)  # per GB-hour, as a month
        return record

    result = validate_prices([wrong(r) for r in platform_records], optional_price_keys=())
    assert not result.success
    plausible = [f for f in result.failures if f.check == "plausible"]
    assert {(f.region, f.price_key, f.usd_rate) for f in plausible} == {
        ("us-east-1", "ses.emails", 0.10),
        ("us-east-1", "mwaa.environment", 357.70),
        ("us-east-1", "rds.gp3.storage", 0.000158),
    }
    ses = next(f for f in plausible if f.price_key == "ses.emails")
    assert "usd_rate=0.1 USD/Count is outside the plausible range 5e-05-0.0005 for ses.emails" in ses.message
