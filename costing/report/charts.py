"""The cost report's charts: matplotlib PNGs, about 800 x 400 px at 100 dpi.

Every function takes plain data (the report's view model, see :mod:`costing.report.document`) and returns
PNG bytes, or ``None`` when there is nothing to draw. Figures are built with the object-oriented
API (:class:`matplotlib.figure.Figure` rendered by Agg): no pyplot, no backend switch, no global
figure registry, so nothing leaks into the caller's matplotlib state. PNG metadata is stripped so
the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

DPI = 100
FIGSIZE = (8.0, 4.0)  # inches -> 800 x 400 px
FIGSIZE_TALL = (8.0, 4.6)  # room for a legend under the axes
RC = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
}

# One colour per alternative, the same on every chart.
OPTION_COLORS: dict[str, str] = {
    "ec2-on-demand": "#4c78a8",
    "ec2-spot": "#54a24b",
    "ec2-reserved-1yr": "#72b7b2",
    "ec2-reserved-3yr": "#2f6f6a",
    "lambda": "#f58518",
    "sagemaker-realtime": "#b279a2",
    "sagemaker-serverless": "#d6a5c9",
    "fargate": "#e45756",
    "cloudflare-workers": "#eeca3b",
}
FALLBACK_COLORS = ("#9d755d", "#bab0ac", "#79706e", "#ff9da6")
SPOT_COLOR, ON_DEMAND_COLOR, FAILED_COLOR, REGISTERED_COLOR = "#54a24b", "#4c78a8", "#e45756", "#f2a900"
LOW_COLOR, HIGH_COLOR = "#4c78a8", "#f58518"

TORNADO_FACTOR_NAMES = {
    "prices": "list prices",
    "requests_per_day": "requests per day",
    "latency": "latency",
    "utilisation": "target utilisation",
    "interruption_rate": "spot interruption rate",
    "retrain_cadence": "retraining cadence",
}


def usd_tick(value: float) -> str:
    """Axis tick text: $1,000 / $80 / $1.5 / $0.25 / $0.0825 / $0.0014."""
    if value == 0:
        return "$0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"${value:,.0f}"
    if magnitude >= 1:
        return f"${value:,.2f}".rstrip("0").rstrip(".")
    return f"${value:.4g}"


def usd_label(value: float) -> str:
    """Value labels on bars: whole cents from $1 up ($79.70), 2 significant digits below ($0.0014)."""
    if abs(value) >= 1000:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.2g}"


def option_color(option: str, index: int = 0) -> str:
    return OPTION_COLORS.get(option, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def _figure(size: tuple[float, float] = FIGSIZE):
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return buffer.getvalue()


def _usd_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: usd_tick(value)))


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- training runs ------------------------------------------------------------------------------------------


def cost_per_run_chart(runs: Sequence[Mapping[str, Any]], *, total_usd: float | None) -> bytes | None:
    """Bars of the price paid per run in start order; a tick at the on-demand equivalent when known."""
    if not runs or not any(_finite(r.get("cost_usd")) for r in runs):
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        positions = list(range(len(runs)))
        heights = [r["cost_usd"] if _finite(r.get("cost_usd")) else 0.0 for r in runs]
        colors = [
            FAILED_COLOR
            if r.get("status") != "FINISHED"
            else (SPOT_COLOR if r.get("market") == "spot" else ON_DEMAND_COLOR)
            for r in runs
        ]
        ax.bar(positions, heights, color=colors, width=0.6, zorder=2)
        on_demand = [
            (x, r["on_demand_usd"])
            for x, r in zip(positions, runs, strict=True)
            if _finite(r.get("on_demand_usd")) and r.get("market") != "on-demand"
        ]
        if on_demand:
            ax.scatter(
                [x for x, _ in on_demand],
                [y for _, y in on_demand],
                marker="_",
                s=500,
                linewidths=2,
                color="#1f2933",
                zorder=3,
                label="on-demand equivalent",
            )
        for x, run in zip(positions, runs, strict=True):
            if not _finite(run.get("cost_usd")):
                ax.annotate("n/a", (x, 0), ha="center", va="bottom", color="#627d98")
        step = max(1, math.ceil(len(runs) / 14))
        ax.set_xticks(positions[::step])
        ax.set_xticklabels([_run_tick(r) for r in runs][::step], fontsize=8)
        ax.set_xlim(-0.7, len(runs) - 0.3)
        _usd_axis(ax.yaxis)
        ax.set_ylabel("USD per run")
        ax.set_xlabel("run start (UTC)")
        total = f", total {usd_label(total_usd)}" if _finite(total_usd) else ""
        ax.set_title(f"Training cost per run: {len(runs)} run{'s' if len(runs) != 1 else ''}{total}")
        from matplotlib.patches import Patch

        handles = [
            Patch(color=SPOT_COLOR, label="spot (price paid)"),
            Patch(color=ON_DEMAND_COLOR, label="on-demand (price paid)"),
        ]
        if any(r.get("status") != "FINISHED" for r in runs):
            handles.append(Patch(color=FAILED_COLOR, label="failed run"))
        if on_demand:
            handles.append(ax.get_legend_handles_labels()[0][0])
        ax.legend(handles=handles, loc="upper left", ncols=len(handles))
        ax.set_ylim(0, max([*heights, *(y for _, y in on_demand)]) * 1.25 or 1.0)
        ax.grid(axis="x", visible=False)
        return _png(fig)


def estimate_vs_bill_chart(reconciliation: Mapping[str, Any] | None) -> bytes | None:
    """Per reconciled run, the estimate of its tagged resources next to the bill, the error above each pair."""
    rows = (reconciliation or {}).get("rows") or []
    if not rows:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        positions = list(range(len(rows)))
        estimates = [r["tagged_estimate_usd"] for r in rows]
        billed = [r["billed_actual_usd"] for r in rows]
        ax.bar(
            [x - 0.2 for x in positions],
            estimates,
            width=0.4,
            color=ON_DEMAND_COLOR,
            label="estimate",
            zorder=2,
        )
        ax.bar(
            [x + 0.2 for x in positions], billed, width=0.4, color=REGISTERED_COLOR, label="bill", zorder=2
        )
        top = max([*estimates, *billed]) or 1.0
        for x, row in zip(positions, rows, strict=True):
            ax.annotate(
                f"{row['estimate_error_pct']:+.1f}%",
                (x, max(row["tagged_estimate_usd"], row["billed_actual_usd"]) + top * 0.03),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        step = max(1, math.ceil(len(rows) / 14))
        ax.set_xticks(positions[::step])
        ax.set_xticklabels([_short(str(r["run_name"]), 18) for r in rows][::step], fontsize=8)
        ax.set_xlim(-0.7, len(rows) - 0.3)
        ax.set_ylim(0, top * 1.25)
        _usd_axis(ax.yaxis)
        ax.set_ylabel("USD per run (instances + volumes)")
        median = reconciliation.get("median_abs_error_pct") if reconciliation else None
        median_text = f", median |error| {median:.2f}%" if _finite(median) else ""
        ax.set_title(
            f"Estimate vs bill: {len(rows)} reconciled run{'s' if len(rows) != 1 else ''}{median_text}"
        )
        ax.legend(loc="upper left", ncols=2)
        ax.grid(axis="x", visible=False)
        return _png(fig)


def _run_tick(run: Mapping[str, Any]) -> str:
    started = run.get("started_at_dt")
    return (
        f"{started:%a %d %b}\n{started:%H:%M}"
        if isinstance(started, datetime)
        else _short(str(run.get("run_name")))
    )


def cost_vs_loss_chart(runs: Sequence[Mapping[str, Any]]) -> bytes | None:
    """Scatter of cost per run against validation loss; registered runs drawn as stars."""
    points = [r for r in runs if _finite(r.get("cost_usd")) and _finite(r.get("val_loss"))]
    if not points:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        groups = (
            ("registered", [r for r in points if r.get("registered")], "*", REGISTERED_COLOR, 220),
            (
                "not registered",
                [r for r in points if not r.get("registered") and r.get("status") == "FINISHED"],
                "o",
                ON_DEMAND_COLOR,
                60,
            ),
            (
                "failed",
                [r for r in points if not r.get("registered") and r.get("status") != "FINISHED"],
                "X",
                FAILED_COLOR,
                70,
            ),
        )
        for label, group, marker, color, size in groups:
            if group:
                ax.scatter(
                    [r["cost_usd"] for r in group],
                    [r["val_loss"] for r in group],
                    marker=marker,
                    s=size,
                    color=color,
                    edgecolors="#1f2933",
                    linewidths=0.6,
                    label=label,
                    zorder=3,
                )
        if len(points) <= 12:
            for r in points:
                ax.annotate(
                    _short(str(r.get("run_name", ""))),
                    (r["cost_usd"], r["val_loss"]),
                    textcoords="offset points",
                    xytext=(6, 4),
                    fontsize=7,
                    color="#334e68",
                )
        _pad_limits(ax, [r["cost_usd"] for r in points], [r["val_loss"] for r in points])
        _usd_axis(ax.xaxis)
        ax.set_xlabel("cost per run (USD)")
        ax.set_ylabel("validation loss (nats/char)")
        ax.set_title("Cost vs validation loss (lower left is better)")
        ax.legend(loc="best")
        return _png(fig)


def _pad_limits(ax, xs: Sequence[float], ys: Sequence[float]) -> None:
    for values, setter in ((xs, ax.set_xlim), (ys, ax.set_ylim)):
        low, high = min(values), max(values)
        pad = (high - low) * 0.15 or abs(high) * 0.1 or 1.0
        setter(low - pad, high + pad)


# -- scenarios ------------------------------------------------------------------------------------------------


def scenario_chart(matrix: Mapping[str, Any]) -> bytes | None:
    """Grouped bars per scenario, one per alternative (its cheapest variant), log scale; cheapest marked."""
    columns, rows = matrix.get("columns") or [], matrix.get("rows") or []
    cells = [
        (c, r, row["cells"][c])
        for r, row in enumerate(rows)
        for c in range(len(columns))
        if row["cells"][c]
        and row["cells"][c]["feasible"]
        and _finite(row["cells"][c]["usd_per_month"])
        and row["cells"][c]["usd_per_month"] > 0
    ]
    if not cells:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(FIGSIZE_TALL)
        ax = fig.add_subplot()
        width = 0.84 / max(1, len(rows))
        seen: set[int] = set()
        for c, r, cell in cells:
            row = rows[r]
            x = c + (r - (len(rows) - 1) / 2) * width
            label = row["label"] if r not in seen else None
            seen.add(r)
            ax.bar(
                x,
                cell["usd_per_month"],
                width=width * 0.92,
                color=option_color(row["option"], r),
                hatch="///" if not row["drop_in"] else None,
                edgecolor="#1f2933" if cell["cheapest"] else "white",
                linewidth=1.6 if cell["cheapest"] else 0.4,
                label=label,
                zorder=2,
            )
            if cell["cheapest"]:
                ax.annotate(
                    f"★ {usd_label(cell['usd_per_month'])}",
                    (x, cell["usd_per_month"]),
                    textcoords="offset points",
                    xytext=(0, 3),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    fontweight="bold",
                    zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
        ax.set_yscale("log")
        _usd_axis(ax.yaxis)
        values = [cell["usd_per_month"] for _, _, cell in cells]
        ax.set_ylim(min(values) / 2.5, max(values) * 4)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([col["label"] for col in columns])
        ax.set_xlabel("requests per day")
        ax.set_ylabel("serving cost, USD per month (log)")
        fig.suptitle(
            "Serving cost per month by alternative (★ cheapest drop-in)", fontsize=11, fontweight="bold"
        )
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=5)
        missing = len(rows) * len(columns) - len(cells)
        notes = []
        if any(not rows[r]["drop_in"] for _, r, _ in cells):
            notes.append("hatched: needs the model re-implemented (not a drop-in)")
        if missing:
            notes.append(f"{missing} bar{'s' if missing != 1 else ''} omitted (infeasible, see the table)")
        note = "; ".join(notes)
        ax.set_title(note, fontsize=7, fontweight="normal", color="#627d98", loc="left")
        return _png(fig)


# the cost of ownership's lines, bottom to top of a stacked bar
TCO_LINE_COLORS = {
    "training": "#4c78a8",
    "serving": "#f58518",
    "storage": "#72b7b2",
    "platform": "#9d755d",
}


def tco_breakdown_chart(tco: Mapping[str, Any] | None) -> bytes | None:
    """One stacked bar per scenario (the cheapest option): training, serving, storage and the platform that
    runs the pipeline, per month. Only when a platform was priced (``tco["breakdown"]``)."""
    bars = [
        b
        for b in (tco or {}).get("breakdown") or []
        if all(_finite(b.get(f"{line}_usd_per_month")) for line in TCO_LINE_COLORS)
    ]
    if not bars:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(FIGSIZE_TALL)
        ax = fig.add_subplot()
        positions = list(range(len(bars)))
        bottoms = [0.0] * len(bars)
        for line, color in TCO_LINE_COLORS.items():
            heights = [b[f"{line}_usd_per_month"] for b in bars]
            ax.bar(positions, heights, bottom=bottoms, width=0.55, color=color, label=line, zorder=2)
            bottoms = [low + h for low, h in zip(bottoms, heights, strict=True)]
        top = max(bottoms) or 1.0
        for x, total in zip(positions, bottoms, strict=True):
            ax.annotate(
                usd_label(total),
                (x, total),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                va="bottom",
                fontsize=8,
                fontweight="bold",
            )
        ax.set_xticks(positions)
        ax.set_xticklabels([f"{b['short']}\n{_short(str(b['label']), 30)}" for b in bars], fontsize=8)
        ax.set_xlim(-0.7, len(bars) - 0.3)
        ax.set_ylim(0, top * 1.15)
        _usd_axis(ax.yaxis)
        ax.set_xlabel("requests per day (cheapest option)")
        ax.set_ylabel("USD per month")
        share = ((tco or {}).get("platform") or {}).get("attribution_share")
        share_text = f" (platform: a {share:g} share)" if _finite(share) and share != 1 else ""
        ax.set_title(f"Cost of ownership per month, cheapest option{share_text}")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=len(TCO_LINE_COLORS))
        return _png(fig)


def budget_chart(budget: Mapping[str, Any] | None) -> bytes | None:
    """Per category: the month's budget, the actual so far and the forecast to month end with its
    P10-P90 band."""
    categories = [c for c in (budget or {}).get("categories") or [] if _finite(c.get("forecast_p50_usd"))]
    if not categories:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        positions = list(range(len(categories)))
        width = 0.26
        budgets = [c["budget_usd"] if _finite(c.get("budget_usd")) else 0.0 for c in categories]
        ax.bar(
            [x - width for x in positions],
            budgets,
            width=width,
            color="#d9e2ec",
            edgecolor="#486581",
            label="budget",
            zorder=2,
        )
        ax.bar(
            positions,
            [c["actual_usd"] for c in categories],
            width=width,
            color=ON_DEMAND_COLOR,
            label="actual so far",
            zorder=2,
        )
        p50 = [c["forecast_p50_usd"] for c in categories]
        errors = [
            [m - c["forecast_p10_usd"] for m, c in zip(p50, categories, strict=True)],
            [c["forecast_p90_usd"] - m for m, c in zip(p50, categories, strict=True)],
        ]
        colors = [FAILED_COLOR if c.get("over") else HIGH_COLOR for c in categories]
        ax.bar(
            [x + width for x in positions],
            p50,
            width=width,
            color=colors,
            yerr=errors,
            capsize=4,
            label="forecast (P50, P10-P90)",
            zorder=2,
        )
        top = max([*budgets, *(c["forecast_p90_usd"] for c in categories)]) or 1.0
        for x, c in zip(positions, categories, strict=True):
            ax.annotate(
                usd_label(c["forecast_p50_usd"]),
                (x + width, c["forecast_p90_usd"]),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(positions)
        ax.set_xticklabels([c["category"] for c in categories])
        ax.set_ylim(0, top * 1.15)
        _usd_axis(ax.yaxis)
        ax.set_ylabel("USD this month")
        ax.set_title(f"Budget, actual and forecast, {budget['month']}")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left")
        return _png(fig)


def monte_carlo_chart(matrix: Mapping[str, Any]) -> bytes | None:
    """P50 dot with a P10-P90 bar per alternative and scenario (log scale)."""
    columns, rows = matrix.get("columns") or [], matrix.get("rows") or []
    cells = [
        (c, r, row["cells"][c])
        for r, row in enumerate(rows)
        for c in range(len(columns))
        if row["cells"][c]
        and all(_finite(row["cells"][c].get(k)) and row["cells"][c][k] > 0 for k in ("p10", "p50", "p90"))
    ]
    if not cells:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(FIGSIZE_TALL)
        ax = fig.add_subplot()
        width = 0.84 / max(1, len(rows))
        seen: set[int] = set()
        for c, r, cell in cells:
            row = rows[r]
            x = c + (r - (len(rows) - 1) / 2) * width
            ax.errorbar(
                [x],
                [cell["p50"]],
                yerr=[[cell["p50"] - cell["p10"]], [cell["p90"] - cell["p50"]]],
                fmt="o",
                markersize=4,
                capsize=2.5,
                color=option_color(row["option"], r),
                elinewidth=1.6,
                label=row["label"] if r not in seen else None,
                zorder=3,
            )
            seen.add(r)
        ax.set_yscale("log")
        _usd_axis(ax.yaxis)
        low = min(cell["p10"] for _, _, cell in cells)
        high = max(cell["p90"] for _, _, cell in cells)
        ax.set_ylim(low / 2, high * 2)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([col["label"] for col in columns])
        ax.set_xlim(-0.6, len(columns) - 0.4)
        ax.set_xlabel("requests per day")
        ax.set_ylabel("cost of ownership, USD per month (log)")
        ax.set_title("Monte Carlo: P10–P90 of the monthly cost of ownership (dot = P50)")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=5)
        return _png(fig)


def tornado_chart(tornado: Mapping[str, Any] | None) -> bytes | None:
    """Horizontal bars from the base cost to the cost with each factor at -X % and +X %, largest swing on top."""
    if not tornado or not tornado.get("bars"):
        return None
    import matplotlib

    bars = list(reversed(tornado["bars"]))  # barh draws bottom-up; the largest swing goes on top
    base, pct = tornado["base_usd_per_month"], tornado["pct"]
    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        ys = range(len(bars))
        low_label, high_label = f"factor ×{1 - pct / 100:g}", f"factor ×{1 + pct / 100:g}"
        for y, bar in zip(ys, bars, strict=True):
            for value, color, label in (
                (bar["low_usd_per_month"], LOW_COLOR, low_label),
                (bar["high_usd_per_month"], HIGH_COLOR, high_label),
            ):
                ax.barh(
                    y,
                    value - base,
                    left=base,
                    height=0.6,
                    color=color,
                    label=label if y == 0 else None,
                    zorder=2,
                )
            if bar["swing_usd_per_month"] <= abs(base) * 1e-9:
                ax.annotate(
                    "no effect",
                    (base, y),
                    textcoords="offset points",
                    xytext=(6, 0),
                    va="center",
                    fontsize=7,
                    color="#627d98",
                )
            else:
                for value in (bar["low_usd_per_month"], bar["high_usd_per_month"]):
                    right = value >= base
                    ax.annotate(
                        usd_label(value),
                        (value, y),
                        textcoords="offset points",
                        xytext=(4 if right else -4, 0),
                        ha="left" if right else "right",
                        va="center",
                        fontsize=7,
                    )
        ax.axvline(base, color="#1f2933", linewidth=1, zorder=3)
        values = [base, *(b["low_usd_per_month"] for b in bars), *(b["high_usd_per_month"] for b in bars)]
        span = (max(values) - min(values)) or abs(base) * 0.02 or 1.0
        ax.set_xlim(min(values) - span * 0.3, max(values) + span * 0.3)
        ax.set_yticks(list(ys))
        ax.set_yticklabels(
            [TORNADO_FACTOR_NAMES.get(b["factor"], b["factor"].replace("_", " ")) for b in bars]
        )
        _usd_axis(ax.xaxis)
        ax.set_xlabel("cost of ownership, USD per month")
        ax.set_title(
            f"Sensitivity ±{pct:g} % at {tornado['short']}: {tornado['label']} (base {usd_label(base)}/month)"
        )
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right")
        return _png(fig)


# -- spot prices ----------------------------------------------------------------------------------------------


def spot_history_chart(series: Sequence[Any], *, marks: Sequence[datetime] = ()) -> bytes | None:
    """Step lines of the spot price per availability zone; ``marks`` (training run starts) as dotted lines."""
    series = [s for s in series if s.points]
    if not series:
        return None
    import matplotlib
    import matplotlib.dates as mdates

    end = max(s.points[-1][0] for s in series)
    start = min(s.points[0][0] for s in series)
    types = sorted({s.instance_type for s in series})
    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        for s in series:
            times = [t for t, _ in s.points] + [end]
            prices = [p for _, p in s.points] + [s.points[-1][1]]
            label = s.availability_zone if len(types) == 1 else f"{s.instance_type} {s.availability_zone}"
            ax.step(times, prices, where="post", label=label, linewidth=1.5)
        inside = [m for m in marks if start <= m <= end]
        for index, mark in enumerate(inside):
            ax.axvline(
                mark,
                color="#829ab1",
                linestyle=":",
                linewidth=1,
                label="training run start" if index == 0 else None,
            )
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        _usd_axis(ax.yaxis)
        ax.set_ylabel("USD per instance-hour")
        ax.set_xlabel("time (UTC)")
        ax.set_title(f"Spot price history: {', '.join(types)} (Linux, per availability zone)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _png(fig)
