"""Fresh prices without an AWS account: the Price List's public bulk offer files and the Spot Instance Advisor.

AWS publishes the whole Price List as unauthenticated files (``https://pricing.us-east-1.amazonaws.com``)::

    /offers/v1.0/aws/index.json                        every offer: {"offers": {code: {"currentRegionIndexUrl",
                                                       "currentSavingsPlanIndexUrl", ...}}}
    /offers/v1.0/aws/<code>/current/region_index.json  {"regions": {region: {"currentVersionUrl": ...}}}
    /offers/v1.0/aws/<code>/<version>/<region>/index.json
                                                       {"offerCode", "version", "publicationDate",
                                                        "products": {sku: product},
                                                        "terms": {"OnDemand": {sku: {...}}, "Reserved": {...}}}
    /savingsPlan/v1.0/aws/AWSComputeSavingsPlan/current/region_index.json
                                                       {"regions": [{"regionCode", "versionUrl"}]} -> a
                                                       Savings Plans offer document per region

The EC2 region file is hundreds of megabytes, so offer files are **streamed** (ijson, C backend):
one pass over the HTTP response, keeping only the products the cost model's filters select
(:data:`~costing.pricing.fetch.PRICE_QUERIES`, the same TERM_MATCH filters the Price List API is asked
with) and their terms; memory stays bounded by the largest single product. Each kept product and its
terms is exactly a ``get_products`` item, so the snapshot stores it in ``raw/pricing/`` and the same
parser reads it. Spot prices have no public history: the Spot Instance Advisor document (savings over
on-demand and interruption buckets per type and region) is read instead and stored with the snapshot.

Network access is explicit: every URL comes from the caller (``pipeline.settings`` holds AWS's public
URLs as defaults; tests point them at 127.0.0.1), connects fail fast (``timeout_seconds``, DNS included),
and every failure is a :class:`BulkOfferError` naming the URL.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

DEFAULT_PRICE_LIST_URL = "https://pricing.us-east-1.amazonaws.com"
OFFER_INDEX_PATH = "/offers/v1.0/aws/index.json"
SAVINGS_PLANS_OFFER = "AWSComputeSavingsPlan"
DEFAULT_TIMEOUT_SECONDS = 10.0
CHUNK_BYTES = 1 << 20  # 1 MiB reads from the response


class BulkOfferError(RuntimeError):
    """A bulk file could not be read: says which URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"cannot read {url}: {reason}")


@dataclass(frozen=True)
class OfferFile:
    """One region's offer file of one service, as the indexes name it."""

    service: str
    region: str
    url: str
    version: str = ""
    publication_date: str = ""

    def provenance(self) -> dict[str, str]:
        return {"url": self.url, "version": self.version, "publication_date": self.publication_date}


@dataclass
class StreamedOffer:
    """What streaming an offer file kept: Price List items (product + its terms) and the file's header."""

    items: list[dict[str, Any]] = field(default_factory=list)
    version: str = ""
    publication_date: str = ""
    products_seen: int = 0


def _resolve(host: str, port: int, timeout_seconds: float) -> None:
    """Look the host up within ``timeout_seconds`` (the socket timeout does not cover DNS)."""
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port)
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout_seconds)
    if not outcome:
        raise OSError(f"no answer from DNS for {host} within {timeout_seconds:g} s")
    if outcome[0] is not None:
        raise outcome[0]


