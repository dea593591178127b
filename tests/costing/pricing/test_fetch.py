"""Fetching prices: the Price List Query API through a Stubber'd client, spot history through a moto
server, and the whole refresh (fetch -> validate -> write -> diff, or keep the last good snapshot).

No test touches the network: the pricing client is stubbed (and points at a closed loopback port),
EC2 clients point at the moto server on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import shutil
from datetime import UTC, datetime

import boto3
import pytest
from aws_fakes import (
    inject_spot_history,
    replay_price_lists,
    running_moto_server,
    spot_record,
    stub_get_products,
)
from botocore.stub import Stubber

from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.fetch import (
    PRICE_QUERIES,
    FetchNote,
    fetch_price_lists,
    fetch_spot_price_history,
    refresh_snapshot,
)
from costing.pricing.parse import ParseIssue, parse_price_list, parse_spot_price_history
from costing.pricing.snapshot import load_snapshot

CLOSED_PORT = "http://127.0.0.1:9"  # discard port: nothing listens, so nothing can leave the machine
NOW = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
SHIPPED = DEFAULT_SNAPSHOT_ROOT / "2026-12-01"  # the newest shipped snapshot: "the last good one"
REFRESH_NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # a day after it was recorded
EC2_FILTERS_R6I_XLARGE_US_EAST_1 = [
    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
    {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
    {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
    {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
    {"Type": "TERM_MATCH", "Field": "licenseModel", "Value": "No License required"},
    {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
    {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "r6i.xlarge"},
]


@pytest.fixture(scope="module")
def moto_endpoint():
    with running_moto_server() as endpoint:
        yield endpoint


def pricing_client():
    return boto3.client(
        "pricing",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=CLOSED_PORT,
    )


def ec2_client(endpoint: str, region: str):
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def instance_document(
    instance_type: str, sku: str, usd: str, *, reserved: dict | None = None, dimensions=True
) -> dict:
    """An EC2 product in get_products' shape (one OnDemand hourly price, optionally a Reserved term)."""
    on_demand_key = f"{sku}.JRTCKXETXF"
    on_demand = {
        "sku": sku,
        "effectiveDate": "2025-06-01T00:00:00Z",
        "offerTermCode": "JRTCKXETXF",
        "termAttributes": {},
    }
    if dimensions:
        on_demand["priceDimensions"] = {
            f"{on_demand_key}.6YS6EN2CT7": {
                "unit": "Hrs",
                "endRange": "Inf",
                "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                "appliesTo": [],
                "rateCode": f"{on_demand_key}.6YS6EN2CT7",
                "beginRange": "0",
                "pricePerUnit": {"USD": usd},
            }
        }
    terms: dict = {"OnDemand": {on_demand_key: on_demand}}
    if reserved:
        terms["Reserved"] = reserved
    return {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type,
                "vcpu": "4",
                "memory": "32 GiB",
                "regionCode": "us-east-1",
                "location": "US East (N. Virginia)",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "licenseModel": "No License required",
                "capacitystatus": "Used",
                "usagetype": f"BoxUsage:{instance_type}",
                "operation": "RunInstances",
                "servicecode": "AmazonEC2",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": terms,
        "version": "20250601000000",
        "publicationDate": "2025-06-01T00:00:00Z",
    }


# 1yr standard Partial Upfront: $0.0600/h + $876 upfront over 8,760 h ($0.1000/h) = $0.1600/h effective.
PARTIAL_UPFRONT_1YR = {
    "SKUAAAAAAAAAAAA1.HU7G6KETJZ": {
        "priceDimensions": {
            "SKUAAAAAAAAAAAA1.HU7G6KETJZ.2TG2D8R56U": {
                "unit": "Quantity",
                "description": "Upfront Fee",
                "appliesTo": [],
                "rateCode": "SKUAAAAAAAAAAAA1.HU7G6KETJZ.2TG2D8R56U",
                "pricePerUnit": {"USD": "876"},
            },
            "SKUAAAAAAAAAAAA1.HU7G6KETJZ.6YS6EN2CT7": {
                "unit": "Hrs",
                "endRange": "Inf",
                "description": "Linux/UNIX (Amazon VPC), r6i.xlarge reserved instance applied",
                "appliesTo": [],
                "rateCode": "SKUAAAAAAAAAAAA1.HU7G6KETJZ.6YS6EN2CT7",
                "beginRange": "0",
                "pricePerUnit": {"USD": "0.0600000000"},
            },
        },
        "sku": "SKUAAAAAAAAAAAA1",
        "effectiveDate": "2025-06-01T00:00:00Z",
        "offerTermCode": "HU7G6KETJZ",
        "termAttributes": {
            "LeaseContractLength": "1yr",
            "OfferingClass": "standard",
            "PurchaseOption": "Partial Upfront",
        },
    }
}


