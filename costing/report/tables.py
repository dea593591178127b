"""Fixed-width text tables of the cost model's results, for the CLI and plain-text emails.

Every table starts with the same header: region, pricing snapshot id and the date its prices
describe, and the model profile the numbers were computed for. The cheapest drop-in alternative
is marked ``*``; alternatives that need the model re-implemented are marked ``†``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from costing.choices import (
    AVAILABILITY_DESCRIPTIONS,
    COMMITMENT_USE_DESCRIPTIONS,
    COMMITMENT_USE_HORIZON,
    EC2_OPTIONS,
    EXPOSURE_DESCRIPTIONS,
    OPTION_LABELS,
    OPTIONS,
)
from costing.model import ModelProfile, SensitivityResult, TcoResult, cold_starts
from costing.model.assumptions import SCENARIO_NAMES, ServingAssumptions
from costing.model.capacity import CapacityComparison
from costing.model.pipeline_platform import PlatformCost
from costing.model.platforms.design import EGRESS, FRONT_DOOR
from costing.model.resources import HAND_ANALYSIS, ResourceMapping
from costing.model.results import CommitmentOwed, GridResult, OptionCost, ScenarioResult
from costing.pricing import PriceSheet
from costing.pricing.sheet import TIERED_RATES

CHEAPEST_MARK = "*"
REIMPLEMENT_MARK = "†"


def usd(value: float | None, *, width: int = 0) -> str:
    """Dollars with sensible precision: 1,234.56 / 12.35 / 0.0123 / 0.000012."""
    if value is None:
        text = "n/a"
    elif abs(value) >= 100:
        text = f"{value:,.0f}" if abs(value) >= 100_000 else f"{value:,.2f}"
    elif abs(value) >= 0.1 or value == 0:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.2g}" if abs(value) < 1e-4 else f"{value:.4f}"
    return text.rjust(width) if width else text


def requests_label(requests_per_day: float) -> str:
    name = SCENARIO_NAMES.get(float(requests_per_day))
    return f"{requests_per_day:,.0f} requests/day" + (f" ({name})" if name else "")


def header(
    *,
    region: str,
    snapshot_id: str,
    prices_as_of: str,
    profile: ModelProfile | None = None,
    assumptions: ServingAssumptions | None = None,
    source_ages: Sequence[Any] = (),
    capacity: CapacityComparison | None = None,
) -> list[str]:
    lines = [f"region {region} | prices: snapshot {snapshot_id}, prices as of {prices_as_of} | USD"]
    if profile is not None:
        lines.append(
            f"model: {profile.parameters:,} parameters, {profile.model_file_bytes / 2**20:,.1f} MB; "
            f"{profile.completion_chars}-char completion p50 {profile.latency_p50_ms:,.1f} ms / p95 "
            f"{profile.latency_p95_ms:,.1f} ms at batch 1 on {profile.host_cpu_count} CPU "
            f"({profile.host_cpu_model or 'unknown CPU'})"
        )
        lines.append(f"measured: {profile.source}")
    if assumptions is not None:
        a = assumptions
        lines.append(
            f"assumptions: {a.tokens_per_request} chars/request, peak x{a.peak_factor:g}, "
            f"{a.target_utilisation:.0%} target utilisation, p95 SLO {a.latency_slo_ms:,.0f} ms, "
            f">= {a.instance_floor} instances per always-on option; free tiers "
            + ("APPLIED (an account's allowance)" if a.apply_free_tiers else "not applied")
        )
        lines.append(
            f"requirement: {a.exposure} ({EXPOSURE_DESCRIPTIONS[a.exposure]}), {a.availability} "
            f"({AVAILABILITY_DESCRIPTIONS[a.availability]}): every option is priced as the cheapest "
            "deployable design that meets it"
        )
        lines.append(
            f"horizon: {a.horizon_months:g} months; commitments: {a.commitment_use} "
            f"({COMMITMENT_USE_DESCRIPTIONS[a.commitment_use]})"
        )
    if profile is not None:
        lines += [f"note: {note}" for note in profile.notes]
    lines += [f"price source: {age.describe()}" for age in source_ages]
    if capacity is not None:
        lines.append(capacity.sentence())
    return lines


def _mark(option: OptionCost, scenario: ScenarioResult) -> str:
    if option.key == scenario.cheapest:
        return CHEAPEST_MARK
    return REIMPLEMENT_MARK if not option.drop_in else " "


def render_grid(grid: GridResult, *, every_variant: bool = False) -> str:
    """The scenario matrix (alternative x requests/day, $/month), then each scenario's configurations."""
    out = [
        "Serving cost per month by alternative",
        *header(
            region=grid.region,
            snapshot_id=grid.snapshot_id,
            prices_as_of=grid.prices_as_of.isoformat(),
            profile=grid.profile,
            assumptions=grid.assumptions,
            source_ages=grid.source_ages,
            capacity=grid.capacity,
        ),
        "",
    ]
    scenarios = grid.scenarios
    rows: list[tuple[str, list[OptionCost | None]]] = []
    if every_variant:
        keys = list(dict.fromkeys(o.key for s in scenarios for o in s.options))
        for key in keys:
            cells = [next((o for o in s.options if o.key == key), None) for s in scenarios]
            label = next(c.label for c in cells if c is not None)
            rows.append((label, cells))
    else:
        best = [s.best_per_option() for s in scenarios]
        for name in OPTIONS:
            if any(name in b for b in best):
                rows.append((OPTION_LABELS[name], [b.get(name) for b in best]))
    label_width = max(30, *(len(label) + 2 for label, _ in rows))
    column = 16 if every_variant else 24
    titles = [f"{s.requests_per_day:,.0f}/day" for s in scenarios]
    out.append("$/month".ljust(label_width) + "".join(t.rjust(column) for t in titles))
    for label, cells in rows:
        text = []
        for scenario, cell in zip(scenarios, cells, strict=True):
            if cell is None:
                text.append("".rjust(column))
            elif not cell.feasible:
                text.append("infeasible ".rjust(column))
            else:
                # the instance type in every EC2 cell: a reserved row is read against the same type
                named = (
                    f"{cell.instance_type} "
                    if not every_variant and cell.option in EC2_OPTIONS and cell.instance_type
                    else ""
                )
                text.append((named + usd(cell.usd_per_month) + _mark(cell, scenario)).rjust(column))
        out.append(label.ljust(label_width) + "".join(text))
    out.append(
        f"{CHEAPEST_MARK} cheapest drop-in alternative   {REIMPLEMENT_MARK} needs the model re-implemented "
        "for the platform (not a drop-in)"
    )
    out += _like_for_like(scenarios)
    for scenario in scenarios:
        out += [
            "",
            f"{requests_label(scenario.requests_per_day)}: {scenario.requests_per_month:,.0f} requests/month",
        ]
        out.append(f"  {'alternative':<34}{'configuration':<40}{'$/month':>11}{'$/1k req':>11}")
        listed = scenario.options if every_variant else list(scenario.best_per_option().values())
        for option in sorted(listed, key=lambda o: (not o.feasible, o.usd_per_month or 0.0, o.key)):
            if not option.feasible:
                out.append(f"  {option.label[:33]:<34}infeasible: {option.reason}")
                continue
            out.append(
                f"{_mark(option, scenario)} {option.label[:33]:<34}{option.config[:39]:<40}"
                f"{usd(option.usd_per_month, width=11)}{usd(option.usd_per_1k_requests, width=11)}"
            )
            out.append(f"      {design_line(option)}")
            if option.commitment is not None:
                out.append(f"      commitment: {commitment_line(option.commitment)}")
            if option.details.get("cold_start"):
                out.append(f"      {cold_starts.summary(option.details['cold_start'])}")
    cheapest = [s.cheapest_option for s in scenarios if s.cheapest_option is not None]
    caveats = list(dict.fromkeys(c for option in cheapest for c in option.caveats))
    if caveats:
        out += ["", "caveats of the cheapest alternatives:"] + [f"  - {c}" for c in caveats]
    if grid.sheet_notes:
        out += ["", "price sheet notes:"] + [f"  - {note}" for note in grid.sheet_notes]
    return "\n".join(out)


