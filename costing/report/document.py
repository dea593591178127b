"""The cost report: HTML with inline charts, a short plain-text part, CSV tables, JSON, and the email.

The Airflow side gathers the inputs (training runs of the period from MLflow, snapshot diffs, the
pricing status, the latest ``rnn-cost-analysis`` document, spot price history) into a
:class:`ReportInputs`; this module only renders, stores and packages:

* :func:`render_report` -> :class:`RenderedReport`: charts (:mod:`costing.report.charts`), the HTML
  page from ``include/templates/report.html.j2`` (Jinja2, autoescaped) twice - once with
  ``cid:`` image references for the email, once with ``<name>.png`` for storage and browsers -, the
  plain text, CSV tables, a one-line summary and ``data`` (JSON: everything the page shows).
* :func:`write_report` stores it under a local folder or an fsspec URL (``s3://...``), ``report.json``
  last so a reader never lists a half-written report.
* :func:`build_email` packages it as ``multipart/mixed[ multipart/alternative[ text/plain,
  multipart/related[ text/html, image/png ... ] ], text/csv ... ]``.

Everything here is pure: no Airflow, no MLflow, no torch, no network.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from costing.model.results import OPTION_LABELS, OPTIONS, jsonable
from costing.paths import INCLUDE_DIR
from costing.pricing.diff import PriceChange
from costing.report import charts
from costing.report.charts import TORNADO_FACTOR_NAMES
from costing.report.tables import requests_label, usd

TEMPLATE_DIR = INCLUDE_DIR / "templates"
HTML_TEMPLATE = "report.html.j2"
REPORT_META = "report.json"  # what the plugin's Cost reports page lists
REPORT_FILES = ("report.html", "report.txt", "data.json")
CID_DOMAIN = "rnn-cost-report"
KIND_WEEKLY, KIND_ADHOC = "weekly", "adhoc"
KINDS = (KIND_WEEKLY, KIND_ADHOC)
STATUS_FINISHED = "FINISHED"
TOP_PRICE_CHANGES = 15  # rows of the price-change table; the CSV has all of them
TEXT_RUN_ROWS = 10  # runs listed in the plain-text part

CHART_TITLES = {  # file name -> alt text, in page order
    "cost_per_run.png": "Training cost per run over time",
    "cost_vs_val_loss.png": "Cost per run against validation loss",
    "spot_history.png": "Spot price history per availability zone",
    "scenarios.png": "Serving cost per month by alternative and scenario",
    "tornado.png": "Sensitivity (tornado) of the monthly cost of ownership",
    "monte_carlo.png": "Monte Carlo P10-P90 band of the monthly cost of ownership",
}

TRAINING_RUN_COLUMNS = (
    "run_id",
    "run_name",
    "started_at",
    "status",
    "cost_usd",
    "on_demand_usd",
    "cost_basis",
    "val_loss",
    "interruptions",
    "instance_type",
    "market",
    "region",
    "registered",
    "mlflow_url",
)


# -- inputs and outputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRunRow:
    """One run of the training experiment, as the report shows it."""

    run_id: str
    run_name: str
    started_at: datetime  # timezone-aware, UTC
    status: str  # MLflow run status: FINISHED, FAILED, ...
    cost_usd: float | None  # cost.train_usd: the price paid (billed) or estimated
    on_demand_usd: float | None  # the same run at the on-demand rate
    cost_basis: str  # "estimate" | "billed-estimate"
    val_loss: float | None
    interruptions: int  # spot interruptions during the run
    instance_type: str
    market: str  # "spot" | "on-demand"
    region: str
    registered: bool  # the run's model was registered
    mlflow_url: str | None = None

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError(
                f"training run {self.run_name!r}: started_at={self.started_at!r} has no timezone; "
                "pass an aware datetime, e.g. datetime.fromtimestamp(ms / 1000, tz=UTC)"
            )


@dataclass(frozen=True)
class SpotSeries:
    """One line on the spot price chart."""

    instance_type: str
    availability_zone: str
    points: tuple[tuple[datetime, float], ...]  # (timestamp, usd_per_hour), sorted by time


@dataclass(frozen=True)
class ReportInputs:
    title: str  # "Weekly cost report, 2026-11-21 – 2026-11-27"
    kind: str  # "weekly" | "adhoc"
    period_start: datetime | None
    period_end: datetime | None
    generated_at: datetime
    training_runs: tuple[TrainingRunRow, ...]  # may be empty (an empty week)
    price_changes: tuple[dict, ...]  # costing.pricing.diff.SnapshotDiff.to_dict() per refresh in the period
    pricing_status: (
        dict | None
    )  # {"status": "fresh"|"stale"|"failed", "snapshot_id", "message", "age_days", ...}
    analysis: dict | None  # the rnn-cost-analysis document (+ "model"), or None before the first
    spot_history: tuple[SpotSeries, ...]
    request: dict | None = None  # the ad hoc inputs, shown in an ad hoc report
    links: dict[str, str] = field(default_factory=dict)  # "MLflow", "Airflow" -> URL
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"report kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.generated_at.tzinfo is None:
            raise ValueError(f"generated_at={self.generated_at!r} has no timezone; pass datetime.now(UTC)")


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    html_email: str  # images as <img src="cid:...">
    html_file: str  # the same page with <img src="<name>.png">, for storage and browsers
    text: str  # short plain-text summary
    images: dict[str, bytes]  # "cost_per_run.png" -> PNG bytes; only charts that have data
    csv_tables: dict[str, str]  # "training_runs.csv" (always) and the other tables that have data
    summary: str  # one line for listings
    data: dict  # JSON-serialisable: everything the page shows
    content_ids: dict[str, str] = field(default_factory=dict)  # image name -> Content-ID (no angle brackets)


# -- formatting (shared by the HTML filters and the text part) -----------------------------------------------


def usd_text(value: float | None) -> str:
    """ "$1,234.56", "$0.0014", "$0.000033" (never an exponent), "n/a"."""
    if not _number(value):
        return "n/a"
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    if 0 < magnitude < 1e-4:
        return f"{sign}${_positional(magnitude, 2)}"
    return f"{sign}${usd(magnitude)}"


def rate_text(value: float | None) -> str:
    """A unit price with the digits AWS publishes: "$0.0208", "$0.00000018", "$1.33334e-05" -> "$0.0000133334"."""
    if not _number(value):
        return "n/a"
    return ("-$" if value < 0 else "$") + _positional(abs(value), 6)


def _positional(value: float, digits: int) -> str:
    from decimal import Decimal

    if value == 0:
        return "0"
    return format(Decimal(f"{value:.{digits}g}"), "f")


def requests_short(requests_per_day: float) -> str:
    """100 -> "100/day", 10,000 -> "10k/day", 1,000,000 -> "1M/day", 264,561 -> "265k/day"."""
    value = float(requests_per_day)
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        scaled = float(f"{value / divisor:.3g}")  # rounded first, so 999,999 reads "1M", not "1e+03k"
        if abs(scaled) >= 1:
            return f"{scaled:g}{suffix}/day"
    return f"{float(f'{value:.3g}'):g}/day"


def requests_long(requests_per_day: float) -> str:
    return requests_label(requests_per_day)


def pct_text(value: float | None, digits: int = 0) -> str:
    return "n/a" if not _number(value) else f"{value:.{digits}f} %"


def signed_pct_text(value: float | None) -> str:
    return "n/a" if not _number(value) else f"{value:+.1f} %"


def datetime_text(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"


def number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:g}"
    return str(value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _humanise(key: str) -> str:
    return key.replace("_", " ").replace(".", " ")


def safe_url(url: Any) -> str:
    """The URL when it is http(s), else "" (a link never runs script: no javascript: or data: URLs)."""
    text = str(url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else ""


# -- the view model: plain data the template, the text part, the charts and data.json share ------------------


def _runs_view(runs: Sequence[TrainingRunRow]) -> dict[str, Any]:
    rows = []
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        savings = None
        if _number(run.cost_usd) and _number(run.on_demand_usd) and run.on_demand_usd > 0:
            savings = (1 - run.cost_usd / run.on_demand_usd) * 100
        rows.append(
            {
                "run_id": run.run_id,
                "run_name": run.run_name,
                "started_at": _iso(run.started_at),
                "started_text": datetime_text(run.started_at),
                "status": run.status,
                "cost_usd": run.cost_usd,
                "on_demand_usd": run.on_demand_usd,
                "spot_savings_pct": savings,
                "cost_basis": run.cost_basis,
                "val_loss": run.val_loss,
                "interruptions": run.interruptions,
                "instance_type": run.instance_type,
                "market": run.market,
                "region": run.region,
                "registered": run.registered,
                "mlflow_url": safe_url(run.mlflow_url),
            }
        )
    costs = [r["cost_usd"] for r in rows if _number(r["cost_usd"])]
    paired = [r for r in rows if _number(r["cost_usd"]) and _number(r["on_demand_usd"])]
    total_on_demand = sum(r["on_demand_usd"] for r in paired) if paired else None
    savings = None
    if total_on_demand:
        savings = (1 - sum(r["cost_usd"] for r in paired) / total_on_demand) * 100
    losses = [r for r in rows if _number(r["val_loss"])]
    best = min(losses, key=lambda r: r["val_loss"]) if losses else None
    return {
        "count": len(rows),
        "finished": sum(r["status"] == STATUS_FINISHED for r in rows),
        "failed": sum(r["status"] != STATUS_FINISHED for r in rows),
        "registered": sum(bool(r["registered"]) for r in rows),
        "interruptions": sum(int(r["interruptions"] or 0) for r in rows),
        "costed": len(costs),
        "total_usd": sum(costs) if costs else None,
        "mean_usd": sum(costs) / len(costs) if costs else None,
        "total_on_demand_usd": total_on_demand,
        "spot_savings_pct": savings,
        "estimated": any(r["cost_basis"] == "estimate" for r in rows),
        "best_val_loss": None
        if best is None
        else {"run_name": best["run_name"], "val_loss": best["val_loss"], "cost_usd": best["cost_usd"]},
        "rows": rows,
    }


def _price_changes_view(diffs: Sequence[Mapping[str, Any]], top: int = TOP_PRICE_CHANGES) -> dict[str, Any]:
    refreshes, totals = [], {"changed": 0, "added": 0, "removed": 0, "spot_changed": 0}
    for diff in diffs:
        rows = []
        for section in ("changed", "spot_changed", "added", "removed"):
            for change in diff.get(section) or []:
                rows.append(_change_row(section, change))
        moved = sorted(
            (r for r in rows if r["section"] in ("changed", "spot_changed")),
            key=lambda r: (-abs(r["change_pct"]) if _number(r["change_pct"]) else 0.0, r["label"]),
        )
        others = [r for r in rows if r["section"] not in ("changed", "spot_changed")]
        ordered = moved + others
        counts = {key: len(diff.get(key) or []) for key in totals}
        counts["unchanged"] = (diff.get("counts") or {}).get("unchanged")
        for key in totals:
            totals[key] += counts[key]
        refreshes.append(
            {
                "previous_snapshot_id": diff.get("previous_snapshot_id"),
                "current_snapshot_id": diff.get("current_snapshot_id"),
                "counts": counts,
                "top": ordered[:top],
                "more": max(0, len(ordered) - top),
                "rows": ordered,
            }
        )
    largest = max(
        (r for f in refreshes for r in f["rows"] if _number(r["change_pct"])),
        key=lambda r: abs(r["change_pct"]),
        default=None,
    )
    return {"refreshes": refreshes, "totals": totals, "largest": largest}


def _change_row(section: str, change: Mapping[str, Any]) -> dict[str, Any]:
    from dataclasses import fields

    known = {f.name for f in fields(PriceChange)}
    rates = ("previous_usd_rate", "current_usd_rate")
    values = {name: change.get(name) if name in rates else str(change.get(name) or "") for name in known}
    label = PriceChange(**values).label
    previous, current = change.get("previous_usd_rate"), change.get("current_usd_rate")
    pct = change.get("change_pct")
    if pct is None and _number(previous) and _number(current) and previous:
        pct = (current / previous - 1) * 100
    return {
        "section": section,
        "kind": change.get("kind", section),
        "term": change.get("term", ""),
        "label": label,
        "unit": change.get("unit", ""),
        "previous_usd_rate": previous,
        "current_usd_rate": current,
        "change_pct": pct,
        **{
            k: change.get(k)
            for k in known
            if k not in ("kind", "term", "unit", "previous_usd_rate", "current_usd_rate")
        },
    }


def _pricing_view(status: Mapping[str, Any] | None, analysis: Mapping[str, Any] | None) -> dict[str, Any]:
    status = dict(status or {})
    state = str(status.get("status") or "")
    view = {
        "status": state or "unknown",
        "stale": state not in ("", "fresh"),
        "snapshot_id": status.get("snapshot_id") or (analysis or {}).get("snapshot_id"),
        "age_days": status.get("age_days"),
        "message": _sentence(status.get("message") or status.get("reason") or ""),
        "checked_at": status.get("checked_at"),
        "analysis_snapshot_id": (analysis or {}).get("snapshot_id"),
        "prices_as_of": (analysis or {}).get("prices_as_of"),
        "region": (analysis or {}).get("region"),
    }
    view["analysis_behind"] = bool(
        view["analysis_snapshot_id"]
        and status.get("snapshot_id")
        and view["analysis_snapshot_id"] != status.get("snapshot_id")
    )
    return view


def _sentence(text: str) -> str:
    text = str(text).strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _best_per_option(options: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    best: dict[str, Mapping[str, Any]] = {}
    for option in options:
        current = best.get(option["option"])
        if current is None or _option_order(option) < _option_order(current):
            best[option["option"]] = option
    return best


def _option_order(option: Mapping[str, Any]) -> tuple[int, float, str]:
    cost = option.get("monthly_cost")
    feasible = bool(option.get("feasible")) and _number(cost)
    return (0 if feasible else 1, cost if feasible else math.inf, str(option.get("key")))


def _ordered_options(present: Iterable[str]) -> list[str]:
    present = list(dict.fromkeys(present))
    return [o for o in OPTIONS if o in present] + sorted(o for o in present if o not in OPTIONS)


def _option_label(option: str) -> str:
    return OPTION_LABELS.get(option, option)


def _columns(volumes: Sequence[float]) -> list[dict[str, Any]]:
    return [{"requests_per_day": v, "label": requests_short(v), "long": requests_long(v)} for v in volumes]


def _grid_view(grid: Mapping[str, Any]) -> dict[str, Any]:
    scenarios = grid.get("scenarios") or []
    best = [_best_per_option(s.get("options") or []) for s in scenarios]
    rows = []
    for option in _ordered_options(o for b in best for o in b):
        cells = []
        for scenario, chosen in zip(scenarios, best, strict=True):
            cell = chosen.get(option)
            if cell is None:
                cells.append(None)
                continue
            cells.append(
                {
                    "key": cell.get("key"),
                    "name": cell.get("name"),
                    "instance_type": cell.get("instance_type"),
                    "feasible": bool(cell.get("feasible")) and _number(cell.get("monthly_cost")),
                    "usd_per_month": cell.get("monthly_cost"),
                    "usd_per_1k_requests": cell.get("usd_per_1k_requests"),
                    "config": cell.get("config", ""),
                    "reason": cell.get("reason", ""),
                    "cheapest": cell.get("key") == scenario.get("cheapest"),
                    "cheapest_any": cell.get("key") == scenario.get("cheapest_including_reimplementations")
                    and cell.get("key") != scenario.get("cheapest"),
                }
            )
        drop_in = all(c is None or c.get("key") is None or _drop_in(scenarios, c["key"]) for c in cells)
        rows.append({"option": option, "label": _option_label(option), "drop_in": drop_in, "cells": cells})
    cheapest = []
    for scenario in scenarios:
        options = {o.get("key"): o for o in scenario.get("options") or []}
        chosen = options.get(scenario.get("cheapest"))
        any_key = scenario.get("cheapest_including_reimplementations")
        cheaper = options.get(any_key) if any_key and any_key != scenario.get("cheapest") else None
        cheapest.append(
            {
                "requests_per_day": scenario.get("requests_per_day"),
                "short": requests_short(scenario.get("requests_per_day", 0)),
                "long": requests_long(scenario.get("requests_per_day", 0)),
                "key": scenario.get("cheapest"),
                "name": None if chosen is None else chosen.get("name"),
                "usd_per_month": None if chosen is None else chosen.get("monthly_cost"),
                "usd_per_1k_requests": None if chosen is None else chosen.get("usd_per_1k_requests"),
                "config": "" if chosen is None else chosen.get("config", ""),
                "caveats": [] if chosen is None else list(chosen.get("caveats") or []),
                "reimplementation": None
                if cheaper is None
                else {"name": cheaper.get("name"), "usd_per_month": cheaper.get("monthly_cost")},
            }
        )
    infeasible = [
        {
            "scenario": requests_short(scenario.get("requests_per_day", 0)),
            "name": cell["name"],
            "reason": cell["reason"],
        }
        for row in rows
        for scenario, cell in zip(scenarios, row["cells"], strict=True)
        if cell is not None and not cell["feasible"]
    ]
    return {
        "matrix": {"columns": _columns([s.get("requests_per_day", 0) for s in scenarios]), "rows": rows},
        "cheapest": cheapest,
        "infeasible": infeasible,
    }


def _drop_in(scenarios: Sequence[Mapping[str, Any]], key: str) -> bool:
    for scenario in scenarios:
        for option in scenario.get("options") or []:
            if option.get("key") == key:
                return bool(option.get("drop_in", True))
    return True


def _tco_view(tco: Mapping[str, Any], allowed: set[str] | None) -> dict[str, Any]:
    run = tco.get("training_run") or {}
    scenarios = []
    for scenario in tco.get("scenarios") or []:
        options = [o for o in scenario.get("options") or [] if allowed is None or o.get("option") in allowed]
        ordered = sorted(
            options,
            key=lambda o: (
                not (o.get("feasible") and _number(o.get("total_usd"))),
                o.get("total_usd") if _number(o.get("total_usd")) else 0.0,
                str(o.get("key")),
            ),
        )
        scenarios.append(
            {
                "requests_per_day": scenario.get("requests_per_day"),
                "short": requests_short(scenario.get("requests_per_day", 0)),
                "long": requests_long(scenario.get("requests_per_day", 0)),
                "cheapest": scenario.get("cheapest"),
                "options": [
                    {
                        "key": o.get("key"),
                        "label": o.get("label"),
                        "option": o.get("option"),
                        "feasible": bool(o.get("feasible")) and _number(o.get("total_usd")),
                        "drop_in": o.get("drop_in", True),
                        "reason": o.get("reason", ""),
                        "cheapest": o.get("key") == scenario.get("cheapest"),
                        "serving_usd_per_month": o.get("serving_usd_per_month"),
                        "training_usd_per_month": o.get("training_usd_per_month"),
                        "storage_usd_per_month": o.get("storage_usd_per_month"),
                        "usd_per_month": o.get("usd_per_month"),
                        "total_usd": o.get("total_usd"),
                    }
                    for o in ordered
                ],
            }
        )
    breakevens = [
        {
            **b,
            "short": requests_short(b.get("requests_per_day", 0)),
            "sentence": (
                f"Around {b.get('requests_per_day', 0):,.0f} requests/day the cheapest alternative changes from "
                f"{b.get('below_label')} ({usd_text(b.get('below_usd_per_month'))}/month just below) to "
                f"{b.get('above_label')} ({usd_text(b.get('above_usd_per_month'))}/month just above)."
            ),
        }
        for b in tco.get("breakevens") or []
    ]
    reserved = []
    for r in tco.get("reserved_breakevens") or []:
        utilisation = r.get("utilisation")
        rates = (
            f"{rate_text(r.get('reserved_usd_per_hour'))}/h reserved vs "
            f"{rate_text(r.get('on_demand_usd_per_hour'))}/h on-demand"
        )
        if _number(utilisation) and utilisation <= 1:
            sentence = (
                f"Reserved {r.get('instance_type')} ({r.get('term')}) beats on-demand for an instance "
                f"running more than {utilisation:.0%} of the time ({rates})."
            )
        else:
            sentence = f"Reserved {r.get('instance_type')} ({r.get('term')}) never beats on-demand ({rates})."
        reserved.append({**r, "sentence": sentence})
    return {
        "horizon_months": tco.get("horizon_months"),
        "retrain_cadence": tco.get("retrain_cadence"),
        "runs_per_month": tco.get("runs_per_month"),
        "training_run": {
            k: run.get(k)
            for k in (
                "instance_type",
                "market",
                "region",
                "usd",
                "on_demand_equivalent_usd",
                "spot_savings_pct",
                "work_seconds",
                "expected_interruptions",
                "storage_usd_per_month",
                "basis",
            )
        },
        "scenarios": scenarios,
        "breakevens": breakevens,
        "reserved_breakevens": reserved,
        "no_breakeven": (
            "none: the same alternative is cheapest across these request volumes"
            if len(scenarios) > 1
            else "not computed: the analysis has a single request volume"
        ),
    }


def _tornado_view(sensitivity: Mapping[str, Any]) -> dict[str, Any] | None:
    tornados = [t for t in sensitivity.get("tornados") or [] if t.get("bars")]
    if not tornados:
        return None
    chosen = max(tornados, key=lambda t: t.get("requests_per_day", 0))
    return {
        "requests_per_day": chosen.get("requests_per_day"),
        "short": requests_short(chosen.get("requests_per_day", 0)),
        "long": requests_long(chosen.get("requests_per_day", 0)),
        "key": chosen.get("key"),
        "label": chosen.get("label"),
        "pct": chosen.get("pct"),
        "base_usd_per_month": chosen.get("base_usd_per_month"),
        "why": "the highest-volume scenario, where serving dominates the cost"
        if len(tornados) > 1
        else "the only scenario with a tornado",
        "bars": [{**bar, "name": _tornado_factor(bar.get("factor", ""))} for bar in chosen.get("bars") or []],
    }


def _tornado_factor(factor: str) -> str:
    return TORNADO_FACTOR_NAMES.get(factor, _humanise(factor))


def _monte_carlo_view(sensitivity: Mapping[str, Any], allowed: set[str] | None) -> dict[str, Any] | None:
    results = [m for m in sensitivity.get("monte_carlo") or [] if m.get("options")]
    if not results:
        return None
    by_scenario = []
    for result in results:
        chosen: dict[str, Mapping[str, Any]] = {}
        for option in result.get("options") or []:
            if allowed is not None and option.get("option") not in allowed:
                continue
            current = chosen.get(option.get("option"))
            if current is None or option.get("p50_usd_per_month", math.inf) < current.get(
                "p50_usd_per_month", math.inf
            ):
                chosen[option.get("option")] = option
        by_scenario.append(chosen)
    rows = []
    for option in _ordered_options(o for chosen in by_scenario for o in chosen):
        cells = []
        for chosen in by_scenario:
            o = chosen.get(option)
            cells.append(
                None
                if o is None
                else {
                    "key": o.get("key"),
                    "label": o.get("label"),
                    "p10": o.get("p10_usd_per_month"),
                    "p50": o.get("p50_usd_per_month"),
                    "p90": o.get("p90_usd_per_month"),
                    "slo_met_fraction": o.get("slo_met_fraction"),
                    "cheapest_fraction": o.get("cheapest_fraction"),
                    "drop_in": o.get("drop_in", True),
                }
            )
        drop_in = all(c is None or c["drop_in"] for c in cells)
        rows.append({"option": option, "label": _option_label(option), "drop_in": drop_in, "cells": cells})
    spec = results[0].get("spec") or {}
    return {
        "columns": _columns([m.get("requests_per_day", 0) for m in results]),
        "rows": rows,
        "samples": spec.get("samples"),
        "seed": spec.get("seed"),
        "spec": {k: v for k, v in spec.items() if k not in ("samples", "seed")},
    }


def _analysis_view(document: Mapping[str, Any] | None, notes: Sequence[str]) -> dict[str, Any] | None:
    if not document:
        return None
    grid = document.get("grid") or {}
    tco = document.get("tco") or {}
    sensitivity = document.get("sensitivity") or {}
    grid_view = _grid_view(grid)
    allowed = {row["option"] for row in grid_view["matrix"]["rows"]} or None
    profile = grid.get("profile") or {}
    assumptions = [
        {"name": _humanise(k), "value": number_text(v)} for k, v in (grid.get("assumptions") or {}).items()
    ]
    all_notes = [
        *(grid.get("sheet_notes") or []),
        *(tco.get("notes") or []),
        *(sensitivity.get("notes") or []),
        *(profile.get("notes") or []),
        *notes,
    ]
    model = document.get("model") or None
    return {
        "region": document.get("region") or grid.get("region"),
        "snapshot_id": document.get("snapshot_id") or grid.get("snapshot_id"),
        "prices_as_of": document.get("prices_as_of") or grid.get("prices_as_of"),
        "currency": document.get("currency", "USD"),
        **grid_view,
        "tco": _tco_view(tco, allowed) if tco else None,
        "tornado": _tornado_view(sensitivity) if sensitivity else None,
        "monte_carlo": _monte_carlo_view(sensitivity, allowed) if sensitivity else None,
        "sensitivity_metric": sensitivity.get("metric"),
        "profile": {
            k: profile.get(k)
            for k in (
                "parameters",
                "model_file_bytes",
                "latency_p50_ms",
                "latency_p95_ms",
                "completion_chars",
                "host_cpu_count",
                "host_cpu_model",
                "training_wall_seconds",
                "training_capped",
                "source",
                "measured_at",
                "run_id",
            )
        }
        if profile
        else None,
        "assumptions": assumptions,
        "notes": list(dict.fromkeys(str(n) for n in all_notes if n)),
        "model": None
        if not model
        else {
            "description": _model_description(model),
            "source": model.get("source"),
            "version": model.get("version"),
            "training_run_id": model.get("training_run_id"),
            "paid": _training_cost(model.get("training_cost_paid")),
            "today": _training_cost(model.get("training_cost_at_todays_prices")),
        },
    }


def _model_description(model: Mapping[str, Any]) -> str:
    """ "rnn-textgen version 3 (run abc12345)" - the source, plus whatever of version and run it does not say."""
    text = str(model.get("source") or "the model")
    version, run_id = model.get("version"), str(model.get("training_run_id") or "")
    if version is not None and f"version {version}" not in text:
        text += f", version {version}"
    if run_id and run_id[:8] not in text:
        text += f", training run {run_id}"
    return text


def _training_cost(cost: Any) -> dict[str, Any] | None:
    if not isinstance(cost, Mapping):
        return None
    return {
        k: cost.get(k)
        for k in (
            "usd",
            "on_demand_usd",
            "instance_type",
            "region",
            "market",
            "is_estimate",
            "snapshot_id",
            "basis",
            "spot_savings_pct",
        )
    }


REQUEST_LABELS = {
    "requests_per_day": "Requests per day",
    "region": "Region",
    "instance_types": "Instance types",
    "options": "Pricing models",
    "pricing_models": "Pricing models",
    "horizon_months": "Horizon (months)",
    "retrain_cadence": "Retraining cadence",
    "latency_slo_ms": "Latency SLO, p95 (ms)",
    "tokens_per_request": "Characters per request",
    "peak_factor": "Peak factor (peak hour / mean)",
    "target_utilisation": "Target utilisation",
    "samples": "Monte Carlo samples",
    "seed": "Random seed",
    "sensitivity_pct": "Tornado ± (%)",
}
REQUEST_DEFAULTS = {"instance_types": "every type in the snapshot", "options": "all", "pricing_models": "all"}


def _request_view(request: Mapping[str, Any] | None) -> list[dict[str, str]]:
    if not request:
        return []
    rows = []
    for key, value in request.items():
        if value in (None, "", [], ()):
            text = REQUEST_DEFAULTS.get(key, "default")
        elif isinstance(value, list | tuple):
            text = ", ".join(number_text(v) for v in value)
        else:
            text = number_text(value)
        rows.append(
            {"key": key, "label": REQUEST_LABELS.get(key, _humanise(key).capitalize()), "value": text}
        )
    return rows


def build_view(inputs: ReportInputs) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready data (also :attr:`RenderedReport.data`)."""
    runs = _runs_view(inputs.training_runs)
    analysis = _analysis_view(inputs.analysis, ())
    period = ""
    if inputs.period_start and inputs.period_end:
        period = f"{datetime_text(inputs.period_start)} – {datetime_text(inputs.period_end)}"
    view = {
        "title": inputs.title,
        "kind": inputs.kind,
        "period_start": _iso(inputs.period_start),
        "period_end": _iso(inputs.period_end),
        "period_text": period,
        "generated_at": _iso(inputs.generated_at),
        "generated_text": datetime_text(inputs.generated_at),
        "pricing": _pricing_view(inputs.pricing_status, inputs.analysis),
        "training_runs": runs,
        "show_training_runs": inputs.kind == KIND_WEEKLY or runs["count"] > 0,
        "price_changes": _price_changes_view(inputs.price_changes),
        "show_price_changes": inputs.kind == KIND_WEEKLY or bool(inputs.price_changes),
        "spot_series": [
            {
                "instance_type": s.instance_type,
                "availability_zone": s.availability_zone,
                "points": len(s.points),
                "first": _iso(s.points[0][0]) if s.points else None,
                "last": _iso(s.points[-1][0]) if s.points else None,
                "latest_usd_per_hour": s.points[-1][1] if s.points else None,
            }
            for s in inputs.spot_history
        ],
        "analysis": analysis,
        "request": _request_view(inputs.request) if inputs.kind == KIND_ADHOC or inputs.request else [],
        "request_raw": dict(inputs.request) if inputs.request else None,
        "links": [
            {"name": name, "url": safe_url(url)} for name, url in inputs.links.items() if safe_url(url)
        ],
        "notes": list(inputs.notes),
    }
    return jsonable(view)