# -- Price List through a Stubber'd client ----------------------------------------------------------------


def test_get_products_is_paginated_filtered_and_parsed():
    client = pricing_client()
    page_one = [
        instance_document("r6i.xlarge", "SKUAAAAAAAAAAAA1", "0.2520000000", reserved=PARTIAL_UPFRONT_1YR)
    ]
    page_two = [
        # Same query, second page: a product whose OnDemand term lost its priceDimensions, and a zero price.
        instance_document("r6i.xlarge", "SKUAAAAAAAAAAAA2", "0.2520000000", dimensions=False),
        instance_document("r6i.xlarge", "SKUAAAAAAAAAAAA3", "0.0000000000"),
    ]
    ec2_instances = next(q for q in PRICE_QUERIES if q.name == "ec2_instances")
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_products",
            {
                "FormatVersion": "aws_v1",
                "PriceList": [json.dumps(d) for d in page_one],
                "NextToken": "page-2",
            },
            {
                "ServiceCode": "AmazonEC2",
                "Filters": EC2_FILTERS_R6I_XLARGE_US_EAST_1,
                "FormatVersion": "aws_v1",
                "MaxResults": 100,
            },
        )
        stubber.add_response(
            "get_products",
            {"FormatVersion": "aws_v1", "PriceList": [json.dumps(d) for d in page_two]},
            {
                "ServiceCode": "AmazonEC2",
                "Filters": EC2_FILTERS_R6I_XLARGE_US_EAST_1,
                "FormatVersion": "aws_v1",
                "MaxResults": 100,
                "NextToken": "page-2",
            },
        )
        notes: list[FetchNote] = []
        lists = fetch_price_lists(
            client, regions=["us-east-1"], instance_types=["r6i.xlarge"], queries=[ec2_instances], notes=notes
        )
        stubber.assert_no_pending_responses()

    items = lists["AmazonEC2"]["us-east-1"]
    assert len(items) == 3 and all(
        isinstance(item, str) for item in items
    )  # both pages, as the API's JSON strings
    assert notes == []
    issues: list[ParseIssue] = []
    records = parse_price_list(items, region="us-east-1", issues=issues)
    by_sku_term = {(r.sku, r.term): r for r in records}

    on_demand = by_sku_term["SKUAAAAAAAAAAAA1", "OnDemand"]
    assert (on_demand.usd_rate, on_demand.unit, on_demand.price_key) == (0.252, "Hrs", "ec2.instance")
    reserved = by_sku_term["SKUAAAAAAAAAAAA1", "Reserved"]
    assert reserved.recurring_usd_rate == pytest.approx(0.06)
    assert reserved.upfront_usd == pytest.approx(876)
    assert reserved.usd_rate == pytest.approx(0.06 + 876 / 8760) == pytest.approx(0.16)  # by hand
    assert reserved.rate_code == "SKUAAAAAAAAAAAA1.HU7G6KETJZ.6YS6EN2CT7"

    assert (
        "SKUAAAAAAAAAAAA2",
        "OnDemand",
    ) not in by_sku_term  # missing dimension: skipped, never priced at 0
    assert any(i.sku == "SKUAAAAAAAAAAAA2" and "no priceDimensions" in i.message for i in issues)

    zero = by_sku_term["SKUAAAAAAAAAAAA3", "OnDemand"]
    assert (
        zero.usd_rate == 0.0 and zero.zero_price and not zero.free_tier
    )  # kept and flagged; validation rejects it
    assert any(i.sku == "SKUAAAAAAAAAAAA3" and "price is 0" in i.message for i in issues)