def design_line(option: OptionCost) -> str:
    """An option's design on one line: the chosen front door and egress named, every part's $/month."""
    parts = []
    for part in option.design:
        if part.role in (FRONT_DOOR, EGRESS):
            parts.append(f"{part.role}: {part.choice} {usd(part.usd_per_month)}")
        else:
            parts.append(f"{part.role} {usd(part.usd_per_month)}")
    return "; ".join(parts)


def commitment_line(commitment: CommitmentOwed) -> str:
    """A commitment against the horizon on one line: the term, what it owes there, what leaving then costs."""
    c = commitment
    text = (
        f"{c.what} for {c.term_months} months ({c.term}, ${usd(c.usd_per_month)}/month"
        + (f", ${usd(c.upfront_usd)} upfront" if c.upfront_usd else "")
        + ")"
    )
    if not c.months_owed:
        return f"{text}: nothing owed at the {c.horizon_months:g}-month horizon"
    ranked = (
        "ranked with what is owed"
        if c.ranked_on == COMMITMENT_USE_HORIZON
        else "ranked without it: used for its whole term"
    )
    upfront = f", ${usd(c.owed_upfront_usd)} of it paid upfront" if c.owed_upfront_usd else ""
    return (
        f"{text}: ${usd(c.owed_at_horizon_usd)} still owed at the {c.horizon_months:g}-month horizon "
        f"({c.months_owed:g} months{upfront}); serving {c.horizon_months:g} months, then leaving: "
        f"${usd(c.cost_if_left_at_horizon_usd)}; {ranked}"
    )


