"""Prices: AWS documents in, a price sheet out. The lowest layer of ``costing``.

Fetched (the Price List API, or the public bulk offer files through :class:`BulkOffers`) or recorded
documents are parsed into records (:func:`parse_price_list`, :func:`parse_spot_price_history`),
validated (:func:`validate_prices`) and checked by the cost model's own lookups
(:func:`check_candidate`) before they are kept as immutable
snapshots (:class:`PricingSnapshot`, :func:`load_snapshot`), compared (:func:`diff_snapshots`),
looked up (:class:`PriceCatalog`) and turned into the :class:`PriceSheet` the cost model computes
with (:func:`build_price_sheet`, which says how old each price source is: :class:`SourceAge`).
:func:`refresh_snapshot` does fetch -> validate -> gate -> write in one step. Nothing here knows about serving, training plans or reports (docs/pricing.md).
"""

from costing.pricing.bulk import DEFAULT_PRICE_LIST_URL, BulkOfferError, BulkOffers
from costing.pricing.bulk import DEFAULT_TIMEOUT_SECONDS as DEFAULT_PRICING_TIMEOUT_SECONDS
from costing.pricing.catalog import PriceCatalog
from costing.pricing.defaults import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MARKET,
    DEFAULT_REGION,
    DEFAULT_SNAPSHOT_ROOT,
    MARKET_ON_DEMAND,
    MARKET_SPOT,
    MARKETS,
)
from costing.pricing.diff import PriceChange, SnapshotDiff, diff_snapshots
from costing.pricing.fetch import refresh_snapshot
from costing.pricing.freshness import STALENESS_LIMITS_DAYS, SourceAge
from costing.pricing.gate import Rejection, check_candidate
from costing.pricing.parse import PriceRecord, SpotPricePoint, parse_price_list, parse_spot_price_history
from costing.pricing.price_validation import validate_prices
from costing.pricing.recording import record_snapshot
from costing.pricing.reference_tables import SPOT_ADVISOR_DATA_URL
from costing.pricing.sheet import MwaaClassRates, PriceSheet
from costing.pricing.sheet_builder import build_price_sheet
from costing.pricing.snapshot import (
    PricingSnapshot,
    Provenance,
    download_snapshot,
    is_remote,
    latest_snapshot_dir,
    list_snapshot_ids,
    load_snapshot,
    publish_snapshot,
    snapshot_age_days,
)

__all__ = [
    "DEFAULT_INSTANCE_TYPE",
    "DEFAULT_MARKET",
    "DEFAULT_PRICE_LIST_URL",
    "DEFAULT_PRICING_TIMEOUT_SECONDS",
    "DEFAULT_REGION",
    "DEFAULT_SNAPSHOT_ROOT",
    "MARKETS",
    "MARKET_ON_DEMAND",
    "MARKET_SPOT",
    "SPOT_ADVISOR_DATA_URL",
    "STALENESS_LIMITS_DAYS",
    "BulkOfferError",
    "BulkOffers",
    "MwaaClassRates",
    "PriceCatalog",
    "PriceChange",
    "PriceRecord",
    "PriceSheet",
    "PricingSnapshot",
    "Provenance",
    "Rejection",
    "SnapshotDiff",
    "SourceAge",
    "SpotPricePoint",
    "build_price_sheet",
    "check_candidate",
    "diff_snapshots",
    "download_snapshot",
    "is_remote",
    "latest_snapshot_dir",
    "list_snapshot_ids",
    "load_snapshot",
    "parse_price_list",
    "parse_spot_price_history",
    "publish_snapshot",
    "record_snapshot",
    "refresh_snapshot",
    "snapshot_age_days",
    "validate_prices",
]