def test_every_service_query_sends_the_filters_real_tools_use():
    by_name = {q.name: q for q in PRICE_QUERIES}
    assert {q.service_code for q in PRICE_QUERIES} == {
        "AmazonEC2",
        "AmazonS3",
        "AWSDataTransfer",
        "AWSELB",
        "AmazonCloudWatch",
        "AWSLambda",
        "AmazonECS",
        "AmazonSageMaker",
        "AmazonVPC",
        "AWSEvents",
        "AmazonMWAA",
        "AmazonRDS",
        "AmazonElastiCache",
        "AmazonSES",
    }
    assert not by_name["eventbridge"].required  # the keep-warm ping's schedule: optional
    assert by_name["ec2_instances"].filters_for(region="us-east-1", instance_type="r6i.xlarge") == (
        EC2_FILTERS_R6I_XLARGE_US_EAST_1
    )
    assert by_name["ebs_gp3"].filters_for(region="eu-west-1") == [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
        {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "Storage"},
        {"Type": "TERM_MATCH", "Field": "volumeApiName", "Value": "gp3"},
    ]
    transfer = {f["Field"]: f["Value"] for f in by_name["data_transfer_out"].filters_for(region="eu-west-1")}
    assert transfer == {"fromRegionCode": "eu-west-1", "transferType": "AWS Outbound"}
    assert by_name["cloudwatch"].filters_for(region="eu-west-1") == [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"}
    ]
    hosting = {
        f["Field"]: f["Value"]
        for f in by_name["sagemaker_hosting"].filters_for(region="us-east-1", instance_type="ml.m5.large")
    }
    assert hosting == {"regionCode": "us-east-1", "component": "Hosting", "instanceName": "ml.m5.large"}


def test_an_empty_answer_is_noted_and_a_pricing_client_in_the_wrong_region_is_refused():
    client = pricing_client()
    query = next(q for q in PRICE_QUERIES if q.name == "ebs_gp3")
    with Stubber(client) as stubber:
        stub_get_products(
            stubber, service_code="AmazonEC2", filters=query.filters_for(region="us-east-1"), documents=[]
        )
        notes: list[FetchNote] = []
        assert fetch_price_lists(
            client, regions=["us-east-1"], instance_types=[], queries=[query], notes=notes
        ) == {"AmazonEC2": {"us-east-1": []}}
    assert [str(n) for n in notes] == ["get_products returned no product for ebs_gp3 in us-east-1"]
    wrong = boto3.client(
        "pricing",
        region_name="eu-west-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        endpoint_url=CLOSED_PORT,
    )
    with pytest.raises(ValueError, match="region_name='us-east-1'"):
        fetch_price_lists(wrong, regions=["us-east-1"], instance_types=["r6i.xlarge"])


# -- spot price history through a moto server ---------------------------------------------------------------

# r6i.xlarge in two AZs of us-east-1 over 2025-05-03..06-02, plus noise the request must filter out.
SPOT = {
    "us-east-1": [
        spot_record(
            "us-east-1a", "r6i.xlarge", "0.080000", "2025-04-30T10:00:00Z"
        ),  # in force at the window start
        spot_record("us-east-1a", "r6i.xlarge", "0.090000", "2025-05-13T00:00:00Z"),
        spot_record("us-east-1a", "r6i.xlarge", "0.070000", "2025-05-23T00:00:00Z"),
        spot_record("us-east-1b", "r6i.xlarge", "0.100000", "2025-05-03T00:00:00Z"),
        spot_record("us-east-1a", "r6i.xlarge", "0.250000", "2025-05-20T00:00:00Z", description="Windows"),
        spot_record("us-east-1a", "m5.large", "0.030000", "2025-05-20T00:00:00Z"),
        spot_record(
            "us-east-1a", "r6i.xlarge", "0.070000", "2025-04-01T00:00:00Z"
        ),  # superseded before the window
    ]
    + [
        spot_record(f"us-east-1{az}", "c6i.large", f"0.0{30 + i}000", f"2025-05-{10 + i:02d}T00:00:00Z")
        for i, az in enumerate("abcdef")
    ],
    "eu-west-1": [spot_record("eu-west-1a", "r6i.xlarge", "0.090000", "2025-05-20T00:00:00Z")],
}


