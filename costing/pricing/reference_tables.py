"""Tables that are not AWS price lists but that the cost model needs, each with its source and date.

* ``include/pricing/cloudflare_workers.json`` - Cloudflare Workers Paid (Standard usage model): the
  non-AWS serving alternative. Read by :func:`load_cloudflare_workers`.
* ``include/pricing/free_tier.json`` - AWS's always-free monthly allowances (Lambda, data transfer out,
  CloudWatch), which the cost model applies only when asked. Read by :func:`load_free_tier`.
* ``include/pricing/spot_interruption_frequency.json`` - how often EC2 reclaims spot capacity, per
  region and instance type, in the buckets of the AWS Spot Instance Advisor (``<5%``, ``5-10%``,
  ``10-15%``, ``15-20%``, ``>20%`` of instances interrupted per month). Read by
  :func:`load_interruption_table`; rebuilt from the Advisor's public JSON feed by
  :func:`interruption_table_from_advisor` (the feed is what the Advisor web page itself reads).

Nothing here fetches anything unless :func:`fetch_spot_advisor_document` is called explicitly (the
pricing refresh does; tests never do).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from costing.pricing.sheet import CloudflareWorkersRates, FreeTierAllowances
from toolkit.paths import INCLUDE_DIR

PRICING_INCLUDE_DIR = INCLUDE_DIR / "pricing"
CLOUDFLARE_WORKERS_TABLE = PRICING_INCLUDE_DIR / "cloudflare_workers.json"
INTERRUPTION_TABLE = PRICING_INCLUDE_DIR / "spot_interruption_frequency.json"
FREE_TIER_TABLE = PRICING_INCLUDE_DIR / "free_tier.json"

SPOT_ADVISOR_PAGE_URL = "https://aws.amazon.com/ec2/spot/instance-advisor/"
SPOT_ADVISOR_DATA_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"

# The Advisor's buckets, by index, as the upper bound of the monthly interruption frequency (the unit of
# PriceSheet's interruption_rate_per_month). ">20%" has no upper bound; 0.25 stands for it, by convention.
INTERRUPTION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<5%", 0.05),
    ("5-10%", 0.10),
    ("10-15%", 0.15),
    ("15-20%", 0.20),
    (">20%", 0.25),
)
_BUCKET_LABEL = re.compile(
    r"^\s*(?:<\s*(?P<below>\d+)|(?P<low>\d+)\s*-\s*(?P<high>\d+)|>\s*(?P<above>\d+))\s*%\s*$"
)


# -- Cloudflare Workers --------------------------------------------------------------------------------


def load_cloudflare_workers(path: Path | str = CLOUDFLARE_WORKERS_TABLE) -> CloudflareWorkersRates:
    """The Workers Paid rates, with the table's source URL and as-of date."""
    data = _read_table(path)
    try:
        return CloudflareWorkersRates(
            monthly_base_usd=float(data["monthly_base_usd"]),
            included_requests_per_month=float(data["included_requests_per_month"]),
            usd_per_million_requests=float(data["usd_per_million_requests"]),
            included_cpu_ms_per_month=float(data["included_cpu_ms_per_month"]),
            usd_per_million_cpu_ms=float(data["usd_per_million_cpu_ms"]),
            max_cpu_ms_per_request=float(data["max_cpu_ms_per_request"]),
            max_memory_mb=float(data["max_memory_mb"]),
            source_url=str(data["source_url"]),
            as_of=date.fromisoformat(str(data["as_of"])),
        )
    except KeyError as missing:
        raise ValueError(
            f"{path} lacks {missing}; every rate of the Workers table needs a value, a source and a date"
        ) from None


# -- AWS Free Tier --------------------------------------------------------------------------------------


def load_free_tier(path: Path | str = FREE_TIER_TABLE) -> FreeTierAllowances:
    """The always-free monthly allowances, with the table's source URL and as-of date."""
    data = _read_table(path)
    try:
        return FreeTierAllowances(
            lambda_requests_per_month=float(data["lambda_requests_per_month"]),
            lambda_gb_seconds_per_month=float(data["lambda_gb_seconds_per_month"]),
            data_transfer_out_gb_per_month=float(data["data_transfer_out_gb_per_month"]),
            cloudwatch_metrics_per_month=float(data["cloudwatch_metrics_per_month"]),
            cloudwatch_logs_gb_per_month=float(data["cloudwatch_logs_gb_per_month"]),
            source_url=str(data["source_url"]),
            as_of=date.fromisoformat(str(data["as_of"])),
        )
    except KeyError as missing:
        raise ValueError(
            f"{path} lacks {missing}; every allowance needs a value, a source and a date"
        ) from None


