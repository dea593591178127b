"""Fixtures for the cost model: the shipped snapshot, and small catalogs built from literal numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import pytest

from costing.pricing.catalog import PriceCatalog
from costing.pricing.parse import SpotPricePoint, parse_price_list
from costing.pricing.snapshot import PricingSnapshot, load_snapshot

SHIPPED_SNAPSHOT_ID = "2025-06-01"


def on_demand_document(
    instance_type: str, region: str, usd_per_hour: str, *, sku: str = "TESTSKU000000001"
) -> dict:
    """A minimal product document in get_products' shape with one OnDemand hourly price."""
    term_key = f"{sku}.JRTCKXETXF"
    return {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type,
                "regionCode": region,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "usagetype": f"BoxUsage:{instance_type}",
                "servicecode": "AmazonEC2",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                term_key: {
                    "priceDimensions": {
                        f"{term_key}.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "pricePerUnit": {"USD": usd_per_hour},
                            "rateCode": f"{term_key}.6YS6EN2CT7",
                            "description": f"${usd_per_hour} per On Demand Linux {instance_type} Instance Hour",
                            "beginRange": "0",
                            "endRange": "Inf",
                            "appliesTo": [],
                        }
                    },
                    "sku": sku,
                    "effectiveDate": "2025-06-01T00:00:00Z",
                    "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            }
        },
        "version": "20250601000000",
        "publicationDate": "2025-06-01T00:00:00Z",
    }


CatalogFactory = Callable[..., PriceCatalog]


@pytest.fixture(name="on_demand_document")
def on_demand_document_fixture() -> Callable[..., dict]:
    return on_demand_document


@pytest.fixture
def make_catalog() -> CatalogFactory:
    """Build a catalog from literal prices: ``make_catalog({("us-east-1", "r6i.xlarge"): "0.252"}, spot=[...])``."""

    def build(
        on_demand: dict[tuple[str, str], str], spot: Sequence[SpotPricePoint] = (), **kwargs
    ) -> PriceCatalog:
        records = []
        for index, ((region, instance_type), usd) in enumerate(sorted(on_demand.items())):
            doc = on_demand_document(instance_type, region, usd, sku=f"TESTSKU{index:09d}")
            records += parse_price_list([doc], region=region)
        return PriceCatalog(
            snapshot_id="test", effective_date=date(2025, 6, 1), records=records, spot_points=spot, **kwargs
        )

    return build


@pytest.fixture(scope="session")
def shipped_snapshot() -> PricingSnapshot:
    from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT

    return load_snapshot(DEFAULT_SNAPSHOT_ROOT / SHIPPED_SNAPSHOT_ID)


@pytest.fixture(scope="session")
def shipped_catalog(shipped_snapshot: PricingSnapshot) -> PriceCatalog:
    return PriceCatalog.from_snapshot(shipped_snapshot)
