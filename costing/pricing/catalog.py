"""A price catalog: answers "what does this instance cost here, on this market" from one snapshot.

The catalog only selects among parsed records (EC2, Linux, shared tenancy, no pre-installed
software, capacity status "Used"); it never fetches and never guesses. A price that is not in the
snapshot is a ``ValueError`` that says what is available instead.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from costing.pricing.defaults import (
    EC2_CAPACITY_STATUS,
    EC2_OPERATING_SYSTEM,
    EC2_PRE_INSTALLED_SW,
    EC2_SERVICE_CODE,
    EC2_TENANCY,
    RESERVED_LEASE_YEARS,
)
from costing.pricing.parse import (
    OFFERING_CLASSES,
    PURCHASE_OPTIONS,
    TERM_ON_DEMAND,
    TERM_RESERVED,
    UNIT_HOURS,
    PriceRecord,
    SpotPricePoint,
    format_timestamp,
    parse_timestamp,
)
from costing.pricing.snapshot import latest_snapshot_dir, load_snapshot

if TYPE_CHECKING:
    from costing.pricing.snapshot import PricingSnapshot


@dataclass(frozen=True)
class ReservedPrice:
    """A reserved-instance offer, with the upfront fee kept apart from the hourly part."""

    instance_type: str
    region: str
    lease_years: int
    offering_class: str  # "standard" | "convertible"
    purchase_option: str  # "No Upfront" | "Partial Upfront" | "All Upfront"
    recurring_usd_per_hour: float  # billed every hour of the term, used or not
    upfront_usd: float  # paid once at purchase
    effective_usd_per_hour: float  # recurring + upfront / hours in the term


@dataclass(frozen=True)
class SpotAzSummary:
    """Spot prices of one instance type in one AZ over the snapshot's spot window."""

    availability_zone: str
    current_usd_per_hour: float  # the latest price change
    min_usd_per_hour: float  # lowest price in force during the window
    mean_usd_per_hour: float  # time-weighted mean over the window
    p90_usd_per_hour: float  # time-weighted 90th percentile over the window
    price_changes: int  # records in the history (including the one in force at the window start)


