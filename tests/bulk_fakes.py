"""The Price List's public bulk offer files and the Spot Instance Advisor document, served on 127.0.0.1.

:func:`bulk_files` turns a pricing snapshot's raw documents into the bulk layout AWS publishes
(``/offers/v1.0/aws/index.json`` -> per-service ``region_index.json`` -> per-region offer files with
``products`` and ``terms``; ``/savingsPlan/...`` for AWSComputeSavingsPlan) plus products the cost model
must filter out, and an Advisor document. :func:`serving` serves such a tree from a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

VERSION = "20261201000000"
PUBLISHED = "2026-12-01T00:00:00Z"
ADVISOR_PATH = "/spot-advisor-data.json"

# Savings over on-demand (%) and interruption bucket index per type in the served Advisor document
ADVISOR_ENTRIES = {"r6i.xlarge": (62, 1), "m5.large": (55, 0), "c5.large": (48, 2)}


def _noise(region: str) -> list[dict[str, Any]]:
    """Products an offer file also holds that the cost model's filters must leave out."""
    base = {
        "regionCode": region,
        "servicecode": "AmazonEC2",
        "capacitystatus": "Used",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "licenseModel": "No License required",
        "instanceType": "m5.large",
        "usagetype": "BoxUsage:m5.large",
        "vcpu": "2",
        "memory": "8 GiB",
    }
    return [
        {
            "sku": f"NOISEWIN{region[:2].upper()}000001",
            "productFamily": "Compute Instance",
            "attributes": {**base, "operatingSystem": "Windows"},
        },
        {
            "sku": f"NOISEDED{region[:2].upper()}000001",
            "productFamily": "Compute Instance",
            "attributes": {**base, "operatingSystem": "Linux", "tenancy": "Dedicated"},
        },
        {
            "sku": f"NOISEBIG{region[:2].upper()}000001",
            "productFamily": "Compute Instance",
            "attributes": {**base, "operatingSystem": "Linux", "instanceType": "x2iedn.32xlarge"},
        },
    ]


def offer_file(items: list[str], service: str, region: str) -> bytes:
    """One region's offer file in the bulk shape: products first, then terms (as AWS writes them)."""
    products: dict[str, Any] = {}
    terms: dict[str, dict[str, Any]] = {"OnDemand": {}, "Reserved": {}}
    for text in items:
        doc = json.loads(text)
        sku = doc["product"]["sku"]
        products[sku] = doc["product"]
        for name in terms:
            if doc["terms"].get(name):
                terms[name][sku] = doc["terms"][name]
    if service == "AmazonEC2":
        for product in _noise(region):
            products[product["sku"]] = product
            terms["OnDemand"][product["sku"]] = {
                f"{product['sku']}.JRTCKXETXF": {
                    "offerTermCode": "JRTCKXETXF",
                    "sku": product["sku"],
                    "effectiveDate": PUBLISHED,
                    "termAttributes": {},
                    "priceDimensions": {
                        f"{product['sku']}.JRTCKXETXF.6YS6EN2CT7": {
                            "rateCode": f"{product['sku']}.JRTCKXETXF.6YS6EN2CT7",
                            "unit": "Hrs",
                            "beginRange": "0",
                            "endRange": "Inf",
                            "description": "noise",
                            "pricePerUnit": {"USD": "9.9990000000"},
                            "appliesTo": [],
                        }
                    },
                }
            }
    document = {
        "formatVersion": "v1.0",
        "disclaimer": "served on 127.0.0.1 by the tests",
        "offerCode": service,
        "version": VERSION,
        "publicationDate": PUBLISHED,
        "products": products,
        "terms": terms,
    }
    return json.dumps(document).encode()


def advisor_document(regions) -> bytes:
    ranges = [
        {"index": 0, "label": "<5%", "dots": 0, "max": 5},
        {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
        {"index": 2, "label": "10-15%", "dots": 2, "max": 16},
        {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
        {"index": 4, "label": ">20%", "dots": 4, "max": 100},
    ]
    entries = {t: {"s": s, "r": r} for t, (s, r) in ADVISOR_ENTRIES.items()}
    return json.dumps(
        {
            "global_rate": "<10%",
            "ranges": ranges,
            "spot_advisor": {
                region: {"Linux": entries, "Windows": {"m5.large": {"s": 40, "r": 0}}} for region in regions
            },
        }
    ).encode()


def bulk_files(snapshot_dir: Path, regions=("us-east-1", "eu-west-1")) -> dict[str, bytes]:
    """Path -> body of a bulk Price List tree made from a snapshot's raw documents, plus the Advisor."""
    files: dict[str, bytes] = {}
    offers: dict[str, Any] = {}
    for service_dir in sorted((snapshot_dir / "raw" / "pricing").iterdir()):
        service = service_dir.name
        region_index: dict[str, Any] = {}
        for region in regions:
            path = service_dir / f"{region}.json"
            items = json.loads(path.read_text())["PriceList"] if path.is_file() else []
            url = f"/offers/v1.0/aws/{service}/{VERSION}/{region}/index.json"
            files[url] = offer_file(items, service, region)
            region_index[region] = {"regionCode": region, "currentVersionUrl": url}
        files[f"/offers/v1.0/aws/{service}/current/region_index.json"] = json.dumps(
            {"formatVersion": "v1.0", "publicationDate": PUBLISHED, "regions": region_index}
        ).encode()
        offers[service] = {
            "offerCode": service,
            "versionIndexUrl": f"/offers/v1.0/aws/{service}/index.json",
            "currentVersionUrl": f"/offers/v1.0/aws/{service}/current/index.json",
            "currentRegionIndexUrl": f"/offers/v1.0/aws/{service}/current/region_index.json",
        }
    plans = []
    for region in regions:
        path = snapshot_dir / "raw" / "savings_plans" / f"{region}.json"
        if path.is_file():
            url = f"/savingsPlan/v1.0/aws/AWSComputeSavingsPlan/{VERSION}/{region}/index.json"
            files[url] = path.read_bytes()
            plans.append({"regionCode": region, "versionUrl": url})
    if plans:
        files["/savingsPlan/v1.0/aws/AWSComputeSavingsPlan/current/region_index.json"] = json.dumps(
            {"disclaimer": "tests", "publicationDate": PUBLISHED, "regions": plans}
        ).encode()
        offers["AWSComputeSavingsPlan"] = {
            "offerCode": "AWSComputeSavingsPlan",
            "currentSavingsPlanIndexUrl": "/savingsPlan/v1.0/aws/AWSComputeSavingsPlan/current/region_index.json",
        }
    files["/offers/v1.0/aws/index.json"] = json.dumps(
        {"formatVersion": "v1.0", "publicationDate": PUBLISHED, "offers": offers}
    ).encode()
    files[ADVISOR_PATH] = advisor_document(regions)
    return files


class _Served(http.server.ThreadingHTTPServer):
    files: Mapping[str, bytes]
    requested: list[str]


@contextmanager
def serving(files: Mapping[str, bytes]) -> Iterator[_Served]:
    """Serve ``files`` (path -> body) on a free loopback port; ``server.requested`` lists the paths asked for."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.server.requested.append(self.path)
            body = self.server.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = _Served(("127.0.0.1", 0), Handler)
    server.files, server.requested = dict(files), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: _Served) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