@pytest.mark.integration
def test_spot_history_is_paginated_over_every_az(monkeypatch, moto_endpoint):
    inject_spot_history(monkeypatch, SPOT)
    client = ec2_client(moto_endpoint, "us-east-1")
    items = fetch_spot_price_history(
        client,
        region="us-east-1",
        instance_types=["r6i.xlarge", "c6i.large"],
        start=datetime(2025, 5, 3, tzinfo=UTC),
        end=datetime(2025, 6, 2, tzinfo=UTC),
        page_size=2,  # forces 5 pages for 10 records
    )
    assert len(items) == 10
    assert {i["AvailabilityZone"] for i in items if i["InstanceType"] == "c6i.large"} == {
        f"us-east-1{az}" for az in "abcdef"
    }
    assert all(i["ProductDescription"] == "Linux/UNIX" for i in items)
    assert isinstance(items[0]["Timestamp"], datetime)  # parsed by botocore from moto's XML

    points = parse_spot_price_history(items, region="us-east-1")
    catalog = PriceCatalog(
        snapshot_id="moto",
        effective_date=NOW.date(),
        records=[],
        spot_points=points,
        spot_window_start=datetime(2025, 5, 3, tzinfo=UTC),
        spot_window_end=datetime(2025, 6, 2, tzinfo=UTC),
    )
    summary = catalog.spot_summary("r6i.xlarge", "us-east-1")["us-east-1a"]
    # 1a: $0.08 for 10 days, $0.09 for 10 days, $0.07 for 10 days.
    assert summary.current_usd_per_hour == pytest.approx(0.07)
    assert summary.min_usd_per_hour == pytest.approx(0.07)
    assert summary.mean_usd_per_hour == pytest.approx(0.08)
    assert summary.p90_usd_per_hour == pytest.approx(0.09)
    assert catalog.current_spot_usd_per_hour("r6i.xlarge", "us-east-1") == pytest.approx((0.07 + 0.10) / 2)


@pytest.mark.integration
def test_spot_history_needs_a_client_of_the_region(moto_endpoint):
    with pytest.raises(ValueError, match="create one EC2 client per region"):
        fetch_spot_price_history(
            ec2_client(moto_endpoint, "eu-west-1"),
            region="us-east-1",
            instance_types=["r6i.xlarge"],
            start=datetime(2025, 5, 3, tzinfo=UTC),
            end=NOW,
        )


# -- the whole refresh --------------------------------------------------------------------------------------

REGIONS = ["us-east-1", "eu-west-1"]
TYPES = ["r6i.xlarge", "m5.large", "c5.large"]
SAGEMAKER_TYPES = ["ml.m5.large"]


@pytest.fixture
def root(tmp_path):
    """A snapshot root holding a copy of the newest shipped snapshot: the 'last good' one."""
    shutil.copytree(SHIPPED, tmp_path / SHIPPED.name)
    return tmp_path


@pytest.fixture
def recorded_documents():
    """The shipped snapshot's raw Price List documents, per service and region (what the API will 'return')."""
    documents: dict[str, dict[str, list[str]]] = {}
    for path in sorted((SHIPPED / "raw" / "pricing").glob("*/*.json")):
        documents.setdefault(path.parent.name, {})[path.stem] = json.loads(path.read_text())["PriceList"]
    return documents


def _spot_for(types):
    records = {region: [] for region in REGIONS}
    for region, azs in (("us-east-1", "abc"), ("eu-west-1", "ab")):
        for instance_type in types:
            for az in azs:
                records[region].append(
                    spot_record(f"{region}{az}", instance_type, "0.050000", "2026-11-20T00:00:00Z")
                )
    return records


def _refresh(root, client, moto_endpoint, **kwargs):
    return refresh_snapshot(
        pricing_client=client,
        ec2_clients=lambda region: ec2_client(moto_endpoint, region),
        root=root,
        regions=REGIONS,
        sagemaker_instance_types=SAGEMAKER_TYPES,
        now=REFRESH_NOW,
        **({"instance_types": TYPES} | kwargs),
    )


