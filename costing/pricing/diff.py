"""What changed between two pricing snapshots, and by how much.

Prices are matched by what they *are* - service, region, term, price key, usage type, instance type,
reserved term and tier start - not by SKU, so a hand-recorded snapshot (placeholder SKUs) and a
fetched one still line up. OnDemand and Reserved prices are compared row by row; spot history is
summarised as the latest price per region, instance type and availability zone.

``diff_snapshots(previous, current)`` returns a :class:`SnapshotDiff` with ``to_dict()`` (JSON),
``to_dataframe()`` and ``render_text()`` for logs and the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from costing.pricing.parse import TERM_ON_DEMAND, TERM_RESERVED, TERM_SPOT
from costing.pricing.savings_plans import TERM_SAVINGS_PLAN
from costing.pricing.snapshot import price_frame

if TYPE_CHECKING:
    import pandas as pd

    from costing.pricing.snapshot import PricingSnapshot

IDENTITY_COLUMNS: tuple[str, ...] = (
    "service",
    "region",
    "term",
    "price_key",
    "usage_type",
    "instance_type",
    "lease_contract_length",
    "offering_class",
    "purchase_option",
    "begin_range",
)
ADDED, REMOVED, CHANGED = "added", "removed", "changed"


def price_identity(frame: pd.DataFrame) -> pd.Series:
    """One string per row naming what the price is, independent of SKU and rate codes."""
    import pandas as pd

    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    present = [column for column in IDENTITY_COLUMNS if column in frame]
    return frame[present].fillna("").astype(str).agg("|".join, axis=1)


@dataclass(frozen=True)
class PriceChange:
    """A price that appeared, disappeared or moved between two snapshots."""

    kind: str  # "added" | "removed" | "changed"
    region: str
    service: str
    price_key: str
    usage_type: str
    instance_type: str
    term: str  # "OnDemand" | "Reserved" | "Spot"
    reserved_term: str  # "1yr standard No Upfront" for reserved rows, "" otherwise
    availability_zone: str  # spot rows only
    begin_range: str
    unit: str
    previous_usd_rate: float | None
    current_usd_rate: float | None

    @property
    def change_pct(self) -> float | None:
        if self.previous_usd_rate in (None, 0) or self.current_usd_rate is None:
            return None
        return (self.current_usd_rate / self.previous_usd_rate - 1) * 100

    @property
    def label(self) -> str:
        parts = [
            self.region,
            self.service,
            self.price_key or self.usage_type,
            self.instance_type,
            self.reserved_term,
        ]
        if self.term == TERM_SPOT:
            parts += ["spot", self.availability_zone]
        if self.begin_range not in ("", "0"):
            parts.append(f"tier from {self.begin_range}")
        return " ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"change_pct": self.change_pct}


@dataclass(frozen=True)
class SnapshotDiff:
    previous_snapshot_id: str | None
    current_snapshot_id: str
    added: tuple[PriceChange, ...] = ()
    removed: tuple[PriceChange, ...] = ()
    changed: tuple[PriceChange, ...] = ()
    unchanged: int = 0  # OnDemand/Reserved prices present in both with the same rate
    spot_changed: tuple[PriceChange, ...] = field(default=())  # latest spot price per type and AZ

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.spot_changed)

    def counts(self) -> dict[str, int]:
        return {
            ADDED: len(self.added),
            REMOVED: len(self.removed),
            CHANGED: len(self.changed),
            "unchanged": self.unchanged,
            "spot_changed": len(self.spot_changed),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous_snapshot_id": self.previous_snapshot_id,
            "current_snapshot_id": self.current_snapshot_id,
            "counts": self.counts(),
            ADDED: [c.to_dict() for c in self.added],
            REMOVED: [c.to_dict() for c in self.removed],
            CHANGED: [c.to_dict() for c in self.changed],
            "spot_changed": [c.to_dict() for c in self.spot_changed],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per change (added, removed, changed, then spot), with ``change_pct``."""
        import pandas as pd

        rows = [c.to_dict() for c in (*self.changed, *self.added, *self.removed, *self.spot_changed)]
        columns = [*PriceChange.__dataclass_fields__, "change_pct"]
        return pd.DataFrame(rows, columns=columns)

    def render_text(self, max_rows: int = 40) -> str:
        """A readable summary: counts, then the largest moves first, then additions and removals."""
        previous = self.previous_snapshot_id or "(none)"
        counts = self.counts()
        lines = [
            f"pricing snapshot {self.current_snapshot_id} vs {previous}: "
            f"{counts[CHANGED]} changed, {counts[ADDED]} added, {counts[REMOVED]} removed, "
            f"{counts['unchanged']} unchanged; {counts['spot_changed']} spot prices moved"
        ]
        if self.is_empty:
            lines.append("  no price changed")
            return "\n".join(lines)

        def section(title: str, changes: tuple[PriceChange, ...], describe) -> None:
            if not changes:
                return
            lines.append(f"{title}:")
            for change in changes[:max_rows]:
                lines.append(f"  {describe(change)}")
            if len(changes) > max_rows:
                lines.append(f"  ... and {len(changes) - max_rows} more")

        by_size = tuple(sorted(self.changed, key=lambda c: -abs(c.change_pct or 0)))
        section(
            "changed",
            by_size,
            lambda c: (
                f"{c.label}: {_usd(c.previous_usd_rate)} -> {_usd(c.current_usd_rate)} "
                f"/{c.unit} ({c.change_pct:+.1f}%)"
            ),
        )
        section("added", self.added, lambda c: f"{c.label}: {_usd(c.current_usd_rate)}/{c.unit}")
        section("removed", self.removed, lambda c: f"{c.label}: was {_usd(c.previous_usd_rate)}/{c.unit}")
        spot = tuple(sorted(self.spot_changed, key=lambda c: -abs(c.change_pct or 0)))
        section(
            "spot (latest price per AZ)",
            spot,
            lambda c: (
                f"{c.label}: {_usd(c.previous_usd_rate)} -> "
                f"{_usd(c.current_usd_rate)}/h"
                + (f" ({c.change_pct:+.1f}%)" if c.change_pct is not None else "")
            ),
        )
        return "\n".join(lines)