def _like_for_like(scenarios: Sequence[ScenarioResult]) -> list[str]:
    """Each EC2 pricing model for the same instance type: the cheapest on-demand one of each scenario."""
    rows = [(s, *s.like_for_like()) for s in scenarios]
    if not any(options for _, _, options in rows):
        return []
    out = ["", "EC2 pricing models for the same instance type (the cheapest on-demand one), $/month:"]
    for scenario, instance_type, options in rows:
        if not options:
            continue
        cells = ", ".join(
            f"{OPTION_LABELS[name].removeprefix('EC2 ')} {usd(o.usd_per_month) if o.feasible else 'infeasible'}"
            for name, o in options.items()
        )
        out.append(f"  {scenario.requests_per_day:,.0f}/day, {instance_type}: {cells}")
    return out


def render_prices(sheet: PriceSheet) -> str:
    out = [
        "Price sheet",
        *header(
            region=sheet.region, snapshot_id=sheet.snapshot_id, prices_as_of=sheet.prices_as_of.isoformat()
        ),
        "",
    ]
    out.append(
        f"{'instance type':<16}{'vCPU':>5}{'GiB':>7}  {'arch':<7}{'on-demand/h':>12}{'spot/h':>10}"
        f"{'spot p90/h':>11}{'interrupt':>10}  reserved (effective $/h)"
    )
    for name in sorted(sheet.instances):
        r = sheet.instances[name]
        reserved = (
            ", ".join(f"{term} {rate:.4f}" for term, rate in sorted(r.reserved_usd_per_hour.items())) or "-"
        )
        interruption = (
            "n/a" if r.interruption_rate_per_month is None else f"<={r.interruption_rate_per_month:.0%}"
        )
        out.append(
            f"{name:<16}{r.vcpus:>5}{r.memory_gib:>7g}  {r.architecture:<7}{r.on_demand_usd_per_hour:>12.4f}"
            f"{_rate(r.spot_usd_per_hour):>10}{_rate(r.spot_p90_usd_per_hour):>11}{interruption:>10}  {reserved}"
        )
    if sheet.sagemaker_instances:
        out += ["", f"{'SageMaker real-time':<22}{'vCPU':>5}{'GiB':>7}{'$/h':>10}"]
        for name in sorted(sheet.sagemaker_instances):
            r = sheet.sagemaker_instances[name]
            out.append(f"{name:<22}{r.vcpus:>5}{r.memory_gib:>7g}{r.usd_per_hour:>10.4f}")
    out += ["", f"{'service rate':<44}{'USD':>14}"]
    for name, value in _service_rates(sheet):
        out.append(f"{name:<44}{'n/a (not in snapshot)' if value is None else f'{value:.10g}':>14}")
    out += _tier_lines(sheet)
    workers = sheet.cloudflare_workers
    if workers is not None:
        out += [
            "",
            f"Cloudflare Workers (as of {workers.as_of.isoformat()}, {workers.source_url}):",
            f"  ${workers.monthly_base_usd:g}/month incl. {workers.included_requests_per_month:,.0f} requests and "
            f"{workers.included_cpu_ms_per_month:,.0f} CPU-ms; ${workers.usd_per_million_requests:g}/M requests, "
            f"${workers.usd_per_million_cpu_ms:g}/M CPU-ms; limits {workers.max_cpu_ms_per_request:,.0f} CPU-ms, "
            f"{workers.max_memory_mb:g} MB",
        ]
    if sheet.notes:
        out += ["", "notes:"] + [f"  - {note}" for note in sheet.notes]
    return "\n".join(out)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _service_rates(sheet: PriceSheet) -> list[tuple[str, float | None]]:
    """Every flat service rate of the sheet (tiered ones give their first paid tier; tiers listed apart)."""
    return [(f.name, getattr(sheet, f.name)) for f in fields(sheet) if f.type == "float | None"]