@pytest.mark.integration
def test_refresh_writes_a_validated_snapshot_and_diffs_it(
    root, recorded_documents, monkeypatch, moto_endpoint
):
    inject_spot_history(monkeypatch, _spot_for(TYPES))
    client = pricing_client()
    with Stubber(client) as stubber:
        replay_price_lists(
            stubber,
            recorded_documents,
            regions=REGIONS,
            instance_types=TYPES,
            sagemaker_instance_types=SAGEMAKER_TYPES,
            queries=PRICE_QUERIES,
        )
        result = _refresh(root, client, moto_endpoint)
        stubber.assert_no_pending_responses()

    assert result.status == "fresh", result.message
    assert result.snapshot_id == "2026-12-02T0600Z"
    assert result.message.startswith("fresh: wrote 2026-12-02T0600Z (0 changed")
    written = load_snapshot(root / "2026-12-02T0600Z")
    provenance = written.provenance
    assert (provenance.source, provenance.fetched_at, provenance.prices_as_of) == (
        "api",
        "2026-12-02T06:00:00.000Z",
        "2026-12-02",
    )
    assert provenance.spot_window_start == "2026-11-02T06:00:00.000Z"
    assert provenance.publication_dates["AWSLambda"] == {
        "eu-west-1": "2026-12-01T00:00:00Z",
        "us-east-1": "2026-12-01T00:00:00Z",
    }
    assert result.validation.success and result.validation.previous_snapshot_id == "2026-12-01"
    # Same documents as the previous snapshot: nothing moved; the types not re-fetched show up as removed.
    assert result.diff.changed == () and result.diff.added == ()
    assert {c.instance_type for c in result.diff.removed} >= {"r5.xlarge", "t3.small"}
    assert "eu-west-1: no sagemaker.hosting.instance price" in " ".join(result.warnings)
    assert json.loads(result.to_json())["diff"]["counts"]["changed"] == 0

    # The same run retried (same snapshot id): nothing is fetched again, the written snapshot is returned.
    again = _refresh(root, pricing_client(), moto_endpoint)
    assert again.status == "fresh" and "already written" in again.message


@pytest.mark.integration
def test_no_credentials_keeps_the_last_good_snapshot(root, monkeypatch, moto_endpoint, tmp_path):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.session.Session().client("pricing", region_name="us-east-1", endpoint_url=CLOSED_PORT)
    before = sorted(p.name for p in root.iterdir())

    result = _refresh(root, client, moto_endpoint)

    assert sorted(p.name for p in root.iterdir()) == before  # nothing written, not even a staging folder
    assert result.status == "stale" and result.is_stale
    assert result.snapshot_id == "2026-12-01"
    # its prices describe 2025-06-01 (recorded on 2026-12-01): 549 days and 6 hours old at the refresh
    assert result.age_days == pytest.approx(549.25)
    assert result.message == (
        "stale: kept 2026-12-01, age 549.2 days, because NoCredentialsError: Unable to locate credentials"
    )
    assert result.provenance.source == "snapshot" and result.provenance.snapshot_id == "2026-12-01"
    assert (
        result.failures[0]["what"].startswith("get_products ec2_instances")
        and result.failures[0]["region"] == "us-east-1"
    )


@pytest.mark.integration
def test_an_api_error_keeps_the_last_good_snapshot(root, moto_endpoint):
    client = pricing_client()
    before = sorted(p.name for p in root.iterdir())
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_products",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: pricing:GetProducts",
            http_status_code=400,
        )
        result = _refresh(root, client, moto_endpoint)
    assert sorted(p.name for p in root.iterdir()) == before
    assert result.status == "stale"
    assert (
        "because AccessDeniedException: An error occurred (AccessDeniedException) when calling the GetProducts"
        in result.message
    )
    assert result.to_dict()["provenance"]["failures"][0]["region"] == "us-east-1"


@pytest.mark.integration
def test_without_any_snapshot_a_failed_refresh_says_so(tmp_path, moto_endpoint):
    client = pricing_client()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_products", service_error_code="AccessDeniedException", http_status_code=400
        )
        result = _refresh(tmp_path, client, moto_endpoint)
    assert result.status == "failed" and result.snapshot_id == ""
    assert list(tmp_path.iterdir()) == []


def _tamper(documents, service, region, predicate, change):
    tampered = copy.deepcopy(documents)
    items = []
    for item in tampered[service][region]:
        doc = json.loads(item)
        if predicate(doc):
            doc = change(doc)
            if doc is None:
                continue
        items.append(json.dumps(doc))
    tampered[service][region] = items
    return tampered


def _set_on_demand(usd):
    def change(doc):
        for term in doc["terms"]["OnDemand"].values():
            for dimension in term["priceDimensions"].values():
                dimension["pricePerUnit"]["USD"] = usd
        return doc

    return change


def _is(instance_type=None, usage=None):
    def predicate(doc):
        attributes = doc["product"]["attributes"]
        if instance_type:
            return (
                attributes.get("instanceType") == instance_type and attributes.get("capacitystatus") == "Used"
            )
        return attributes.get("usagetype") == usage

    return predicate


