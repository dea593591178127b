"""A sweep's front, for people: ``trials.csv``, ``front.csv`` and ``front.png`` (monthly cost at the target
volume against validation bits per character; the front joined, the recommendation ringed, infeasible
trials as crosses), and the weekly report's lines about a finished sweep."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from costing.model.sweep import Recommendation, SweepPoint
from costing.report.charts import RC, _figure, _png, _usd_axis

FRONT_CHART = "front.png"  # in the parent run's pareto/ artifacts
TRIALS_CSV = "trials.csv"
FRONT_CSV = "front.csv"
CSV_FIELDS = ("trial", "state", "feasible", "usd_per_month", "val_bpc", "reason")


def _rows(points: Sequence[SweepPoint]) -> list[dict[str, Any]]:
    keys = sorted({k for p in points for k, _ in p.params})
    return [
        {**{f: getattr(p, f) for f in CSV_FIELDS}, **{f"param.{k}": dict(p.params).get(k) for k in keys}}
        for p in points
    ]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(rows[0]) if rows else list(CSV_FIELDS)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def front_chart(
    points: Sequence[SweepPoint], front: Sequence[SweepPoint], choice: Recommendation, *, title: str
) -> bytes | None:
    """Every costed trial, the front as a step line, the recommendation ringed; None with nothing to plot."""
    plotted = [p for p in points if p.usd_per_month is not None and p.val_bpc is not None]
    if not plotted:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        feasible = [p for p in plotted if p.feasible]
        infeasible = [p for p in plotted if not p.feasible]
        ax.scatter(
            [p.usd_per_month for p in feasible],
            [p.val_bpc for p in feasible],
            color="#4c72b0",
            label="feasible",
            zorder=3,
        )
        if infeasible:
            ax.scatter(
                [p.usd_per_month for p in infeasible],
                [p.val_bpc for p in infeasible],
                marker="x",
                color="#c44e52",
                label="infeasible (SLO or quality target)",
                zorder=3,
            )
        if front:
            ax.step(
                [p.usd_per_month for p in front],
                [p.val_bpc for p in front],
                where="post",
                color="#55a868",
                label="Pareto front",
                zorder=2,
            )
        for p in plotted:
            ax.annotate(
                str(p.trial),
                (p.usd_per_month, p.val_bpc),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        if choice.point is not None:
            ax.scatter(
                [choice.point.usd_per_month],
                [choice.point.val_bpc],
                s=220,
                facecolors="none",
                edgecolors="#000000",
                linewidths=1.5,
                label=f"recommended (trial {choice.point.trial})",
                zorder=4,
            )
        if choice.bar_bpc is not None:
            ax.axhline(choice.bar_bpc, color="#8172b2", linestyle="--", linewidth=1, label="quality bar")
        _usd_axis(ax.xaxis)
        ax.set_xlabel("monthly cost at the target volume (serving + retraining + storage)")
        ax.set_ylabel("validation loss (bits/char)")
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8)
        return _png(fig)


def write_pareto(
    points: Sequence[SweepPoint],
    front: Sequence[SweepPoint],
    choice: Recommendation,
    out_dir: Path,
    *,
    target: Mapping[str, Any],
) -> list[Path]:
    """``trials.csv``, ``front.csv`` and (when anything was costed) ``front.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / TRIALS_CSV, out_dir / FRONT_CSV]
    _write_csv(written[0], _rows(points))
    _write_csv(written[1], _rows(front))
    title = (
        f"{len(points)} trials at {target['requests_per_day']:,.0f} requests/day, {target['region']}, "
        f"p95 <= {target['slo_ms']:,.0f} ms"
    )
    png = front_chart(points, front, choice, title=title)
    if png is not None:
        (out_dir / FRONT_CHART).write_bytes(png)
        written.append(out_dir / FRONT_CHART)
    return written


def points_of_document(document: Mapping[str, Any]) -> list[SweepPoint]:
    """The trials of a ``sweep.json`` as points again."""
    return [
        SweepPoint(
            trial=t["trial"],
            state=t["state"],
            usd_per_month=t["usd_per_month"],
            val_bpc=t["val_bpc"],
            feasible=t["feasible"],
            reason=t["reason"],
            params=tuple(sorted(t["params"].items())),
        )
        for t in document["trials"]
    ]


def sweep_chart_name(index: int) -> str:
    """The report's image of the ``index``-th sweep of its period (0-based): ``sweep_front_1.png``, ..."""
    return f"sweep_front_{index + 1}.png"


def sweep_front_chart(document: Mapping[str, Any]) -> bytes | None:
    """The front chart of a finished sweep, from its ``sweep.json`` (the weekly report's)."""
    points = points_of_document(document)
    by_trial = {p.trial: p for p in points}
    rec = document["recommendation"]
    choice = Recommendation(
        by_trial.get(rec["trial"]) if rec["trial"] is not None else None, rec["bar_bpc"], rec["rule"]
    )
    target = document["target"]
    return front_chart(
        points,
        [by_trial[t] for t in document["front"]],
        choice,
        title=f"{document['study']}: {target['requests_per_day']:,.0f} requests/day, {target['region']}",
    )


def sweep_summary_line(document: Mapping[str, Any]) -> str:
    """One sentence about a finished sweep (``sweep.json``) for the weekly report."""
    target = document["target"]
    rec = document["recommendation"]
    trials = document["trials"]
    head = (
        f"{document['study']}: {len(trials)} trials at {target['requests_per_day']:,.0f} requests/day "
        f"({target['region']}), {len(document['front'])} on the front, ${document['spent_usd']:.4f} spent of "
        f"${document['budget_usd']:g}."
    )
    if rec["point"] is None:
        return f"{head} {rec['rule']}."
    saving = document.get("saving_usd_per_month")
    against = (
        ""
        if saving is None
        else f" Against the champion (${document['champion']['usd_per_month']:,.2f}/month at that volume) it "
        f"{'saves' if saving >= 0 else 'costs'} ${abs(saving):,.2f}/month."
    )
    return f"{head} Recommended: {rec['rule']}.{against}"
