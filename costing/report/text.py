"""The plain-text part of the report (the email's text/plain alternative and ``report.txt``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from costing.model.platforms.design import EGRESS, FRONT_DOOR
from costing.report.formatting import (
    is_number,
    number_text,
    pct_text,
    rate_text,
    signed_pct_text,
    signed_usd_text,
    usd_text,
)
from costing.report.inputs import TEXT_RUN_ROWS
from costing.report.view import EVERYTHING, TCO_LINES, _headline_cheapest

# -- plain text ----------------------------------------------------------------------------------------------


def design_text(parts: Sequence[Mapping[str, Any]]) -> str:
    """A design on one line: "front door: internet-facing ALB $23.75; compute $149.23; egress: ..."."""
    shown = []
    for part in parts:
        named = part["role"] in (FRONT_DOOR, EGRESS)
        shown.append(
            f"{part['role']}: {part['choice']} {usd_text(part['usd_per_month'])}"
            if named
            else f"{part['role']} {usd_text(part['usd_per_month'])}"
        )
    return "; ".join(shown)


def commitment_lines(commitments: Mapping[str, Any]) -> list[str]:
    """Each commitment that outlasts the horizon: what it owes there, what leaving then costs, against
    on-demand over the same months."""
    months = number_text(commitments["horizon_months"])
    lines = []
    for row in commitments["rows"]:
        against = (
            f" against {usd_text(row['on_demand_usd'])} on-demand" if row["on_demand_usd"] is not None else ""
        )
        lines.append(
            f"{row['short']}, {row['name']}: owes {usd_text(row['owed_at_horizon_usd'])} at the horizon "
            f"({number_text(row['months_owed'])} of {row['term_months']} months); {months} months then "
            f"leaving: {usd_text(row['cost_if_left_at_horizon_usd'])}{against}"
        )
    return lines


def platform_lines(tco: Mapping[str, Any]) -> list[str]:
    """The four lines of the cheapest option per scenario, then the platform's components, sizing and share."""
    platform = tco["platform"]
    lines = ["  per month, cheapest option:"]
    for b in tco["breakdown"]:
        parts = " + ".join(f"{line} {usd_text(b[f'{line}_usd_per_month'])}" for line in TCO_LINES)
        lines.append(f"    {b['short']}: {parts} = {usd_text(b['usd_per_month'])} ({b['label']})")
    lines.append(
        f"  platform: {platform['label']}, {usd_text(platform['full_usd_per_month'])}/month; "
        f"{platform['share_text']}: {usd_text(platform['usd_per_month'])}/month"
    )
    for c in platform["components"]:
        lines.append(
            f"    {c['name']}: {number_text(c['quantity'])} {c['unit']} x {rate_text(c['rate'])} = "
            f"{usd_text(c['usd_per_month'])}/month ({c['source']})"
        )
    lines += [f"    sizing: {line}" for line in platform["sizing"]]
    return lines


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
    if analysis:
        for source in analysis.get("price_sources") or []:
            out.append(
                f"  price source: {source['source']}, as of {source['as_of']}, {source['age_text']} old "
                f"(limit {source['limit_text']}): {'STALE' if source['stale'] else 'fresh'} ({source['basis']})"
            )
        out.append(
            "  free tiers: "
            + ("APPLIED (an account's allowance)" if analysis.get("free_tiers_applied") else "not applied")
        )
        if analysis.get("metrics_source"):
            out.append(f"  metrics: {analysis['metrics_source']}")
    headline = ((analysis or {}).get("tco") or {}).get("platform_headline")
    if headline:
        out += ["", headline]
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
            if is_number(runs["total_on_demand_usd"]):
                line += f" (on-demand equivalent {usd_text(runs['total_on_demand_usd'])}"
                line += (
                    f", spot saved {pct_text(runs['spot_savings_pct'])})"
                    if is_number(runs["spot_savings_pct"])
                    else ")"
                )
            line += f"; {runs['interruptions']} interruption{'s' if runs['interruptions'] != 1 else ''}"
            line += f"; {runs['registered']} registered."
            out.append(line)
            if runs["estimated"]:
                out.append(
                    "  (estimate: runs on the local backend are priced as if on the configured instance type, "
                    "with the boot, setup and upload a spot run bills)"
                )
            for r in runs["rows"][-TEXT_RUN_ROWS:]:
                loss = f"val loss {r['val_loss']:.3f}" if is_number(r["val_loss"]) else "val loss n/a"
                out.append(
                    f"  {r['started_text'][:16]}  {r['run_name'][:28]:<28} {r['status']:<8} "
                    f"{usd_text(r['cost_usd']):>9}  {loss}{'  registered' if r['registered'] else ''}"
                )
            if runs["count"] > TEXT_RUN_ROWS:
                out.append(f"  ... {runs['count'] - TEXT_RUN_ROWS} earlier runs in training_runs.csv")
            if runs["cloud_runs"]:
                out.append(
                    f"  Cloud runs: {usd_text(runs['wasted_usd'])} wasted by interruptions, "
                    f"{usd_text(runs['overhead_usd'])} overhead."
                )
        reconciliation = view.get("reconciliation") or {}
        if reconciliation.get("count"):
            out.append(
                f"Estimate vs bill: {reconciliation['count']} reconciled run(s), estimated "
                f"{usd_text(reconciliation['total_estimate_usd'])}, billed {usd_text(reconciliation['total_billed_usd'])}, "
                f"median absolute error {reconciliation['median_abs_error_pct']:.2f}%"
                + (
                    f"; {reconciliation['pending']} not in the bill yet."
                    if reconciliation["pending"]
                    else "."
                )
            )
        change = view.get("cost_change")
        if change and not change.get("error"):
            out.append(
                f"Change in training cost: {usd_text(change['previous_usd'])} -> {usd_text(change['current_usd'])} "
                f"({signed_usd_text(change['change_usd'])}) = usage {signed_usd_text(change['usage_usd'])}, "
                f"mix {signed_usd_text(change['mix_usd'])}, price {signed_usd_text(change['price_usd'])}."
            )
    budget = view.get("budget")
    if budget:
        out += ["", f"Budget: {budget['headline']}"]
        for c in budget["categories"]:
            estimated = f" ({usd_text(c['estimated_usd'])} estimated)" if c["estimated_usd"] else ""
            out.append(
                f"  {c['category']}: budget {usd_text(c['budget_usd'])}, actual {usd_text(c['actual_usd'])}"
                f"{estimated}, forecast {usd_text(c['forecast_p50_usd'])} (P10-P90 "
                f"{usd_text(c['forecast_p10_usd'])}-{usd_text(c['forecast_p90_usd'])})"
                f"{' OVER BUDGET' if c['over'] else ''}; {c['basis']}"
            )
    if view.get("show_anomalies"):
        rows = view.get("anomalies") or []
        out += ["", f"Anomalies: {len(rows) or 'none'} detected in the period."]
        out += [
            f"  {a['detected_text']} {a['kind']}: {a['subject']} ({a['evidence']}; found by {a['detected_by']})"
            for a in rows
        ]
    for sweep in view.get("sweeps") or []:
        out += ["", f"Sweep {sweep['summary']}"]
        out += [
            f"  front: trial {row['trial']}{' (recommended)' if row['recommended'] else ''}: "
            f"{usd_text(row['usd_per_month'])}/month, {row['val_bpc']:.4f} bits/char ({row['params']})"
            for row in sweep["front"]
        ]
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
        resources = analysis.get("resources")
        if resources:
            out += ["", f"Resource mapping: {resources['parameters']:,} parameters"]
            out += [
                f"  against the hand analysis, {job}: {verdict}"
                for job, verdict in resources["verdicts"].items()
            ]
        if analysis.get("capacity"):
            out += [
                "",
                analysis["capacity"]["sentence"][:1].upper() + analysis["capacity"]["sentence"][1:] + ".",
            ]
        out += ["", "Cheapest serving alternative per scenario (serving, $/month):"]
        if analysis.get("requirement"):
            out.append(f"  every design meets: {analysis['requirement']['text']}")
        for c in analysis["cheapest"]:
            if c["key"]:
                out.append(f"  {c['long']}: {c['name']} {usd_text(c['usd_per_month'])} ({c['config']})")
                if c.get("everything"):
                    everything = c["everything"]
                    other = "" if everything["same_option"] else f"{everything['label']} "
                    out.append(f"    {EVERYTHING}: {other}{usd_text(everything['usd_per_month'])}/month")
                out.append(f"    design: {design_text(c['design'])}")
                if c.get("commitment"):
                    out.append(f"    commitment: {c['commitment']}")
                if c["runner_up"]:
                    runner_up = c["runner_up"]
                    out.append(
                        f"    next: {runner_up['name']} {usd_text(runner_up['usd_per_month'])}: "
                        f"{design_text(runner_up['design'])}"
                    )
                out += [f"    {cold['name']}: {cold['summary']}" for cold in c.get("cold_starts") or []]
            else:
                out.append(f"  {c['long']}: no feasible drop-in alternative")
            if c["reimplementation"]:
                out.append(
                    f"    ({c['reimplementation']['name']} would cost "
                    f"{usd_text(c['reimplementation']['usd_per_month'])} but needs the model re-implemented)"
                )
        commitments = analysis.get("commitments")
        if commitments:
            out += [
                "",
                f"Commitments over their term, at the {number_text(commitments['horizon_months'])}-month "
                f"horizon: {commitments['text']}",
            ]
            out += [f"  {line}" for line in commitment_lines(commitments)] or ["  none outlasts the horizon"]
        tco = analysis["tco"]
        if tco:
            out.append("")
            out.append(
                f"TCO over {number_text(tco['horizon_months'])} months, retraining {tco['retrain_cadence']} "
                f"at {usd_text(tco['training_run']['usd'])} per run:"
            )
            for scenario in tco["scenarios"]:
                best = next((o for o in scenario["options"] if o["cheapest"]), None)
                if best and tco.get("platform"):
                    out.append(
                        f"  {scenario['long']}: serving: {best['label']} "
                        f"{usd_text(best['serving_usd_per_month'])}/month; {EVERYTHING}: "
                        f"{usd_text(best['usd_per_month'])}/month, {usd_text(best['total_usd'])} in all"
                    )
                elif best:
                    out.append(
                        f"  {scenario['long']}: {best['label']} {usd_text(best['total_usd'])} "
                        f"({usd_text(best['usd_per_month'])}/month)"
                    )
            if tco.get("platform"):
                out += platform_lines(tco)
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
