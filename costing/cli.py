"""Command line: ``python -m costing <command> --help``, one entry point for everything costing does.

Cost questions: ``prices``, ``scenarios``, ``tco``, ``sensitivity``, ``analyze``, ``resources``
(parameters, memory, FLOPs and the instance types that fit, from the model's configuration). FinOps:
``focus-export`` (every cost recorded in MLflow as FOCUS 1.2 rows, CSV or Parquet). Price data:
``refresh`` (read the public bulk offer files, validate, write a snapshot; the Price List API needs
AWS credentials and is ``python -m pipeline.tasks.pricing``), ``interruption-table`` (rebuild the Spot
interruption table from the Spot Instance Advisor feed), ``record`` (a snapshot from hand-recorded
rates). And ``bench``: how long the cost model takes.

Works offline on the newest shipped pricing snapshot. The model profile comes from ``--metrics``
(a metrics.json, a ``models:/`` URI or ``reference``), else the registered champion
(``models:/rnn-textgen@champion``) when ``MLFLOW_TRACKING_URI`` points at a store that has one,
else the reference measurements in ``include/reference_metrics.json``; every output names the one
used and the pricing snapshot. ``--json`` prints the versioned JSON document instead of tables.

Bad input gets one ``error:`` line on stderr and exit status 2, never a traceback: every number is
checked against its range before any work starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from costing.choices import (
    AVAILABILITIES,
    AVAILABILITY_DESCRIPTIONS,
    COMMITMENT_USE_DESCRIPTIONS,
    COMMITMENT_USES,
    EXPOSURE_DESCRIPTIONS,
    EXPOSURES,
    MAX_HORIZON_MONTHS,
    MIN_HORIZON_MONTHS,
    PLATFORM_DESCRIPTIONS,
    PLATFORM_DESIGNS,
    REDIS_PLACEMENTS,
    TRAINING_ON_BEST,
)
from costing.model import (
    DEFAULT_RETRAIN_CADENCE,
    DEFAULT_SAMPLES,
    DEFAULT_SCENARIOS_REQUESTS_PER_DAY,
    DEFAULT_SEED,
    DEFAULT_TORNADO_PCT,
    AnalysisRequest,
    ServingAssumptions,
    analyze_request,
    cost_grid,
    jsonable,
    plan_grid,
    price_sheet_to_json_dict,
    request_training_plan,
    resolve_metrics,
    sensitivity,
    tco,
)
from costing.model.assumptions import MAX_REQUESTS_PER_DAY
from costing.model.grid_benchmark import DEFAULT_BUDGET_SECONDS, DEFAULT_GRID_BUDGET_SECONDS
from costing.model.grid_benchmark import render as render_benchmark
from costing.model.grid_benchmark import run as run_benchmark
from costing.model.pipeline_platform import MWAA_CLASS_NAMES, designs_priced_in
from costing.model.resources import map_resources, measure_matmul_gflops
from costing.model.sensitivity import MAX_SAMPLES
from costing.pricing import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MARKET,
    DEFAULT_PRICE_LIST_URL,
    DEFAULT_PRICING_TIMEOUT_SECONDS,
    DEFAULT_REGION,
    DEFAULT_SNAPSHOT_ROOT,
    MARKETS,
    SPOT_ADVISOR_DATA_URL,
    BulkOffers,
    build_price_sheet,
    record_snapshot,
    refresh_snapshot,
)
from costing.pricing.fetch import (
    DEFAULT_REFRESH_INSTANCE_TYPES,
    DEFAULT_REFRESH_REGIONS,
    DEFAULT_SPOT_WINDOW_DAYS,
    STATUS_FRESH,
    STATUS_STALE,
)
from costing.pricing.recording import DEFAULT_RECORDING_DIR
from costing.pricing.reference_tables import (
    fetch_spot_advisor_document,
    interruption_table_from_advisor,
    write_interruption_table,
)
from costing.report import (
    FOCUS_VERSION,
    Account,
    focus_rows_since,
    render_all,
    render_grid,
    render_platform_comparison,
    render_prices,
    render_resources,
    render_sensitivity,
    render_tco,
    write_focus,
)
from costing.report.focus import format_of
from toolkit.arguments import EXIT_USAGE, Parser, bounded_number, existing_dir, utc_date

_positive_float = bounded_number(minimum=0, maximum=1e12, exclusive_minimum=True)
_requests_per_day = bounded_number(
    minimum=0, maximum=MAX_REQUESTS_PER_DAY, exclusive_minimum=True, what="requests per day"
)


def _instance_types(text: str) -> list[str]:
    types = [part.strip() for part in text.split(",") if part.strip()]
    if not types:
        raise argparse.ArgumentTypeError(
            f"give at least one instance type, e.g. 'c7g.large,m5.large'; got {text!r}"
        )
    return types


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("prices")
    group.add_argument("--region", default=DEFAULT_REGION, help="AWS region (default %(default)s)")
    group.add_argument(
        "--snapshot", type=existing_dir, help="pricing snapshot folder (default: the newest shipped one)"
    )
    group.add_argument(
        "--instance-types",
        type=_instance_types,
        metavar="T1,T2",
        help="only these EC2 instance types (comma-separated; default: all in the snapshot)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the versioned JSON document instead of tables"
    )


def _model(parser: argparse.ArgumentParser, *, scenarios: bool = True) -> None:
    defaults = ServingAssumptions()
    group = parser.add_argument_group("model and traffic")
    group.add_argument(
        "--metrics",
        metavar="FILE|URI|reference",
        help="metrics.json of a benchmarked run, a registered model (models:/rnn-textgen@champion, "
        "models:/rnn-textgen/3) or 'reference' (default: the registry's champion when "
        "MLFLOW_TRACKING_URI points at a store that has one, else include/reference_metrics.json)",
    )
    if scenarios:
        group.add_argument(
            "--requests-per-day",
            type=_requests_per_day,
            nargs="+",
            metavar="N",
            default=list(DEFAULT_SCENARIOS_REQUESTS_PER_DAY),
            help=f"scenarios, each > 0 and <= {MAX_REQUESTS_PER_DAY:,.0f} (default: 100 10000 1000000)",
        )
    group.add_argument(
        "--tokens-per-request",
        type=bounded_number(minimum=1, maximum=100_000, integer=True),
        help=f"characters per completion (default {defaults.tokens_per_request})",
    )
    group.add_argument(
        "--peak-factor",
        type=bounded_number(minimum=1, maximum=1_000),
        help=f"peak / mean request rate (default {defaults.peak_factor:g})",
    )
    group.add_argument(
        "--target-utilisation",
        type=bounded_number(minimum=0, maximum=1, exclusive_minimum=True),
        help=f"fraction of capacity used at peak (default {defaults.target_utilisation:g})",
    )
    group.add_argument(
        "--latency-slo-ms",
        type=bounded_number(minimum=0, maximum=3_600_000, exclusive_minimum=True),
        help=f"p95 latency SLO (default {defaults.latency_slo_ms:g})",
    )
    group.add_argument(
        "--exposure",
        choices=EXPOSURES,
        help="who calls the inference API: "
        + "; ".join(f"{name}: {EXPOSURE_DESCRIPTIONS[name]}" for name in EXPOSURES)
        + f" (default {defaults.exposure}); every option is priced as a design that meets it",
    )
    group.add_argument(
        "--availability",
        choices=AVAILABILITIES,
        help="what the service survives: "
        + "; ".join(f"{name}: {AVAILABILITY_DESCRIPTIONS[name]}" for name in AVAILABILITIES)
        + f" (default {defaults.availability})",
    )
    group.add_argument(
        "--min-instances",
        type=bounded_number(minimum=1, maximum=10_000, integer=True),
        help="per always-on option (default: what the availability needs, 2 for multi-az, 1 for single)",
    )
    group.add_argument(
        "--no-nat",
        action="store_true",
        help="never a NAT gateway for a fleet's egress (public addresses or interface endpoints instead)",
    )
    group.add_argument(
        "--free-tier",
        action="store_true",
        help="apply AWS's always-free monthly allowances (Lambda 1M requests + 400,000 GB-s, 100 GB out, "
        "CloudWatch's free metrics and logs); off by default: they belong to an account, not a workload",
    )
    group = parser.add_argument_group("horizon and commitments")
    group.add_argument(
        "--horizon-months",
        type=bounded_number(minimum=MIN_HORIZON_MONTHS, maximum=MAX_HORIZON_MONTHS),
        help="months the costs are owned over: the TCO's, and what a reserved or Savings Plans term is "
        f"measured against (default {defaults.horizon_months:g})",
    )
    group.add_argument(
        "--commitment-use",
        choices=COMMITMENT_USES,
        help="; ".join(f"{name}: {COMMITMENT_USE_DESCRIPTIONS[name]}" for name in COMMITMENT_USES)
        + f" (default {defaults.commitment_use})",
    )


def _ownership(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("retraining")
    group.add_argument(
        "--retrain-cadence",
        default=DEFAULT_RETRAIN_CADENCE,
        help="weekly | daily | monthly | Nd (every N days); default %(default)s",
    )
    group.add_argument(
        "--training-instance-type",
        help="instance type training is priced on, or 'best' for the one `resources` chooses for training "
        f"(default: the one recorded in metrics.json, else {DEFAULT_INSTANCE_TYPE})",
    )
    group.add_argument(
        "--training-market",
        choices=MARKETS,
        help=f"spot or on-demand (default: recorded, else {DEFAULT_MARKET})",
    )
    group.add_argument(
        "--training-seconds",
        type=bounded_number(minimum=0, maximum=365 * 86_400, exclusive_minimum=True),
        help="wall seconds of one training run (default: measured in metrics.json)",
    )


def _platform(parser: argparse.ArgumentParser) -> None:
    defaults = AnalysisRequest()
    group = parser.add_argument_group("platform (what runs the pipeline: docs/cost-model.md)")
    group.add_argument(
        "--platform",
        choices=PLATFORM_DESIGNS,
        help="; ".join(f"{name}: {PLATFORM_DESCRIPTIONS[name]}" for name in PLATFORM_DESIGNS)
        + f" (default {defaults.platform_design})",
    )
    group.add_argument(
        "--platform-share",
        type=float,
        help="the share of a platform shared with other pipelines charged to this model, in (0, 1] "
        f"(default {defaults.platform_share:g}: it serves only this pipeline)",
    )
    group.add_argument(
        "--platform-workers",
        type=int,
        help=f"Celery workers (default {defaults.platform_workers}; MWAA: the concurrency they give)",
    )
    group.add_argument(
        "--db-instance-class",
        help=f"RDS PostgreSQL class for the Airflow and MLflow databases (default {defaults.db_instance_class})",
    )
    group.add_argument(
        "--redis",
        choices=REDIS_PLACEMENTS,
        help=f"self-hosted: Redis on the control instance or an ElastiCache node (default {defaults.redis})",
    )
    group.add_argument(
        "--mwaa-class",
        choices=MWAA_CLASS_NAMES,
        help="MWAA environment class (default: the smallest the snapshot prices that fits)",
    )


def _sensitivity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sensitivity")
    group.add_argument(
        "--pct",
        type=bounded_number(minimum=0, maximum=99, exclusive_minimum=True),
        default=DEFAULT_TORNADO_PCT,
        help="tornado: each factor x(1 - pct/100) and x(1 + pct/100) (default %(default)g)",
    )
    group.add_argument(
        "--samples",
        type=bounded_number(minimum=1, maximum=MAX_SAMPLES, integer=True),
        default=DEFAULT_SAMPLES,
        help=f"Monte Carlo samples, at most {MAX_SAMPLES:,} (default %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=bounded_number(minimum=0, maximum=2**63 - 1, integer=True),
        default=DEFAULT_SEED,
        help="Monte Carlo seed (default %(default)s)",
    )
    group.add_argument(
        "--option",
        help="tornado for this option key, e.g. 'lambda' or 'ec2-spot:c7g.large' "
        "(default: the cheapest drop-in alternative of each scenario)",
    )
    group.add_argument(
        "--every-variant",
        action="store_true",
        help="Monte Carlo over every instance type x market, not the best of each alternative",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m costing",
        description="Price the char-LSTM's serving alternatives, retraining and storage on a pricing snapshot.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "prices",
        help="the price sheet for a region",
        description="Every rate the cost model uses for one region, from one pricing snapshot.",
    )
    _common(p)
    p.set_defaults(func=cmd_prices)

    p = sub.add_parser(
        "scenarios",
        help="monthly serving cost of every alternative at each request volume",
        description="Monthly serving cost of every alternative at 100 / 10,000 / 1,000,000 "
        "requests/day (or --requests-per-day), cheapest marked.",
    )
    _common(p)
    _model(p)
    p.add_argument(
        "--all", action="store_true", help="one row per instance type x market, not the best of each"
    )
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser(
        "tco",
        help="total cost of ownership over a horizon, with break-evens",
        description="Training x retraining cadence + serving + storage + the platform that runs the pipeline "
        "over a horizon; break-even request volumes and reserved-vs-on-demand utilisation.",
    )
    _common(p)
    _model(p)
    _ownership(p)
    _platform(p)
    p.set_defaults(func=cmd_tco)

    p = sub.add_parser(
        "platform",
        help="the monthly cost split (training, serving, storage, platform) under each platform design",
        description="The TCO under every platform design the snapshot prices in the region (Amazon MWAA, "
        "self-hosted, none), side by side per request volume for the cheapest serving option, then each "
        "design's components with quantity, rate and source, and why each size was chosen.",
    )
    _common(p)
    _model(p)
    _ownership(p)
    _platform(p)
    p.set_defaults(func=cmd_platform)

    p = sub.add_parser(
        "sensitivity",
        help="tornado and Monte Carlo of the monthly cost",
        description="One-at-a-time +-pct %% tornado and a seeded Monte Carlo (P10/P50/P90) of the "
        "monthly cost of ownership.",
    )
    _common(p)
    _model(p)
    _ownership(p)
    _sensitivity(p)
    p.set_defaults(func=cmd_sensitivity)

    p = sub.add_parser(
        "analyze",
        help="scenarios + TCO + sensitivity together",
        description="Everything: scenarios, TCO with break-evens, sensitivity.",
    )
    _common(p)
    _model(p)
    _ownership(p)
    _platform(p)
    _sensitivity(p)
    p.add_argument("--all", action="store_true", help="scenario table with every instance type x market")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser(
        "focus-export",
        help=f"every cost recorded in MLflow as FOCUS {FOCUS_VERSION} rows (CSV or Parquet)",
        description=f"Training attempts, storage and the serving scenarios' estimates of every MLflow run "
        f"started since --since, as FOCUS {FOCUS_VERSION} rows with x_ columns for run, experiment and "
        "estimate/billed (docs/cost-reconciliation.md).",
    )
    p.add_argument(
        "--since", type=utc_date, required=True, metavar="DATE", help="runs started on or after (UTC)"
    )
    p.add_argument("--until", type=utc_date, metavar="DATE", help="runs started before (UTC; default: now)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="a .csv or .parquet file to write")
    p.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the local store .local/mlflow/mlflow.db)",
    )
    p.add_argument(
        "--billing-account-id", default="unassigned", help="BillingAccountId and SubAccountId of the rows"
    )
    p.set_defaults(func=cmd_focus_export)

    p = sub.add_parser(
        "resources",
        help="parameters, memory and FLOPs of the model, and the instance types that fit it",
        description="From the model's configuration: parameters, memory for training and serving, FLOPs per "
        "training token and generated character; prediction against measurement (tokens/s against the "
        "matmul peak, RSS); instance types ranked for training and for serving, with why each lost.",
    )
    _common(p)
    p.add_argument(
        "--metrics",
        metavar="FILE|URI|reference",
        help="metrics.json of a benchmarked run (default: as the other commands)",
    )
    p.add_argument(
        "--config",
        metavar="JSON",
        help="change the configuration: a JSON object or a file holding one, e.g. '{\"hidden_size\": 1024}'",
    )
    p.add_argument(
        "--requests-per-day",
        type=_requests_per_day,
        default=1_000_000.0,
        help="the serving volume the ranking is for (default %(default).0f)",
    )
    p.add_argument(
        "--peak-gflops",
        type=bounded_number(minimum=0, maximum=1e7, exclusive_minimum=True),
        help="the training host's fp32 matmul peak (default: metrics.json's, else measured here with numpy)",
    )
    p.set_defaults(func=cmd_resources)

    p = sub.add_parser(
        "refresh",
        help="fetch prices from the public bulk offer files, validate them and write a new snapshot",
        description="The Price List's public bulk offer files (plain HTTPS, no AWS account) + the Savings Plans "
        "files and the Spot Instance Advisor -> validated, immutable snapshot. costing opens no AWS client: "
        "the Price List API and spot price history (AWS credentials) are 'python -m pipeline.tasks.pricing' "
        "(same arguments) or the pricing_refresh DAG. Exit 0 fresh, 1 stale (nothing written), 2 failed.",
    )
    p.add_argument(
        "--bulk", action="store_true", help="the public bulk offer files: the default (kept for scripts)"
    )
    p.add_argument(
        "--api",
        action="store_true",
        help="the Price List API: not from here (it needs AWS credentials); says what to run instead",
    )
    add_refresh_arguments(p)
    p.add_argument(
        "--spot-window-days",
        type=bounded_number(minimum=1, maximum=90, integer=True),
        help="spot price history needs the API: says what to run instead",
    )
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser(
        "interruption-table",
        help="rebuild the Spot interruption table from the Spot Instance Advisor feed",
        description="Download the Spot Instance Advisor document and rewrite "
        "include/pricing/spot_interruption_frequency.json.",
    )
    p.add_argument("--region", action="append", dest="regions", help="repeat for several")
    p.add_argument("--url", default=SPOT_ADVISOR_DATA_URL, help="the Advisor document (default %(default)s)")
    p.set_defaults(func=cmd_interruption_table)

    p = sub.add_parser(
        "record",
        help="write a snapshot from a folder of hand-recorded rates",
        description="Build a pricing snapshot from the small tables under include/pricing/recorded/<date>/.",
    )
    p.add_argument("--recording", type=Path, default=DEFAULT_RECORDING_DIR, help="recording folder")
    p.add_argument("--root", type=Path, default=DEFAULT_SNAPSHOT_ROOT, help="snapshot root folder")
    p.add_argument("--snapshot-id", default=None, help="defaults to recording.json's snapshot_id")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser(
        "bench",
        help="how long the cost model takes (grid + Monte Carlo) on a snapshot",
        description="Times the full scenario grid and a Monte Carlo on the snapshot, cold and best of "
        "--repeat; exit 1 when the cold run is over --budget-seconds, or its grid over --grid-budget-seconds.",
    )
    p.add_argument("--region", default=DEFAULT_REGION)
    p.add_argument("--snapshot", type=existing_dir, help="pricing snapshot folder (default: newest shipped)")
    p.add_argument(
        "--metrics", metavar="FILE|URI|reference", help="metrics.json (default: as the other commands)"
    )
    p.add_argument(
        "--samples",
        type=bounded_number(minimum=1, maximum=MAX_SAMPLES, integer=True),
        default=10_000,
        help="Monte Carlo samples (default %(default)s)",
    )
    p.add_argument(
        "--repeat",
        type=bounded_number(minimum=1, maximum=100, integer=True),
        default=3,
        help="runs per step; best is reported (default %(default)s)",
    )
    p.add_argument(
        "--budget-seconds",
        type=bounded_number(minimum=0, maximum=3600, exclusive_minimum=True),
        default=DEFAULT_BUDGET_SECONDS,
        help="grid + Monte Carlo, cold (default %(default)g)",
    )
    p.add_argument(
        "--grid-budget-seconds",
        type=bounded_number(minimum=0, maximum=3600, exclusive_minimum=True),
        default=DEFAULT_GRID_BUDGET_SECONDS,
        help="the grid alone (designs and cold starts included), cold (default %(default)g)",
    )
    p.add_argument("--json", action="store_true", help="print the timings as JSON")
    p.set_defaults(func=cmd_bench)
    return parser


# -- loading -------------------------------------------------------------------------------------------------


def load_sheet(args: argparse.Namespace, *, only_listed_types: bool = False):
    """The sheet for ``--region``. The model commands keep every instance type (training may run on one
    that is not a serving candidate) and pass ``--instance-types`` to the model instead."""

    return build_price_sheet(
        args.snapshot, args.region, instance_types=args.instance_types if only_listed_types else None
    )


def load_profile_for(args: argparse.Namespace):
    """The profile of ``--metrics`` (default: the registry's champion, else the reference), named in outputs."""
    return resolve_metrics(args.metrics).profile()


def request_from_args(args: argparse.Namespace) -> AnalysisRequest:
    """The :class:`~costing.model.request.AnalysisRequest` of the command's flags: the type the pipeline's
    cost analysis builds from its trigger form. A flag a command lacks keeps the request's default."""
    default = AnalysisRequest()

    def flag(name: str, fallback: Any = None) -> Any:
        value = getattr(args, name, None)
        return fallback if value is None else value

    requests = flag("requests_per_day")
    types = flag("instance_types")
    return AnalysisRequest(
        region=flag("region", default.region),
        requests_per_day=tuple(requests) if requests else default.requests_per_day,
        horizon_months=flag("horizon_months", default.horizon_months),
        commitment_use=flag("commitment_use", default.commitment_use),
        retrain_cadence=flag("retrain_cadence", default.retrain_cadence),
        samples=flag("samples", default.samples),
        seed=flag("seed", default.seed),
        sensitivity_pct=flag("pct", default.sensitivity_pct),
        instance_types=tuple(types) if types else None,
        latency_slo_ms=flag("latency_slo_ms"),
        tokens_per_request=flag("tokens_per_request"),
        peak_factor=flag("peak_factor"),
        target_utilisation=flag("target_utilisation"),
        min_instances=flag("min_instances"),
        training_instance=flag("training_instance_type", default.training_instance),
        training_market=flag("training_market"),
        training_seconds=flag("training_seconds"),
        apply_free_tiers=bool(flag("free_tier", False)),
        exposure=flag("exposure", default.exposure),
        availability=flag("availability", default.availability),
        use_nat_gateway=False if flag("no_nat", False) else None,
        platform_design=flag("platform", default.platform_design),
        platform_share=flag("platform_share", default.platform_share),
        platform_workers=flag("platform_workers", default.platform_workers),
        mwaa_environment_class=flag("mwaa_class"),
        db_instance_class=flag("db_instance_class", default.db_instance_class),
        redis=flag("redis", default.redis),
    )


def serving_assumptions(args: argparse.Namespace) -> ServingAssumptions:
    return request_from_args(args).serving_assumptions()


def training_plan(args: argparse.Namespace, profile, sheet):
    """The retraining run the TCO prices; ``best`` reads the metrics again for the resource mapping."""
    request = request_from_args(args)
    best = request.training_instance == TRAINING_ON_BEST
    metrics = resolve_metrics(args.metrics).metrics if best else None
    return request_training_plan(profile, sheet, request, metrics=metrics)


def _print(document: Any, text: str, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(jsonable(document), indent=2, allow_nan=False))
    else:
        print(text)


# -- commands ------------------------------------------------------------------------------------------------


def cmd_prices(args: argparse.Namespace) -> int:
    sheet = load_sheet(args, only_listed_types=True)
    _print(
        price_sheet_to_json_dict(sheet) if args.json else None,
        "" if args.json else render_prices(sheet),
        args,
    )
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    sheet, profile = load_sheet(args), load_profile_for(args)
    grid = cost_grid(
        profile,
        sheet,
        args.requests_per_day,
        assumptions=serving_assumptions(args),
        instance_types=args.instance_types,
    )
    _print(
        grid.to_json_dict() if args.json else None,
        "" if args.json else render_grid(grid, every_variant=args.all),
        args,
    )
    return 0


def cmd_tco(args: argparse.Namespace) -> int:
    sheet, profile = load_sheet(args), load_profile_for(args)
    result = tco(
        profile,
        sheet,
        args.requests_per_day,
        retrain_cadence=args.retrain_cadence,
        assumptions=serving_assumptions(args),
        training=training_plan(args, profile, sheet),
        instance_types=args.instance_types,
        platform=request_from_args(args).platform_assumptions(),
    )
    _print(result.to_json_dict() if args.json else None, "" if args.json else render_tco(result), args)
    return 0


def cmd_platform(args: argparse.Namespace) -> int:
    sheet, profile = load_sheet(args), load_profile_for(args)
    request = request_from_args(args)
    training = training_plan(args, profile, sheet)
    plans = plan_grid(
        profile,
        sheet,
        args.requests_per_day,
        assumptions=serving_assumptions(args),
        instance_types=args.instance_types,
    )
    results = {
        design: tco(
            profile,
            sheet,
            args.requests_per_day,
            retrain_cadence=args.retrain_cadence,
            assumptions=serving_assumptions(args),
            training=training,
            instance_types=args.instance_types,
            scenario_plans=plans,
            breakevens=False,
            platform=replace(request, platform_design=design).platform_assumptions(),
        )
        for design in designs_priced_in(sheet)
    }
    missing = [d for d in PLATFORM_DESIGNS if d not in results]
    document = {design: result.to_json_dict() for design, result in results.items()}
    _print(
        document if args.json else None,
        "" if args.json else render_platform_comparison(results, missing),
        args,
    )
    return 0


def _spec(args: argparse.Namespace):
    return request_from_args(args).monte_carlo()


def cmd_sensitivity(args: argparse.Namespace) -> int:
    sheet, profile = load_sheet(args), load_profile_for(args)
    plans = plan_grid(
        profile,
        sheet,
        args.requests_per_day,
        assumptions=serving_assumptions(args),
        instance_types=args.instance_types,
    )
    result = sensitivity(
        plans,
        training_plan(args, profile, sheet),
        retrain_cadence=args.retrain_cadence,
        pct=args.pct,
        spec=_spec(args),
        option_key=args.option,
        every_variant=args.every_variant,
        snapshot_id=sheet.snapshot_id,
        prices_as_of=sheet.prices_as_of.isoformat(),
    )
    _print(
        result.to_json_dict() if args.json else None, "" if args.json else render_sensitivity(result), args
    )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    sheet, source = load_sheet(args), resolve_metrics(args.metrics)
    request = request_from_args(args)
    result = analyze_request(
        source.profile(),
        sheet,
        request,
        metrics=source.metrics if request.training_instance == TRAINING_ON_BEST else None,
        option_key=args.option,
        every_variant=args.every_variant,
    )
    text = (
        ""
        if args.json
        else render_all(
            [
                render_grid(result.grid, every_variant=args.all),
                render_tco(result.tco),
                render_sensitivity(result.sensitivity),
            ]
        )
    )
    _print(result.to_json_dict() if args.json else None, text, args)
    return 0


def cmd_focus_export(args: argparse.Namespace) -> int:
    format_of(args.out)  # refuse a wrong suffix before reading anything
    account = Account(
        billing_account_id=args.billing_account_id,
        billing_account_name=args.billing_account_id,
        sub_account_id=args.billing_account_id,
        sub_account_name=args.billing_account_id,
    )
    rows = focus_rows_since(
        args.since, args.until, tracking_uri=args.tracking_uri, account=account, progress=sys.stderr.isatty()
    )
    path = write_focus(rows, args.out)
    total = sum(row["BilledCost"] for row in rows)
    runs = len({row["x_MlflowRunId"] for row in rows})
    print(f"wrote {path}: {len(rows)} FOCUS {FOCUS_VERSION} rows from {runs} runs, BilledCost ${total:,.4f}")
    return 0


def _config_overrides(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    source = Path(text)
    raw = (
        source.read_text(encoding="utf-8") if not text.lstrip().startswith("{") and source.is_file() else text
    )
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--config {text!r} is neither a JSON object nor a file holding one ({exc})"
        ) from exc
    if not isinstance(overrides, dict):
        raise ValueError(
            f"--config must be a JSON object of configuration fields, got {type(overrides).__name__}"
        )
    return overrides


def cmd_resources(args: argparse.Namespace) -> int:
    import os

    source = resolve_metrics(args.metrics)
    profile = source.profile()
    sheet = load_sheet(args)
    overrides = _config_overrides(args.config)
    peak, peak_source = args.peak_gflops, "given with --peak-gflops" if args.peak_gflops else ""
    host = source.metrics.get("host") or {}
    if peak is None and not host.get("matmul_peak_gflops"):
        peak = measure_matmul_gflops()
        same = host.get("cpu_count") == os.cpu_count()
        peak_source = f"numpy sgemm measured now on this machine ({os.cpu_count()} CPUs" + (
            ", as many as the training host)"
            if same
            else f"; the training host had {host.get('cpu_count', '?')})"
        )
    mapping = map_resources(
        source.metrics,
        profile,
        sheet,
        overrides=overrides,
        peak_gflops=peak,
        peak_source=peak_source,
        serving_requests_per_day=args.requests_per_day,
    )
    if args.instance_types:
        keep = set(args.instance_types)
        mapping = replace(
            mapping,
            training=tuple(c for c in mapping.training if c.instance_type in keep),
            serving=tuple(c for c in mapping.serving if c.instance_type in keep),
        )
    _print(
        mapping.to_json_dict() if args.json else None, "" if args.json else render_resources(mapping), args
    )
    return 0


# What ``refresh --api`` (or --spot-window-days) answers: costing never creates an AWS client.
API_SOURCE_ELSEWHERE = (
    "the Price List API and spot price history need AWS credentials, and costing opens no AWS client: run "
    "'python -m pipeline.tasks.pricing' with the same arguments (boto3's default credentials) or trigger the "
    "pricing_refresh DAG with an AWS connection; without --api and --spot-window-days, 'python -m costing "
    "refresh' reads the public bulk offer files (no account)"
)


def add_refresh_arguments(parser: argparse.ArgumentParser) -> None:
    """What to refresh and where to write it: shared by ``refresh`` here and the API refresh of
    ``python -m pipeline.tasks.pricing``."""
    parser.add_argument(
        "--price-list-url",
        default=DEFAULT_PRICE_LIST_URL,
        help="where the bulk files are (default %(default)s)",
    )
    parser.add_argument(
        "--advisor-url",
        default=SPOT_ADVISOR_DATA_URL,
        help="the Spot Instance Advisor document (default %(default)s)",
    )
    parser.add_argument(
        "--timeout-seconds",
        type=bounded_number(minimum=0, maximum=600, exclusive_minimum=True),
        default=DEFAULT_PRICING_TIMEOUT_SECONDS,
        help="give up on a request after this long (default %(default)g)",
    )
    parser.add_argument(
        "--root", default=str(DEFAULT_SNAPSHOT_ROOT), help="snapshot root: a folder or s3://bucket/prefix"
    )
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        help=f"repeat for several (default: {', '.join(DEFAULT_REFRESH_REGIONS)}, as pricing_refresh)",
    )
    parser.add_argument(
        "--instance-type",
        action="append",
        dest="instance_types",
        help=f"EC2 type; repeat for several (default: the {len(DEFAULT_REFRESH_INSTANCE_TYPES)} types of "
        "costing.choices.REFRESH_INSTANCE_TYPES, as pricing_refresh)",
    )