def _replayed_refresh(root, documents, monkeypatch, moto_endpoint, types=TYPES):
    inject_spot_history(monkeypatch, _spot_for(types))
    client = pricing_client()
    with Stubber(client) as stubber:
        replay_price_lists(
            stubber,
            documents,
            regions=REGIONS,
            instance_types=types,
            sagemaker_instance_types=SAGEMAKER_TYPES,
            queries=PRICE_QUERIES,
        )
        return _refresh(root, client, moto_endpoint, instance_types=types)


@pytest.mark.integration
def test_bad_prices_are_rejected_and_the_last_good_snapshot_kept(
    root, recorded_documents, monkeypatch, moto_endpoint
):
    documents = _tamper(
        recorded_documents, "AmazonEC2", "us-east-1", _is("r6i.xlarge"), _set_on_demand("0.0000000000")
    )
    documents = _tamper(documents, "AmazonEC2", "us-east-1", _is("m5.large"), _set_on_demand("-0.0960000000"))
    documents = _tamper(
        documents, "AmazonEC2", "us-east-1", _is(usage="NatGateway-Hours"), _set_on_demand("0.0720000000")
    )
    before = sorted(p.name for p in root.iterdir())
    result = _replayed_refresh(root, documents, monkeypatch, moto_endpoint)

    assert sorted(p.name for p in root.iterdir()) == before
    assert result.status == "stale" and result.snapshot_id == "2026-12-01"
    assert result.message.startswith("stale: kept 2026-12-01, age 549.2 days, because validation failed")
    problems = "\n".join(f["error"] for f in result.failures)
    # each rejection names the SKU, the field and the value
    assert "us-east-1 AmazonEC2 ec2.instance r6i.xlarge (sku " in problems
    assert "usd_rate=0 USD/Hrs is not > 0" in problems
    assert "has pricePerUnit.USD='-0.0960000000', not a finite number >= 0" in problems  # m5.large, named
    assert "us-east-1 AmazonEC2 nat_gateway.hours" in problems and "0.045 -> 0.072 (+60.0%)" in problems
    failing = {(f.check, f.instance_type or f.price_key) for f in result.validation.failures}
    assert failing >= {("positive", "r6i.xlarge"), ("change", "nat_gateway.hours")}
    assert any(f["what"] == "parse" and "sku " in f["error"] for f in result.failures)


@pytest.mark.integration
def test_a_price_the_previous_snapshot_had_and_the_candidate_lost_is_refused(
    root, recorded_documents, monkeypatch, moto_endpoint
):
    documents = _tamper(recorded_documents, "AmazonEC2", "us-east-1", _is("c5.large"), lambda doc: None)
    before = sorted(p.name for p in root.iterdir())
    result = _replayed_refresh(root, documents, monkeypatch, moto_endpoint)
    assert sorted(p.name for p in root.iterdir()) == before  # the staged candidate is gone too
    assert result.status == "stale"
    assert "the cost model cannot use the candidate (1 problem(s))" in result.message
    assert result.failures[0]["what"] == "gate:instance"
    assert result.failures[0]["error"].startswith(
        "c5.large lost its on-demand price: the previous snapshot priced it, this one does not"
    )
    assert (
        "get_products returned no product for ec2_instances c5.large in us-east-1 (optional)"
        in result.warnings
    )


@pytest.mark.integration
def test_a_type_not_offered_in_a_region_is_a_warning_not_a_stale_refresh(
    root, recorded_documents, on_demand_document, monkeypatch, moto_endpoint
):
    # m5.metal is asked for everywhere but offered (in its own product family) in us-east-1 only
    metal = on_demand_document("m5.metal", "us-east-1", "4.6080000000", sku="METALSKU00000001")
    metal["product"]["productFamily"] = "Compute Instance (bare metal)"
    metal["product"]["attributes"].update(vcpu="96", memory="384 GiB", licenseModel="No License required")
    documents = copy.deepcopy(recorded_documents)
    documents["AmazonEC2"]["us-east-1"].append(json.dumps(metal))
    result = _replayed_refresh(root, documents, monkeypatch, moto_endpoint, types=[*TYPES, "m5.metal"])
    assert result.status == "fresh", result.message
    assert "eu-west-1: no on-demand price for m5.metal (not offered there?); left out" in result.warnings
    catalog = PriceCatalog.from_snapshot(load_snapshot(result.snapshot_uri))
    assert catalog.on_demand_usd_per_hour("m5.metal", "us-east-1") == 4.608
