"""Pricing snapshots: the shipped one, and writing / loading / finding them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.snapshot import (
    PRICES_CSV,
    PROVENANCE_JSON,
    SCHEMA_VERSION,
    Provenance,
    build_price_table,
    latest_snapshot_dir,
    load_snapshot,
    write_snapshot,
)

SHIPPED_SNAPSHOT_ID = "2025-06-01"
SHIPPED = DEFAULT_SNAPSHOT_ROOT / SHIPPED_SNAPSHOT_ID


def test_shipped_snapshot_loads_with_honest_provenance(shipped_snapshot):
    provenance = shipped_snapshot.provenance
    assert shipped_snapshot.snapshot_id == SHIPPED_SNAPSHOT_ID
    assert provenance.schema_version == 1  # written before the price-key and tier columns; still read
    assert provenance.source == "recorded"
    assert provenance.regions == ("eu-west-1", "us-east-1")
    assert provenance.prices_as_of == "2025-06-01"
    assert provenance.failures == ()
    assert provenance.parse_issues == ()
    notes = " ".join(provenance.notes)
    assert "not fetched" in notes and "illustrative" in notes and "placeholders" in notes
    assert shipped_snapshot.issues == ()


def test_shipped_raw_documents_are_in_the_api_shape():
    price_list = json.loads((SHIPPED / "raw/pricing/AmazonEC2/us-east-1.json").read_text())
    assert price_list["FormatVersion"] == "aws_v1"
    assert all(isinstance(item, str) for item in price_list["PriceList"])
    product = json.loads(price_list["PriceList"][0])
    assert set(product) == {"product", "serviceCode", "terms", "version", "publicationDate"}
    spot = json.loads((SHIPPED / "raw/spot_price_history/eu-west-1.json").read_text())
    first = spot["SpotPriceHistory"][0]
    assert set(first) == {"AvailabilityZone", "InstanceType", "ProductDescription", "SpotPrice", "Timestamp"}
    assert first["Timestamp"].endswith("Z")
    azs = {
        item["AvailabilityZone"] for item in spot["SpotPriceHistory"] if item["InstanceType"] == "r6i.xlarge"
    }
    assert azs == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def test_prices_csv_is_what_raw_parses_to(shipped_snapshot):
    assert (SHIPPED / PRICES_CSV).read_text() == build_price_table(SHIPPED)
    with (SHIPPED / PRICES_CSV).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(shipped_snapshot.price_records) + len(shipped_snapshot.spot_points)
    default = [r for r in rows if r["instance_type"] == "r6i.xlarge" and r["term"] == "OnDemand"]
    assert {(r["region"], r["usd_rate"]) for r in default} == {("us-east-1", "0.252"), ("eu-west-1", "0.282")}
    assert {r["term"] for r in rows} == {"OnDemand", "Reserved", "Spot"}


def test_newest_shipped_snapshot_is_schema_2_and_reads_v1_columns_of_the_old_one(shipped_snapshot):
    newest = load_snapshot(latest_snapshot_dir())
    assert newest.provenance.schema_version == SCHEMA_VERSION == 2
    assert newest.issues == ()
    header = (newest.path / PRICES_CSV).read_text().splitlines()[0]
    assert header.endswith("product_family,price_key,begin_range,end_range,free_tier")
    old_header = (SHIPPED / PRICES_CSV).read_text().splitlines()[0]
    assert old_header.endswith("effective_date,zero_price")
    # The old snapshot's raw documents still parse into every current column.
    frame = shipped_snapshot.to_dataframe()
    assert set(frame["price_key"]) == {"ec2.instance", "ec2.spot"}


def test_latest_snapshot_dir_picks_the_newest(tmp_path):
    assert latest_snapshot_dir() >= SHIPPED
    for name in ("2025-05-01", "2025-06-01T0600Z", "2025-06-01"):
        (tmp_path / name).mkdir()
        (tmp_path / name / PROVENANCE_JSON).write_text("{}")
    (tmp_path / ".2025-07-01.tmp").mkdir()  # a write in progress
    (tmp_path / "2025-08-01").mkdir()  # no provenance: not a snapshot
    assert latest_snapshot_dir(tmp_path) == tmp_path / "2025-06-01T0600Z"
    with pytest.raises(FileNotFoundError, match="no pricing snapshot under"):
        latest_snapshot_dir(tmp_path / "empty")


def _provenance(snapshot_id: str = "2025-06-02", **overrides) -> Provenance:
    arguments = {
        "snapshot_id": snapshot_id,
        "source": "api",
        "fetched_at": "2025-06-02T06:00:00Z",
        "prices_as_of": "2025-06-02",
        "regions": ("us-east-1",),
        "publication_dates": {"AmazonEC2": {"us-east-1": "2025-05-30T18:00:00Z"}},
    }
    return Provenance(**(arguments | overrides))


@pytest.fixture
def write(on_demand_document):
    def write_one(root: Path, region_of_documents: str = "us-east-1") -> Path:
        return _write(root, on_demand_document, region_of_documents)

    return write_one


def _write(root: Path, on_demand_document, region_of_documents: str) -> Path:
    return write_snapshot(
        root,
        provenance=_provenance(),
        price_lists={
            "AmazonEC2": {
                "us-east-1": [on_demand_document("r6i.xlarge", region_of_documents, "0.2520000000")]
            }
        },
        spot_price_histories={
            "us-east-1": {
                "SpotPriceHistory": [
                    {
                        "AvailabilityZone": "us-east-1a",
                        "InstanceType": "r6i.xlarge",
                        "ProductDescription": "Linux/UNIX",
                        "SpotPrice": "0.077900",
                        "Timestamp": "2025-06-01T10:00:00.000Z",
                    }
                ]
            }
        },
    )


def test_write_then_load_round_trip(tmp_path, write):
    path = write(tmp_path)
    assert path == tmp_path / "2025-06-02"
    snapshot = load_snapshot(path)
    catalog = PriceCatalog.from_snapshot(snapshot)
    assert catalog.on_demand_usd_per_hour("r6i.xlarge", "us-east-1") == pytest.approx(0.252)
    assert catalog.current_spot_usd_per_hour("r6i.xlarge", "us-east-1") == pytest.approx(0.0779)
    stored = json.loads((path / "raw/pricing/AmazonEC2/us-east-1.json").read_text())
    assert isinstance(stored["PriceList"][0], str)  # dicts are stored as the API's JSON strings
    assert [p.name for p in tmp_path.iterdir()] == ["2025-06-02"]  # no staging folder left behind
    assert snapshot.to_dataframe()["usd_rate"].tolist() == [0.252, 0.0779]


def test_snapshots_are_never_overwritten(tmp_path, write):
    write(tmp_path)
    with pytest.raises(FileExistsError, match="immutable"):
        write(tmp_path)


def test_a_failed_write_leaves_nothing_behind(tmp_path, write):
    with pytest.raises(ValueError, match="contains sku"):
        write(tmp_path, region_of_documents="eu-west-1")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_edited_or_foreign_snapshots(tmp_path, write):
    path = write(tmp_path)
    table = path / PRICES_CSV
    table.write_text(table.read_text().replace("0.252", "0.152"))
    with pytest.raises(ValueError, match="does not match what raw/ parses to"):
        load_snapshot(path)
    assert load_snapshot(path, verify_price_table=False).snapshot_id == "2025-06-02"

    provenance = json.loads((path / PROVENANCE_JSON).read_text())
    (path / PROVENANCE_JSON).write_text(json.dumps(provenance | {"schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99, this code reads 1 and 2"):
        load_snapshot(path)

    renamed = path.rename(tmp_path / "2025-06-03")
    (renamed / PROVENANCE_JSON).write_text(json.dumps(provenance))
    with pytest.raises(ValueError, match="holds provenance for '2025-06-02'"):
        load_snapshot(renamed)
    with pytest.raises(FileNotFoundError, match=r"is not a pricing snapshot: it has no provenance.json"):
        load_snapshot(tmp_path)


def test_provenance_is_validated():
    with pytest.raises(ValueError, match="source 'scraped'"):
        _provenance(source="scraped")
    with pytest.raises(ValueError, match="must start with an ISO date"):
        _provenance(snapshot_id="../latest")
    with pytest.raises(ValueError, match="schema_version 7"):
        _provenance(schema_version=7)


def test_snapshot_age_is_counted_from_fetched_at(shipped_snapshot):
    from datetime import UTC, datetime

    from costing.pricing.snapshot import snapshot_age_days

    assert snapshot_age_days(shipped_snapshot, datetime(2025, 6, 11, 12, tzinfo=UTC)) == pytest.approx(10.5)
    assert shipped_snapshot.age_days(datetime(2025, 6, 1, tzinfo=UTC)) == 0
    with pytest.raises(ValueError, match="no timezone"):
        snapshot_age_days(shipped_snapshot, datetime(2025, 6, 2))


def test_previous_snapshot_dir(tmp_path):
    from costing.pricing.snapshot import previous_snapshot_dir

    for name in ("2025-05-01", "2025-06-01"):
        (tmp_path / name).mkdir()
        (tmp_path / name / PROVENANCE_JSON).write_text("{}")
    assert previous_snapshot_dir(tmp_path, before="2025-06-01") == tmp_path / "2025-05-01"
    assert previous_snapshot_dir(tmp_path, before="2025-05-01") is None