# -- one-liners ----------------------------------------------------------------------------------------------


def _headline_cheapest(analysis: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The cheapest alternative at the highest request volume (where the choice matters most)."""
    if not analysis or not analysis["cheapest"]:
        return None
    return max(analysis["cheapest"], key=lambda c: c.get("requests_per_day") or 0)


def _runs_phrase(runs: Mapping[str, Any]) -> str:
    if runs["count"] == 0:
        return "no training runs"
    noun = "run" if runs["count"] == 1 else "runs"
    return f"{runs['count']} {noun}, {usd_text(runs['total_usd']) if runs['costed'] else 'cost n/a'}"


def _cheapest_phrase(analysis: Mapping[str, Any] | None) -> str:
    if analysis is None:
        return "no cost analysis yet"
    head = _headline_cheapest(analysis)
    if head is None:
        return "no scenarios in the analysis"
    if not head["key"]:
        return f"at {head['short']}: no feasible drop-in alternative"
    return f"cheapest at {head['short']}: {head['name']} {usd_text(head['usd_per_month'])}/month"


def summary_line(view: Mapping[str, Any]) -> str:
    parts = []
    if view["kind"] == KIND_WEEKLY or view["training_runs"]["count"]:
        parts.append(_runs_phrase(view["training_runs"]))
    parts.append(_cheapest_phrase(view["analysis"]))
    if view["pricing"]["stale"]:
        parts.append(f"pricing {view['pricing']['status']}")
    return "; ".join(parts)


def subject_line(view: Mapping[str, Any]) -> str:
    parts = []
    if view["kind"] == KIND_WEEKLY or view["training_runs"]["count"]:
        parts.append(_runs_phrase(view["training_runs"]))
    parts.append(_cheapest_phrase(view["analysis"]))
    prefix = f"[pricing {view['pricing']['status']}] " if view["pricing"]["stale"] else ""
    return f"{prefix}{view['title']}: {'; '.join(parts)}"


# -- plain text ----------------------------------------------------------------------------------------------


def render_text(view: Mapping[str, Any], *, csv_names: Sequence[str] = ()) -> str:
    """The short plain-text part: totals, cheapest per scenario, break-evens, staleness."""
    out = [view["title"], "=" * min(len(view["title"]), 100)]
    when = f"Generated {view['generated_text']}"
    if view["period_text"]:
        when += f" for {view['period_text']}"
    out.append(when)
    pricing, analysis = view["pricing"], view["analysis"]
    if analysis:
        out.append(
            f"Prices: snapshot {analysis['snapshot_id']} (prices as of {analysis['prices_as_of']}), "
            f"{analysis['region']}, USD"
        )
    if pricing["stale"]:
        out.append(
            f"WARNING: pricing is {pricing['status']}: {pricing['message'] or 'the last refresh failed'}"
        )
    if view["request"]:
        out += ["", "Inputs:"] + [f"  {r['label']}: {r['value']}" for r in view["request"]]
    runs = view["training_runs"]
    if view["show_training_runs"]:
        out.append("")
        if runs["count"] == 0:
            out.append("No training runs in this period.")
        else:
            line = (
                f"Training runs: {runs['count']} ({runs['finished']} finished, {runs['failed']} failed), "
                f"{usd_text(runs['total_usd'])} in total"
            )
            if _number(runs["total_on_demand_usd"]):
                line += f" (on-demand equivalent {usd_text(runs['total_on_demand_usd'])}"
                line += (
                    f", spot saved {pct_text(runs['spot_savings_pct'])})"
                    if _number(runs["spot_savings_pct"])
                    else ")"
                )
            line += f"; {runs['interruptions']} interruption{'s' if runs['interruptions'] != 1 else ''}"
            line += f"; {runs['registered']} registered."
            out.append(line)
            if runs["estimated"]:
                out.append(
                    "  (estimate: runs on the local backend are priced as if on the configured instance type)"
                )
            for r in runs["rows"][-TEXT_RUN_ROWS:]:
                loss = f"val loss {r['val_loss']:.3f}" if _number(r["val_loss"]) else "val loss n/a"
                out.append(
                    f"  {r['started_text'][:16]}  {r['run_name'][:28]:<28} {r['status']:<8} "
                    f"{usd_text(r['cost_usd']):>9}  {loss}{'  registered' if r['registered'] else ''}"
                )
            if runs["count"] > TEXT_RUN_ROWS:
                out.append(f"  ... {runs['count'] - TEXT_RUN_ROWS} earlier runs in training_runs.csv")
    if analysis is None:
        out += [
            "",
            "No cost analysis yet: run cost_recompute (or trigger adhoc_cost_analysis) to compute one.",
        ]
    else:
        if analysis.get("model"):
            model = analysis["model"]
            line = f"Model priced: {model['description']}"
            if model["paid"]:
                line += f"; its training cost {usd_text(model['paid']['usd'])}"
            if model["today"]:
                line += f", {usd_text(model['today']['usd'])} at today's prices"
            out += ["", line + "."]
        out += ["", "Cheapest serving alternative per scenario (serving, $/month):"]
        for c in analysis["cheapest"]:
            if c["key"]:
                out.append(f"  {c['long']}: {c['name']} {usd_text(c['usd_per_month'])} ({c['config']})")
            else:
                out.append(f"  {c['long']}: no feasible drop-in alternative")
            if c["reimplementation"]:
                out.append(
                    f"    ({c['reimplementation']['name']} would cost "
                    f"{usd_text(c['reimplementation']['usd_per_month'])} but needs the model re-implemented)"
                )
        tco = analysis["tco"]
        if tco:
            out.append("")
            out.append(
                f"TCO over {number_text(tco['horizon_months'])} months, retraining {tco['retrain_cadence']} "
                f"at {usd_text(tco['training_run']['usd'])} per run:"
            )
            for scenario in tco["scenarios"]:
                best = next((o for o in scenario["options"] if o["cheapest"]), None)
                if best:
                    out.append(
                        f"  {scenario['long']}: {best['label']} {usd_text(best['total_usd'])} "
                        f"({usd_text(best['usd_per_month'])}/month)"
                    )
            if tco["breakevens"]:
                out += [f"Break-even: {b['sentence']}" for b in tco["breakevens"]]
            else:
                out.append(f"Break-even: {tco['no_breakeven']}.")
        mc = analysis["monte_carlo"]
        head = _headline_cheapest(analysis)
        if mc and head and head["key"]:
            column = next(
                (i for i, c in enumerate(mc["columns"]) if c["requests_per_day"] == head["requests_per_day"]),
                None,
            )
            cell = next(
                (
                    row["cells"][column]
                    for row in mc["rows"]
                    if column is not None
                    and row["cells"][column]
                    and row["cells"][column]["key"] == head["key"]
                ),
                None,
            )
            if cell:
                out.append(
                    f"Uncertainty at {head['short']}: {cell['label']} P10–P90 {usd_text(cell['p10'])}–"
                    f"{usd_text(cell['p90'])}/month, cheapest in {cell['cheapest_fraction']:.0%} of "
                    f"{mc['samples']:,} samples."
                )
    changes = view["price_changes"]
    if view["show_price_changes"]:
        totals = changes["totals"]
        if not changes["refreshes"]:
            out += ["", "Price changes: no pricing refresh in this period."]
        else:
            count = len(changes["refreshes"])
            line = (
                f"Price changes: {count} refresh{'es' if count != 1 else ''}, {totals['changed']} changed, "
                f"{totals['added']} added, {totals['removed']} removed, {totals['spot_changed']} spot prices moved"
            )
            largest = changes["largest"]
            if largest:
                line += f"; largest: {largest['label']} {signed_pct_text(largest['change_pct'])}"
            out += ["", line + "."]
    out.append("")
    out.append(
        "Charts and full tables are in the HTML part"
        + (f"; tables attached as CSV: {', '.join(csv_names)}." if csv_names else ".")
    )
    out += [f"{link['name']}: {link['url']}" for link in view["links"]]
    return "\n".join(out) + "\n"


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
            "timestamp": _iso(t),
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
                "config",
                "reason",
                "caveats",
            ),
            scenario_rows,
        )
    tco = document.get("tco") or {}
    tco_rows = [
        {
            "region": tco.get("region"),
            "snapshot_id": tco.get("snapshot_id"),
            "horizon_months": tco.get("horizon_months"),
            "retrain_cadence": tco.get("retrain_cadence"),
            "requests_per_day": s.get("requests_per_day"),
            "cheapest": o.get("key") == s.get("cheapest"),
            **o,
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
                "usd_per_month",
                "serving_usd",
                "training_usd",
                "storage_usd",
                "total_usd",
                "reason",
            ),
            tco_rows,
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


# -- charts, HTML, the whole report ---------------------------------------------------------------------------


def render_charts(inputs: ReportInputs, view: Mapping[str, Any]) -> dict[str, bytes]:
    """The charts that have data, in page order."""
    runs = [
        dict(row, started_at_dt=run.started_at)
        for row, run in zip(
            view["training_runs"]["rows"],
            sorted(inputs.training_runs, key=lambda r: (r.started_at, r.run_id)),
            strict=True,
        )
    ]
    analysis = view["analysis"] or {}
    drawn = {
        "cost_per_run.png": charts.cost_per_run_chart(runs, total_usd=view["training_runs"]["total_usd"]),
        "cost_vs_val_loss.png": charts.cost_vs_loss_chart(runs),
        "spot_history.png": charts.spot_history_chart(
            inputs.spot_history, marks=[r.started_at for r in inputs.training_runs]
        ),
        "scenarios.png": charts.scenario_chart(analysis.get("matrix") or {}),
        "tornado.png": charts.tornado_chart(analysis.get("tornado")),
        "monte_carlo.png": charts.monte_carlo_chart(analysis.get("monte_carlo") or {}),
    }
    return {name: png for name, png in drawn.items() if png}


def content_id(name: str, png: bytes) -> str:
    """A Content-ID for an inline image, stable for the same bytes (so the same inputs give the same email HTML)."""
    stem = name.rsplit(".", 1)[0].replace("_", "-")
    return f"{stem}.{hashlib.sha256(png).hexdigest()[:16]}@{CID_DOMAIN}"


def _environment(template_dir: Path | str | None = None):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir or TEMPLATE_DIR)),
        autoescape=True,  # every value is escaped; the template marks nothing safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        usd=usd_text,
        rate=rate_text,
        pct=pct_text,
        signed_pct=signed_pct_text,
        when=datetime_text,
        num=number_text,
        rpd=requests_short,
        rpd_long=requests_long,
    )
    return env


def render_html(
    view: Mapping[str, Any],
    image_src: Mapping[str, str],
    *,
    csv_names: Sequence[str] = (),
    template_dir: Path | str | None = None,
) -> str:
    template = _environment(template_dir).get_template(HTML_TEMPLATE)
    charts = {name: {"src": src, "alt": CHART_TITLES.get(name, name)} for name, src in image_src.items()}
    return template.render(v=view, charts=charts, csv_names=list(csv_names))


def render_report(inputs: ReportInputs, *, template_dir: Path | str | None = None) -> RenderedReport:
    """Charts, HTML (email and file flavours), text, CSV tables, summary and data of one report."""
    view = build_view(inputs)
    images = render_charts(inputs, view)
    tables = csv_tables(inputs, view)
    content_ids = {name: content_id(name, png) for name, png in images.items()}
    html_email = render_html(
        view,
        {name: f"cid:{cid}" for name, cid in content_ids.items()},
        csv_names=list(tables),
        template_dir=template_dir,
    )
    html_file = render_html(
        view, {name: name for name in images}, csv_names=list(tables), template_dir=template_dir
    )
    summary = summary_line(view)
    data = {**view, "summary": summary, "images": list(images), "csv_tables": list(tables)}
    return RenderedReport(
        subject=subject_line(view),
        html_email=html_email,
        html_file=html_file,
        text=render_text(view, csv_names=list(tables)),
        images=images,
        csv_tables=tables,
        summary=summary,
        data=data,
        content_ids=content_ids,
    )


# -- storing ---------------------------------------------------------------------------------------------------


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _join(base: str, name: str) -> str:
    if _is_remote(base):
        return f"{base.rstrip('/')}/{name}"
    return str(Path(base.removeprefix("file://")) / name)


def _write(uri: str, data: bytes) -> None:
    """All-or-nothing: local files via a temporary sibling and ``os.replace``; object stores via one PUT."""
    if _is_remote(uri):
        import fsspec

        with fsspec.open(uri, "wb") as handle:
            handle.write(data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be read by the web UI and people
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(rendered: RenderedReport, out_dir: str, *, meta: dict | None = None) -> list[str]:
    """Write report.html, the PNGs, the CSVs, report.txt, data.json and - last - report.json to ``out_dir``
    (a local folder or an fsspec URL such as ``s3://bucket/reports/...``). Returns the written locations."""
    files: list[tuple[str, bytes]] = [("report.html", rendered.html_file.encode("utf-8"))]
    files += list(rendered.images.items())
    files += [(name, text.encode("utf-8")) for name, text in rendered.csv_tables.items()]
    files.append(("report.txt", rendered.text.encode("utf-8")))
    files.append(
        ("data.json", json.dumps(rendered.data, indent=2, sort_keys=True, default=str).encode("utf-8"))
    )
    for name, _ in files:
        if not name or "/" in name or "\\" in name or name.startswith(".") or name == REPORT_META:
            raise ValueError(f"report file name {name!r} must be a plain file name other than {REPORT_META}")
    created = str(rendered.data.get("generated_at") or _iso(datetime.now(UTC)))
    report_meta = {
        "title": rendered.data.get("title", ""),
        "kind": rendered.data.get("kind", ""),
        "created_at": created,
        "summary": rendered.summary,
        "subject": rendered.subject,
        "period_start": rendered.data.get("period_start"),
        "period_end": rendered.data.get("period_end"),
        "files": [name for name, _ in files],
        **(meta or {}),
    }
    written = []
    for name, data in files:
        uri = _join(out_dir, name)
        _write(uri, data)
        written.append(uri)
    uri = _join(out_dir, REPORT_META)
    _write(
        uri, json.dumps(report_meta, indent=2, default=str).encode("utf-8")
    )  # last: it makes the report visible
    written.append(uri)
    return written


# -- email -----------------------------------------------------------------------------------------------------


def build_email(rendered: RenderedReport, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """multipart/mixed[ multipart/alternative[ text/plain, multipart/related[ text/html, image/png... ] ],
    text/csv attachments... ]; each image is inline with the Content-ID the HTML's ``cid:`` refers to."""
    if isinstance(recipients, str):
        recipients = [recipients]
    if not recipients:
        raise ValueError("build_email needs at least one recipient address")
    if not sender:
        raise ValueError("build_email needs a sender address (From)")
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    address = parseaddr(sender)[1]
    domain = address.rsplit("@", 1)[-1] if "@" in address else CID_DOMAIN  # never ask DNS for our hostname
    message["Message-ID"] = make_msgid(idstring="rnn-cost-report", domain=domain)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html_email, subtype="html")
    html_part = message.get_payload()[-1]
    for name, png in rendered.images.items():
        cid = rendered.content_ids.get(name) or content_id(name, png)
        if f"cid:{cid}" not in rendered.html_email:
            raise ValueError(
                f"image {name} (cid {cid}) is not referenced by the HTML; render it with render_report"
            )
        html_part.add_related(
            png, maintype="image", subtype="png", cid=f"<{cid}>", filename=name, disposition="inline"
        )
    for name, text in rendered.csv_tables.items():
        message.add_attachment(text, subtype="csv", filename=name)
    return message