def _tier_lines(sheet: PriceSheet) -> list[str]:
    out = []
    for name in TIERED_RATES:
        tiers = sheet.tiers(name)
        if len(tiers) > 1:
            out.append(
                f"{name + ' tiers':<44}"
                + ", ".join(
                    f"{t.begin:,.0f}-{'' if math.isinf(t.end) else f'{t.end:,.0f}'}: {t.usd_per_unit:.10g}"
                    for t in tiers
                )
            )
    return out


def render_tco(result: TcoResult) -> str:
    run = result.training
    out = [
        f"Total cost of ownership over {result.horizon_months:g} months, retraining {result.retrain_cadence} "
        f"({result.runs_per_month:.2f} runs/month)",
        *header(region=result.region, snapshot_id=result.snapshot_id, prices_as_of=result.prices_as_of),
        "",
    ]
    out.append(
        f"training run: {run.instance_type} {run.market}, {run.work_seconds:,.1f} s measured work + "
        f"{run.overhead_seconds:,.0f} s boot, setup and upload ({run.overhead_source}) -> expected "
        f"${usd(run.usd)} per run incl. storage (on-demand ${usd(run.on_demand_equivalent_usd)}, "
        f"spot saves {run.spot_savings_pct:.0f} %); {run.expected_interruptions:.2g} interruptions expected"
    )
    young_daly = (
        "n/a (no interruptions)"
        if run.young_daly_interval_seconds == float("inf")
        else f"{run.young_daly_interval_seconds:,.0f} s"
    )
    out.append(
        f"checkpoints: {run.checkpoint_writes:g} per run, every {run.checkpoint_interval_seconds:,.1f} s of work, "
        f"{run.checkpoint_write_seconds:.2f} s to write; Young/Daly optimum {young_daly} -> recommended "
        f"{run.recommended_checkpoint_interval_seconds:,.1f} s"
    )
    out.append(f"storage kept between runs: ${usd(run.storage_usd_per_month)}/month")
    for scenario in result.scenarios:
        out += ["", requests_label(scenario.requests_per_day)]
        platform_head = "" if result.platform is None else f"{'platform/mo':>12}"
        out.append(
            f"  {'alternative':<34}{'serving/mo':>12}{'training/mo':>12}{'storage/mo':>12}{platform_head}"
            f"{'total/mo':>12}{f'{result.horizon_months:g} months':>13}"
        )
        for option in sorted(scenario.options, key=lambda o: (not o.feasible, o.total_usd or 0.0, o.key)):
            mark = (
                CHEAPEST_MARK
                if option.key == scenario.cheapest
                else (" " if option.drop_in else REIMPLEMENT_MARK)
            )
            if not option.feasible:
                out.append(f"  {option.label[:33]:<34}infeasible: {option.reason}")
                continue
            out.append(
                f"{mark} {option.label[:33]:<34}{usd(option.serving_usd_per_month, width=12)}"
                f"{usd(option.training_usd_per_month, width=12)}{usd(option.storage_usd_per_month, width=12)}"
                f"{'' if result.platform is None else usd(option.platform_usd_per_month, width=12)}"
                f"{usd(option.usd_per_month, width=12)}{usd(option.total_usd, width=13)}"
            )
            if option.commitment is not None and option.commitment.months_owed:
                out.append(f"      commitment: {commitment_line(option.commitment)}")
    out += ["", "break-evens (cheapest drop-in alternative by requests/day):"]
    if result.breakevens:
        for b in result.breakevens:
            out.append(f"  ~{b.requests_per_day:,.0f} requests/day: {b.below_label} -> {b.above_label}")
    else:
        out.append("  none: the same alternative is cheapest across the scenarios")
    out += [
        "",
        "a commitment (reserved, Savings Plan) beats on-demand above this utilisation (its effective $/h / on-demand $/h):",
    ]
    if result.reserved_breakevens:
        for r in result.reserved_breakevens:
            out.append(
                f"  {r.instance_type:<14}{r.term:<28}{r.reserved_usd_per_hour:>8.4f} / "
                f"{r.on_demand_usd_per_hour:.4f} = {r.utilisation:.1%}"
            )
    else:
        out.append("  no reserved rates in this price sheet")
    if result.platform is not None:
        out += ["", *render_platform(result.platform).splitlines()]
    if result.notes:
        out += ["", "notes:"] + [f"  - {note}" for note in result.notes]
    return "\n".join(out)


