"""How long the cost model takes on a snapshot (``python -m costing bench``, part of ``make bench``).

The budgets: the full grid - every instance type in the sheet (>= 20) x every alternative x 3
scenarios, each option a deployable design with its cold starts priced - in under 1 second; and that
grid plus a 10,000-sample Monte Carlo over every feasible variant of every scenario in under 2 seconds. Each step is timed cold (first run) and as the best of
``--repeat`` runs; the budget is checked on the cold run. Exit status 1 when over budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from costing.choices import OPTIONS
from costing.model.assumptions import DEFAULT_SCENARIOS_REQUESTS_PER_DAY
from costing.model.grid import plan_grid
from costing.model.model_source import resolve_metrics
from costing.model.results import GridResult
from costing.model.sensitivity import MonteCarloSpec, monte_carlo, tornado
from costing.model.tco import runs_per_month, tco
from costing.model.training.plan import plan_training
from costing.pricing import build_price_sheet

DEFAULT_BUDGET_SECONDS = 2.0  # grid + Monte Carlo
DEFAULT_GRID_BUDGET_SECONDS = 1.0  # the grid alone, designs and cold starts included
MIN_INSTANCE_TYPES = 20


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """(result of the first run, cold seconds, best seconds over ``repeat`` runs)."""
    start = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - start
    best = cold
    for _ in range(repeat - 1):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return result, cold, best


def run(
    *,
    region: str,
    snapshot: Path | None,
    metrics: Path | str | None,
    samples: int,
    repeat: int,
    budget_seconds: float,
    grid_budget_seconds: float = DEFAULT_GRID_BUDGET_SECONDS,
) -> dict[str, Any]:

    sheet, sheet_cold, sheet_best = _timed(lambda: build_price_sheet(snapshot, region), repeat)
    profile = resolve_metrics(metrics).profile()
    volumes = DEFAULT_SCENARIOS_REQUESTS_PER_DAY

    def grid() -> tuple[list, GridResult]:
        plans = plan_grid(profile, sheet, volumes)
        result = GridResult(
            region=sheet.region,
            snapshot_id=sheet.snapshot_id,
            prices_as_of=sheet.prices_as_of,
            profile=profile,
            assumptions=plans[0].plans[0].assumptions,
            scenarios=tuple(p.result() for p in plans),
        )
        return plans, result

    (plans, grid_result), grid_cold, grid_best = _timed(grid, repeat)
    training = plan_training(profile, sheet)
    runs = runs_per_month("weekly")
    spec = MonteCarloSpec(samples=samples, seed=0)
    sampled, mc_cold, mc_best = _timed(
        lambda: [monte_carlo(p, training, runs, spec=spec) for p in plans], repeat
    )
    _, tornado_cold, tornado_best = _timed(lambda: [tornado(p, training, runs) for p in plans], repeat)
    _, tco_cold, tco_best = _timed(
        lambda: tco(profile, sheet, volumes, training=training, scenario_plans=plans), repeat
    )
    priced = sum(len(s.options) for s in grid_result.scenarios)
    distributions = sum(len(m.options) for m in sampled)
    total_cold = grid_cold + mc_cold
    return {
        "region": sheet.region,
        "snapshot_id": sheet.snapshot_id,
        "prices_as_of": sheet.prices_as_of.isoformat(),
        "instance_types": len(sheet.instances),
        "alternatives": len(OPTIONS),
        "scenarios": len(volumes),
        "options_priced": priced,
        "monte_carlo_samples": samples,
        "monte_carlo_distributions": distributions,
        "seconds": {
            "price_sheet": {"cold": sheet_cold, "best": sheet_best},
            "grid": {"cold": grid_cold, "best": grid_best},
            "monte_carlo": {"cold": mc_cold, "best": mc_best},
            "tornado": {"cold": tornado_cold, "best": tornado_best},
            "tco_with_breakevens": {"cold": tco_cold, "best": tco_best},
        },
        "grid_plus_monte_carlo_seconds": total_cold,
        "budget_seconds": budget_seconds,
        "grid_budget_seconds": grid_budget_seconds,
        "within_budget": total_cold < budget_seconds
        and grid_cold < grid_budget_seconds
        and len(sheet.instances) >= MIN_INSTANCE_TYPES,
    }


def render(report: dict[str, Any]) -> str:
    s = report["seconds"]
    lines = [
        f"costing bench: {report['region']}, snapshot {report['snapshot_id']} (prices as of {report['prices_as_of']}), "
        f"{report['instance_types']} instance types x {report['alternatives']} alternatives x "
        f"{report['scenarios']} scenarios",
        f"{'step':<36}{'cold s':>10}{'best s':>10}",
    ]
    labels = {
        "price_sheet": "price sheet from the snapshot",
        "grid": f"grid ({report['options_priced']} option prices)",
        "monte_carlo": f"Monte Carlo {report['monte_carlo_samples']:,} x {report['monte_carlo_distributions']} options",
        "tornado": "tornado (6 factors x 3 scenarios)",
        "tco_with_breakevens": "TCO + break-even search",
    }
    for key, label in labels.items():
        lines.append(f"{label:<36}{s[key]['cold']:>10.3f}{s[key]['best']:>10.3f}")
    grid_ok = s["grid"]["cold"] < report["grid_budget_seconds"]
    lines.append(
        f"{'grid (cold)':<36}{s['grid']['cold']:>10.3f}{'':>10}  budget {report['grid_budget_seconds']:g} s: "
        f"{'OK' if grid_ok else 'OVER BUDGET'}"
    )
    total_ok = report["grid_plus_monte_carlo_seconds"] < report["budget_seconds"]
    verdict = "OK" if total_ok else "OVER BUDGET"
    lines.append(
        f"{'grid + Monte Carlo (cold)':<36}{report['grid_plus_monte_carlo_seconds']:>10.3f}"
        f"{'':>10}  budget {report['budget_seconds']:g} s: {verdict}"
    )
    if report["instance_types"] < MIN_INSTANCE_TYPES:
        lines.append(
            f"only {report['instance_types']} instance types in the sheet; the benchmark needs >= "
            f"{MIN_INSTANCE_TYPES}"
        )
    return "\n".join(lines)