class BulkOffers:
    """A reader of the bulk offer files under ``base_url`` (AWS's public endpoint, or a mirror)."""

    def __init__(
        self, base_url: str = DEFAULT_PRICE_LIST_URL, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ):
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds={timeout_seconds!r} must be > 0")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._index: Mapping[str, Any] | None = None

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    def open(self, path: str) -> IO[bytes]:
        """The response to GET ``path``; :class:`BulkOfferError` on any network or HTTP failure."""
        url = self.url(path)
        parsed = urllib.parse.urlparse(url)
        try:
            if parsed.scheme in ("http", "https") and parsed.hostname:
                _resolve(
                    parsed.hostname,
                    parsed.port or (443 if parsed.scheme == "https" else 80),
                    self.timeout_seconds,
                )
            return urllib.request.urlopen(url, timeout=self.timeout_seconds)
        except urllib.error.HTTPError as error:
            raise BulkOfferError(url, f"HTTP {error.code} {error.reason}") from error
        except urllib.error.URLError as error:
            raise BulkOfferError(url, str(error.reason)) from error
        except (OSError, ValueError) as error:
            raise BulkOfferError(url, f"{type(error).__name__}: {error}") from error

    def json(self, path: str) -> Any:
        url = self.url(path)
        try:
            with self.open(path) as response:
                return json.loads(response.read().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BulkOfferError(url, f"not valid JSON ({error})") from error
        except OSError as error:  # a read that timed out or was cut
            raise BulkOfferError(url, f"{type(error).__name__}: {error}") from error

    # -- the indexes ---------------------------------------------------------------------------------------

    def offer_index(self) -> Mapping[str, Any]:
        if self._index is None:
            index = self.json(OFFER_INDEX_PATH)
            if not isinstance(index, Mapping) or not isinstance(index.get("offers"), Mapping):
                raise BulkOfferError(
                    self.url(OFFER_INDEX_PATH), "not an offer index: it has no 'offers' object"
                )
            self._index = index
        return self._index

    def _offer(self, service: str) -> Mapping[str, Any]:
        offer = self.offer_index()["offers"].get(service)
        if not isinstance(offer, Mapping):
            raise BulkOfferError(self.url(OFFER_INDEX_PATH), f"the offer index lists no {service!r}")
        return offer

    def offer_file(self, service: str, region: str) -> OfferFile:
        """Where ``service``'s current offer file for ``region`` is (offer index -> region index)."""
        offer = self._offer(service)
        key = "currentSavingsPlanIndexUrl" if service == SAVINGS_PLANS_OFFER else "currentRegionIndexUrl"
        index_path = offer.get(key) or offer.get("currentRegionIndexUrl")
        if not index_path:
            raise BulkOfferError(self.url(OFFER_INDEX_PATH), f"{service} has no {key}")
        regions = self.json(index_path).get("regions")
        entry = _region_entry(regions, region)
        if entry is None:
            raise BulkOfferError(self.url(index_path), f"{service} publishes no offer file for {region}")
        path = entry.get("currentVersionUrl") or entry.get("versionUrl")
        if not path:
            raise BulkOfferError(self.url(index_path), f"the {region} entry has no version URL")
        return OfferFile(service=service, region=region, url=self.url(path))


def _region_entry(regions: Any, region: str) -> Mapping[str, Any] | None:
    if isinstance(regions, Mapping):
        entry = regions.get(region)
        return entry if isinstance(entry, Mapping) else None
    for entry in regions or []:
        if isinstance(entry, Mapping) and entry.get("regionCode") == region:
            return entry
    return None


# -- streaming -------------------------------------------------------------------------------------------------


ProductFilter = Callable[[Mapping[str, Any]], bool]


def _chunks(stream: IO[bytes], url: str) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(CHUNK_BYTES)
        except OSError as error:
            raise BulkOfferError(url, f"the download broke off ({type(error).__name__}: {error})") from error
        if not chunk:
            return
        yield chunk


def stream_offer(
    stream: IO[bytes], keep: ProductFilter, *, url: str = "", service_code: str = ""
) -> StreamedOffer:
    """One pass over an offer file: the products ``keep`` selects, each with its OnDemand and Reserved terms,
    as ``get_products`` items (a product without terms is dropped). The products section precedes the
    terms in AWS's files, so each term finds its product already kept (or not wanted)."""
    import ijson

    out = StreamedOffer()
    products, on_demand, reserved, version, published = (ijson.sendable_list() for _ in range(5))
    # one C parser per section of interest, all fed the same chunks: a single pass over the download
    parsers = [
        ijson.kvitems_coro(products, "products", use_float=True),
        ijson.kvitems_coro(on_demand, "terms.OnDemand", use_float=True),
        ijson.kvitems_coro(reserved, "terms.Reserved", use_float=True),
    ]
    # the header values come before the products: their parsers stop at the first chunk that has them
    header = {
        "version": (ijson.items_coro(version, "version"), version),
        "publicationDate": (ijson.items_coro(published, "publicationDate"), published),
    }
    kept: dict[str, dict[str, Any]] = {}

    def drain() -> None:
        for sku, product in products:
            out.products_seen += 1
            if keep(product):
                kept[str(sku)] = {
                    "product": product,
                    "serviceCode": service_code or str(product.get("attributes", {}).get("servicecode", "")),
                    "terms": {},
                    "version": out.version,
                    "publicationDate": out.publication_date,
                }
        del products[:]
        for events, name in ((on_demand, "OnDemand"), (reserved, "Reserved")):
            for sku, terms in events:
                item = kept.get(str(sku))
                if item is not None:
                    item["terms"][name] = terms
            del events[:]
        for name, (_, values) in list(header.items()):
            if values:
                if name == "version":
                    out.version = str(values[0])
                else:
                    out.publication_date = str(values[0])
                del header[name]

    try:
        for chunk in _chunks(stream, url):
            for parser in parsers:
                parser.send(chunk)
            for parser, _ in header.values():
                parser.send(chunk)
            drain()
        for parser in parsers:
            parser.close()
        drain()
    except ijson.JSONError as error:
        raise BulkOfferError(url, f"not a valid offer file ({error})") from error
    for item in kept.values():
        item["version"], item["publicationDate"] = out.version, out.publication_date
    out.items = [item for item in kept.values() if item["terms"]]
    return out


def attribute_filter(conditions: Sequence[Mapping[str, str]]) -> ProductFilter:
    """TERM_MATCH semantics of ``get_products`` on a bulk product: every field equals its value, ignoring
    case (``productFamily`` is on the product, the rest in its attributes)."""
    wanted = [(c["Field"], str(c["Value"]).lower()) for c in conditions]

    def keep(product: Mapping[str, Any]) -> bool:
        attributes = product.get("attributes") or {}
        for name, value in wanted:
            actual = product.get("productFamily") if name == "productFamily" else attributes.get(name)
            if str(actual).lower() != value:
                return False
        return True

    return keep


def any_of(filters: Iterable[ProductFilter]) -> ProductFilter:
    filters = list(filters)
    return lambda product: any(keep(product) for keep in filters)


def stream_savings_plans(
    stream: IO[bytes], *, region: str, instance_types: Iterable[str], url: str = ""
) -> dict[str, Any]:
    """One region's Savings Plans offer document, cut to the Linux shared-tenancy EC2 rates of
    ``instance_types`` (and the plans they belong to), in the offer file's own shape."""
    import ijson

    from_types = {f"BoxUsage:{t}" for t in instance_types}
    products, terms = ijson.sendable_list(), ijson.sendable_list()
    header = {name: ijson.sendable_list() for name in ("version", "publicationDate", "regionCode")}
    parsers = [
        ijson.items_coro(products, "products.item", use_float=True),
        ijson.items_coro(terms, "terms.savingsPlan.item", use_float=True),
        *(ijson.items_coro(values, name) for name, values in header.items()),
    ]
    kept_products: dict[str, Any] = {}
    kept_terms: list[dict[str, Any]] = []
    meta: dict[str, str] = {}

    def usage(rate: Mapping[str, Any]) -> str:
        text = str(rate.get("discountedUsageType", ""))
        return text.split("-", 1)[1] if "-BoxUsage:" in text else text

    def drain() -> None:
        for product in products:
            kept_products[str(product.get("sku", ""))] = product
        del products[:]
        for term in terms:
            rates = [
                r
                for r in term.get("rates") or []
                if r.get("discountedServiceCode") == "AmazonEC2"
                and r.get("discountedOperation") == "RunInstances"
                and usage(r) in from_types
            ]
            if rates:
                kept_terms.append({**term, "rates": rates})
        del terms[:]
        for name, values in header.items():
            if values:
                meta[name] = str(values.pop())

    try:
        for chunk in _chunks(stream, url):
            for parser in parsers:
                parser.send(chunk)
            drain()
        for parser in parsers:
            parser.close()
        drain()
    except ijson.JSONError as error:
        raise BulkOfferError(url, f"not a valid Savings Plans offer file ({error})") from error
    skus = {term.get("sku") for term in kept_terms}
    return {
        "version": meta.get("version", ""),
        "publicationDate": meta.get("publicationDate", ""),
        "regionCode": meta.get("regionCode", region),
        "products": [kept_products[sku] for sku in sorted(skus) if sku in kept_products],
        "terms": {"savingsPlan": sorted(kept_terms, key=lambda term: str(term.get("sku")))},
    }


# -- the Spot Instance Advisor -------------------------------------------------------------------------------


def spot_advisor_document(
    reader: BulkOffers, url: str, *, regions: Iterable[str], instance_types: Iterable[str], fetched_at: str
) -> dict[str, Any]:
    """The Advisor document cut to ``regions`` x ``instance_types`` (Linux), with when it was read."""
    document = reader.json(url)
    if not isinstance(document, Mapping) or not isinstance(document.get("spot_advisor"), Mapping):
        raise BulkOfferError(reader.url(url), "not a Spot Instance Advisor document (no 'spot_advisor')")
    types = set(instance_types)
    advisor = {
        region: {"Linux": {t: v for t, v in (by_os.get("Linux") or {}).items() if t in types}}
        for region, by_os in document["spot_advisor"].items()
        if region in set(regions)
    }
    return {
        "fetched_at": fetched_at,
        "url": reader.url(url),
        "ranges": document.get("ranges", []),
        "spot_advisor": advisor,
    }