# -- Spot interruption frequency -------------------------------------------------------------------------


@dataclass(frozen=True)
class InterruptionBucket:
    """One instance type's Advisor bucket in one region."""

    region: str
    instance_type: str
    bucket_index: int  # 0 "<5%" ... 4 ">20%"
    label: str  # the Advisor's label, e.g. "5-10%"
    rate_per_month_upper_bound: float  # 0.05, 0.10, 0.15, 0.20; 0.25 for ">20%"
    savings_pct: float | None = None  # the Advisor's "savings over on-demand", when recorded


@dataclass(frozen=True)
class InterruptionTable:
    """Spot interruption buckets per region and instance type, with where and when they came from."""

    source_url: str
    data_url: str
    as_of: date
    how_recorded: str  # "by hand" | "advisor feed"
    operating_system: str
    buckets: Mapping[tuple[str, str], InterruptionBucket]  # (region, instance_type) -> bucket
    notes: tuple[str, ...] = field(default=())

    def rate_per_month(self, instance_type: str, region: str) -> float | None:
        """Upper bound of the monthly interruption frequency, or None when the table does not know the type."""
        bucket = self.buckets.get((region, instance_type))
        return bucket.rate_per_month_upper_bound if bucket else None

    def regions(self) -> list[str]:
        return sorted({region for region, _ in self.buckets})

    def to_dict(self) -> dict[str, Any]:
        """The table in the shape of ``spot_interruption_frequency.json``."""
        by_region: dict[str, dict[str, dict[str, Any]]] = {}
        for (region, instance_type), bucket in sorted(self.buckets.items()):
            entry: dict[str, Any] = {"r": bucket.bucket_index, "label": bucket.label}
            if bucket.savings_pct is not None:
                entry["s"] = bucket.savings_pct
            by_region.setdefault(region, {})[instance_type] = entry
        return {
            "schema_version": 1,
            "source": "AWS Spot Instance Advisor",
            "source_url": self.source_url,
            "data_url": self.data_url,
            "as_of": self.as_of.isoformat(),
            "how_recorded": self.how_recorded,
            "operating_system": self.operating_system,
            "ranges": [
                {"index": index, "label": label, "rate_per_month_upper_bound": bound}
                for index, (label, bound) in enumerate(INTERRUPTION_BUCKETS)
            ],
            "notes": list(self.notes),
            "regions": by_region,
        }


def bucket_upper_bound(label: str) -> float:
    """``"<5%"`` -> 0.05, ``"10-15%"`` -> 0.15, ``">20%"`` -> 0.25 (see :data:`INTERRUPTION_BUCKETS`)."""
    match = _BUCKET_LABEL.match(label)
    if match is None:
        raise ValueError(
            f"interruption bucket label {label!r} is not like '<5%', '5-10%' or '>20%'; "
            "the Advisor feed changed shape, check its 'ranges'"
        )
    if match.group("below"):
        return int(match.group("below")) / 100
    if match.group("high"):
        return int(match.group("high")) / 100
    return INTERRUPTION_BUCKETS[-1][1]


def load_interruption_table(path: Path | str = INTERRUPTION_TABLE) -> InterruptionTable:
    data = _read_table(path)
    labels = {int(entry["index"]): str(entry["label"]) for entry in data.get("ranges", [])}
    if not labels:
        labels = dict(enumerate(label for label, _ in INTERRUPTION_BUCKETS))
    buckets: dict[tuple[str, str], InterruptionBucket] = {}
    for region, types in (data.get("regions") or {}).items():
        for instance_type, entry in types.items():
            index = int(entry["r"])
            if index not in labels:
                raise ValueError(
                    f"{path}: {instance_type} in {region} has bucket index {index}, not one of {sorted(labels)}"
                )
            buckets[region, instance_type] = InterruptionBucket(
                region=region,
                instance_type=instance_type,
                bucket_index=index,
                label=labels[index],
                rate_per_month_upper_bound=bucket_upper_bound(labels[index]),
                savings_pct=float(entry["s"]) if entry.get("s") is not None else None,
            )
    try:
        return InterruptionTable(
            source_url=str(data["source_url"]),
            data_url=str(data.get("data_url", SPOT_ADVISOR_DATA_URL)),
            as_of=date.fromisoformat(str(data["as_of"])),
            how_recorded=str(data.get("how_recorded", "")),
            operating_system=str(data.get("operating_system", "Linux")),
            buckets=buckets,
            notes=tuple(data.get("notes") or ()),
        )
    except KeyError as missing:
        raise ValueError(
            f"{path} lacks {missing}; the interruption table needs its source and as-of date"
        ) from None


