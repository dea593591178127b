"""Pricing snapshots: immutable folders of raw AWS pricing documents plus what was derived from them.

Layout of ``<root>/<snapshot_id>/`` (schema version :data:`SCHEMA_VERSION`)::

    raw/pricing/<service_code>/<region>.json     {"FormatVersion": "aws_v1", "PriceList": ["<json>", ...]}
                                                  i.e. all pages of pricing.get_products merged
    raw/spot_price_history/<region>.json         {"SpotPriceHistory": [{...}, ...]} as
                                                  ec2.describe_spot_price_history returns it
                                                  (Timestamp written as an ISO string)
    raw/savings_plans/<region>.json              a Savings Plans offer document (AWSComputeSavingsPlan)
                                                  in the bulk file's shape, cut to the priced types
    raw/spot_advisor.json                        the Spot Instance Advisor document, cut to the
                                                  priced regions and types (interruption buckets,
                                                  savings over on-demand); optional
    prices.csv                                   one row per price, columns PRICE_TABLE_COLUMNS,
                                                  built from raw/ by build_price_table()
    provenance.json                              where the documents came from (see Provenance)

A snapshot is written once (:func:`write_snapshot`, atomically) and never edited: a refresh writes a
new one. Snapshot ids start with an ISO date so that sorting them by name sorts them by time.

Schema versions: 1 wrote ``prices.csv`` with :data:`~costing.pricing.parse.PRICE_TABLE_COLUMNS_V1`; 2 adds the
product family, price key and tier columns. Both are read; a version-1 snapshot's ``prices.csv`` is
checked against its own columns, and its raw documents are parsed by today's parser, so
:meth:`PricingSnapshot.to_dataframe` always has every column.

Snapshots can also live under an ``s3://`` (any fsspec URL) root: :func:`publish_snapshot` uploads a
folder written locally (``provenance.json`` last, so a reader never sees half a snapshot) and
:func:`download_snapshot` fetches one into a local cache to be loaded like any other.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.parse import (
    PRICE_TABLE_COLUMNS,
    PRICE_TABLE_COLUMNS_V1,
    InstanceSpec,
    ParseIssue,
    PriceRecord,
    SpotPricePoint,
    format_timestamp,
    parse_instance_specs,
    parse_price_list,
    parse_spot_price_history,
    parse_timestamp,
)
from costing.pricing.savings_plans import parse_savings_plans

if TYPE_CHECKING:
    import pandas as pd


__all__ = [
    "DEFAULT_SNAPSHOT_ROOT",
    "SCHEMA_VERSION",
    "SOURCES",
    "PricingSnapshot",
    "Provenance",
    "build_price_table",
    "download_snapshot",
    "is_remote",
    "latest_snapshot_dir",
    "list_snapshot_ids",
    "load_latest_snapshot",
    "load_snapshot",
    "parse_raw",
    "previous_snapshot_dir",
    "price_table_rows",
    "publish_snapshot",
    "render_price_table",
    "snapshot_age_days",
    "write_snapshot",
]

SCHEMA_VERSION = 2
# prices.csv columns per schema version this code reads (and can reproduce byte for byte).
PRICE_TABLE_COLUMNS_BY_SCHEMA: dict[int, tuple[str, ...]] = {
    1: PRICE_TABLE_COLUMNS_V1,
    2: PRICE_TABLE_COLUMNS,
}
SUPPORTED_SCHEMA_VERSIONS = tuple(PRICE_TABLE_COLUMNS_BY_SCHEMA)
# api: fetched through the AWS APIs; bulk: read from the Price List's public bulk offer files (no AWS
# account); snapshot: copied from another snapshot (e.g. the fallback when a refresh fails);
# recorded: transcribed by hand from AWS's public pricing pages.
SOURCES = ("api", "bulk", "snapshot", "recorded")
PRICE_LIST_FORMAT_VERSION = "aws_v1"

PRICING_DIR = Path("raw") / "pricing"
SPOT_DIR = Path("raw") / "spot_price_history"
SAVINGS_PLANS_DIR = Path("raw") / "savings_plans"
SPOT_ADVISOR_FILE = Path("raw") / "spot_advisor.json"
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
    # bulk offer files read: service -> region -> {"version", "publication_date", "url"}
    offers: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    # prices the snapshot derived rather than recorded or fetched, each {"what", "rule", "source",
    # "regions", "except"}: "except" lists the rows of that kind that were recorded instead
    derived: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(
                f"provenance schema_version {self.schema_version!r} is not one this code writes or reads "
                f"({', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})"
            )
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
            "publication_dates": {
                service: dict(by_region) for service, by_region in self.publication_dates.items()
            },
            "spot_window_start": self.spot_window_start,
            "spot_window_end": self.spot_window_end,
            "failures": [dict(failure) for failure in self.failures],
            "notes": list(self.notes),
            "parse_issues": list(self.parse_issues),
            **(
                {"offers": {s: {r: dict(o) for r, o in by.items()} for s, by in self.offers.items()}}
                if self.offers
                else {}
            ),
            **({"derived": [dict(entry) for entry in self.derived]} if self.derived else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        missing = [
            key
            for key in ("snapshot_id", "schema_version", "source", "fetched_at", "regions")
            if key not in data
        ]
        if missing:
            raise ValueError(
                f"provenance.json lacks {missing}; it was not written by costing.pricing.snapshot"
            )
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
            offers={s: {r: dict(o) for r, o in by.items()} for s, by in (data.get("offers") or {}).items()},
            derived=tuple(dict(entry) for entry in data.get("derived") or ()),
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

    def price_table_rows(self) -> list[dict[str, str]]:
        return price_table_rows(self.price_records, self.spot_points)

    def instance_specs(self, region: str) -> dict[str, InstanceSpec]:
        """vCPUs, memory and architecture of the EC2 and SageMaker instance types priced in ``region``."""
        specs: dict[str, InstanceSpec] = {}
        for by_region in _raw_price_lists(self.path).values():
            specs.update(parse_instance_specs(by_region.get(region, [])))
        return specs

    def spot_advisor(self) -> Mapping[str, Any] | None:
        """The Spot Instance Advisor document stored with the snapshot, or None when it has none."""
        path = self.path / SPOT_ADVISOR_FILE
        return _read_json(path) if path.is_file() else None

    def is_derived(self, what: str, region: str, row: str) -> bool:
        """Whether the snapshot derived the ``what`` price ``row`` ("<type> <term key>") in ``region``."""
        for entry in self.provenance.derived:
            if entry.get("what") == what and region in entry.get("regions", ()):
                return f"{region} {row}" not in set(entry.get("except", ()))
        return False

    def to_dataframe(self) -> pd.DataFrame:
        """The normalized price table as a DataFrame with every current column (pandas imported on demand).

        Built from the parsed raw documents rather than read from ``prices.csv``, so a schema-1 snapshot
        gets the price key and tier columns too.
        """
        return price_table_frame(self.price_records, self.spot_points)

    @property
    def fetched_at(self) -> datetime:
        return parse_timestamp(_as_timestamp(self.provenance.fetched_at))

    def age_days(self, now: datetime | None = None) -> float:
        return snapshot_age_days(self, now)


# -- reading -----------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); the snapshot is damaged, write a new one"
        ) from error


def _raw_price_lists(snapshot_dir: Path) -> dict[str, dict[str, list[Any]]]:
    result: dict[str, dict[str, list[Any]]] = {}
    pricing_dir = snapshot_dir / PRICING_DIR
    for path in sorted(pricing_dir.glob("*/*.json")):
        document = _read_json(path)
        if not isinstance(document, Mapping) or not isinstance(document.get("PriceList"), list):
            raise ValueError(
                f"{path} has no 'PriceList' list; expected a merged pricing.get_products response"
            )
        result.setdefault(path.parent.name, {})[path.stem] = document["PriceList"]
    return result


def _raw_spot_histories(snapshot_dir: Path) -> dict[str, Mapping[str, Any]]:
    result: dict[str, Mapping[str, Any]] = {}
    for path in sorted((snapshot_dir / SPOT_DIR).glob("*.json")):
        document = _read_json(path)
        if not isinstance(document, Mapping) or not isinstance(document.get("SpotPriceHistory"), list):
            raise ValueError(
                f"{path} has no 'SpotPriceHistory' list; expected a describe_spot_price_history response"
            )
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
    for path in sorted((snapshot_dir / SAVINGS_PLANS_DIR).glob("*.json")):
        records.extend(parse_savings_plans(_read_json(path), region=path.stem, issues=issues))
    points: list[SpotPricePoint] = []
    for region, history in _raw_spot_histories(snapshot_dir).items():
        points.extend(parse_spot_price_history(history, region=region, issues=issues))
    return records, points, issues


def price_table_rows(
    records: Sequence[PriceRecord], spot_points: Sequence[SpotPricePoint]
) -> list[dict[str, str]]:
    """The normalized table: one row per price, in a stable order (so the CSV diffs cleanly)."""
    rows = [record.to_row() for record in records] + [point.to_row() for point in spot_points]
    order = (
        "service",
        "region",
        "term",
        "instance_type",
        "usage_type",
        "lease_contract_length",
        "offering_class",
        "purchase_option",
        "availability_zone",
        "effective_date",
        "sku",
        "rate_code",
    )
    return sorted(rows, key=lambda row: tuple(row[column] for column in order))


def render_price_table(
    rows: Sequence[Mapping[str, str]], columns: Sequence[str] = PRICE_TABLE_COLUMNS
) -> str:
    """The CSV text of a price table; ``columns`` picks a schema version's columns (see
    :data:`PRICE_TABLE_COLUMNS_BY_SCHEMA`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def price_table_frame(
    records: Sequence[PriceRecord], spot_points: Sequence[SpotPricePoint] = ()
) -> pd.DataFrame:
    """The normalized price table as a typed DataFrame (all current columns, one row per price)."""
    import pandas as pd

    text = render_price_table(price_table_rows(records, spot_points))
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    for column in ("usd_rate", "recurring_usd_rate", "upfront_usd"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("zero_price", "free_tier"):
        frame[column] = frame[column].eq("true")
    return frame


def build_price_table(snapshot_dir: Path, *, schema_version: int | None = None) -> str:
    """The text of ``prices.csv`` for a snapshot folder, computed from its ``raw/`` documents.

    The columns are those of ``schema_version`` (default: the version in the folder's provenance.json,
    or the current one when there is none yet).
    """
    snapshot_dir = Path(snapshot_dir)
    if schema_version is None:
        provenance_path = snapshot_dir / PROVENANCE_JSON
        schema_version = (
            int(_read_json(provenance_path).get("schema_version", SCHEMA_VERSION))
            if provenance_path.is_file()
            else SCHEMA_VERSION
        )
    records, points, _ = parse_raw(snapshot_dir)
    return render_price_table(price_table_rows(records, points), _columns_for(schema_version))


def _columns_for(schema_version: int) -> tuple[str, ...]:
    try:
        return PRICE_TABLE_COLUMNS_BY_SCHEMA[schema_version]
    except KeyError:
        raise ValueError(
            f"schema_version {schema_version!r} is not one this code reads "
            f"({', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}); write a new snapshot with this version of costing"
        ) from None


def load_snapshot(path: Path | str, *, verify_price_table: bool = True) -> PricingSnapshot:
    """Load a snapshot folder: check its provenance, parse ``raw/``, and (by default) check that
    ``prices.csv`` is exactly what ``raw/`` parses to."""
    snapshot_dir = Path(path)
    provenance_path = snapshot_dir / PROVENANCE_JSON
    if not provenance_path.is_file():
        what = "does not exist" if not snapshot_dir.exists() else f"has no {PROVENANCE_JSON}"
        raise FileNotFoundError(
            f"{snapshot_dir} is not a pricing snapshot: it {what}. A snapshot is a folder holding "
            f"{PROVENANCE_JSON}, e.g. one under {DEFAULT_SNAPSHOT_ROOT}"
        )
    raw_provenance = _read_json(provenance_path)
    schema_version = raw_provenance.get("schema_version") if isinstance(raw_provenance, Mapping) else None
    if schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ValueError(
            f"snapshot {snapshot_dir.name} has schema_version {schema_version!r}, this code reads "
            f"{' and '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}; write a new snapshot with this version of costing"
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
        expected = render_price_table(
            price_table_rows(records, points), _columns_for(provenance.schema_version)
        )
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


def _local_snapshot_dirs(root: Path | str) -> list[Path]:
    root = Path(root)
    return sorted(
        child
        for child in (root.iterdir() if root.is_dir() else ())
        if child.is_dir() and not child.name.startswith(".") and (child / PROVENANCE_JSON).is_file()
    )


def latest_snapshot_dir(root: Path | str = DEFAULT_SNAPSHOT_ROOT) -> Path:
    """The newest snapshot folder under ``root`` (ids start with an ISO date, so newest = last by name)."""
    candidates = _local_snapshot_dirs(root)
    if not candidates:
        raise FileNotFoundError(
            f"no pricing snapshot under {root}; write one with the pricing refresh, or "
            "`python -m costing record` for the hand-recorded rates"
        )
    return candidates[-1]


def previous_snapshot_dir(root: Path | str = DEFAULT_SNAPSHOT_ROOT, *, before: str) -> Path | None:
    """The newest snapshot folder under ``root`` whose id sorts before ``before``, or None."""
    earlier = [path for path in _local_snapshot_dirs(root) if path.name < before]
    return earlier[-1] if earlier else None


def load_latest_snapshot(root: Path | str = DEFAULT_SNAPSHOT_ROOT) -> PricingSnapshot:
    return load_snapshot(latest_snapshot_dir(root))


# -- staleness ---------------------------------------------------------------------------------------


def _as_timestamp(value: str) -> str:
    """A date-only provenance value ("2025-06-01") read as midnight UTC."""
    text = str(value).strip()
    return f"{text}T00:00:00Z" if len(text) == 10 else text


def snapshot_age_days(snapshot: PricingSnapshot | Provenance, now: datetime | None = None) -> float:
    """Age in days of the snapshot's prices at ``now`` (UTC): since the earlier of when its documents
    were obtained (``fetched_at``) and the date its prices describe (``prices_as_of``), so re-recording
    old prices does not make them young."""
    provenance = snapshot.provenance if isinstance(snapshot, PricingSnapshot) else snapshot
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now={now!r} has no timezone; pass an aware datetime, e.g. datetime.now(UTC)")
    fetched = parse_timestamp(_as_timestamp(provenance.fetched_at))
    described = (
        parse_timestamp(_as_timestamp(provenance.prices_as_of)) if provenance.prices_as_of else fetched
    )
    return (now - min(fetched, described)).total_seconds() / 86400


# -- remote roots (s3:// and other fsspec URLs) -------------------------------------------------------


def is_remote(root: Path | str) -> bool:
    """True for ``s3://bucket/prefix`` and other non-local fsspec URLs."""
    return isinstance(root, str) and "://" in root and not root.startswith("file://")


def _filesystem(url: str, storage_options: Mapping[str, Any] | None):
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    # fsspec reuses filesystem instances and caches listings; other writers (or a failed run) may have
    # changed the bucket since, and "does this snapshot exist" must be answered by the store itself.
    fs.invalidate_cache()
    return fs, path


def list_snapshot_ids(
    root: Path | str = DEFAULT_SNAPSHOT_ROOT, *, storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """Ids of the complete snapshots (those with a provenance.json) under a local folder or a URL, oldest first."""
    if not is_remote(root):
        return [path.name for path in _local_snapshot_dirs(root)]
    fs, path = _filesystem(str(root), storage_options)
    path = path.rstrip("/")
    if not fs.exists(path):
        return []
    ids = []
    for entry in fs.ls(path, detail=False):
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if (
            not name.startswith(".")
            and _SNAPSHOT_ID.match(name)
            and fs.exists(f"{path}/{name}/{PROVENANCE_JSON}")
        ):
            ids.append(name)
    return sorted(ids)


def publish_snapshot(
    local_dir: Path | str, root_url: str, *, storage_options: Mapping[str, Any] | None = None
) -> str:
    """Upload a snapshot folder written by :func:`write_snapshot` to ``<root_url>/<snapshot_id>/``.

    Object stores have no atomic rename, so ``provenance.json`` goes last: listings only count
    folders that have it. An existing snapshot is never overwritten. Returns the snapshot's URL.
    """
    local_dir = Path(local_dir)
    if not (local_dir / PROVENANCE_JSON).is_file():
        raise FileNotFoundError(
            f"{local_dir} is not a pricing snapshot ({PROVENANCE_JSON} is missing); write it first"
        )
    fs, path = _filesystem(root_url, storage_options)
    target = f"{path.rstrip('/')}/{local_dir.name}"
    if fs.exists(f"{target}/{PROVENANCE_JSON}"):
        raise FileExistsError(
            f"snapshot {fs.unstrip_protocol(target)} already exists; snapshots are immutable, pick a new snapshot_id"
        )
    files = sorted(p for p in local_dir.rglob("*") if p.is_file() and p.name != PROVENANCE_JSON)
    for file in [*files, local_dir / PROVENANCE_JSON]:
        fs.put_file(str(file), f"{target}/{file.relative_to(local_dir).as_posix()}")
    return fs.unstrip_protocol(target)


def download_snapshot(
    root_url: str,
    snapshot_id: str,
    cache_dir: Path | str,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> Path:
    """Copy ``<root_url>/<snapshot_id>/`` into ``cache_dir`` (once: snapshots never change) and return the folder."""
    cache_dir = Path(cache_dir)
    local = cache_dir / snapshot_id
    if (local / PROVENANCE_JSON).is_file():
        return local
    fs, path = _filesystem(root_url, storage_options)
    source = f"{path.rstrip('/')}/{snapshot_id}"
    if not fs.exists(f"{source}/{PROVENANCE_JSON}"):
        raise FileNotFoundError(
            f"no pricing snapshot {snapshot_id!r} under {root_url}; list them with list_snapshot_ids()"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot_id}.", dir=cache_dir))
    try:
        for remote in fs.find(source):
            relative = str(remote)[len(source) :].lstrip("/")
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote, str(destination))
        os.rename(staging, local)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return local


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
    savings_plans: Mapping[str, Mapping[str, Any]] | None = None,
    spot_advisor: Mapping[str, Any] | None = None,
) -> Path:
    """Write a new snapshot folder ``<root>/<provenance.snapshot_id>`` atomically and return it.

    ``price_lists`` maps service code -> region -> PriceList items (all pages merged; dicts are
    stored as JSON strings, as the API returns them). ``spot_price_histories`` maps region -> a
    describe_spot_price_history response or its ``SpotPriceHistory`` items; ``savings_plans`` maps
    region -> a Savings Plans offer document; ``spot_advisor`` is the Advisor document. Everything is written to
    a temporary folder beside the target and renamed into place, so readers never see half a
    snapshot. An existing snapshot is never overwritten.
    """
    root = Path(root)
    target = root / provenance.snapshot_id
    if target.exists():
        raise FileExistsError(
            f"snapshot {target} already exists; snapshots are immutable, pick a new snapshot_id"
        )
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{provenance.snapshot_id}.", dir=root))
    try:
        for service, by_region in price_lists.items():
            for region, items in by_region.items():
                path = staging / PRICING_DIR / service / f"{region}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                strings = [item if isinstance(item, str) else json.dumps(item) for item in items]
                path.write_text(
                    _json_lines("PriceList", strings, {"FormatVersion": PRICE_LIST_FORMAT_VERSION})
                )
        for region, history in spot_price_histories.items():
            items = history.get("SpotPriceHistory", []) if isinstance(history, Mapping) else history
            path = staging / SPOT_DIR / f"{region}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_json_lines("SpotPriceHistory", [_spot_item_for_file(item) for item in items]))
        for region, document in (savings_plans or {}).items():
            path = staging / SAVINGS_PLANS_DIR / f"{region}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        if spot_advisor is not None:
            (staging / SPOT_ADVISOR_FILE).write_text(
                json.dumps(spot_advisor, indent=1, sort_keys=True) + "\n"
            )

        records, points, issues = parse_raw(staging)
        columns = _columns_for(provenance.schema_version)
        (staging / PRICES_CSV).write_text(render_price_table(price_table_rows(records, points), columns))
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


def price_frame(
    table: pd.DataFrame | PricingSnapshot | Sequence[PriceRecord],
    spot_points: Sequence[SpotPricePoint] = (),
) -> pd.DataFrame:
    """The normalized price table as a DataFrame, from a snapshot, parsed records or a DataFrame (copied)."""
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.copy()
    if isinstance(table, PricingSnapshot):
        return table.to_dataframe()
    return price_table_frame(list(table), list(spot_points))
