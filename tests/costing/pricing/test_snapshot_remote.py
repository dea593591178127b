"""Snapshots under an s3:// root (moto server on loopback): publish, list, download, and a refresh that
keeps the last good remote snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from aws_fakes import running_moto_server
from botocore.stub import Stubber

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.fetch import refresh_snapshot
from costing.pricing.snapshot import download_snapshot, list_snapshot_ids, load_snapshot, publish_snapshot

NEWEST = DEFAULT_SNAPSHOT_ROOT / "2025-06-02"
ROOT = "s3://pricing-snapshots/daily"


@pytest.fixture(scope="module")
def moto_endpoint():
    with running_moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_options(moto_endpoint):
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = "pricing-snapshots"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    else:
        s3.create_bucket(Bucket=bucket)
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    return s3, options


@pytest.mark.integration
def test_publish_list_and_download_a_snapshot(s3_options, tmp_path):
    s3, options = s3_options
    assert list_snapshot_ids(ROOT, storage_options=options) == []
    url = publish_snapshot(NEWEST, ROOT, storage_options=options)
    assert url == f"{ROOT}/2025-06-02"
    # An upload in progress (no provenance.json yet) is not a snapshot.
    s3.put_object(Bucket="pricing-snapshots", Key="daily/2025-07-01/prices.csv", Body=b"partial")
    assert list_snapshot_ids(ROOT, storage_options=options) == ["2025-06-02"]
    with pytest.raises(FileExistsError, match="immutable"):
        publish_snapshot(NEWEST, ROOT, storage_options=options)

    local = download_snapshot(ROOT, "2025-06-02", tmp_path, storage_options=options)
    assert local == tmp_path / "2025-06-02"
    shipped = sorted(p.relative_to(NEWEST) for p in NEWEST.rglob("*") if p.is_file())
    assert sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file()) == shipped
    assert all((local / r).read_bytes() == (NEWEST / r).read_bytes() for r in shipped)
    assert load_snapshot(local).snapshot_id == "2025-06-02"
    with pytest.raises(FileNotFoundError, match="no pricing snapshot '2025-07-01'"):
        download_snapshot(ROOT, "2025-07-01", tmp_path, storage_options=options)


@pytest.mark.integration
def test_a_failed_refresh_keeps_the_remote_snapshot(s3_options, tmp_path, moto_endpoint):
    s3, options = s3_options
    publish_snapshot(NEWEST, ROOT, storage_options=options)
    before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="pricing-snapshots")["Contents"])
    pricing = boto3.client(
        "pricing",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",
    )
    with Stubber(pricing) as stubber:
        # Not a throttling error: botocore would retry that with back-off, which only slows the test down.
        stubber.add_client_error(
            "get_products", service_error_code="AccessDeniedException", http_status_code=400
        )
        result = refresh_snapshot(
            pricing_client=pricing,
            ec2_clients={},
            root=ROOT,
            regions=["us-east-1"],
            instance_types=["r6i.xlarge"],
            now=datetime(2025, 6, 12, tzinfo=UTC),
            storage_options=options,
            cache_dir=tmp_path / "cache",
        )
    assert result.status == "stale"
    assert result.snapshot_uri == f"{ROOT}/2025-06-02"
    # age of the prices: they describe 2025-06-01, eleven days before the refresh
    assert result.message.startswith("stale: kept 2025-06-02, age 11.0 days, because ")
    assert "AccessDeniedException" in result.reason
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="pricing-snapshots")["Contents"]) == before