def interruption_table_from_advisor(
    document: Mapping[str, Any],
    *,
    fetched_at: datetime | date,
    regions: Iterable[str] | None = None,
    instance_types: Iterable[str] | None = None,
    operating_system: str = "Linux",
    data_url: str = SPOT_ADVISOR_DATA_URL,
) -> InterruptionTable:
    """An :class:`InterruptionTable` from the Advisor's JSON feed (``spot-advisor-data.json``).

    The feed's shape: ``{"ranges": [{"index": 0, "label": "<5%", "max": 5}, ...], "spot_advisor":
    {region: {"Linux": {instance_type: {"s": savings_pct, "r": range_index}}, "Windows": {...}}}}``.
    ``regions`` / ``instance_types`` keep only those (default: everything in the feed).
    """
    ranges = document.get("ranges")
    advisor = document.get("spot_advisor")
    if not isinstance(ranges, list) or not isinstance(advisor, Mapping):
        raise ValueError(
            "not a Spot Advisor document: expected 'ranges' (a list) and 'spot_advisor' (region -> OS -> type); "
            f"got keys {sorted(document)[:10]}"
        )
    labels = {int(entry["index"]): str(entry["label"]) for entry in ranges}
    wanted_regions = set(regions) if regions is not None else None
    wanted_types = set(instance_types) if instance_types is not None else None
    buckets: dict[tuple[str, str], InterruptionBucket] = {}
    for region, by_os in advisor.items():
        if wanted_regions is not None and region not in wanted_regions:
            continue
        for instance_type, entry in (by_os.get(operating_system) or {}).items():
            if wanted_types is not None and instance_type not in wanted_types:
                continue
            index = int(entry["r"])
            if index not in labels:
                raise ValueError(
                    f"Advisor entry {instance_type} in {region} has range index {index}, not in 'ranges'"
                )
            buckets[region, instance_type] = InterruptionBucket(
                region=region,
                instance_type=instance_type,
                bucket_index=index,
                label=labels[index],
                rate_per_month_upper_bound=bucket_upper_bound(labels[index]),
                savings_pct=float(entry["s"]) if entry.get("s") is not None else None,
            )
    if wanted_regions is not None:
        missing = sorted(wanted_regions - {region for region, _ in buckets})
        if missing:
            raise ValueError(f"the Advisor document has no {operating_system} entries for {missing}")
    as_of = fetched_at.date() if isinstance(fetched_at, datetime) else fetched_at
    return InterruptionTable(
        source_url=SPOT_ADVISOR_PAGE_URL,
        data_url=data_url,
        as_of=as_of,
        how_recorded="advisor feed",
        operating_system=operating_system,
        buckets=buckets,
        notes=(f"Rebuilt from {data_url} on {as_of.isoformat()} by costing.pricing.reference_tables.",),
    )


def write_interruption_table(table: InterruptionTable, path: Path | str = INTERRUPTION_TABLE) -> Path:
    """Write ``table`` as JSON (one region per block, sorted, so refreshes diff cleanly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(table.to_dict(), indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def fetch_spot_advisor_document(
    url: str = SPOT_ADVISOR_DATA_URL, *, timeout_seconds: float = 30.0
) -> dict[str, Any]:
    """Download the Advisor feed (a public, unauthenticated S3 object). Network access: call it from the
    pricing refresh, never from tests."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
        return json.loads(response.read().decode("utf-8"))


def _read_table(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"reference table {path} is missing; it ships under include/pricing/"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data
