"""The Price List / spot history parser, on documents in AWS's own response shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from costing.pricing.parse import (
    ParseIssue,
    SpotPricePoint,
    ec2_product_filters,
    parse_price_list,
    parse_spot_price_history,
    region_of_availability_zone,
)

# One r6i.xlarge product exactly as pricing.get_products returns it (a JSON string), with its OnDemand
# term and two Reserved terms that carry an upfront fee. Numbers picked so the maths is done by hand:
#   1yr standard Partial Upfront: 0.1000/h + $876 upfront / 8,760 h (0.1000/h) = 0.2000/h
#   3yr standard All Upfront:     0.0000/h + $2,628 upfront / 26,280 h = 0.1000/h
R6I_XLARGE_US_EAST_1 = json.dumps(
    {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "enhancedNetworkingSupported": "Yes",
                "memory": "32 GiB",
                "vcpu": "4",
                "capacitystatus": "Used",
                "locationType": "AWS Region",
                "storage": "EBS only",
                "instanceFamily": "Memory optimized",
                "operatingSystem": "Linux",
                "regionCode": "us-east-1",
                "physicalProcessor": "Intel Xeon 8375C (Ice Lake)",
                "networkPerformance": "Up to 12500 Megabit",
                "servicename": "Amazon Elastic Compute Cloud",
                "instanceType": "r6i.xlarge",
                "tenancy": "Shared",
                "usagetype": "BoxUsage:r6i.xlarge",
                "normalizationSizeFactor": "8",
                "servicecode": "AmazonEC2",
                "licenseModel": "No License required",
                "currentGeneration": "Yes",
                "preInstalledSw": "NA",
                "location": "US East (N. Virginia)",
                "processorArchitecture": "64-bit",
                "marketoption": "OnDemand",
                "operation": "RunInstances",
                "availabilityzone": "NA",
            },
            "sku": "ABCDEFGHIJKLMNOP",
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                "ABCDEFGHIJKLMNOP.JRTCKXETXF": {
                    "priceDimensions": {
                        "ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": "$0.252 per On Demand Linux r6i.xlarge Instance Hour",
                            "appliesTo": [],
                            "rateCode": "ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": "0.2520000000"},
                        }
                    },
                    "sku": "ABCDEFGHIJKLMNOP",
                    "effectiveDate": "2025-06-01T00:00:00Z",
                    "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            },
            "Reserved": {
                "ABCDEFGHIJKLMNOP.HU7G6KETJZ": {
                    "priceDimensions": {
                        "ABCDEFGHIJKLMNOP.HU7G6KETJZ.2TG2D8R56U": {
                            "unit": "Quantity",
                            "description": "Upfront Fee",
                            "appliesTo": [],
                            "rateCode": "ABCDEFGHIJKLMNOP.HU7G6KETJZ.2TG2D8R56U",
                            "pricePerUnit": {"USD": "876"},
                        },
                        "ABCDEFGHIJKLMNOP.HU7G6KETJZ.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": "Linux/UNIX (Amazon VPC), r6i.xlarge reserved instance applied",
                            "appliesTo": [],
                            "rateCode": "ABCDEFGHIJKLMNOP.HU7G6KETJZ.6YS6EN2CT7",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": "0.1000000000"},
                        },
                    },
                    "sku": "ABCDEFGHIJKLMNOP",
                    "effectiveDate": "2025-06-01T00:00:00Z",
                    "offerTermCode": "HU7G6KETJZ",
                    "termAttributes": {
                        "LeaseContractLength": "1yr",
                        "OfferingClass": "standard",
                        "PurchaseOption": "Partial Upfront",
                    },
                },
                "ABCDEFGHIJKLMNOP.NQ3QZPMQV9": {
                    "priceDimensions": {
                        "ABCDEFGHIJKLMNOP.NQ3QZPMQV9.2TG2D8R56U": {
                            "unit": "Quantity",
                            "description": "Upfront Fee",
                            "appliesTo": [],
                            "rateCode": "ABCDEFGHIJKLMNOP.NQ3QZPMQV9.2TG2D8R56U",
                            "pricePerUnit": {"USD": "2628"},
                        },
                        "ABCDEFGHIJKLMNOP.NQ3QZPMQV9.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": "USD 0.0 per Linux/UNIX (Amazon VPC), r6i.xlarge reserved instance applied",
                            "appliesTo": [],
                            "rateCode": "ABCDEFGHIJKLMNOP.NQ3QZPMQV9.6YS6EN2CT7",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": "0.0000000000"},
                        },
                    },
                    "sku": "ABCDEFGHIJKLMNOP",
                    "effectiveDate": "2025-06-01T00:00:00Z",
                    "offerTermCode": "NQ3QZPMQV9",
                    "termAttributes": {
                        "LeaseContractLength": "3yr",
                        "OfferingClass": "standard",
                        "PurchaseOption": "All Upfront",
                    },
                },
            },
        },
        "version": "20250601000000",
        "publicationDate": "2025-06-01T00:00:00Z",
    }
)


def _doc(**changes) -> dict:
    doc = json.loads(R6I_XLARGE_US_EAST_1)
    for path, value in changes.items():
        target = doc
        *parents, leaf = path.split("/")
        for key in parents:
            target = target[key]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return doc


def test_on_demand_term_is_parsed_from_the_json_string():
    records = parse_price_list([R6I_XLARGE_US_EAST_1], region="us-east-1")
    (on_demand,) = [r for r in records if r.term == "OnDemand"]
    assert on_demand.instance_type == "r6i.xlarge"
    assert on_demand.region == "us-east-1"
    assert on_demand.usd_rate == pytest.approx(0.252)
    assert on_demand.unit == "Hrs"
    assert on_demand.offer_term_code == "JRTCKXETXF"
    assert on_demand.rate_code == "ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7"
    assert on_demand.usage_type == "BoxUsage:r6i.xlarge"
    assert on_demand.effective_date == "2025-06-01T00:00:00Z"
    assert not on_demand.zero_price


def test_reserved_effective_hourly_spreads_the_upfront_fee_over_the_term():
    records = {r.offer_term_code: r for r in parse_price_list([R6I_XLARGE_US_EAST_1], region="us-east-1")}

    partial = records["HU7G6KETJZ"]
    assert (partial.lease_contract_length, partial.offering_class, partial.purchase_option) == (
        "1yr",
        "standard",
        "Partial Upfront",
    )
    assert partial.lease_years == 1
    assert partial.recurring_usd_rate == pytest.approx(0.1)
    assert partial.upfront_usd == pytest.approx(876.0)
    assert partial.usd_rate == pytest.approx(0.1 + 876 / 8760)  # = 0.2
    assert partial.usd_rate == pytest.approx(0.2)

    all_upfront = records["NQ3QZPMQV9"]
    assert all_upfront.recurring_usd_rate == pytest.approx(0.0)
    assert all_upfront.upfront_usd == pytest.approx(2628.0)
    assert all_upfront.usd_rate == pytest.approx(2628 / 26280)  # = 0.1
    assert not all_upfront.zero_price  # the hourly part is 0, the price is not


def test_dict_documents_and_merged_pages_are_accepted():
    page_one = [R6I_XLARGE_US_EAST_1]
    page_two = [_doc(**{"product/sku": "QRSTUVWXYZ234567", "product/attributes/instanceType": "r6i.large"})]
    records = parse_price_list(page_one + page_two, region="us-east-1")
    assert {r.instance_type for r in records} == {"r6i.xlarge", "r6i.large"}
    assert len(records) == 6


def test_missing_price_dimensions_are_skipped_with_an_issue_never_priced_at_zero():
    doc = _doc(**{"terms/OnDemand/ABCDEFGHIJKLMNOP.JRTCKXETXF/priceDimensions": None})
    issues: list[ParseIssue] = []
    records = parse_price_list([doc], region="us-east-1", issues=issues)
    assert [r.term for r in records] == ["Reserved", "Reserved"]
    assert any("no priceDimensions" in issue.message and issue.sku == "ABCDEFGHIJKLMNOP" for issue in issues)


def test_a_dimension_without_a_usd_price_is_skipped_with_an_issue():
    dimension = (
        "terms/OnDemand/ABCDEFGHIJKLMNOP.JRTCKXETXF/priceDimensions/ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7"
    )
    doc = _doc(**{f"{dimension}/pricePerUnit": {"CNY": "1.8"}})
    issues: list[ParseIssue] = []
    records = parse_price_list([doc], region="us-east-1", issues=issues)
    assert not [r for r in records if r.term == "OnDemand"]
    (issue,) = [i for i in issues if "no usable USD price" in i.message]
    # the currency and value are named, and an instance price lost this way blocks a refresh
    assert "is priced in CNY only (CNY 1.8), not USD: this project prices in USD" in issue.message
    assert issue.blocking and issue.sku == "ABCDEFGHIJKLMNOP"


def test_bare_metal_types_are_instance_prices_and_unknown_families_are_not():
    metal = _doc(
        **{
            "product/productFamily": "Compute Instance (bare metal)",
            "product/attributes/instanceType": "m5.metal",
            "product/attributes/usagetype": "BoxUsage:m5.metal",
        }
    )
    (on_demand,) = [r for r in parse_price_list([metal], region="us-east-1") if r.term == "OnDemand"]
    assert (on_demand.instance_type, on_demand.price_key) == ("m5.metal", "ec2.instance")
    odd = _doc(**{"product/productFamily": "Something New"})
    records = parse_price_list([odd], region="us-east-1")
    assert records and all(r.price_key == "" for r in records)  # kept, but never an instance's price


def test_missing_attributes_and_broken_items_are_skipped_not_fatal():
    issues: list[ParseIssue] = []
    records = parse_price_list(
        [_doc(**{"product/attributes": None}), "{not json", 42, R6I_XLARGE_US_EAST_1],
        region="us-east-1",
        issues=issues,
    )
    assert len(records) == 3  # only the good document
    messages = " | ".join(issue.message for issue in issues)
    assert "no attributes" in messages
    assert "not valid JSON" in messages
    assert "not a product document" in messages


def test_a_published_zero_price_is_kept_and_flagged():
    dimension = (
        "terms/OnDemand/ABCDEFGHIJKLMNOP.JRTCKXETXF/priceDimensions/ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7"
    )
    doc = _doc(**{f"{dimension}/pricePerUnit": {"USD": "0.0000000000"}})
    issues: list[ParseIssue] = []
    records = parse_price_list([doc], region="us-east-1", issues=issues)
    (on_demand,) = [r for r in records if r.term == "OnDemand"]
    assert on_demand.usd_rate == pytest.approx(0.0)
    assert on_demand.zero_price
    assert on_demand.to_row()["zero_price"] == "true"
    assert any("price is 0" in issue.message for issue in issues)


@pytest.mark.parametrize("capacity_status", ["UnusedCapacityReservation", "AllocatedCapacityReservation"])
def test_capacity_reservation_rows_are_not_instance_prices(capacity_status):
    doc = _doc(**{"product/attributes/capacitystatus": capacity_status})
    issues: list[ParseIssue] = []
    assert parse_price_list([doc], region="us-east-1", issues=issues) == []
    assert issues == []


def test_a_document_for_another_region_is_refused():
    with pytest.raises(
        ValueError, match=r"price list for region 'eu-west-1' contains sku ABCDEFGHIJKLMNOP for 'us-east-1'"
    ):
        parse_price_list([R6I_XLARGE_US_EAST_1], region="eu-west-1")


def test_location_is_checked_when_region_code_is_absent():
    doc = _doc(**{"product/attributes/regionCode": None})
    assert parse_price_list([doc], region="us-east-1")
    with pytest.raises(ValueError, match="US East"):
        parse_price_list([doc], region="eu-west-1")


def test_get_products_filters_select_linux_shared_used_instances():
    filters = {
        f["Field"]: f["Value"] for f in ec2_product_filters(region="eu-west-1", instance_type="r6i.xlarge")
    }
    assert filters == {
        "regionCode": "eu-west-1",
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "licenseModel": "No License required",
        "capacitystatus": "Used",
        "instanceType": "r6i.xlarge",
    }
    assert all(f["Type"] == "TERM_MATCH" for f in ec2_product_filters(region="us-east-1"))


def test_reserved_lookup_gives_effective_hourly_and_keeps_upfront_apart(make_catalog):
    from costing.pricing.catalog import PriceCatalog

    catalog = PriceCatalog(
        snapshot_id="test",
        effective_date=make_catalog({}).effective_date,
        records=parse_price_list([R6I_XLARGE_US_EAST_1], region="us-east-1"),
        spot_points=[],
    )
    price = catalog.reserved_price(
        "r6i.xlarge", "us-east-1", lease_years=1, purchase_option="Partial Upfront"
    )
    assert price.recurring_usd_per_hour == pytest.approx(0.1)
    assert price.upfront_usd == pytest.approx(876.0)
    assert price.effective_usd_per_hour == pytest.approx(0.2)
    assert catalog.reserved_usd_per_hour("r6i.xlarge", "us-east-1", 3, "All Upfront") == pytest.approx(0.1)
    with pytest.raises(
        ValueError, match=r"\(3yr standard No Upfront\).*terms recorded for it there: 1yr standard"
    ):
        catalog.reserved_usd_per_hour("r6i.xlarge", "us-east-1", 3, "No Upfront")
    with pytest.raises(ValueError, match="purchase_option='no upfront'"):
        catalog.reserved_usd_per_hour("r6i.xlarge", "us-east-1", 1, "no upfront")
    with pytest.raises(ValueError, match="lease_years=2"):
        catalog.reserved_usd_per_hour("r6i.xlarge", "us-east-1", 2, "No Upfront")


# -- spot price history ------------------------------------------------------------------------------

SPOT_RESPONSE = {
    "SpotPriceHistory": [
        # Newest first, as EC2 returns it; boto3 gives datetimes, a saved response ISO strings.
        {
            "AvailabilityZone": "us-east-1b",
            "InstanceType": "r6i.xlarge",
            "ProductDescription": "Linux/UNIX",
            "SpotPrice": "0.081200",
            "Timestamp": datetime(2025, 5, 20, 9, 15, tzinfo=UTC),
        },
        {
            "AvailabilityZone": "us-east-1a",
            "InstanceType": "r6i.xlarge",
            "ProductDescription": "Windows",
            "SpotPrice": "0.201000",
            "Timestamp": "2025-05-18T00:00:00.000Z",
        },
        {
            "AvailabilityZone": "us-east-1a",
            "InstanceType": "r6i.xlarge",
            "ProductDescription": "Linux/UNIX",
            "SpotPrice": "0.077900",
            "Timestamp": "2025-05-10T12:00:00.000Z",
        },
        {
            "AvailabilityZone": "us-east-1a",
            "InstanceType": "r6i.xlarge",
            "ProductDescription": "Linux/UNIX",
            "Timestamp": "2025-05-09T12:00:00.000Z",
        },
    ],
    "NextToken": "",
}


def test_spot_history_is_parsed_filtered_and_sorted():
    issues: list[ParseIssue] = []
    points = parse_spot_price_history(SPOT_RESPONSE, region="us-east-1", issues=issues)
    assert points == [
        SpotPricePoint("r6i.xlarge", "us-east-1a", 0.0779, datetime(2025, 5, 10, 12, tzinfo=UTC)),
        SpotPricePoint("r6i.xlarge", "us-east-1b", 0.0812, datetime(2025, 5, 20, 9, 15, tzinfo=UTC)),
    ]
    assert points[0].region == "us-east-1"
    assert [issue.message for issue in issues] == [
        "SpotPriceHistory item #3 (r6i.xlarge in us-east-1a) has no usable SpotPrice; skipped"
    ]
    assert points[0].to_row()["effective_date"] == "2025-05-10T12:00:00.000Z"


def test_spot_history_from_another_region_is_refused():
    with pytest.raises(ValueError, match="contains availability zone 'us-east-1b' of region 'us-east-1'"):
        parse_spot_price_history(SPOT_RESPONSE["SpotPriceHistory"], region="eu-west-1")


@pytest.mark.parametrize(
    ("az", "region"),
    [("us-east-1a", "us-east-1"), ("eu-west-1c", "eu-west-1"), ("us-east-1-bos-1a", "us-east-1")],
)
def test_region_of_availability_zone(az, region):
    assert region_of_availability_zone(az) == region


def test_a_malformed_availability_zone_is_an_error():
    with pytest.raises(ValueError, match="'nowhere'"):
        region_of_availability_zone("nowhere")