class PriceCatalog:
    """Prices from one snapshot, indexed for lookup. Build it with :meth:`from_snapshot` or :meth:`load`."""

    def __init__(
        self,
        *,
        snapshot_id: str,
        effective_date: date,
        records: Iterable[PriceRecord],
        spot_points: Iterable[SpotPricePoint],
        spot_window_start: datetime | None = None,
        spot_window_end: datetime | None = None,
    ) -> None:
        self._snapshot_id = snapshot_id
        self._effective_date = effective_date
        self._spot_window_start = spot_window_start
        self._spot_window_end = spot_window_end
        self._on_demand: dict[tuple[str, str], list[PriceRecord]] = defaultdict(list)
        self._reserved: dict[tuple[str, str], list[PriceRecord]] = defaultdict(list)
        for record in records:
            if not _is_ec2_instance_price(record):
                continue
            key = (record.region, record.instance_type)
            if record.term == TERM_ON_DEMAND:
                self._on_demand[key].append(record)
            elif record.term == TERM_RESERVED:
                self._reserved[key].append(record)
        self._spot: dict[tuple[str, str], dict[str, list[SpotPricePoint]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for point in spot_points:
            self._spot[point.region, point.instance_type][point.availability_zone].append(point)
        for by_az in self._spot.values():
            for points in by_az.values():
                points.sort(key=lambda p: p.timestamp)
        self._regions = tuple(
            sorted({region for region, _ in self._on_demand} | {region for region, _ in self._spot})
        )

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_snapshot(cls, snapshot: PricingSnapshot) -> PriceCatalog:
        provenance = snapshot.provenance
        return cls(
            snapshot_id=provenance.snapshot_id,
            effective_date=date.fromisoformat(provenance.prices_as_of[:10]),
            records=snapshot.price_records,
            spot_points=snapshot.spot_points,
            spot_window_start=_optional_timestamp(provenance.spot_window_start),
            spot_window_end=_optional_timestamp(provenance.spot_window_end),
        )

    @classmethod
    def load(cls, path: Path | str | None = None) -> PriceCatalog:
        """The catalog of the snapshot at ``path``, or of the newest shipped snapshot."""
        return cls.from_snapshot(load_snapshot(path if path is not None else latest_snapshot_dir()))

    # -- what is in it -----------------------------------------------------------------------------

    @property
    def snapshot_id(self) -> str:
        return self._snapshot_id

    @property
    def effective_date(self) -> date:
        """The date the snapshot's prices describe."""
        return self._effective_date

    @property
    def regions(self) -> tuple[str, ...]:
        return self._regions

    def instance_types(self, region: str) -> list[str]:
        """Instance types with an on-demand price in ``region``."""
        self._check_region(region, "instance prices")
        return sorted(instance_type for (r, instance_type) in self._on_demand if r == region)

    def availability_zones(self, instance_type: str, region: str) -> list[str]:
        return sorted(self._spot_by_az(instance_type, region))

    # -- on-demand and reserved --------------------------------------------------------------------

    def on_demand_usd_per_hour(self, instance_type: str, region: str) -> float:
        self._check_region(region, f"on-demand price for {instance_type}")
        records = [r for r in self._on_demand.get((region, instance_type), []) if r.unit == UNIT_HOURS]
        if not records:
            raise ValueError(
                f"no on-demand price for {instance_type} in {region} in snapshot {self.snapshot_id}; "
                + self._where_else(instance_type, region, self._on_demand)
            )
        rates = sorted({r.usd_rate for r in records})
        if len(rates) > 1:
            raise ValueError(
                f"snapshot {self.snapshot_id} has {len(rates)} different on-demand prices for {instance_type} "
                f"in {region} ({rates}, skus {sorted({r.sku for r in records})}); the price filters are too loose"
            )
        return rates[0]

    def reserved_price(
        self,
        instance_type: str,
        region: str,
        *,
        lease_years: int,
        purchase_option: str,
        offering_class: str = "standard",
    ) -> ReservedPrice:
        self._check_region(region, f"reserved price for {instance_type}")
        if lease_years not in RESERVED_LEASE_YEARS:
            raise ValueError(f"lease_years={lease_years!r}: reserved terms are {RESERVED_LEASE_YEARS} years")
        if purchase_option not in PURCHASE_OPTIONS:
            raise ValueError(f"purchase_option={purchase_option!r}: expected one of {PURCHASE_OPTIONS}")
        if offering_class not in OFFERING_CLASSES:
            raise ValueError(f"offering_class={offering_class!r}: expected one of {OFFERING_CLASSES}")
        available = self._reserved.get((region, instance_type), [])
        matches = [
            r
            for r in available
            if r.lease_years == lease_years
            and r.purchase_option == purchase_option
            and r.offering_class == offering_class
        ]
        if not matches:
            offered = sorted(
                {f"{r.lease_contract_length} {r.offering_class} {r.purchase_option}" for r in available}
            )
            where = (
                f"terms recorded for it there: {', '.join(offered)}"
                if offered
                else self._where_else(instance_type, region, self._reserved, kind="reserved")
            )
            raise ValueError(
                f"no reserved price for {instance_type} in {region} ({lease_years}yr {offering_class} "
                f"{purchase_option}) in snapshot {self.snapshot_id}; {where}"
            )
        record = matches[0]
        return ReservedPrice(
            instance_type=instance_type,
            region=region,
            lease_years=lease_years,
            offering_class=offering_class,
            purchase_option=purchase_option,
            recurring_usd_per_hour=record.recurring_usd_rate,
            upfront_usd=record.upfront_usd,
            effective_usd_per_hour=record.usd_rate,
        )

    def reserved_usd_per_hour(
        self,
        instance_type: str,
        region: str,
        lease_years: int,
        purchase_option: str,
        offering_class: str = "standard",
    ) -> float:
        """Effective hourly rate of a reserved term: hourly part + upfront fee spread over the term."""
        price = self.reserved_price(
            instance_type,
            region,
            lease_years=lease_years,
            purchase_option=purchase_option,
            offering_class=offering_class,
        )
        return price.effective_usd_per_hour

    # -- spot --------------------------------------------------------------------------------------

    def spot_history(self, instance_type: str, region: str) -> list[SpotPricePoint]:
        """Every spot price change for the type in the region, sorted by AZ then time."""
        by_az = self._spot_by_az(instance_type, region)
        return [point for az in sorted(by_az) for point in by_az[az]]

    def spot_usd_per_hour_at(self, instance_type: str, region: str, az: str, when: datetime) -> float:
        """The spot price in force in ``az`` at ``when``: the last price change at or before it.

        After the last recorded change the last price still applies. Before the first one the
        snapshot cannot tell, which raises ``ValueError``.
        """
        if when.tzinfo is None:
            raise ValueError(
                f"when={when!r} has no timezone; pass an aware datetime, e.g. datetime(..., tzinfo=UTC)"
            )
        by_az = self._spot_by_az(instance_type, region)
        if az not in by_az:
            raise ValueError(
                f"no spot price history for {instance_type} in {az} in snapshot {self.snapshot_id}; "
                f"availability zones with history: {', '.join(sorted(by_az))}"
            )
        in_force = None
        for point in by_az[az]:
            if point.timestamp > when:
                break
            in_force = point
        if in_force is None:
            first = by_az[az][0].timestamp
            raise ValueError(
                f"no spot price in force for {instance_type} in {az} at {format_timestamp(when)}: "
                f"snapshot {self.snapshot_id} starts at {format_timestamp(first)}"
            )
        return in_force.usd_per_hour

    def spot_summary(self, instance_type: str, region: str) -> dict[str, SpotAzSummary]:
        """Per AZ: current, min, time-weighted mean and p90 over the snapshot's spot window."""
        by_az = self._spot_by_az(instance_type, region)
        window_end = self._spot_window_end or max(p.timestamp for points in by_az.values() for p in points)
        summaries = {}
        for az, points in sorted(by_az.items()):
            window_start = self._spot_window_start or points[0].timestamp
            weighted = _time_weights(points, window_start, window_end)
            summaries[az] = SpotAzSummary(
                availability_zone=az,
                current_usd_per_hour=points[-1].usd_per_hour,
                min_usd_per_hour=min(price for price, _ in weighted),
                mean_usd_per_hour=_weighted_mean(weighted),
                p90_usd_per_hour=_weighted_percentile(weighted, 0.9),
                price_changes=len(points),
            )
        return summaries

    def spot_percentile_usd_per_hour(self, instance_type: str, region: str, fraction: float = 0.9) -> float:
        """Time-weighted percentile of the spot price over the snapshot's window, pooled over the region's
        AZs (each AZ weighted by how long each of its prices was in force)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction={fraction!r}: a percentile is a fraction in (0, 1], e.g. 0.9 for p90")
        by_az = self._spot_by_az(instance_type, region)
        window_end = self._spot_window_end or max(p.timestamp for points in by_az.values() for p in points)
        pooled = []
        for points in by_az.values():
            pooled.extend(_time_weights(points, self._spot_window_start or points[0].timestamp, window_end))
        return _weighted_percentile(pooled, fraction)

    def current_spot_usd_per_hour(self, instance_type: str, region: str) -> float:
        """Mean over AZs of each AZ's latest spot price: the price a launch "somewhere in the region" sees."""
        by_az = self._spot_by_az(instance_type, region)
        return statistics.fmean(points[-1].usd_per_hour for points in by_az.values())

    # -- helpers -----------------------------------------------------------------------------------

    def _check_region(self, region: str, wanted: str = "prices") -> None:
        if region not in self.regions:
            raise ValueError(
                f"no {wanted} in {region} in snapshot {self.snapshot_id}; "
                f"available regions: {', '.join(self.regions)}"
            )

    def _spot_by_az(self, instance_type: str, region: str) -> dict[str, list[SpotPricePoint]]:
        self._check_region(region, f"spot price history for {instance_type}")
        by_az = self._spot.get((region, instance_type))
        if not by_az:
            raise ValueError(
                f"no spot price history for {instance_type} in {region} in snapshot {self.snapshot_id}; "
                + self._where_else(instance_type, region, self._spot, kind="spot")
            )
        return by_az

    def _where_else(
        self, instance_type: str, region: str, index: Iterable[tuple[str, str]], kind: str = ""
    ) -> str:
        keys = list(index)
        regions = sorted({r for r, t in keys if t == instance_type})
        if regions:
            return f"available regions for {instance_type}: {', '.join(regions)}"
        in_region = sorted({t for r, t in keys if r == region})
        label = f"{kind} prices" if kind else "prices"
        return (
            f"{instance_type} has no {label} in this snapshot; instance types with {label} in {region}: "
            + (", ".join(in_region) if in_region else "none")
        )


def _is_ec2_instance_price(record: PriceRecord) -> bool:
    return (
        record.service == EC2_SERVICE_CODE
        # classified instance-hours only: a row the parser could not classify (an unknown product
        # family, a $0 bookkeeping row) is never an instance's price
        and record.price_key == "ec2.instance"
        and bool(record.instance_type)
        and record.operating_system == EC2_OPERATING_SYSTEM
        and record.tenancy == EC2_TENANCY
        and record.pre_installed_sw in (EC2_PRE_INSTALLED_SW, "")
        and record.capacity_status in (EC2_CAPACITY_STATUS, "")
    )


def _optional_timestamp(value: str | None) -> datetime | None:
    return parse_timestamp(value) if value else None


def _time_weights(points: list[SpotPricePoint], start: datetime, end: datetime) -> list[tuple[float, float]]:
    """(price, seconds in force within [start, end]) per price change; unweighted if the window is empty."""
    weighted = []
    for index, point in enumerate(points):
        until = points[index + 1].timestamp if index + 1 < len(points) else end
        seconds = (min(until, end) - max(point.timestamp, start)).total_seconds()
        if seconds > 0:
            weighted.append((point.usd_per_hour, seconds))
    return weighted or [(point.usd_per_hour, 1.0) for point in points]


def _weighted_mean(weighted: list[tuple[float, float]]) -> float:
    total = sum(weight for _, weight in weighted)
    return sum(price * weight for price, weight in weighted) / total


def _weighted_percentile(weighted: list[tuple[float, float]], fraction: float) -> float:
    total = sum(weight for _, weight in weighted)
    cumulative = 0.0
    for price, weight in sorted(weighted):
        cumulative += weight
        if cumulative >= fraction * total:
            return price
    return max(price for price, _ in weighted)
