"""Helpers, not tests: AWS-shaped fakes for the pricing tests: a moto server with realistic spot history, and a Stubber'd
Price List client that replays documents in the real ``get_products`` response shape.

Spot history in moto
--------------------
moto 5.2.5's ``DescribeSpotPriceHistory`` answers one placeholder record per instance-type offering
(``SpotPrice "0.00001"``, a fixed 2006 timestamp), ignores ``StartTime``/``EndTime``/``MaxResults`` and
never paginates, and neither its backend nor the ``/moto-api/`` endpoints offer a way to seed prices.
The moto server runs in this process (``ThreadedMotoServer``), so :func:`inject_spot_history` patches
the *response handler* of that one action (``moto.ec2.responses.spot_instances.SpotInstances.
describe_spot_price_history``) to serve injected records: filtered by region, ``InstanceTypes``,
``ProductDescriptions``, ``AvailabilityZone`` and the time window, newest first, paginated with
``MaxResults``/``NextToken``. Everything else is real: the HTTP request from botocore, moto's request
parsing and EC2 XML serialisation, botocore's parsing and its paginator.

Price List in botocore's Stubber
--------------------------------
moto does not implement the ``pricing`` service. :func:`stub_get_products` queues ``get_products``
answers on a ``botocore.stub.Stubber`` with the exact request (``expected_params``) each query must
send, splitting the documents into pages linked by ``NextToken`` as the real API does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

# (region) -> injected SpotPriceHistory items (AvailabilityZone, InstanceType, ProductDescription, SpotPrice, Timestamp)
INJECTED_SPOT_HISTORY: dict[str, list[dict[str, Any]]] = {}


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe_spot_price_history(self):  # replaces SpotInstances.describe_spot_price_history
    from moto.core.responses import ActionResult

    instance_types = set(self._get_param("InstanceTypes", []) or [])
    descriptions = set(self._get_param("ProductDescriptions", []) or [])
    zone = self._get_param("AvailabilityZone")
    start = _parse_time(self._get_param("StartTime"))
    end = _parse_time(self._get_param("EndTime"))
    max_results = self._get_int_param("MaxResults") or 1000
    offset = int(self._get_param("NextToken") or 0)

    items = [
        item
        for item in INJECTED_SPOT_HISTORY.get(self.region, [])
        if (not instance_types or item["InstanceType"] in instance_types)
        and (not descriptions or item["ProductDescription"] in descriptions)
        and (not zone or item["AvailabilityZone"] == zone)
        and (end is None or _parse_time(item["Timestamp"]) <= end)
    ]
    if start is not None:
        # Like EC2: changes inside the window plus, per type and AZ, the price already in force at its start.
        inside = [i for i in items if _parse_time(i["Timestamp"]) >= start]
        in_force: dict[tuple[str, str], dict] = {}
        for item in items:
            if _parse_time(item["Timestamp"]) < start:
                key = (item["InstanceType"], item["AvailabilityZone"])
                if key not in in_force or _parse_time(item["Timestamp"]) > _parse_time(
                    in_force[key]["Timestamp"]
                ):
                    in_force[key] = item
        items = inside + list(in_force.values())
    items.sort(
        key=lambda i: (_parse_time(i["Timestamp"]), i["AvailabilityZone"]), reverse=True
    )  # newest first
    page = items[offset : offset + max_results]
    result: dict[str, Any] = {
        "SpotPriceHistory": [dict(i, Timestamp=_parse_time(i["Timestamp"])) for i in page]
    }
    if offset + max_results < len(items):
        result["NextToken"] = str(offset + max_results)
    return ActionResult(result)


def inject_spot_history(monkeypatch, records_by_region: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Serve ``records_by_region`` from the in-process moto server's DescribeSpotPriceHistory."""
    from moto.ec2.responses.spot_instances import SpotInstances

    INJECTED_SPOT_HISTORY.clear()
    for region, records in records_by_region.items():
        INJECTED_SPOT_HISTORY[region] = [dict(record) for record in records]
    monkeypatch.setattr(SpotInstances, "describe_spot_price_history", _describe_spot_price_history)


def spot_record(
    az: str, instance_type: str, usd: str, timestamp: str, description: str = "Linux/UNIX"
) -> dict:
    return {
        "AvailabilityZone": az,
        "InstanceType": instance_type,
        "ProductDescription": description,
        "SpotPrice": usd,
        "Timestamp": timestamp,
    }


# -- Price List ---------------------------------------------------------------------------------------------


def matches_filters(
    document: Mapping[str, Any], service_code: str, filters: Iterable[Mapping[str, str]]
) -> bool:
    """TERM_MATCH semantics of get_products on one product document (productFamily is on the product)."""
    if document.get("serviceCode") != service_code:
        return False
    product = document.get("product", {})
    attributes = product.get("attributes", {})
    for condition in filters:
        field, value = condition["Field"], condition["Value"]
        actual = product.get("productFamily") if field == "productFamily" else attributes.get(field)
        if str(actual).lower() != str(value).lower():
            return False
    return True


def stub_get_products(
    stubber,
    *,
    service_code: str,
    filters: Sequence[Mapping[str, str]],
    documents: Sequence[str | Mapping[str, Any]],
    page_size: int = 100,
    token_prefix: str = "token",
) -> int:
    """Queue the pages of one paginated get_products call; returns how many pages were queued."""
    items = [doc if isinstance(doc, str) else json.dumps(doc) for doc in documents]
    pages = [items[i : i + page_size] for i in range(0, len(items), page_size)] or [[]]
    for number, page in enumerate(pages):
        expected = {
            "ServiceCode": service_code,
            "Filters": list(filters),
            "FormatVersion": "aws_v1",
            "MaxResults": page_size,
        }
        if number:
            expected["NextToken"] = f"{token_prefix}-{number}"
        response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
        if number + 1 < len(pages):
            response["NextToken"] = f"{token_prefix}-{number + 1}"
        stubber.add_response("get_products", response, expected)
    return len(pages)


def replay_price_lists(
    stubber,
    documents_by_service_region: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    regions: Sequence[str],
    instance_types: Sequence[str],
    sagemaker_instance_types: Sequence[str],
    queries,
    page_size: int = 100,
) -> None:
    """Queue, in the order costing.pricing.fetch sends them, the answers a real Price List API would give to
    every query, picking the documents each query's filters select from recorded documents."""
    for query in queries:
        per_type: list[str | None] = [None]
        if query.per_instance_type == "instanceType":
            per_type = list(instance_types)
        elif query.per_instance_type == "instanceName":
            per_type = list(sagemaker_instance_types)
        for region in regions:
            available = [
                json.loads(d) for d in documents_by_service_region.get(query.service_code, {}).get(region, [])
            ]
            for instance_type in per_type:
                filters = query.filters_for(region=region, instance_type=instance_type)
                selected = [d for d in available if matches_filters(d, query.service_code, filters)]
                stub_get_products(
                    stubber,
                    service_code=query.service_code,
                    filters=filters,
                    documents=selected,
                    page_size=page_size,
                )


# -- the moto server ------------------------------------------------------------------------------------------


@contextmanager
def running_moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, in this process (so spot history can be injected); yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
