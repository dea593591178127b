"""Pricing snapshots: immutable folders of raw AWS pricing documents plus what was derived from them.

Layout of ``<root>/<snapshot_id>/`` (schema version :data:`SCHEMA_VERSION`)::

    raw/pricing/<service_code>/<region>.json     {"FormatVersion": "aws_v1", "PriceList": ["<json>", ...]}
                                                  i.e. all pages of pricing.get_products merged
    raw/spot_price_history/<region>.json         {"SpotPriceHistory": [{...}, ...]} as
                                                  ec2.describe_spot_price_history returns it
                                                  (Timestamp written as an ISO string)
    prices.csv                                   one row per price, columns PRICE_TABLE_COLUMNS,
                                                  built from raw/ by build_price_table()
    provenance.json                              where the documents came from (see Provenance)

A snapshot is written once (:func:`write_snapshot`, atomically) and never edited: a refresh writes a
new one. Snapshot ids start with an ISO date so that sorting them by name sorts them by time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.prices import (
    PRICE_TABLE_COLUMNS,
    ParseIssue,
    PriceRecord,
    SpotPricePoint,
    format_timestamp,
    parse_price_list,
    parse_spot_price_history,
    parse_timestamp,
)

if TYPE_CHECKING:
    import pandas as pd

    from costing.catalog import PriceCatalog

__all__ = [
    "DEFAULT_SNAPSHOT_ROOT",
    "SCHEMA_VERSION",
    "SOURCES",
    "PricingSnapshot",
    "Provenance",
    "build_price_table",
    "latest_snapshot_dir",
    "load_latest_snapshot",
    "load_snapshot",
    "parse_raw",
    "price_table_rows",
    "render_price_table",
    "write_snapshot",
]

SCHEMA_VERSION = 1
# api: fetched through the AWS APIs; snapshot: copied from another snapshot (e.g. the fallback when a
# refresh fails); recorded: transcribed by hand from AWS's public pricing pages.
SOURCES = ("api", "snapshot", "recorded")
PRICE_LIST_FORMAT_VERSION = "aws_v1"

PRICING_DIR = Path("raw") / "pricing"
SPOT_DIR = Path("raw") / "spot_price_history"
PRICES_CSV = "prices.csv"
PROVENANCE_JSON = "provenance.json"

_SNAPSHOT_ID = re.compile(r"^\d{4}-\d{2}-\d{2}[0-9A-Za-z._-]*$")


@dataclass(frozen=True)
class Provenance:
    """Where a snapshot's documents came from and what went wrong getting them."""

    snapshot_id: str  # the folder name, e.g. "2025-06-01"
    source: str  # one of SOURCES
    fetched_at: str  # ISO timestamp the documents were obtained (or recorded)
    prices_as_of: str  # ISO date the prices describe
    regions: tuple[str, ...]  # regions with documents in raw/
    publication_dates: Mapping[str, Mapping[str, str]]  # service -> region -> Price List publicationDate
    spot_window_start: str | None = None  # the describe_spot_price_history StartTime / EndTime
    spot_window_end: str | None = None
    failures: tuple[Mapping[str, str], ...] = ()  # {"what": ..., "region": ..., "error": ...}
    notes: tuple[str, ...] = ()
    parse_issues: tuple[str, ...] = ()  # filled in by write_snapshot from the parser
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"provenance source {self.source!r} is not one of {SOURCES}")
        if not _SNAPSHOT_ID.match(self.snapshot_id):
            raise ValueError(
                f"snapshot id {self.snapshot_id!r} must start with an ISO date (YYYY-MM-DD) and use only "
                "letters, digits, '.', '_' and '-', e.g. '2025-06-01' or '2025-06-01T0600Z'"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "schema_version": self.schema_version,
            "source": self.source,
            "fetched_at": self.fetched_at,
            "prices_as_of": self.prices_as_of,
            "regions": list(self.regions),
            "publication_dates": {service: dict(by_region) for service, by_region in self.publication_dates.items()},
            "spot_window_start": self.spot_window_start,
            "spot_window_end": self.spot_window_end,
            "failures": [dict(failure) for failure in self.failures],
            "notes": list(self.notes),
            "parse_issues": list(self.parse_issues),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        missing = [key for key in ("snapshot_id", "schema_version", "source", "fetched_at", "regions") if key not in data]
        if missing:
            raise ValueError(f"provenance.json lacks {missing}; it was not written by costing.snapshot")
        return cls(
            snapshot_id=str(data["snapshot_id"]),
            schema_version=int(data["schema_version"]),
            source=str(data["source"]),
            fetched_at=str(data["fetched_at"]),
            prices_as_of=str(data.get("prices_as_of") or str(data["fetched_at"])[:10]),
            regions=tuple(data["regions"]),
            publication_dates={s: dict(r) for s, r in (data.get("publication_dates") or {}).items()},
            spot_window_start=data.get("spot_window_start"),
            spot_window_end=data.get("spot_window_end"),
            failures=tuple(dict(f) for f in data.get("failures") or ()),
            notes=tuple(data.get("notes") or ()),
            parse_issues=tuple(data.get("parse_issues") or ()),
        )


@dataclass(frozen=True)
class PricingSnapshot:
    """A loaded snapshot: provenance plus every price parsed from its raw documents."""

    path: Path
    provenance: Provenance
    price_records: tuple[PriceRecord, ...]
    spot_points: tuple[SpotPricePoint, ...]
    issues: tuple[ParseIssue, ...] = field(default=())

    @property
    def snapshot_id(self) -> str:
        return self.provenance.snapshot_id

    def catalog(self) -> PriceCatalog:
        from costing.catalog import PriceCatalog

        return PriceCatalog.from_snapshot(self)

    def price_table_rows(self) -> list[dict[str, str]]:
        return price_table_rows(self.price_records, self.spot_points)

    def to_dataframe(self) -> pd.DataFrame:
        """The normalized price table as a DataFrame (reads prices.csv; pandas imported on demand)."""
        import pandas as pd

        return pd.read_csv(self.path / PRICES_CSV, keep_default_na=False)


# -- reading -----------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); the snapshot is damaged, write a new one") from error


def _raw_price_lists(snapshot_dir: Path) -> dict[str, dict[str, list[Any]]]:
    result: dict[str, dict[str, list[Any]]] = {}
    pricing_dir = snapshot_dir / PRICING_DIR
    for path in sorted(pricing_dir.glob("*/*.json")):
        document = _read_json(path)
        if not isinstance(document, Mapping) or not isinstance(document.get("PriceList"), list):
            raise ValueError(f"{path} has no 'PriceList' list; expected a merged pricing.get_products response")
        result.setdefault(path.parent.name, {})[path.stem] = document["PriceList"]
    return result


def _raw_spot_histories(snapshot_dir: Path) -> dict[str, Mapping[str, Any]]:
    result: dict[str, Mapping[str, Any]] = {}
    for path in sorted((snapshot_dir / SPOT_DIR).glob("*.json")):
        document = _read_json(path)
        if not isinstance(document, Mapping) or not isinstance(document.get("SpotPriceHistory"), list):
            raise ValueError(f"{path} has no 'SpotPriceHistory' list; expected a describe_spot_price_history response")
        result[path.stem] = document
    return result


def parse_raw(snapshot_dir: Path) -> tuple[list[PriceRecord], list[SpotPricePoint], list[ParseIssue]]:
    """Parse every raw document of a snapshot folder with the same parser used for live responses."""
    snapshot_dir = Path(snapshot_dir)
    issues: list[ParseIssue] = []
    records: list[PriceRecord] = []
    for by_region in _raw_price_lists(snapshot_dir).values():
        for region, price_list in by_region.items():
            records.extend(parse_price_list(price_list, region=region, issues=issues))
    points: list[SpotPricePoint] = []
    for region, history in _raw_spot_histories(snapshot_dir).items():
        points.extend(parse_spot_price_history(history, region=region, issues=issues))
    return records, points, issues


def price_table_rows(records: Sequence[PriceRecord], spot_points: Sequence[SpotPricePoint]) -> list[dict[str, str]]:
    """The normalized table: one row per price, in a stable order (so the CSV diffs cleanly)."""
    rows = [record.to_row() for record in records] + [point.to_row() for point in spot_points]
    order = ("service", "region", "term", "instance_type", "usage_type", "lease_contract_length",
             "offering_class", "purchase_option", "availability_zone", "effective_date", "sku", "rate_code")
    return sorted(rows, key=lambda row: tuple(row[column] for column in order))


def render_price_table(rows: Sequence[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PRICE_TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def build_price_table(snapshot_dir: Path) -> str:
    """The text of ``prices.csv`` for a snapshot folder, computed from its ``raw/`` documents."""
    records, points, _ = parse_raw(Path(snapshot_dir))
    return render_price_table(price_table_rows(records, points))


def load_snapshot(path: Path | str, *, verify_price_table: bool = True) -> PricingSnapshot:
    """Load a snapshot folder: check its provenance, parse ``raw/``, and (by default) check that
    ``prices.csv`` is exactly what ``raw/`` parses to."""
    snapshot_dir = Path(path)
    provenance_path = snapshot_dir / PROVENANCE_JSON
    if not provenance_path.is_file():
        raise FileNotFoundError(
            f"{snapshot_dir} is not a pricing snapshot: {PROVENANCE_JSON} is missing. "
            f"Snapshots live under {DEFAULT_SNAPSHOT_ROOT}; pick one with latest_snapshot_dir()"
        )
    raw_provenance = _read_json(provenance_path)
    schema_version = raw_provenance.get("schema_version") if isinstance(raw_provenance, Mapping) else None
    if schema_version != SCHEMA_VERSION:
        raise ValueError(
            f"snapshot {snapshot_dir.name} has schema_version {schema_version!r}, this code reads "
            f"{SCHEMA_VERSION}; write a new snapshot with this version of costing"
        )
    provenance = Provenance.from_dict(raw_provenance)
    if provenance.snapshot_id != snapshot_dir.name:
        raise ValueError(
            f"snapshot folder {snapshot_dir.name!r} holds provenance for {provenance.snapshot_id!r}; "
            "snapshots must not be renamed or copied over each other"
        )

    records, points, issues = parse_raw(snapshot_dir)
    raw_regions = {record.region for record in records} | {point.region for point in points}
    if raw_regions != set(provenance.regions):
        raise ValueError(
            f"snapshot {provenance.snapshot_id}: provenance lists regions {sorted(provenance.regions)} "
            f"but raw/ has prices for {sorted(raw_regions)}"
        )
    if verify_price_table:
        table_path = snapshot_dir / PRICES_CSV
        expected = render_price_table(price_table_rows(records, points))
        if not table_path.is_file() or table_path.read_text(encoding="utf-8") != expected:
            raise ValueError(
                f"snapshot {provenance.snapshot_id}: {PRICES_CSV} does not match what raw/ parses to; "
                "the snapshot was edited by hand or written by other code. Write a new snapshot instead"
            )
    return PricingSnapshot(
        path=snapshot_dir,
        provenance=provenance,
        price_records=tuple(records),
        spot_points=tuple(points),
        issues=tuple(issues),
    )


def latest_snapshot_dir(root: Path | str = DEFAULT_SNAPSHOT_ROOT) -> Path:
    """The newest snapshot folder under ``root`` (ids start with an ISO date, so newest = last by name)."""
    root = Path(root)
    candidates = sorted(
        child
        for child in (root.iterdir() if root.is_dir() else ())
        if child.is_dir() and not child.name.startswith(".") and (child / PROVENANCE_JSON).is_file()
    )
    if not candidates:
        raise FileNotFoundError(
            f"no pricing snapshot under {root}; write one with the pricing refresh, or "
            "`python -m costing.snapshot_tools record` for the hand-recorded rates"
        )
    return candidates[-1]


def load_latest_snapshot(root: Path | str = DEFAULT_SNAPSHOT_ROOT) -> PricingSnapshot:
    return load_snapshot(latest_snapshot_dir(root))


# -- writing -----------------------------------------------------------------------------------------


def _json_lines(key: str, items: Sequence[Any], extra: Mapping[str, Any] | None = None) -> str:
    """A JSON object with one list item per line: compact, but diffable."""
    head = "".join(f"{json.dumps(k)}: {json.dumps(v)}, " for k, v in (extra or {}).items())
    body = ",\n".join(json.dumps(item, sort_keys=False, default=str) for item in items)
    return "{" + head + json.dumps(key) + ": [\n" + body + "\n]}\n"


def write_snapshot(
    root: Path | str,
    *,
    provenance: Provenance,
    price_lists: Mapping[str, Mapping[str, Sequence[str | Mapping[str, Any]]]],
    spot_price_histories: Mapping[str, Sequence[Mapping[str, Any]] | Mapping[str, Any]],
) -> Path:
    """Write a new snapshot folder ``<root>/<provenance.snapshot_id>`` atomically and return it.

    ``price_lists`` maps service code -> region -> PriceList items (all pages merged; dicts are
    stored as JSON strings, as the API returns them). ``spot_price_histories`` maps region -> a
    describe_spot_price_history response or its ``SpotPriceHistory`` items. Everything is written to
    a temporary folder beside the target and renamed into place, so readers never see half a
    snapshot. An existing snapshot is never overwritten.
    """
    root = Path(root)
    target = root / provenance.snapshot_id
    if target.exists():
        raise FileExistsError(f"snapshot {target} already exists; snapshots are immutable, pick a new snapshot_id")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{provenance.snapshot_id}.", dir=root))
    try:
        for service, by_region in price_lists.items():
            for region, items in by_region.items():
                path = staging / PRICING_DIR / service / f"{region}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                strings = [item if isinstance(item, str) else json.dumps(item) for item in items]
                path.write_text(_json_lines("PriceList", strings, {"FormatVersion": PRICE_LIST_FORMAT_VERSION}))
        for region, history in spot_price_histories.items():
            items = history.get("SpotPriceHistory", []) if isinstance(history, Mapping) else history
            path = staging / SPOT_DIR / f"{region}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_json_lines("SpotPriceHistory", [_spot_item_for_file(item) for item in items]))

        records, points, issues = parse_raw(staging)
        (staging / PRICES_CSV).write_text(render_price_table(price_table_rows(records, points)))
        provenance_dict = provenance.to_dict() | {"parse_issues": [str(issue) for issue in issues]}
        (staging / PROVENANCE_JSON).write_text(json.dumps(provenance_dict, indent=2) + "\n")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _spot_item_for_file(item: Mapping[str, Any]) -> dict[str, Any]:
    stored = dict(item)
    if "Timestamp" in stored and not isinstance(stored["Timestamp"], str):
        stored["Timestamp"] = format_timestamp(parse_timestamp(stored["Timestamp"]))
    return stored
