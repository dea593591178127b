"""The bill, matched to runs: AWS Data Exports (FOCUS 1.2 or CUR 2.0) or Cost Explorer groups -> USD per run.

Pure functions of rows and object listings (fetching lives in ``pipeline.tasks.reconcile``):

* :func:`newest_export_files` - an export bucket holds one folder per billing period
  (``.../BILLING_PERIOD=2026-03/...``); AWS restates a period by delivering it again, into a new
  version folder or over the old files. Per period, only the newest delivery counts.
* :func:`bill_lines` - the usage rows of a FOCUS 1.2 export (``BilledCost``, ``Tags``,
  ``ResourceId``, ``ChargeCategory``) or of a CUR 2.0 export (``line_item_unblended_cost``,
  ``resource_tags``, ``line_item_resource_id``, ``line_item_line_item_type``) that carry the run tag.
  Tag keys are matched however the export spells them (``rnn:mlflow_run_id``, ``user:rnn:mlflow_run_id``,
  ``user_rnn_mlflow_run_id``).
* :func:`billed_by_run` and :func:`estimate_error_pct` - the comparison with the estimate.

Only what the tag can find is compared: instances and their volumes. S3 storage is billed per bucket,
so a run's S3 share is never in a tagged line; it stays an estimate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PARQUET_SUFFIXES = (".parquet", ".snappy.parquet", ".parquet.snappy")
_PERIOD = re.compile(r"(?:^|/)billing_period=(\d{4}-\d{2})(?:/|$)", re.IGNORECASE)
FOCUS_USAGE = ("Usage",)
CUR_USAGE = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")


@dataclass(frozen=True)
class ExportObject:
    key: str
    last_modified: datetime
    size: int = 0


@dataclass(frozen=True)
class ExportVersion:
    """One delivery of one billing period: its files and when the newest of them landed."""

    billing_period: str  # "2026-03"
    version: str  # the folder between BILLING_PERIOD=... and the files ("" when files are overwritten)
    keys: tuple[str, ...]
    delivered_at: datetime


def newest_export_files(objects: Iterable[ExportObject]) -> list[ExportVersion]:
    """The newest delivery of each billing period among ``objects`` (Parquet files only), by period."""
    versions: dict[tuple[str, str], list[ExportObject]] = {}
    for item in objects:
        if not item.key.lower().endswith(PARQUET_SUFFIXES):
            continue
        match = _PERIOD.search(item.key)
        period = match.group(1) if match else ""
        folder = item.key.rsplit("/", 1)[0]
        version = folder[match.end() :] if match and match.end() <= len(folder) else ""
        versions.setdefault((period, version.strip("/")), []).append(item)
    newest: dict[str, ExportVersion] = {}
    for (period, version), items in versions.items():
        candidate = ExportVersion(
            billing_period=period,
            version=version,
            keys=tuple(sorted(i.key for i in items)),
            delivered_at=max(i.last_modified for i in items),
        )
        current = newest.get(period)
        if current is None or (candidate.delivered_at, candidate.version) > (
            current.delivered_at,
            current.version,
        ):
            newest[period] = candidate
    return [newest[period] for period in sorted(newest)]


def normalized_tag_key(key: str) -> str:
    """``user:rnn:mlflow_run_id`` / ``user_rnn_mlflow_run_id`` / ``rnn:mlflow_run_id`` -> ``rnn_mlflow_run_id``."""
    key = key.strip()
    for prefix in ("user:", "user_"):
        if key.lower().startswith(prefix):
            key = key[len(prefix) :]
            break
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def tags_of(value: Any) -> dict[str, str]:
    """A row's tags as a dict, from a Parquet map (list of pairs), a dict or a JSON string."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, str):
        parsed = json.loads(value)
        return tags_of(parsed) if isinstance(parsed, Mapping) else {}
    if isinstance(value, Sequence):
        return {str(k): str(v) for k, v in value if v is not None}
    raise ValueError(f"tags {value!r} are neither a map, a JSON object nor key-value pairs")


@dataclass(frozen=True)
class BillLine:
    run_id: str  # the value of the run tag
    resource_id: str
    billed_usd: float
    service: str


