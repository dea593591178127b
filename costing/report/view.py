"""The view model: plain data that the template, the text part, the charts and ``data.json`` share."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from costing.choices import (
    AVAILABILITY_DESCRIPTIONS,
    COMMITMENT_USE_DESCRIPTIONS,
    COMMITMENT_USE_HORIZON,
    EC2_ON_DEMAND,
    EXPOSURE_DESCRIPTIONS,
)
from costing.model import OPTION_LABELS, OPTIONS, cold_starts, jsonable
from costing.pricing import PriceChange
from costing.report.charts import TORNADO_FACTOR_NAMES
from costing.report.cost_change import UsageLine, decompose_cost_change, median_absolute_error_pct
from costing.report.formatting import (
    datetime_text,
    humanise,
    is_number,
    iso_or_none,
    number_text,
    rate_text,
    requests_long,
    requests_short,
    safe_url,
    usd_text,
)
from costing.report.inputs import (
    KIND_ADHOC,
    KIND_WEEKLY,
    STATUS_FINISHED,
    TOP_PRICE_CHANGES,
    ReportInputs,
    TrainingRunRow,
)
from costing.report.sweep import sweep_chart_name, sweep_summary_line

# -- the view model: plain data the template, the text part, the charts and data.json share ------------------


def _runs_view(runs: Sequence[TrainingRunRow]) -> dict[str, Any]:
    rows = []
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        savings = None
        if is_number(run.cost_usd) and is_number(run.on_demand_usd) and run.on_demand_usd > 0:
            savings = (1 - run.cost_usd / run.on_demand_usd) * 100
        rows.append(
            {
                "run_id": run.run_id,
                "run_name": run.run_name,
                "started_at": iso_or_none(run.started_at),
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
                "billed_seconds": run.billed_seconds,
                "wasted_usd": run.wasted_usd,
                "overhead_usd": run.overhead_usd,
                "effective_savings_pct": run.effective_savings_pct,
                "tagged_estimate_usd": run.tagged_estimate_usd,
                "billed_actual_usd": run.billed_actual_usd,
                "estimate_error_pct": run.estimate_error_pct,
            }
        )
    costs = [r["cost_usd"] for r in rows if is_number(r["cost_usd"])]
    paired = [r for r in rows if is_number(r["cost_usd"]) and is_number(r["on_demand_usd"])]
    total_on_demand = sum(r["on_demand_usd"] for r in paired) if paired else None
    savings = None
    if total_on_demand:
        savings = (1 - sum(r["cost_usd"] for r in paired) / total_on_demand) * 100
    losses = [r for r in rows if is_number(r["val_loss"])]
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
        "wasted_usd": sum(r["wasted_usd"] for r in rows if is_number(r["wasted_usd"])),
        "overhead_usd": sum(r["overhead_usd"] for r in rows if is_number(r["overhead_usd"])),
        "cloud_runs": sum(1 for r in rows if is_number(r["wasted_usd"])),
        "rows": rows,
    }


def _reconciliation_view(runs_view: Mapping[str, Any]) -> dict[str, Any]:
    """Estimate vs bill: the period's reconciled runs and the median absolute error."""
    rows = [
        {
            "run_name": r["run_name"],
            "started_text": r["started_text"],
            "mlflow_url": r["mlflow_url"],
            "tagged_estimate_usd": r["tagged_estimate_usd"],
            "billed_actual_usd": r["billed_actual_usd"],
            "estimate_error_pct": r["estimate_error_pct"],
        }
        for r in runs_view["rows"]
        if is_number(r["billed_actual_usd"])
        and is_number(r["tagged_estimate_usd"])
        and is_number(r["estimate_error_pct"])
    ]
    cloud = [r for r in runs_view["rows"] if is_number(r["wasted_usd"])]
    return {
        "count": len(rows),
        "pending": max(0, len(cloud) - len(rows)),
        "median_abs_error_pct": median_absolute_error_pct(r["estimate_error_pct"] for r in rows),
        "total_estimate_usd": sum(r["tagged_estimate_usd"] for r in rows) if rows else None,
        "total_billed_usd": sum(r["billed_actual_usd"] for r in rows) if rows else None,
        "rows": rows,
    }


