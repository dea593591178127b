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


# -- AWS Data Exports: a FOCUS 1.2 export in AWS's shape -------------------------------------------------------


def hourly_usage_lines(
    *,
    resource_id: str,
    start: datetime,
    seconds: float,
    prices: Sequence[tuple[datetime, float]],
    tags: Mapping[str, str],
    service: str = "Amazon Elastic Compute Cloud",
    pricing_category: str = "Dynamic",
) -> list[dict[str, Any]]:
    """FOCUS rows as AWS writes per-second usage: one line per clock hour the resource ran, usage in
    hours (8 decimals), each second at the price in force then (``prices``: (since, USD/hour), the
    first in force at ``start``), cost rounded to 10 decimal places."""
    from datetime import timedelta

    def usd_between(a: datetime, b: datetime) -> float:
        usd = 0.0
        for i, (since, rate) in enumerate(prices):
            until = prices[i + 1][0] if i + 1 < len(prices) else b
            lo, hi = max(a, since), min(b, until)
            if hi > lo:
                usd += (hi - lo).total_seconds() / 3600 * rate
        return usd

    lines = []
    end = start + timedelta(seconds=seconds)
    cursor = start
    while cursor < end:
        hour_end = cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        line_end = min(hour_end, end)
        hours = round((line_end - cursor).total_seconds() / 3600, 8)
        lines.append(
            focus_line(
                resource_id=resource_id,
                start=cursor,
                end=line_end,
                billed=round(usd_between(cursor, line_end), 10),
                quantity=hours,
                unit="Hours",
                tags=tags,
                service=service,
                pricing_category=pricing_category,
            )
        )
        cursor = line_end
    return lines


def focus_line(
    *,
    resource_id: str | None,
    start: datetime,
    end: datetime,
    billed: float,
    quantity: float,
    unit: str,
    tags: Mapping[str, str],
    service: str,
    pricing_category: str | None = "Standard",
    charge_category: str = "Usage",
) -> dict[str, Any]:
    """One FOCUS 1.2 line as an AWS Data Export writes it (user tags under ``user:``)."""
    period_start = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return {
        "BilledCost": billed,
        "EffectiveCost": billed,
        "ListCost": billed,
        "ContractedCost": billed,
        "BillingAccountId": "123456789012",
        "BillingCurrency": "USD",
        "BillingPeriodStart": period_start,
        "ChargeCategory": charge_category,
        "ChargePeriodStart": start,
        "ChargePeriodEnd": end,
        "ConsumedQuantity": quantity,
        "ConsumedUnit": unit,
        "PricingCategory": pricing_category,
        "ProviderName": "AWS",
        "RegionId": "us-east-1",
        "ResourceId": resource_id,
        "ServiceName": service,
        "Tags": {f"user:{key}": value for key, value in tags.items()},
    }


def focus_export_parquet(lines: Sequence[Mapping[str, Any]]) -> bytes:
    """The lines as one Snappy Parquet file, Tags as a map column (as in AWS's FOCUS exports)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("BilledCost", pa.float64()),
            ("EffectiveCost", pa.float64()),
            ("ListCost", pa.float64()),
            ("ContractedCost", pa.float64()),
            ("BillingAccountId", pa.string()),
            ("BillingCurrency", pa.string()),
            ("BillingPeriodStart", pa.timestamp("ms", tz="UTC")),
            ("ChargeCategory", pa.string()),
            ("ChargePeriodStart", pa.timestamp("ms", tz="UTC")),
            ("ChargePeriodEnd", pa.timestamp("ms", tz="UTC")),
            ("ConsumedQuantity", pa.float64()),
            ("ConsumedUnit", pa.string()),
            ("PricingCategory", pa.string()),
            ("ProviderName", pa.string()),
            ("RegionId", pa.string()),
            ("ResourceId", pa.string()),
            ("ServiceName", pa.string()),
            ("Tags", pa.map_(pa.string(), pa.string())),
        ]
    )
    rows = [{**line, "Tags": list(line["Tags"].items())} for line in lines]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer, compression="snappy")
    return buffer.getvalue()
