"""The report's tables as CSV files (attached to the email, stored beside the report)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from costing.report.formatting import is_number, iso_or_none
from costing.report.inputs import TRAINING_RUN_COLUMNS, ReportInputs

# -- CSV ----------------------------------------------------------------------------------------------------


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue()


def csv_tables(inputs: ReportInputs, view: Mapping[str, Any]) -> dict[str, str]:
    """The report's tables as CSV: training runs always (header only when empty), the others when they have rows."""
    tables = {"training_runs.csv": _csv(TRAINING_RUN_COLUMNS, view["training_runs"]["rows"])}
    reconciliation = view.get("reconciliation") or {}
    if reconciliation.get("rows"):
        tables["estimate_vs_bill.csv"] = _csv(
            (
                "run_name",
                "started_text",
                "tagged_estimate_usd",
                "billed_actual_usd",
                "estimate_error_pct",
                "mlflow_url",
            ),
            reconciliation["rows"],
        )
    change = view.get("cost_change") or {}
    if change.get("groups"):
        tables["cost_change.csv"] = _csv(
            (
                "group",
                "previous_hours",
                "current_hours",
                "previous_usd_per_hour",
                "current_usd_per_hour",
                "price_usd",
            ),
            change["groups"],
        )
    changes = [
        {
            "previous_snapshot_id": r["previous_snapshot_id"],
            "current_snapshot_id": r["current_snapshot_id"],
            **row,
        }
        for r in view["price_changes"]["refreshes"]
        for row in r["rows"]
    ]
    if changes:
        tables["price_changes.csv"] = _csv(
            (
                "previous_snapshot_id",
                "current_snapshot_id",
                "section",
                "kind",
                "term",
                "region",
                "service",
                "price_key",
                "usage_type",
                "instance_type",
                "reserved_term",
                "availability_zone",
                "begin_range",
                "unit",
                "previous_usd_rate",
                "current_usd_rate",
                "change_pct",
                "label",
            ),
            changes,
        )
    spot = [
        {
            "instance_type": s.instance_type,
            "availability_zone": s.availability_zone,
            "timestamp": iso_or_none(t),
            "usd_per_hour": price,
        }
        for s in inputs.spot_history
        for t, price in s.points
    ]
    if spot:
        tables["spot_history.csv"] = _csv(
            ("instance_type", "availability_zone", "timestamp", "usd_per_hour"), spot
        )
    document = inputs.analysis or {}
    grid = document.get("grid") or {}
    scenario_rows = [
        {
            "region": grid.get("region"),
            "snapshot_id": grid.get("snapshot_id"),
            "requests_per_day": s.get("requests_per_day"),
            **o,
            "usd_per_month": o.get("monthly_cost"),
            "cheapest": o.get("key") == s.get("cheapest"),
            "caveats": "; ".join(o.get("caveats") or []),
            "owed_at_horizon_usd": (o.get("commitment") or {}).get("owed_at_horizon_usd"),
        }
        for s in grid.get("scenarios") or []
        for o in s.get("options") or []
    ]
    if scenario_rows:
        tables["scenarios.csv"] = _csv(
            (
                "region",
                "snapshot_id",
                "requests_per_day",
                "key",
                "name",
                "option",
                "instance_type",
                "feasible",
                "drop_in",
                "cheapest",
                "usd_per_month",
                "usd_per_request",
                "usd_per_1k_requests",
                "owed_at_horizon_usd",
                "config",
                "reason",
                "caveats",
            ),
            scenario_rows,
        )
    tco = document.get("tco") or {}
    platform = tco.get("platform") or None
    tco_rows = [
        {
            "region": tco.get("region"),
            "snapshot_id": tco.get("snapshot_id"),
            "horizon_months": tco.get("horizon_months"),
            "retrain_cadence": tco.get("retrain_cadence"),
            "requests_per_day": s.get("requests_per_day"),
            "cheapest": o.get("key") == s.get("cheapest"),
            **o,
            "owed_at_horizon_usd": (o.get("commitment") or {}).get("owed_at_horizon_usd"),
        }
        for s in tco.get("scenarios") or []
        for o in s.get("options") or []
    ]
    if tco_rows:
        tables["tco.csv"] = _csv(
            (
                "region",
                "snapshot_id",
                "horizon_months",
                "retrain_cadence",
                "requests_per_day",
                "key",
                "label",
                "option",
                "instance_type",
                "feasible",
                "drop_in",
                "cheapest",
                "serving_usd_per_month",
                "training_usd_per_month",
                "storage_usd_per_month",
                # only when a platform was priced: a "none" analysis exports what it always did
                *(("platform_usd_per_month",) if platform else ()),
                "usd_per_month",
                "serving_usd",
                "training_usd",
                "storage_usd",
                *(("platform_usd",) if platform else ()),
                "total_usd",
                "owed_at_horizon_usd",
                "reason",
            ),
            tco_rows,
        )
    if platform:
        share = platform.get("attribution_share")
        tables["platform.csv"] = _csv(
            (
                "design",
                "region",
                "snapshot_id",
                "name",
                "service",
                "unit",
                "monthly_quantity",
                "price",
                "monthly_cost",
                "attribution_share",
                "charged_monthly_cost",
                "source",
            ),
            (
                {
                    "design": platform.get("design"),
                    "region": platform.get("region"),
                    "snapshot_id": platform.get("snapshot_id"),
                    **c,
                    "attribution_share": share,
                    "charged_monthly_cost": c.get("monthly_cost") * share
                    if is_number(c.get("monthly_cost")) and is_number(share)
                    else None,
                }
                for c in platform.get("components") or []
            ),
        )
    sensitivity = document.get("sensitivity") or {}
    tornado_rows = [
        {
            "requests_per_day": t.get("requests_per_day"),
            "key": t.get("key"),
            "label": t.get("label"),
            "pct": t.get("pct"),
            "base_usd_per_month": t.get("base_usd_per_month"),
            **bar,
        }
        for t in sensitivity.get("tornados") or []
        for bar in t.get("bars") or []
    ]
    if tornado_rows:
        tables["tornado.csv"] = _csv(
            (
                "requests_per_day",
                "key",
                "label",
                "pct",
                "base_usd_per_month",
                "factor",
                "low_multiplier",
                "high_multiplier",
                "low_usd_per_month",
                "high_usd_per_month",
                "swing_usd_per_month",
            ),
            tornado_rows,
        )
    mc_rows = [
        {
            "requests_per_day": m.get("requests_per_day"),
            "samples": (m.get("spec") or {}).get("samples"),
            "seed": (m.get("spec") or {}).get("seed"),
            **o,
        }
        for m in sensitivity.get("monte_carlo") or []
        for o in m.get("options") or []
    ]
    if mc_rows:
        tables["monte_carlo.csv"] = _csv(
            (
                "requests_per_day",
                "samples",
                "seed",
                "key",
                "label",
                "option",
                "instance_type",
                "drop_in",
                "nominal_usd_per_month",
                "p10_usd_per_month",
                "p50_usd_per_month",
                "p90_usd_per_month",
                "mean_usd_per_month",
                "slo_met_fraction",
                "cheapest_fraction",
            ),
            mc_rows,
        )
    return tables