def refresh_regions(args: argparse.Namespace) -> list[str]:
    return args.regions or list(DEFAULT_REFRESH_REGIONS)


def run_refresh(
    args: argparse.Namespace,
    *,
    pricing_client: Any = None,
    ec2_clients: Any = None,
    spot_window_days: int = DEFAULT_SPOT_WINDOW_DAYS,
) -> int:
    """Refresh as ``args`` say, print the outcome; the exit status (0 fresh, 1 stale, 2 failed).

    Without ``pricing_client`` the public bulk offer files are read; with one (built by the caller:
    costing never creates a client), the Price List API and the spot price history of ``ec2_clients``.
    """
    result = refresh_snapshot(
        pricing_client=pricing_client,
        ec2_clients=ec2_clients,
        bulk=BulkOffers(args.price_list_url, timeout_seconds=args.timeout_seconds),
        spot_advisor_url=args.advisor_url,
        root=args.root,
        regions=refresh_regions(args),
        instance_types=args.instance_types or DEFAULT_REFRESH_INSTANCE_TYPES,
        spot_window_days=spot_window_days,
    )
    print(result.message)
    if result.diff is not None:
        print(result.diff.render_text())
    for failure in result.failures:
        print(f"  - {failure['what']} {failure['region']}: {failure['error']}")
    return {STATUS_FRESH: 0, STATUS_STALE: 1}.get(result.status, 2)


