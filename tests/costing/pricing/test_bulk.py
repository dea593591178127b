"""Fresh prices without an AWS account: the public bulk offer files and the Spot Instance Advisor, served on
127.0.0.1 in their real layout (offer index -> region index -> offer file), streamed and filtered."""

from __future__ import annotations

import io
import json
import shutil
import time
from datetime import UTC, datetime

import pytest
from bulk_fakes import ADVISOR_PATH, VERSION, bulk_files, serving, url_of
from helpers import free_port

from costing.pricing.bulk import BulkOfferError, BulkOffers, attribute_filter, stream_offer
from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.fetch import refresh_snapshot
from costing.pricing.sheet_builder import build_price_sheet
from costing.pricing.snapshot import load_snapshot

NEWEST = DEFAULT_SNAPSHOT_ROOT / "2026-12-01"
REGIONS = ["us-east-1", "eu-west-1"]
TYPES = ["r6i.xlarge", "m5.large", "c5.large"]
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def test_an_offer_file_is_streamed_keeping_only_the_filtered_products():
    document = {
        "offerCode": "AmazonEC2",
        "version": "20261201000000",
        "publicationDate": "2026-12-01T00:00:00Z",
        "products": {
            f"SKU{i:05d}": {
                "sku": f"SKU{i:05d}",
                "productFamily": "Compute Instance",
                "attributes": {
                    "operatingSystem": "Linux" if i % 3 else "Windows",
                    "instanceType": "m5.large",
                },
            }
            for i in range(3_000)
        },
        "terms": {"OnDemand": {f"SKU{i:05d}": {"T": {"price": str(i)}} for i in range(3_000)}},
    }
    body = io.BytesIO(json.dumps(document).encode())
    keep = attribute_filter([{"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "linux"}])
    streamed = stream_offer(body, keep, service_code="AmazonEC2")
    assert streamed.products_seen == 3_000
    assert len(streamed.items) == 2_000  # the Windows third is left out
    first = streamed.items[0]
    assert first["product"]["sku"] == "SKU00001" and first["terms"] == {"OnDemand": {"T": {"price": "1"}}}
    assert (first["version"], first["publicationDate"], first["serviceCode"]) == (
        "20261201000000",
        "2026-12-01T00:00:00Z",
        "AmazonEC2",
    )
    with pytest.raises(BulkOfferError, match="not a valid offer file"):
        stream_offer(io.BytesIO(b'{"products": {"A": {'), keep, url="x")


@pytest.fixture
def root(tmp_path):
    shutil.copytree(NEWEST, tmp_path / "snapshots" / NEWEST.name)
    return tmp_path / "snapshots"


@pytest.mark.integration
def test_a_refresh_without_an_account_reads_the_bulk_files_and_the_advisor(root, tmp_path):
    with serving(bulk_files(NEWEST)) as server:
        base = url_of(server)
        result = refresh_snapshot(
            bulk=BulkOffers(base, timeout_seconds=5),
            spot_advisor_url=f"{base}{ADVISOR_PATH}",
            root=root,
            regions=REGIONS,
            instance_types=TYPES,
            sagemaker_instance_types=["ml.m5.large"],
            now=NOW,
            cache_dir=tmp_path / "cache",
        )
    assert result.status == "fresh", result.message
    # the real layout was walked: the offer index, a region index per service, an offer file per region
    assert server.requested[0] == "/offers/v1.0/aws/index.json"
    assert "/offers/v1.0/aws/AmazonEC2/current/region_index.json" in server.requested
    assert f"/offers/v1.0/aws/AmazonEC2/{VERSION}/eu-west-1/index.json" in server.requested
    assert "/savingsPlan/v1.0/aws/AWSComputeSavingsPlan/current/region_index.json" in server.requested
    assert ADVISOR_PATH in server.requested
    snapshot = load_snapshot(root / "2026-12-02T0600Z")
    provenance = snapshot.provenance
    assert provenance.source == "bulk" and provenance.spot_window_start is None
    ec2 = provenance.offers["AmazonEC2"]["us-east-1"]
    assert (ec2["version"], ec2["publication_date"]) == (VERSION, "2026-12-01T00:00:00Z")
    assert int(ec2["products_read"]) > int(ec2["products_kept"])  # Windows, Dedicated, other types left out
    assert "AWSComputeSavingsPlan" in provenance.offers

    sheet = build_price_sheet(snapshot, "us-east-1", now=NOW)
    r6i = sheet.instances["r6i.xlarge"]
    assert r6i.on_demand_usd_per_hour == 0.252
    # no spot history without an account: on-demand less the Advisor's 62 % savings, said so
    assert r6i.spot_usd_per_hour == pytest.approx(0.252 * 0.38)
    assert r6i.spot_p90_usd_per_hour is None and r6i.spot_basis.startswith(
        "Spot Instance Advisor savings (62%"
    )
    assert r6i.interruption_rate_per_month == 0.10  # bucket 1, "5-10%", from the served document
    assert sheet.instances["c5.large"].interruption_rate_per_month == 0.15
    assert set(sheet.instances) == set(TYPES)
    assert r6i.savings_plan_usd_per_hour["Compute/1yr/No Upfront"] == pytest.approx(0.252 * 0.74)
    assert len(r6i.reserved_usd_per_hour) == 12
    ages = {age.source: age for age in sheet.source_ages}
    assert ages["EC2 spot prices"].basis.startswith("Spot Instance Advisor savings")
    assert ages["EC2 spot prices"].age_days == pytest.approx(0.0) and not ages["EC2 spot prices"].stale
    assert ages["Spot interruption table"].basis == "advisor feed"


def test_unreachable_bulk_files_leave_the_refresh_stale_in_seconds(root, tmp_path):
    start = time.monotonic()
    result = refresh_snapshot(
        bulk=BulkOffers(f"http://127.0.0.1:{free_port()}", timeout_seconds=3),
        root=root,
        regions=REGIONS,
        instance_types=TYPES,
        now=NOW,
        cache_dir=tmp_path / "cache",
    )
    assert time.monotonic() - start < 10
    assert result.status == "stale" and result.snapshot_id == "2026-12-01"
    assert "cannot read http://127.0.0.1:" in result.reason and "/offers/v1.0/aws/index.json" in result.reason
    assert "Connection refused" in result.reason
    assert sorted(p.name for p in root.iterdir()) == ["2026-12-01"]


@pytest.mark.integration
def test_a_damaged_offer_file_or_a_missing_region_is_stale_with_the_url(root, tmp_path):
    files = bulk_files(NEWEST)
    files[f"/offers/v1.0/aws/AWSLambda/{VERSION}/eu-west-1/index.json"] = b'{"products": {"X": '
    with serving(files) as server:
        result = refresh_snapshot(
            bulk=BulkOffers(url_of(server)), root=root, regions=REGIONS, instance_types=TYPES, now=NOW
        )
    assert result.status == "stale"
    assert f"AWSLambda/{VERSION}/eu-west-1/index.json: not a valid offer file" in result.reason
    with serving(bulk_files(NEWEST)) as server:
        result = refresh_snapshot(
            bulk=BulkOffers(url_of(server)), root=root, regions=["ap-south-1"], instance_types=TYPES, now=NOW
        )
    assert result.status == "stale" and "publishes no offer file for ap-south-1" in result.reason


@pytest.mark.integration
def test_the_command_line_refreshes_from_the_bulk_files(root, capsys):
    from costing.cli import main

    offline = main(
        ["refresh", "--bulk", "--root", str(root), "--price-list-url", f"http://127.0.0.1:{free_port()}"]
    )
    assert offline == 1 and "Connection refused" in capsys.readouterr().out
    # the bulk files are the command's only source: --bulk is the default
    offline = main(["refresh", "--root", str(root), "--price-list-url", f"http://127.0.0.1:{free_port()}"])
    assert offline == 1 and "Connection refused" in capsys.readouterr().out
    with serving(bulk_files(NEWEST)) as server:
        base = url_of(server)
        code = main(
            [
                "refresh",
                "--bulk",
                "--root",
                str(root),
                "--price-list-url",
                base,
                "--advisor-url",
                f"{base}{ADVISOR_PATH}",
                "--region",
                "us-east-1",
                *(arg for t in TYPES for arg in ("--instance-type", t)),
            ]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("fresh: wrote ")