def render_platform(platform: PlatformCost) -> str:
    """A platform design's components (quantity, rate, source), its sizing and the share charged."""
    share = platform.attribution_share
    out = [
        f"platform: {platform.label}: ${usd(platform.full_usd_per_month)}/month"
        + (
            ""
            if share == 1
            else f", {share:g} of it charged to this model: ${usd(platform.usd_per_month)}/month"
        ),
        f"  {'component':<62}{'quantity/mo':>14}{'rate':>12}{'$/mo':>10}  source",
    ]
    for c, source in zip(platform.components, platform.sources, strict=True):
        out.append(
            f"  {c.name[:61]:<62}{f'{c.quantity:,.4g} {c.unit}':>14}{c.usd_per_unit:>12.4g}"
            f"{usd(c.usd_per_month, width=10)}  {source}"
        )
    out += [f"  sizing: {line}" for line in platform.sizing]
    out += [f"  caveat: {line}" for line in platform.caveats]
    return "\n".join(out)


def render_platform_comparison(results: Mapping[str, TcoResult], missing: Sequence[str] = ()) -> str:
    """Training, serving, storage and platform a month under each design, for the cheapest serving option
    at each volume; then each design's components (:func:`render_platform`)."""
    first = next(iter(results.values()))
    out = [
        f"What the whole pipeline costs a month, by platform design (retraining {first.retrain_cadence}, "
        f"{first.runs_per_month:.2f} runs/month; the cheapest drop-in serving option at each volume)",
        *header(region=first.region, snapshot_id=first.snapshot_id, prices_as_of=first.prices_as_of),
        "",
        f"  {'requests/day':>12}  {'platform design':<16}{'serving option':<30}{'training':>10}{'serving':>10}"
        f"{'storage':>10}{'platform':>10}{'total':>11}",
    ]
    for index in range(len(first.scenarios)):
        for design, result in results.items():
            row = result.scenarios[index]
            option = next((o for o in row.options if o.key == row.cheapest), None)
            if option is None:
                out.append(f"  {row.requests_per_day:>12,.0f}  {design:<16}no feasible drop-in option")
                continue
            out.append(
                f"  {row.requests_per_day:>12,.0f}  {design:<16}{option.label[:29]:<30}"
                f"{usd(option.training_usd_per_month, width=10)}{usd(option.serving_usd_per_month, width=10)}"
                f"{usd(option.storage_usd_per_month, width=10)}{usd(option.platform_usd_per_month or 0.0, width=10)}"
                f"{usd(option.usd_per_month, width=11)}"
            )
    for design in missing:
        out.append(f"  {design}: not priced in {first.region} (snapshot {first.snapshot_id})")
    for result in results.values():
        if result.platform is not None:
            out += ["", *render_platform(result.platform).splitlines()]
    return "\n".join(out)


