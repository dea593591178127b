"""``python -m costing``: help for every subcommand, and real runs on the shipped snapshot, offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from model_literals import metrics_dict, shipped_sheet

from costing.cli import EXIT_USAGE, main

SUBCOMMANDS = ("prices", "scenarios", "tco", "platform", "sensitivity", "analyze", "resources")


@pytest.mark.parametrize("command", [[], *([c] for c in SUBCOMMANDS)])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m costing")
    if command:
        assert "--json" in out and "--region" in out


def test_scenarios_table_on_the_shipped_snapshot(repo_root):
    """Offline, on the shipped snapshot: 100 / 10k / 1M requests a day for every alternative, the cheapest
    marked, and the snapshot's date."""
    result = subprocess.run(
        [sys.executable, "-m", "costing", "scenarios"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    sheet = shipped_sheet()
    assert f"snapshot {sheet.snapshot_id}, prices as of {sheet.prices_as_of.isoformat()}" in out
    header = next(line for line in out.splitlines() if line.startswith("$/month"))
    assert header.split()[1:] == ["100/day", "10,000/day", "1,000,000/day"]
    for label in (
        "EC2 on-demand",
        "EC2 spot",
        "EC2 reserved 1 yr",
        "EC2 reserved 3 yr",
        "Lambda",
        "SageMaker real-time",
        "SageMaker serverless",
        "ECS Fargate",
        "Cloudflare Workers",
    ):
        assert any(line.startswith(label) for line in out.splitlines()), label
    matrix = out.split("\n\n")[1]
    assert matrix.count("*") == 3 + 1  # one cheapest per scenario, plus the legend
    for title in ("100 requests/day (low)", "10,000 requests/day (medium)", "1,000,000 requests/day (high)"):
        assert title in out


def test_scenarios_json_and_custom_volumes(capsys):
    assert (
        main(
            [
                "scenarios",
                "--json",
                "--requests-per-day",
                "500",
                "2,000,000",
                "--instance-types",
                "c7g.large,m5.large",
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert (document["schema"], document["schema_version"]) == ("rnn-cost-grid", 1)
    assert [s["requests_per_day"] for s in document["scenarios"]] == [500, 2_000_000]
    types = {o["instance_type"] for o in document["scenarios"][0]["options"] if o["option"].startswith("ec2")}
    assert types == {"c7g.large", "m5.large"}


def test_the_requirement_flags_choose_each_options_design(capsys):
    argv = ["scenarios", "--requests-per-day", "10000", "--instance-types", "t3.small"]
    assert main([*argv, "--exposure", "internal", "--availability", "single", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["requirement"] == {"exposure": "internal", "availability": "single"}
    options = {o["key"]: o for o in document["scenarios"][0]["options"]}
    design = {part["role"]: part for part in options["ec2-on-demand:t3.small"]["design"]}
    assert design["front door"]["choice"] == "none: callers reach the instance's private address"
    # one instance in one zone, no public address: 4 interface endpoints x 730 h x $0.01 (the shipped
    # snapshot's us-east-1 rate) + (logs 0.0567 GB + one image pull a week 4.33 GB) x $0.01
    assert design["egress"]["choice"] == "interface endpoints (ECR, CloudWatch Logs, CloudWatch)"
    assert design["egress"]["monthly_cost"] == pytest.approx(29.2 + (0.0566555 + 52 / 12) * 0.01, abs=1e-4)
    assert options["cloudflare-workers"]["feasible"] is False
    assert main([*argv, "--exposure", "internal"]) == 0
    table = capsys.readouterr().out
    assert "requirement: internal (callers inside the VPC only" in table
    assert "front door: internal ALB" in table


def test_commitments_show_what_they_owe_at_the_horizon_in_the_json_and_the_tables(capsys):
    """The shipped snapshot at 1M/day on t3.small: n instances at the 3-year reserved rate $0.008882/h commit
    n x 730 h x $0.008882 a month; 24 months are still owed at the default 12-month horizon (n is what the
    shipped reference's measured capacity needs)."""
    argv = ["--requests-per-day", "1000000", "--instance-types", "t3.small"]
    assert main(["scenarios", *argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["horizon"] == {"months": 12, "commitment_use": "horizon"}
    [scenario] = document["scenarios"]
    options = {o["key"]: o for o in scenario["options"]}
    reserved = options["ec2-reserved-3yr:t3.small"]
    instances = reserved["details"]["instances"]
    assert instances >= 1 and reserved["details"]["usd_per_hour"] == 0.008882
    commitment = reserved["commitment"]
    assert (commitment["term_months"], commitment["horizon_months"], commitment["ranked_on"]) == (
        36,
        12,
        "horizon",
    )
    monthly = instances * 730 * 0.008882
    assert commitment["monthly_commitment"] == pytest.approx(monthly)
    assert commitment["owed_at_horizon_usd"] == pytest.approx(24 * monthly)
    assert options["ec2-reserved-1yr:t3.small"]["commitment"]["owed_at_horizon_usd"] == 0
    # what is owed is in the ranking: the 3-year term never wins a 12-month horizon over the 1-year one
    assert reserved["monthly_cost"] > options["ec2-reserved-1yr:t3.small"]["monthly_cost"]
    assert scenario["cheapest"] != "ec2-reserved-3yr:t3.small"
    assert main(["scenarios", *argv]) == 0
    table = capsys.readouterr().out
    assert "horizon: 12 months; commitments: horizon (the service may stop at the end of the horizon" in table
    leaving = commitment["cost_if_left_at_horizon_usd"]
    assert (
        f"commitment: reserved instances for 36 months (3yr/standard/No Upfront, ${monthly:,.2f}/month): "
        f"${24 * monthly:,.2f} still owed at the 12-month horizon (24 months); serving 12 months, then leaving: "
        f"${leaving:,.2f}; ranked with what is owed"
    ) in table
    assert f"commitment owed {24 * monthly / 12:,.2f}" in table  # what is owed / 12 in the design line
    assert main(["tco", *argv, "--commitment-use", "full-term"]) == 0
    tco_table = capsys.readouterr().out
    assert "ranked without it: used for its whole term" in tco_table
    assert "their totals leave out what they would owe at the horizon" in tco_table
    assert main(["scenarios", *argv, "--horizon-months", "36"]) == 0
    assert "nothing owed at the 36-month horizon" in capsys.readouterr().out


def test_metrics_file_and_assumption_flags(tmp_path, capsys):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_dict()))
    assert (
        main(
            [
                "scenarios",
                "--metrics",
                str(path),
                "--latency-slo-ms",
                "400",
                "--min-instances",
                "3",
                "--requests-per-day",
                "100",
                "--json",
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["profile"]["source"].startswith(f"{path}, metrics.json sha256 ")
    assert document["assumptions"]["latency_slo_ms"] == 400
    fleet = next(o for o in document["scenarios"][0]["options"] if o["key"] == "ec2-on-demand:c7g.large")
    assert fleet["details"]["instances"] == 3 and fleet["details"]["batch_size"] == 16


def test_prices_tco_sensitivity_and_analyze_run(capsys):
    assert main(["prices", "--instance-types", "c7g.large"]) == 0
    out = capsys.readouterr().out
    assert "c7g.large" in out and "m5.large" not in out.split("SageMaker")[0]
    assert main(["prices", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "rnn-price-sheet"
    assert main(["tco", "--retrain-cadence", "daily", "--horizon-months", "6"]) == 0
    out = capsys.readouterr().out
    assert "over 6 months, retraining daily (30.42 runs/month)" in out and "break-evens" in out
    assert main(["sensitivity", "--samples", "300", "--seed", "1", "--pct", "10"]) == 0
    out = capsys.readouterr().out
    assert "tornado +-10 %" in out and "300 samples, seed 1" in out
    assert main(["analyze", "--samples", "200", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "rnn-cost-analysis"


def test_tco_prices_retraining_on_the_best_type_when_asked_and_says_which(capsys):
    assert main(["tco", "--requests-per-day", "1000", "--json"]) == 0
    configured = json.loads(capsys.readouterr().out)
    assert (
        configured["training_run"]["instance_type"] == "r6i.xlarge"
    )  # the default: the reference recorded none
    assert main(["tco", "--requests-per-day", "1000", "--training-instance-type", "best", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert (
        best["training_run"]["instance_type"] == "c5.large"
    )  # what `resources` ranks first on this snapshot
    assert best["notes"][0].startswith("training priced on c5.large, the resource mapping's cheapest type")
    assert best["training_run"]["usd"] < configured["training_run"]["usd"]
    assert best["training_run"]["overhead_source"].startswith("default 300 s, not measured on this account")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scenarios", "--region", "xx-nowhere-1"], "xx-nowhere-1"),
        (["tco", "--retrain-cadence", "sometimes"], "retrain cadence 'sometimes'"),
        (["scenarios", "--instance-types", "x9.huge"], "x9.huge"),
        (["sensitivity", "--option", "nope", "--samples", "10"], "no feasible option 'nope'"),
    ],
)
def test_errors_say_what_to_change(argv, message, capsys):
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_bench_reports_timings_and_judges_them_against_the_budget(capsys):
    """`python -m costing bench`: the grid and Monte Carlo timed on the shipped snapshot, exit 1 over the
    budget. Budgets no machine can miss or meet, so the verdict does not depend on how busy this one is."""
    assert (
        main(
            [
                "bench",
                "--samples",
                "200",
                "--repeat",
                "1",
                "--budget-seconds",
                "3600",
                "--grid-budget-seconds",
                "3600",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "grid + Monte Carlo (cold)" in out and "OK" in out
    assert main(["bench", "--samples", "200", "--repeat", "1", "--budget-seconds", "0.000001"]) == 1
    out = capsys.readouterr().out
    assert "grid + Monte Carlo (cold)" in out and "budget 1e-06 s: OVER BUDGET" in out
    # the grid alone has a budget of its own (1 s by default)
    assert "grid (cold)" in out and "budget 1 s: " in out
    argv = ["bench", "--samples", "200", "--repeat", "1", "--budget-seconds", "3600", "--grid-budget-seconds"]
    assert main([*argv, "0.000001"]) == 1
    assert "budget 1e-06 s: OVER BUDGET" in capsys.readouterr().out
    assert main([*argv, "3600"]) == 0


def _run(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scenarios", "--snapshot", "/no/such/snapshot"], "--snapshot: no such folder: '/no/such/snapshot'"),
        (["prices", "--snapshot", "/no/such/snapshot"], "no such folder"),
        (["scenarios", "--metrics", "/"], "is a folder, not a metrics.json file"),
        (
            ["scenarios", "--requests-per-day", "1e308"],
            "must be a number > 0 and <= 10,000,000,000 (requests per day)",
        ),
        (["scenarios", "--requests-per-day", "1e30"], "got '1e30'"),
        (["scenarios", "--requests-per-day", "inf"], "must be a finite number, got 'inf'"),
        (
            ["scenarios", "--requests-per-day", "0"],
            "must be a number > 0 and <= 10,000,000,000 (requests per day), got '0'",
        ),
        (["tco", "--horizon-months", "1e9"], "must be a number >= 1 and <= 120"),
        # a horizon shorter than a month, on every command that prices commitments
        (
            ["scenarios", "--horizon-months", "0.5"],
            "argument --horizon-months: must be a number >= 1 and <= 120, got '0.5'",
        ),
        (["tco", "--horizon-months", "0"], "argument --horizon-months: must be a number >= 1 and <= 120"),
        (
            ["scenarios", "--commitment-use", "forever"],
            "invalid choice: 'forever' (choose from 'horizon', 'full-term')",
        ),
        (["sensitivity", "--samples", "100000000"], "must be an integer >= 1 and <= 200,000"),
        (["sensitivity", "--samples", "0"], "--samples: must be an integer >= 1 and <= 200,000, got '0'"),
        (["sensitivity", "--pct", "150"], "must be a number > 0 and <= 99, got '150'"),
        (["scenarios", "--target-utilisation", "1.5"], "must be a number > 0 and <= 1, got '1.5'"),
        (["scenarios", "--tokens-per-request", "2.5"], "must be an integer, got '2.5'"),
        (["scenarios", "--min-instances", "0"], "must be an integer >= 1 and <= 10,000, got '0'"),
        (
            ["scenarios", "--min-instances", "1"],
            "min_instances=1 is too few for availability='multi-az': it needs at least 2 (one per zone)",
        ),
        (
            ["scenarios", "--exposure", "private"],
            "invalid choice: 'private' (choose from 'public', 'internal')",
        ),
        (["bench", "--repeat", "0"], "must be an integer >= 1 and <= 100, got '0'"),
        (["refresh", "--spot-window-days", "400"], "must be an integer >= 1 and <= 90, got '400'"),
        (["scenarios", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(argv, message, capsys):
    code, err = _run(argv, capsys)
    assert code == EXIT_USAGE
    assert err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_results_are_never_infinite_at_the_largest_volume_allowed(capsys):
    assert main(["scenarios", "--requests-per-day", "1e10", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    costs = [o["monthly_cost"] for o in document["scenarios"][0]["options"] if o["feasible"]]
    assert costs and all(isinstance(c, float) and c > 0 for c in costs)


@pytest.mark.parametrize(
    "source_argv",
    [["--api"], ["--spot-window-days", "7"], ["--bulk", "--api"]],
    ids=["api", "spot-history", "bulk-and-api"],
)
def test_refresh_refuses_the_api_source_in_one_line_and_says_where_it_is(source_argv, tmp_path, capsys):
    """costing opens no AWS client: asking it for the Price List API (or spot history) is one error line."""
    assert main(["refresh", "--root", str(tmp_path), *source_argv]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: the Price List API")
    assert "python -m pipeline.tasks.pricing" in captured.err and "pricing_refresh" in captured.err
    assert list(tmp_path.iterdir()) == []  # nothing fetched, nothing written


def test_no_costing_module_imports_boto3(repo_root):
    """Clients are handed to costing (the pipeline builds them from the amazon provider's hooks)."""
    import ast

    importers = []
    for path in sorted((repo_root / "costing").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] in ("boto3", "aiobotocore") for name in names):
                importers.append(str(path.relative_to(repo_root)))
    assert importers == []


def test_platform_shows_every_design_side_by_side(capsys):
    """The split a month at each volume under MWAA and self-hosted (and none), then each design's lines."""
    assert main(["platform"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and "$" not in line]
    designs = {row[1] for row in rows}
    assert designs == {"mwaa", "self-hosted", "none"}, out
    assert "platform: Amazon MWAA + MLflow on EC2/RDS: $" in out
    assert "platform: Self-hosted (docker-compose topology on EC2 + RDS): $" in out
    assert "MWAA environment (mw1." in out and "snapshot 2026-12-07: AmazonMWAA Airflow-" in out
    assert "sizing: control instance " in out


def test_tco_with_the_platform_none_is_the_tco_before_it(capsys):
    assert main(["tco", "--platform", "none", "--json"]) == 0
    none = json.loads(capsys.readouterr().out)
    assert "platform" not in none
    assert main(["tco", "--platform", "self-hosted", "--platform-share", "0.5", "--json"]) == 0
    shared = json.loads(capsys.readouterr().out)
    platform = shared["platform"]
    assert platform["attribution_share"] == 0.5
    assert platform["usd_per_month"] == pytest.approx(platform["full_usd_per_month"] / 2)
    for plain, with_platform in zip(none["scenarios"], shared["scenarios"], strict=True):
        assert plain["cheapest"] == with_platform["cheapest"]
        for a, b in zip(plain["options"], with_platform["options"], strict=True):
            if a["usd_per_month"] is not None:
                assert b["usd_per_month"] == pytest.approx(a["usd_per_month"] + platform["usd_per_month"])


SHARE_HINT = ": 1 charges the whole platform to this model, 0.25 a quarter of it"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--platform-share", "0"], f"platform attribution share 0.0 is outside (0, 1]{SHARE_HINT}"),
        (["--platform-share", "1.5"], f"platform attribution share 1.5 is outside (0, 1]{SHARE_HINT}"),
        (["--platform-workers", "0"], "platform workers 0 must be a whole number, at least 1"),
        (
            ["--region", "eu-west-1", "--platform", "mwaa"],
            "Amazon MWAA is not priced in eu-west-1 (snapshot 2026-12-07); designs that remain: self-hosted, none",
        ),
    ],
)
def test_bad_platform_input_is_one_line_naming_the_value(argv, message, capsys):
    assert main(["tco", *argv]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == f"error: {message}"


def test_the_platform_sizes_are_flags(capsys):
    assert (
        main(
            [
                "tco",
                "--platform",
                "self-hosted",
                "--redis",
                "elasticache",
                "--db-instance-class",
                "db.t4g.small",
                "--json",
            ]
        )
        == 0
    )
    components = {c["name"]: c for c in json.loads(capsys.readouterr().out)["platform"]["components"]}
    assert components["Redis (ElastiCache cache.t4g.micro)"]["price"] == 0.016
    assert components["Airflow + MLflow database (RDS PostgreSQL db.t4g.small, Single-AZ)"]["price"] == 0.032
    assert not any(name.startswith("Airflow control plane + MLflow + Redis") for name in components)
    assert main(["tco", "--db-instance-class", "db.x9.huge"]) == EXIT_USAGE
    assert "RDS PostgreSQL 'db.x9.huge' is not priced in us-east-1" in capsys.readouterr().err