def cmd_refresh(args: argparse.Namespace) -> int:
    if args.api or args.spot_window_days is not None:
        print(f"error: {API_SOURCE_ELSEWHERE}", file=sys.stderr)
        return EXIT_USAGE
    return run_refresh(args)


def cmd_interruption_table(args: argparse.Namespace) -> int:
    regions = args.regions or list(DEFAULT_REFRESH_REGIONS)
    table = interruption_table_from_advisor(
        fetch_spot_advisor_document(args.url),
        fetched_at=datetime.now(UTC),
        regions=regions,
        data_url=args.url,
    )
    print(f"wrote {write_interruption_table(table)} ({len(table.buckets)} buckets)")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    try:
        path = record_snapshot(args.recording, root=args.root, snapshot_id=args.snapshot_id)
    except (FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    report = run_benchmark(
        region=args.region,
        snapshot=args.snapshot,
        metrics=args.metrics,
        samples=args.samples,
        repeat=args.repeat,
        budget_seconds=args.budget_seconds,
        grid_budget_seconds=args.grid_budget_seconds,
    )
    print(json.dumps(report, indent=2) if args.json else render_benchmark(report))
    return 0 if report["within_budget"] else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `python -m costing scenarios | head`: the reader left, which is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, KeyError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(exc: BaseException) -> str:
    """An exception as one line: a KeyError's message without its quotes, an OSError with its path."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.strerror and not str(exc).startswith(str(exc.strerror)):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename!r}" if exc.filename else exc.strerror
    else:
        text = str(exc)
    return " ".join(text.split())
