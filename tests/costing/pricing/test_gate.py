"""The gate before publishing: the cost model's own lookups on a candidate snapshot, each refusal named."""

from __future__ import annotations

import json
import shutil

import pytest

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.gate import check_candidate
from costing.pricing.snapshot import load_snapshot

NEWEST = DEFAULT_SNAPSHOT_ROOT / "2026-12-01"
PREVIOUS = DEFAULT_SNAPSHOT_ROOT / "2025-06-02"
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="module")
def previous():
    return load_snapshot(PREVIOUS)


def _tampered(tmp_path, service, region, change):
    folder = tmp_path / NEWEST.name
    shutil.copytree(NEWEST, folder)
    path = folder / "raw" / "pricing" / service / f"{region}.json"
    document = json.loads(path.read_text())
    items = []
    for item in document["PriceList"]:
        doc = change(json.loads(item))
        if doc is not None:
            items.append(json.dumps(doc))
    path.write_text(json.dumps({"FormatVersion": "aws_v1", "PriceList": items}))
    return load_snapshot(folder, verify_price_table=False)


def test_the_shipped_snapshot_passes_the_gate(previous):
    rejections, warnings = check_candidate(
        load_snapshot(NEWEST), previous=previous, regions=REGIONS, instance_types=["m5.large", "c7g.large"]
    )
    assert rejections == []
    # c7g.large is not priced in eu-west-1 (and never was): a warning, not a refusal
    assert warnings == ["eu-west-1: no on-demand price for c7g.large (not offered there?); left out"]


def test_an_unusable_service_rate_is_refused_with_the_sheets_reason(tmp_path, previous):
    def two_first_tiers(doc):
        if doc["product"]["attributes"].get("usagetype") == "DataTransfer-Out-Bytes":
            term = next(iter(doc["terms"]["OnDemand"].values()))
            first = next(d for d in term["priceDimensions"].values() if d["beginRange"] == "0")
            term["priceDimensions"]["EXTRA"] = {**first, "rateCode": "EXTRA", "pricePerUnit": {"USD": "0.12"}}
        return doc

    candidate = _tampered(tmp_path, "AWSDataTransfer", "us-east-1", two_first_tiers)
    rejections, _ = check_candidate(candidate, previous=previous, regions=["us-east-1"], instance_types=[])
    (rejection,) = rejections
    assert (rejection.what, rejection.region, rejection.field) == (
        "rate",
        "us-east-1",
        "data_transfer_out_usd_per_gb",
    )
    assert "2 different first-tier rates [0.09, 0.12]" in rejection.message


def test_a_type_the_previous_snapshot_priced_must_stay_priced(tmp_path, previous):
    def drop_m5_large(doc):
        return None if doc["product"]["attributes"].get("instanceType") == "m5.large" else doc

    candidate = _tampered(tmp_path, "AmazonEC2", "eu-west-1", drop_m5_large)
    rejections, _ = check_candidate(
        candidate, previous=previous, regions=REGIONS, instance_types=["m5.large"]
    )
    (rejection,) = rejections
    assert rejection.region == "eu-west-1"
    assert rejection.message.startswith("m5.large lost its on-demand price: the previous snapshot priced it")
    assert rejection.to_failure()["what"] == "gate:instance"
