"""The last check before a refreshed snapshot is published: the cost model's own lookups on it.

Validation (:mod:`costing.pricing.price_validation`) looks at rows; this gate asks the questions the
cost model will ask, on the candidate snapshot written to a staging folder, and refuses to publish it
when one fails:

* the price sheet builds for every region, and every service rate the model needs is usable (a
  required price, or one the previous snapshot had, that is now ``None`` - ambiguous tiers, a unit
  the model cannot use - is a rejection, with the sheet's note saying why);
* every requested instance type the previous snapshot priced on demand in a region is still priced,
  by exactly one on-demand rate (the catalog's lookup raises on two); a requested type that was never
  priced there is a warning (not every type is offered in every region);
* the default training instance type has an on-demand price in every region.

Each :class:`Rejection` names the region, what failed, and the SKU, field and value where there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import DEFAULT_INSTANCE_TYPE
from costing.pricing.price_validation import REQUIRED_SERVICE_PRICE_KEYS
from costing.pricing.sheet import PriceSheet
from costing.pricing.sheet_builder import SERVICE_FIELDS, build_price_sheet
from costing.pricing.snapshot import PricingSnapshot


@dataclass(frozen=True)
class Rejection:
    """One reason not to publish a candidate snapshot."""

    what: str  # "sheet" | "rate" | "instance"
    region: str
    message: str
    sku: str = ""
    field: str = ""
    value: str = ""

    def __str__(self) -> str:
        return f"{self.region}: {self.message}"

    def to_failure(self) -> dict[str, str]:
        """The shape of :attr:`RefreshResult.failures`."""
        return {"what": f"gate:{self.what}", "region": self.region, "error": self.message}


def _sheet(snapshot: PricingSnapshot | None, region: str, now: datetime | None) -> PriceSheet | None:
    if snapshot is None or region not in snapshot.provenance.regions:
        return None
    try:
        return build_price_sheet(snapshot, region, now=now)
    except ValueError:
        return None


def check_candidate(
    candidate: PricingSnapshot,
    *,
    previous: PricingSnapshot | None,
    regions: Iterable[str],
    instance_types: Sequence[str],
    now: datetime | None = None,
) -> tuple[list[Rejection], list[str]]:
    """The rejections (publish nothing if any) and warnings of the cost model's lookups on ``candidate``."""
    rejections: list[Rejection] = []
    warnings: list[str] = []
    catalog = PriceCatalog.from_snapshot(candidate)
    for region in regions:
        try:
            sheet = build_price_sheet(candidate, region, now=now)
        except (ValueError, KeyError) as error:
            rejections.append(Rejection("sheet", region, f"the price sheet cannot be built: {error}"))
            continue
        before = _sheet(previous, region, now)
        for field_name, price_key, _ in SERVICE_FIELDS:
            if getattr(sheet, field_name) is not None:
                continue
            needed = price_key in REQUIRED_SERVICE_PRICE_KEYS or (
                before is not None and getattr(before, field_name) is not None
            )
            if needed:
                why = "; ".join(n for n in sheet.notes if n.startswith(f"{price_key}:")) or "no usable price"
                rejections.append(
                    Rejection("rate", region, f"{field_name} is unusable: {why}", field=field_name)
                )
        priced_before = set(before.instances) if before is not None else set()
        for instance_type in dict.fromkeys([DEFAULT_INSTANCE_TYPE, *instance_types]):
            try:
                catalog.on_demand_usd_per_hour(instance_type, region)
            except ValueError as error:
                text = str(error)
                if "different on-demand prices" in text:
                    rejections.append(Rejection("instance", region, text, field="usd_rate"))
                elif instance_type == DEFAULT_INSTANCE_TYPE or instance_type in priced_before:
                    rejections.append(
                        Rejection(
                            "instance",
                            region,
                            f"{instance_type} lost its on-demand price: the previous snapshot priced it, "
                            f"this one does not ({text})",
                        )
                    )
                elif instance_type in instance_types:
                    warnings.append(
                        f"{region}: no on-demand price for {instance_type} (not offered there?); left out"
                    )
                continue
            if instance_type not in sheet.instances:
                note = next((n for n in sheet.notes if instance_type in n), "")
                rejections.append(
                    Rejection("instance", region, f"{instance_type} is priced but unusable: {note}")
                )
    return rejections, warnings