def _schema(columns: Iterable[str]) -> str:
    names = set(columns)
    if {"BilledCost", "Tags"} <= names:
        return "focus"
    if {"line_item_unblended_cost", "resource_tags"} <= names:
        return "cur2"
    raise ValueError(
        "the export has neither FOCUS columns (BilledCost, Tags) nor CUR 2.0 columns "
        f"(line_item_unblended_cost, resource_tags); it has {sorted(names)[:12]}: export FOCUS 1.2 or CUR 2.0"
    )


def bill_lines(rows: Sequence[Mapping[str, Any]], tag_key: str) -> list[BillLine]:
    """The usage rows of one export table carrying ``tag_key`` (FOCUS 1.2 or CUR 2.0, detected)."""
    if not rows:
        return []
    schema = _schema(rows[0].keys())
    wanted = normalized_tag_key(tag_key)
    lines = []
    for row in rows:
        if schema == "focus":
            if row.get("ChargeCategory") not in FOCUS_USAGE:
                continue
            tags, cost = row.get("Tags"), row.get("BilledCost")
            resource, service = row.get("ResourceId"), row.get("ServiceName")
        else:
            if row.get("line_item_line_item_type") not in CUR_USAGE:
                continue
            tags, cost = row.get("resource_tags"), row.get("line_item_unblended_cost")
            resource, service = row.get("line_item_resource_id"), row.get("line_item_product_code")
        value = next((v for k, v in tags_of(tags).items() if normalized_tag_key(k) == wanted and v), None)
        if value is None or cost is None:
            continue
        lines.append(
            BillLine(
                run_id=value,
                resource_id=str(resource or ""),
                billed_usd=float(cost),
                service=str(service or ""),
            )
        )
    return lines


@dataclass(frozen=True)
class BilledRun:
    run_id: str
    billed_usd: float
    lines: int
    resources: tuple[str, ...]
    by_service: dict[str, float] = field(default_factory=dict)


def billed_by_run(lines: Iterable[BillLine]) -> dict[str, BilledRun]:
    totals: dict[str, list[BillLine]] = {}
    for line in lines:
        totals.setdefault(line.run_id, []).append(line)
    result = {}
    for run_id, items in totals.items():
        by_service: dict[str, float] = {}
        for item in items:
            by_service[item.service] = by_service.get(item.service, 0.0) + item.billed_usd
        result[run_id] = BilledRun(
            run_id=run_id,
            billed_usd=sum(i.billed_usd for i in items),
            lines=len(items),
            resources=tuple(sorted({i.resource_id for i in items if i.resource_id})),
            by_service=by_service,
        )
    return result


def cost_explorer_by_run(
    responses: Iterable[Mapping[str, Any]], tag_key: str, metric: str = "UnblendedCost"
) -> dict[str, BilledRun]:
    """``get_cost_and_usage`` pages grouped by ``TAG`` ``tag_key`` -> USD per tag value.

    Group keys read ``"<tag key>$<value>"``; ``"<tag key>$"`` holds the untagged costs and is skipped.
    """
    totals: dict[str, float] = {}
    days: dict[str, int] = {}
    for response in responses:
        for period in response.get("ResultsByTime") or []:
            for group in period.get("Groups") or []:
                key = (group.get("Keys") or [""])[0]
                name, _, value = key.partition("$")
                if not value or normalized_tag_key(name) != normalized_tag_key(tag_key):
                    continue
                amount = group["Metrics"][metric]
                if amount.get("Unit", "USD") != "USD":
                    raise ValueError(f"Cost Explorer returned {amount.get('Unit')!r}, not USD, for {key}")
                totals[value] = totals.get(value, 0.0) + float(amount["Amount"])
                days[value] = days.get(value, 0) + 1
    return {
        value: BilledRun(run_id=value, billed_usd=usd, lines=days[value], resources=(), by_service={})
        for value, usd in totals.items()
    }


def estimate_error_pct(estimate_usd: float, billed_usd: float) -> float:
    """(estimate - billed) / billed x 100: positive when the estimate was too high.

    Example: estimated $0.0410, billed $0.0400 -> +2.5 %.
    """
    if billed_usd <= 0:
        raise ValueError(f"billed_usd={billed_usd!r}: an error against a zero bill is undefined")
    return (estimate_usd - billed_usd) / billed_usd * 100