def render_sensitivity(result: SensitivityResult) -> str:
    out = [
        f"Sensitivity of the monthly cost of ownership (serving + retraining {result.retrain_cadence} + storage)",
        *header(region=result.region, snapshot_id=result.snapshot_id, prices_as_of=result.prices_as_of),
    ]
    for t in result.tornados:
        out += [
            "",
            f"tornado +-{t.pct:g} %: {requests_label(t.requests_per_day)}, {t.label}, "
            f"base ${usd(t.base_usd_per_month)}/month",
        ]
        out.append(f"  {'factor':<20}{f'x{1 - t.pct / 100:g}':>12}{f'x{1 + t.pct / 100:g}':>12}{'swing':>12}")
        for bar in t.bars:
            out.append(
                f"  {bar.factor:<20}{usd(bar.low_usd_per_month, width=12)}"
                f"{usd(bar.high_usd_per_month, width=12)}{usd(bar.swing_usd_per_month, width=12)}"
            )
    for m in result.monte_carlo:
        out += [
            "",
            f"Monte Carlo: {requests_label(m.requests_per_day)}, {m.spec.samples:,} samples, seed {m.spec.seed}",
        ]
        out.append(f"  {'alternative':<34}{'P10':>11}{'P50':>11}{'P90':>11}{'SLO met':>9}{'cheapest':>10}")
        for o in m.options:
            mark = " " if o.drop_in else REIMPLEMENT_MARK
            out.append(
                f"{mark} {o.label[:33]:<34}{usd(o.p10_usd_per_month, width=11)}{usd(o.p50_usd_per_month, width=11)}"
                f"{usd(o.p90_usd_per_month, width=11)}{o.slo_met_fraction:>9.0%}{o.cheapest_fraction:>10.0%}"
            )
    if result.notes:
        out += ["", "notes:"] + [f"  - {note}" for note in result.notes]
    return "\n".join(out)


def render_all(parts: Sequence[str]) -> str:
    rule = "\n\n" + "=" * 100 + "\n\n"
    return rule.join(parts)