def _usage_lines(runs: Sequence[TrainingRunRow]) -> tuple[list[UsageLine], int]:
    lines, skipped = [], 0
    for run in runs:
        if not (is_number(run.cost_usd) and is_number(run.billed_seconds) and run.billed_seconds > 0):
            skipped += 1
            continue
        group = " ".join(part for part in (run.instance_type, run.market) if part) or "unknown"
        lines.append(UsageLine(group=group, hours=run.billed_seconds / 3600, usd=run.cost_usd))
    return lines, skipped


def _cost_change_view(
    previous: Sequence[TrainingRunRow], current: Sequence[TrainingRunRow]
) -> dict[str, Any] | None:
    """The change in training cost against the previous period, split into price, usage and mix."""
    if not previous and not current:
        return None
    before, skipped_before = _usage_lines(previous)
    after, skipped_after = _usage_lines(current)
    try:
        change = decompose_cost_change(before, after)
    except ValueError as exc:
        return {"error": str(exc)}
    return {
        "error": None,
        "previous_usd": change.previous_usd,
        "current_usd": change.current_usd,
        "change_usd": change.change_usd,
        "previous_hours": change.previous_hours,
        "current_hours": change.current_hours,
        "usage_usd": change.usage_usd,
        "mix_usd": change.mix_usd,
        "price_usd": change.price_usd,
        "groups": list(change.groups),
        "skipped_runs": skipped_before + skipped_after,
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
            key=lambda r: (-abs(r["change_pct"]) if is_number(r["change_pct"]) else 0.0, r["label"]),
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
        (r for f in refreshes for r in f["rows"] if is_number(r["change_pct"])),
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
    if pct is None and is_number(previous) and is_number(current) and previous:
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
    feasible = bool(option.get("feasible")) and is_number(cost)
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
                    "feasible": bool(cell.get("feasible")) and is_number(cell.get("monthly_cost")),
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
        runner_up = _runner_up(scenario, chosen)
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
                "design": [] if chosen is None else _design_view(chosen),
                "runner_up": None
                if runner_up is None
                else {
                    "name": runner_up.get("name"),
                    "usd_per_month": runner_up.get("monthly_cost"),
                    "config": runner_up.get("config", ""),
                    "design": _design_view(runner_up),
                },
                "design_rows": _design_rows(chosen, runner_up),
                "commitment": None if chosen is None else commitment_sentence(chosen.get("commitment")),
                "cold_starts": _cold_starts_view(scenario),
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


def commitment_sentence(commitment: Mapping[str, Any] | None) -> str | None:
    """A reserved or Savings Plans term against the horizon, in words (``None`` for other options)."""
    if not commitment:
        return None
    c = commitment
    term = f"{c.get('what')} for {c.get('term_months')} months ({c.get('term')})"
    horizon = number_text(c.get("horizon_months"))
    if not c.get("months_owed_at_horizon"):
        return f"{term}: nothing owed at the {horizon}-month horizon."
    ranked = (
        "ranked with what it owes"
        if c.get("ranked_on") == COMMITMENT_USE_HORIZON
        else "ranked without it: it will be used for its whole term"
    )
    return (
        f"{term}: {usd_text(c.get('owed_at_horizon_usd'))} still owed at the {horizon}-month horizon "
        f"({number_text(c.get('months_owed_at_horizon'))} months); serving {horizon} months, then leaving, "
        f"costs {usd_text(c.get('cost_if_left_at_horizon_usd'))}; {ranked}."
    )


def _commitments_view(grid: Mapping[str, Any]) -> dict[str, Any] | None:
    """The horizon, and per scenario each commitment (its best variant) that outlasts it: what it still owes
    there and what serving until then and leaving costs, against on-demand over the same months."""
    horizon = grid.get("horizon")
    if not horizon:
        return None  # a document from before the horizon was a choice
    months, use = horizon.get("months"), horizon.get("commitment_use")
    rows = []
    for scenario in grid.get("scenarios") or []:
        best = _best_per_option(scenario.get("options") or [])
        on_demand = best.get(EC2_ON_DEMAND)
        on_demand_usd = (
            on_demand.get("monthly_cost") * months
            if on_demand and on_demand.get("feasible") and is_number(on_demand.get("monthly_cost"))
            else None
        )
        for option in _ordered_options(best):
            commitment = best[option].get("commitment")
            if (
                not best[option].get("feasible")
                or not commitment
                or not commitment.get("months_owed_at_horizon")
            ):
                continue
            rows.append(
                {
                    "requests_per_day": scenario.get("requests_per_day"),
                    "short": requests_short(scenario.get("requests_per_day", 0)),
                    "name": best[option].get("name"),
                    "term_months": commitment.get("term_months"),
                    "months_owed": commitment.get("months_owed_at_horizon"),
                    "owed_at_horizon_usd": commitment.get("owed_at_horizon_usd"),
                    "cost_if_left_at_horizon_usd": commitment.get("cost_if_left_at_horizon_usd"),
                    "on_demand_usd": on_demand_usd,
                    "ranked_on": commitment.get("ranked_on"),
                }
            )
    return {
        "horizon_months": months,
        "commitment_use": use,
        "text": f"{use} ({COMMITMENT_USE_DESCRIPTIONS.get(use, '?')})",
        "rows": rows,
    }


def _runner_up(scenario: Mapping[str, Any], chosen: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The cheapest feasible drop-in alternative after the winner (another platform or pricing model)."""
    if chosen is None:
        return None
    drop_in = [
        o
        for o in _best_per_option(scenario.get("options") or []).values()
        if o.get("option") != chosen.get("option")
        and o.get("feasible")
        and o.get("drop_in", True)
        and is_number(o.get("monthly_cost"))
    ]
    return min(drop_in, key=_option_order) if drop_in else None


def _cold_starts_view(scenario: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-request options' cold starts at this volume: the share, the p95 with them, the fix (if any)."""
    shown = []
    for option in _best_per_option(scenario.get("options") or []).values():
        cold = (option.get("details") or {}).get("cold_start")
        if cold:
            shown.append(
                {
                    "name": option.get("name"),
                    "share": cold["share_without_fix"],
                    "p95_ms": cold["p95_ms_without_fix"],
                    "fix": cold["fix"],
                    "summary": cold_starts.summary(cold),
                }
            )
        elif not option.get("feasible") and "p95 with cold starts" in str(option.get("reason")):
            shown.append(
                {
                    "name": option.get("name"),
                    "share": None,
                    "p95_ms": None,
                    "fix": None,
                    "summary": option["reason"],
                }
            )
    return shown


def _design_view(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An option's design, part by part: what was chosen for each role and what it costs a month."""
    return [
        {"role": part.get("role"), "choice": part.get("choice"), "usd_per_month": part.get("monthly_cost")}
        for part in option.get("design") or []
    ]


def _design_rows(
    chosen: Mapping[str, Any] | None, runner_up: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The winner's and the runner-up's design side by side, one row per role: why one wins."""
    if chosen is None:
        return []
    mine = {part["role"]: part for part in _design_view(chosen)}
    theirs = {part["role"]: part for part in _design_view(runner_up)} if runner_up else {}
    roles = list(dict.fromkeys([*mine, *theirs]))
    return [{"role": role, "cheapest": mine.get(role), "runner_up": theirs.get(role)} for role in roles]


def _capacity_view(grid: Mapping[str, Any]) -> dict[str, Any] | None:
    """Measured vs formula capacity: per process on the load-test host, and per instance of each fleet."""
    capacity = grid.get("capacity")
    if not capacity:
        return None
    scenarios = grid.get("scenarios") or []
    rows = []
    if scenarios:
        busiest = max(scenarios, key=lambda s: s.get("requests_per_day", 0))
        best = _best_per_option(busiest.get("options") or [])
        for option in _ordered_options(best):
            chosen = best[option]
            details = chosen.get("details") or {}
            if not chosen.get("feasible") or "capacity_rps_per_instance" not in details:
                continue
            measured = details.get("capacity_source") == "measured"
            rows.append(
                {
                    "name": chosen.get("name"),
                    "instance_type": chosen.get("instance_type"),
                    "measured_rps": details["capacity_rps_per_instance"] if measured else None,
                    "formula_rps": details.get("capacity_rps_per_instance_formula"),
                    "ratio": details.get("capacity_measured_to_formula"),
                    "source": details.get("capacity_source") or "formula",
                    "basis": details.get("capacity_basis") or "",
                }
            )
    return {
        **capacity,
        "measured": capacity.get("measured_rps") is not None,
        "scenario": requests_long(max((s.get("requests_per_day", 0) for s in scenarios), default=0)),
        "rows": rows,
    }


def _drop_in(scenarios: Sequence[Mapping[str, Any]], key: str) -> bool:
    for scenario in scenarios:
        for option in scenario.get("options") or []:
            if option.get("key") == key:
                return bool(option.get("drop_in", True))
    return True


def _tco_view(tco: Mapping[str, Any], allowed: set[str] | None) -> dict[str, Any]:
    run = tco.get("training_run") or {}
    platform = tco.get("platform") or None
    scenarios = []
    for scenario in tco.get("scenarios") or []:
        options = [o for o in scenario.get("options") or [] if allowed is None or o.get("option") in allowed]
        ordered = sorted(
            options,
            key=lambda o: (
                not (o.get("feasible") and is_number(o.get("total_usd"))),
                o.get("total_usd") if is_number(o.get("total_usd")) else 0.0,
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
                        "feasible": bool(o.get("feasible")) and is_number(o.get("total_usd")),
                        "drop_in": o.get("drop_in", True),
                        "reason": o.get("reason", ""),
                        "cheapest": o.get("key") == scenario.get("cheapest"),
                        "serving_usd_per_month": o.get("serving_usd_per_month"),
                        "training_usd_per_month": o.get("training_usd_per_month"),
                        "storage_usd_per_month": o.get("storage_usd_per_month"),
                        "usd_per_month": o.get("usd_per_month"),
                        "total_usd": o.get("total_usd"),
                        "owed_at_horizon_usd": (o.get("commitment") or {}).get("owed_at_horizon_usd"),
                        # only when a platform was priced: a "none" analysis renders as it always did
                        **({"platform_usd_per_month": o.get("platform_usd_per_month")} if platform else {}),
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
        if is_number(utilisation) and utilisation <= 1:
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
        **(_platform_views(platform, scenarios) if platform else {}),
    }


# the lines of the cost of ownership side by side, in the order the breakdown chart stacks them
TCO_LINES = ("training", "serving", "storage", "platform")
EVERYTHING = "everything (training + serving + storage + platform)"


def _platform_views(platform: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What runs the pipeline: its components and sizing, the four lines of the cheapest option per
    scenario, and the headline sentence when the platform is the largest of them."""
    share = platform.get("attribution_share")
    share = float(share) if is_number(share) else 1.0
    components = [
        {
            "name": c.get("name"),
            "service": c.get("service"),
            "quantity": c.get("monthly_quantity"),
            "unit": c.get("unit"),
            "rate": c.get("price"),
            "usd_per_month": c.get("monthly_cost"),  # the full line
            "charged_usd_per_month": c.get("monthly_cost") * share
            if is_number(c.get("monthly_cost"))
            else None,
            "source": c.get("source", ""),
        }
        for c in platform.get("components") or []
    ]
    breakdown = []
    for scenario in scenarios:
        best = next((o for o in scenario["options"] if o["cheapest"] and o["feasible"]), None)
        if best is None:
            continue
        lines = {
            "training": best.get("training_usd_per_month"),
            "serving": best.get("serving_usd_per_month"),
            "storage": best.get("storage_usd_per_month"),
            "platform": best.get("platform_usd_per_month"),
        }
        numbers = {k: v for k, v in lines.items() if is_number(v)}
        breakdown.append(
            {
                "requests_per_day": scenario["requests_per_day"],
                "short": scenario["short"],
                "long": scenario["long"],
                "key": best["key"],
                "label": best["label"],
                **{f"{k}_usd_per_month": v for k, v in lines.items()},
                "usd_per_month": best.get("usd_per_month"),
                "largest": max(numbers, key=lambda k: (numbers[k], k == "platform")) if numbers else None,
            }
        )
    return {
        "platform": {
            "design": platform.get("design"),
            "label": platform.get("label") or platform.get("design"),
            "attribution_share": share,
            "full_usd_per_month": platform.get("full_usd_per_month"),
            "usd_per_month": platform.get("usd_per_month"),
            "components": components,
            "sizing": list(platform.get("sizing") or []),
            "caveats": list(platform.get("caveats") or []),
            "share_text": "the whole platform is charged to this model"
            if share == 1
            else f"{share:g} of it is charged to this model (the platform is shared with other pipelines)",
        },
        "breakdown": breakdown,
        "platform_headline": _platform_headline(platform, breakdown, share),
    }


def _platform_headline(
    platform: Mapping[str, Any], breakdown: Sequence[Mapping[str, Any]], share: float
) -> str | None:
    """One sentence when the platform is the largest line of the cheapest option: at the highest such volume."""
    largest = [b for b in breakdown if b["largest"] == "platform" and is_number(b["usd_per_month"])]
    if not largest:
        return None
    at = max(largest, key=lambda b: b["requests_per_day"] or 0)
    of_full = "" if share == 1 else f" (a {share:g} share of {usd_text(platform.get('full_usd_per_month'))})"
    return (
        f"The platform ({platform.get('label') or platform.get('design')}) is the largest cost: "
        f"{usd_text(at['platform_usd_per_month'])}{of_full} of {usd_text(at['usd_per_month'])} a month at "
        f"{at['requests_per_day']:,.0f} requests/day."
    )


def _everything(cheapest: list[dict[str, Any]], tco: Mapping[str, Any] | None) -> None:
    """Give each scenario's cheapest serving alternative its whole monthly cost (training + serving + storage
    + platform) from the TCO, when a platform was priced; nothing changes otherwise."""
    if not tco or not tco.get("platform"):
        return
    by_volume = {s["requests_per_day"]: s for s in tco["scenarios"]}
    for c in cheapest:
        scenario = by_volume.get(c["requests_per_day"])
        if not c["key"] or scenario is None:
            continue
        feasible = [o for o in scenario["options"] if o["feasible"]]
        same = next((o for o in feasible if o["key"] == c["key"]), None)
        option = same or next((o for o in feasible if o["cheapest"]), None)
        if option is None:
            continue
        c["everything"] = {
            "key": option["key"],
            "label": option["label"],
            "usd_per_month": option["usd_per_month"],
            "same_option": same is not None,
        }


def cheapest_text(c: Mapping[str, Any]) -> str:
    """A scenario's cheapest, saying what it covers: "serving: X $1.54/month; everything (...): $71.67/month"
    when a platform was priced, "X $1.54/month" as always otherwise."""
    serving = f"{c['name']} {usd_text(c['usd_per_month'])}/month"
    everything = c.get("everything")
    if not everything:
        return serving
    other = "" if everything["same_option"] else f"{everything['label']} "
    return f"serving: {serving}; {EVERYTHING}: {other}{usd_text(everything['usd_per_month'])}/month"


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
    return TORNADO_FACTOR_NAMES.get(factor, humanise(factor))


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
        {"name": humanise(k), "value": number_text(v)} for k, v in (grid.get("assumptions") or {}).items()
    ]
    all_notes = [
        *(grid.get("sheet_notes") or []),
        *(tco.get("notes") or []),
        *(sensitivity.get("notes") or []),
        *(profile.get("notes") or []),
        *notes,
    ]
    model = document.get("model") or None
    tco_view = _tco_view(tco, allowed) if tco else None
    _everything(grid_view["cheapest"], tco_view)
    return {
        "region": document.get("region") or grid.get("region"),
        "snapshot_id": document.get("snapshot_id") or grid.get("snapshot_id"),
        "prices_as_of": document.get("prices_as_of") or grid.get("prices_as_of"),
        "currency": document.get("currency", "USD"),
        **grid_view,
        "commitments": _commitments_view(grid),
        "capacity": _capacity_view(grid),
        "tco": tco_view,
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
        "metrics_source": document.get("metrics_source")
        or grid.get("metrics_source")
        or profile.get("source"),
        "free_tiers_applied": bool(document.get("free_tiers_applied", grid.get("free_tiers_applied", False))),
        "requirement": _requirement_view(document.get("requirement") or grid.get("requirement")),
        "price_sources": [
            _source_view(s) for s in (document.get("price_sources") or grid.get("price_sources") or [])
        ],
        "resources": _resources_view(document.get("resources")),
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


def _requirement_view(requirement: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What every option's design meets, in words (documents before the requirement existed have none)."""
    if not requirement:
        return None
    exposure, availability = requirement.get("exposure"), requirement.get("availability")
    return {
        "exposure": exposure,
        "availability": availability,
        "text": f"{exposure} ({EXPOSURE_DESCRIPTIONS.get(exposure, '?')}), "
        f"{availability} ({AVAILABILITY_DESCRIPTIONS.get(availability, '?')})",
    }


def _resources_view(resources: Mapping[str, Any] | None, top: int = 3) -> dict[str, Any] | None:
    """The resource mapping as the report shows it: the derived numbers, the best few types per job, the verdicts."""
    if not resources:
        return None
    mib = 2**20

    def job(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        ranked = [r for r in rows if r.get("rank")][:top]
        rejected = [r for r in rows if not r.get("rank")][:top]
        return [
            {
                "instance_type": r["instance_type"],
                "rank": r.get("rank"),
                "usd": r.get("usd"),
                "usd_per_1k_requests": r.get("usd_per_1k_requests"),
                "why": r.get("lost_because") or "chosen",
            }
            for r in [*ranked, *rejected]
        ]

    training_memory = resources.get("training_memory") or {}
    return {
        "parameters": resources.get("parameters"),
        "training_memory_mib": (training_memory.get("total_bytes") or 0) / mib,
        "serving_memory_mib": ((resources.get("serving_memory") or {}).get("total_bytes") or 0) / mib,
        "measured_rss_mib": (resources.get("measured_peak_rss_bytes") or 0) / mib or None,
        "forward_mflops": (resources.get("forward_flops_per_token") or 0) / 1e6,
        "training_mflops": (resources.get("training_flops_per_token") or 0) / 1e6,
        "achieved_gflops": resources.get("achieved_gflops"),
        "fraction_of_peak": resources.get("fraction_of_peak"),
        "peak_gflops": resources.get("peak_gflops"),
        "requests_per_day": resources.get("serving_requests_per_day"),
        "training": job(resources.get("training") or []),
        "serving": job(resources.get("serving") or []),
        "verdicts": dict(resources.get("verdicts") or {}),
    }


def _source_view(source: Mapping[str, Any]) -> dict[str, Any]:
    """One price source's age against its staleness limit, as the report shows it."""
    age, limit = source.get("age_days"), source.get("limit_days")
    return {
        "source": source.get("source", ""),
        "as_of": str(source.get("as_of", ""))[:10],
        "age_text": f"{age:,.1f} days" if isinstance(age, int | float) else "n/a",
        "limit_text": f"{limit:g} day{'' if limit == 1 else 's'}"
        if isinstance(limit, int | float)
        else "n/a",
        "stale": bool(source.get("stale")),
        "basis": source.get("basis", ""),
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
    "exposure": "Exposure",
    "availability": "Availability",
    "commitment_use": "Commitments",
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
        rows.append({"key": key, "label": REQUEST_LABELS.get(key, humanise(key).capitalize()), "value": text})
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
        "period_start": iso_or_none(inputs.period_start),
        "period_end": iso_or_none(inputs.period_end),
        "period_text": period,
        "generated_at": iso_or_none(inputs.generated_at),
        "generated_text": datetime_text(inputs.generated_at),
        "pricing": _pricing_view(inputs.pricing_status, inputs.analysis),
        "training_runs": runs,
        "show_training_runs": inputs.kind == KIND_WEEKLY or runs["count"] > 0,
        "reconciliation": _reconciliation_view(runs),
        "cost_change": _cost_change_view(inputs.previous_training_runs, inputs.training_runs)
        if inputs.kind == KIND_WEEKLY
        else None,
        "price_changes": _price_changes_view(inputs.price_changes),
        "show_price_changes": inputs.kind == KIND_WEEKLY or bool(inputs.price_changes),
        "spot_series": [
            {
                "instance_type": s.instance_type,
                "availability_zone": s.availability_zone,
                "points": len(s.points),
                "first": iso_or_none(s.points[0][0]) if s.points else None,
                "last": iso_or_none(s.points[-1][0]) if s.points else None,
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
        "sweeps": [_sweep_view(document, sweep_chart_name(i)) for i, document in enumerate(inputs.sweeps)],
        "budget": _budget_view(inputs.budget),
        "anomalies": [
            {
                "detected_text": datetime_text(datetime.fromisoformat(a["detected_at"])),
                "kind": a["kind"],
                "subject": a["subject"],
                "evidence": a["evidence"],
                "detected_by": a["detected_by"],
                "usd": a.get("usd"),
                "minutes_to_detect": a.get("minutes_to_detect"),
            }
            for a in inputs.anomalies
        ],
        "show_anomalies": inputs.kind == KIND_WEEKLY,
    }
    return jsonable(view)


def _budget_view(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The month against its budgets: the headline and one row per category (budget, actual, forecast band)."""
    if not status:
        return None
    return {
        "month": status["month"],
        "headline": status["headline"],
        "elapsed_pct": 100.0 * float(status["elapsed_fraction"]),
        "categories": [
            {
                **c,
                "over": c["budget_usd"] is not None and c["forecast_p50_usd"] > c["budget_usd"],
            }
            for c in status["categories"]
        ],
        "alerts_raised": list(status.get("alerts_raised") or []),
    }


def _sweep_view(document: Mapping[str, Any], chart: str) -> dict[str, Any]:
    """One finished sweep: its sentence, the front's rows (cheapest first) and its chart's name."""
    by_trial = {t["trial"]: t for t in document["trials"]}
    recommended = document["recommendation"]["trial"]
    return {
        "study": document["study"],
        "summary": sweep_summary_line(document),
        "mlflow_url": safe_url(document.get("mlflow_url") or ""),
        "chart": chart,
        "front": [
            {
                "trial": trial,
                "usd_per_month": by_trial[trial]["usd_per_month"],
                "val_bpc": by_trial[trial]["val_bpc"],
                "params": ", ".join(
                    f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in by_trial[trial]["params"].items()
                ),
                "recommended": trial == recommended,
            }
            for trial in document["front"]
        ],
    }


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
    return f"cheapest at {head['short']}: {cheapest_text(head)}"


def _budget_phrase(view: Mapping[str, Any]) -> str | None:
    """ "December: forecast $130.00 of the $150.00 budget" (the total), for the subject and the summary."""
    budget = view.get("budget")
    total = next((c for c in (budget or {}).get("categories") or [] if c["category"] == "total"), None)
    if total is None:
        return None
    of = (
        "no total budget" if total["budget_usd"] is None else f"of the {usd_text(total['budget_usd'])} budget"
    )
    over = " (over)" if total["over"] else ""
    return f"{budget['month']} forecast {usd_text(total['forecast_p50_usd'])} {of}{over}"


def summary_line(view: Mapping[str, Any]) -> str:
    parts = [phrase] if (phrase := _budget_phrase(view)) else []
    if view["kind"] == KIND_WEEKLY or view["training_runs"]["count"]:
        parts.append(_runs_phrase(view["training_runs"]))
    parts.append(_cheapest_phrase(view["analysis"]))
    if view["pricing"]["stale"]:
        parts.append(f"pricing {view['pricing']['status']}")
    return "; ".join(parts)


def subject_line(view: Mapping[str, Any]) -> str:
    parts = [phrase] if (phrase := _budget_phrase(view)) else []
    if view["kind"] == KIND_WEEKLY or view["training_runs"]["count"]:
        parts.append(_runs_phrase(view["training_runs"]))
    parts.append(_cheapest_phrase(view["analysis"]))
    prefix = f"[pricing {view['pricing']['status']}] " if view["pricing"]["stale"] else ""
    return f"{prefix}{view['title']}: {'; '.join(parts)}"
