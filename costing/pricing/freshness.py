"""How old each price source is, against how old it may get: shown in every report and table header.

Prices age at different speeds, so each source has its own staleness limit (:data:`STALENESS_LIMITS_DAYS`):

* **spot prices** move hourly: 1 day (the end of the snapshot's spot window, or when the Spot Instance
  Advisor document was read);
* **list prices** (on-demand, reserved, Savings Plans, every other service; the Price List) change a
  few times a year: 7 days since the snapshot's prices (the earlier of when they were fetched and the
  date they describe);
* **hand-kept tables** (Cloudflare Workers, the AWS Free Tier, the Spot interruption buckets when
  recorded by hand): 90 days since their ``as_of`` date.

A stale source is still used (it is the last good one), and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from costing.pricing.parse import parse_timestamp
from costing.pricing.snapshot import PricingSnapshot, snapshot_age_days

SPOT, LIST_PRICES, TABLE = "spot", "list prices", "hand-kept table"
STALENESS_LIMITS_DAYS: dict[str, float] = {SPOT: 1.0, LIST_PRICES: 7.0, TABLE: 90.0}


@dataclass(frozen=True)
class SourceAge:
    """One price source: what it is, as of when, how old at the time of asking, and its limit."""

    source: str  # "EC2 spot prices", "Price List", "Cloudflare Workers table", ...
    kind: str  # SPOT | LIST_PRICES | TABLE
    as_of: str  # ISO date or timestamp the prices describe
    age_days: float
    limit_days: float
    basis: str  # how the numbers were obtained: "fetched (api)", "recorded by hand", ...

    @property
    def stale(self) -> bool:
        return self.age_days > self.limit_days

    def describe(self) -> str:
        verdict = "STALE" if self.stale else "fresh"
        return (
            f"{self.source}: as of {self.as_of[:10]}, {self.age_days:,.1f} days old, limit "
            f"{self.limit_days:g} day{'' if self.limit_days == 1 else 's'}: {verdict} ({self.basis})"
        )

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self) | {"stale": self.stale}


def _age_days(as_of: str | date | datetime, now: datetime) -> float:
    if isinstance(as_of, datetime):
        moment = as_of
    elif isinstance(as_of, date):
        moment = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    else:
        text = str(as_of).strip()
        moment = parse_timestamp(f"{text}T00:00:00Z" if len(text) == 10 else text)
    return max(0.0, (now - moment).total_seconds() / 86400)


def source_age(source: str, kind: str, as_of: str | date | datetime, basis: str, now: datetime) -> SourceAge:
    as_of_text = as_of.isoformat() if isinstance(as_of, date | datetime) else str(as_of)
    return SourceAge(
        source=source,
        kind=kind,
        as_of=as_of_text,
        age_days=round(_age_days(as_of, now), 3),
        limit_days=STALENESS_LIMITS_DAYS[kind],
        basis=basis,
    )


def snapshot_source_ages(
    snapshot: PricingSnapshot, *, now: datetime | None = None, spot_basis: str = ""
) -> list[SourceAge]:
    """The snapshot's two sources: its list prices and its spot prices."""
    now = now or datetime.now(UTC)
    provenance = snapshot.provenance
    basis = {
        "api": "fetched with the Price List API",
        "bulk": "read from the public bulk offer files",
        "recorded": "recorded by hand from AWS's public pages; some rates derived, see provenance",
        "snapshot": "a fallback copy",
    }.get(provenance.source, provenance.source)
    ages = [
        SourceAge(
            source=f"Price List (on-demand, reserved, Savings Plans, services) in snapshot {snapshot.snapshot_id}",
            kind=LIST_PRICES,
            as_of=provenance.prices_as_of,
            age_days=round(snapshot_age_days(snapshot, now), 3),
            limit_days=STALENESS_LIMITS_DAYS[LIST_PRICES],
            basis=basis,
        )
    ]
    advisor = snapshot.spot_advisor()
    if snapshot.spot_points:
        end = provenance.spot_window_end or max(p.timestamp for p in snapshot.spot_points).isoformat()
        spot_basis = spot_basis or (
            "illustrative history, not AWS's record"
            if provenance.source == "recorded"
            else "spot price history"
        )
        ages.append(source_age("EC2 spot prices", SPOT, end, spot_basis, now))
    elif advisor is not None:
        ages.append(
            source_age(
                "EC2 spot prices",
                SPOT,
                str(advisor.get("fetched_at") or provenance.fetched_at),
                "Spot Instance Advisor savings over on-demand (no spot price history without an AWS account)",
                now,
            )
        )
    return ages