def diff_snapshots(
    previous: PricingSnapshot | pd.DataFrame | None,
    current: PricingSnapshot | pd.DataFrame,
    *,
    previous_snapshot_id: str | None = None,
    current_snapshot_id: str = "",
    relative_tolerance: float = 1e-9,
) -> SnapshotDiff:
    """Compare two snapshots (or two normalized price tables). ``previous=None`` makes every price "added"."""
    previous_snapshot_id = previous_snapshot_id or getattr(previous, "snapshot_id", None)
    current_snapshot_id = current_snapshot_id or getattr(current, "snapshot_id", "")
    new = price_frame(current)
    old = price_frame(previous) if previous is not None else new.iloc[0:0]

    new_priced, old_priced = _priced(new), _priced(old)
    added = [_change(ADDED, row, None, row) for key, row in new_priced.items() if key not in old_priced]
    removed = [_change(REMOVED, row, row, None) for key, row in old_priced.items() if key not in new_priced]
    changed, unchanged = [], 0
    for key, row in new_priced.items():
        before = old_priced.get(key)
        if before is None:
            continue
        if math.isclose(
            float(row["usd_rate"]), float(before["usd_rate"]), rel_tol=relative_tolerance, abs_tol=0.0
        ):
            unchanged += 1
        else:
            changed.append(_change(CHANGED, row, before, row))

    new_spot, old_spot = _latest_spot(new), _latest_spot(old)
    spot_changed = []
    for key, row in new_spot.items():
        before = old_spot.get(key)
        if before is None:
            spot_changed.append(_change(ADDED, row, None, row))
        elif not math.isclose(float(row["usd_rate"]), float(before["usd_rate"]), rel_tol=relative_tolerance):
            spot_changed.append(_change(CHANGED, row, before, row))
    spot_changed += [_change(REMOVED, row, row, None) for key, row in old_spot.items() if key not in new_spot]

    return SnapshotDiff(
        previous_snapshot_id=previous_snapshot_id if previous is not None else None,
        current_snapshot_id=current_snapshot_id,
        added=tuple(sorted(added, key=_order)),
        removed=tuple(sorted(removed, key=_order)),
        changed=tuple(sorted(changed, key=_order)),
        unchanged=unchanged,
        spot_changed=tuple(sorted(spot_changed, key=_order)),
    )


def _priced(frame: pd.DataFrame) -> dict[str, Mapping[str, Any]]:
    rows = frame[frame["term"].isin([TERM_ON_DEMAND, TERM_RESERVED, TERM_SAVINGS_PLAN])]
    identities = price_identity(rows)
    result: dict[str, Mapping[str, Any]] = {}
    for identity, (_, row) in zip(identities, rows.iterrows(), strict=True):
        result.setdefault(identity, row.to_dict())  # duplicates: the first row stands for the price
    return result


def _latest_spot(frame: pd.DataFrame) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    spot = frame[frame["term"] == TERM_SPOT].sort_values("effective_date")
    result: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for _, row in spot.iterrows():
        result[row["region"], row["instance_type"], row["availability_zone"]] = row.to_dict()
    return result


def _change(
    kind: str, row: Mapping[str, Any], before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> PriceChange:
    reserved = ""
    if row.get("term") == TERM_RESERVED:
        reserved = (
            f"{row.get('lease_contract_length')} {row.get('offering_class')} {row.get('purchase_option')}"
        )
    return PriceChange(
        kind=kind,
        region=str(row.get("region", "")),
        service=str(row.get("service", "")),
        price_key=str(row.get("price_key", "")),
        usage_type=str(row.get("usage_type", "")),
        instance_type=str(row.get("instance_type", "")),
        term=str(row.get("term", "")),
        reserved_term=reserved,
        availability_zone=str(row.get("availability_zone", "")),
        begin_range=str(row.get("begin_range", "")),
        unit=str(row.get("unit", "")),
        previous_usd_rate=float(before["usd_rate"]) if before is not None else None,
        current_usd_rate=float(after["usd_rate"]) if after is not None else None,
    )


def _order(change: PriceChange) -> tuple:
    try:
        begin = float(change.begin_range or 0)
    except ValueError:
        begin = 0.0
    return (
        change.region,
        change.service,
        change.price_key,
        change.instance_type,
        change.term,
        change.reserved_term,
        change.availability_zone,
        begin,
    )


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.10g}"