def render_resources(mapping: ResourceMapping, *, top: int = 8) -> str:
    """The resource mapping: derived numbers, prediction against measurement, both rankings with reasons."""
    m = mapping
    arch = m.architecture
    mib = 2**20
    out = [
        "Resource mapping",
        f"region {m.region} | prices: snapshot {m.snapshot_id} | USD",
        f"measured: {m.metrics_source}",
        f"model: vocabulary {arch.vocab_size}, embedding {arch.embedding_dim}, hidden {arch.hidden_size} x "
        f"{arch.num_layers} layers; window {arch.seq_len} chars x batch {arch.batch_size}",
        "",
        f"parameters            {m.parameters:,}"
        + (
            f" (measured {m.parameters_measured:,})"
            if m.parameters_measured is not None and m.parameters_measured != m.parameters
            else " (as measured)"
            if m.parameters_measured
            else ""
        ),
        f"training memory       {m.training_memory.total_bytes / mib:,.1f} MiB of tensors: weights "
        f"{m.training_memory.weights_bytes / mib:,.1f} + gradients and AdamW state "
        f"{m.training_memory.optimizer_and_gradients_bytes / mib:,.1f} + activations {m.training_memory.activations_bytes / mib:,.1f}",
        f"serving memory        {m.serving_memory.total_bytes / mib:,.1f} MiB of tensors (weights + "
        f"{m.serving_memory.activations_bytes:,} bytes of state per request)",
        f"FLOPs                 {m.forward_flops_per_token / 1e6:,.2f} M per generated character, "
        f"{m.training_flops_per_token / 1e6:,.2f} M per training token (3 x forward)",
    ]
    if m.measured_peak_rss_bytes:
        runtime = m.measured_peak_rss_bytes - m.training_memory.total_bytes
        out.append(
            f"measured RSS          training peak {m.measured_peak_rss_bytes / mib:,.0f} MiB = predicted tensors "
            f"{m.training_memory.total_bytes / mib:,.0f} MiB + {runtime / mib:,.0f} MiB of Python/torch runtime"
        )
    if m.measured_serving_rss_bytes:
        out.append(f"measured server RSS   {m.measured_serving_rss_bytes / mib:,.0f} MiB")
    if m.measured_tokens_per_s:
        line = f"training speed        {m.measured_tokens_per_s:,.0f} tokens/s measured = {m.achieved_gflops:,.1f} GFLOP/s"
        if m.peak_gflops:
            line += (
                f"; matmul peak {m.peak_gflops:,.1f} GFLOP/s ({m.peak_source}) allows "
                f"{m.predicted_tokens_per_s_at_peak:,.0f} tokens/s: {m.fraction_of_peak:.0%} of peak"
            )
            if m.fraction_of_peak and m.fraction_of_peak > 1:
                line += " (above 1: the peak was measured lower than training reached - other load, or another BLAS)"
        out.append(line)
    for job, ranked, unit in (("training", m.training, "$/run"), ("serving", m.serving, "$/month")):
        title = (
            "Instance types for training (the measured run's work scaled to each type's vCPUs, + "
            f"{mapping.training_overhead_seconds:,.0f} s boot, setup and upload; spot where priced)"
            if job == "training"
            else f"Instance types for serving at {m.serving_requests_per_day:,.0f} requests/day (EC2 on-demand, the cost model's plan)"
        )
        out += ["", title]
        header = f"  {'rank':<5}{'type':<14}{'vCPU':>5}{'GiB':>6}  {'arch':<7}{unit:>11}"
        header += f"{'on-demand':>11}{'interrupt':>13}" if job == "training" else f"{'$/1k req':>11}"
        out.append(header + "  why")
        shown = [c for c in ranked if c.rank is not None][:top] + [c for c in ranked if c.rank is None]
        for c in shown:
            row = f"  {c.rank or '-'!s:<5}{c.instance_type:<14}{c.vcpus:>5}{c.memory_gib:>6g}  {c.architecture:<7}{usd(c.usd, width=11)}"
            row += (
                f"{usd(c.on_demand_usd, width=11)}{c.interruption or 'n/a':>13}"
                if job == "training"
                else f"{usd(c.usd_per_1k_requests, width=11)}"
            )
            why = c.lost_because or "chosen"
            extras = [n for n in c.notes if not c.lost_because.endswith(n)]
            out.append(row + f"  {why}" + (f" ({'; '.join(extras)})" if extras and c.rank == 1 else ""))
        hidden = len([c for c in ranked if c.rank is not None]) - top
        if hidden > 0:
            out.append(f"  ... {hidden} more that qualify, each dearer")
    hand = f"{HAND_ANALYSIS['training']} to train, {HAND_ANALYSIS['serving']} to serve"
    out += ["", f"against the original hand analysis ({hand}):"]
    out += [f"  {job}: {verdict}" for job, verdict in m.verdicts().items()]
    if m.notes:
        out += ["", "notes:"] + [f"  - {note}" for note in m.notes]
    return "\n".join(out)
