"""The platform that runs the pipeline in the report: the four lines side by side, the headline when the
platform is the largest, "serving: X; everything: Y", the platform's components, and nothing new for ``none``.

Most tests use a literal analysis document whose numbers are checked by hand; one builds a whole analysis
(the slow model on the shipped snapshot, the self-hosted design sized from a literal footprint)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from html import unescape as html_unescape
from pathlib import Path

import pytest
from model_literals import FOOTPRINT

from costing.model import pipeline_platform
from costing.model.analysis import analyze
from costing.model.model_source import load_profile
from costing.model.pipeline_platform import PlatformAssumptions
from costing.model.sensitivity import MonteCarloSpec
from costing.pricing.sheet_builder import build_price_sheet
from costing.report import ReportInputs, render_report
from costing.report.charts import tco_breakdown_chart
from costing.report.view import build_view, summary_line

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GENERATED_AT = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
SLOW_MODEL_METRICS = Path(__file__).with_name("slow_model_metrics.json")
EVERYTHING = "everything (training + serving + storage + platform)"
SELF_HOSTED = "Self-hosted (docker-compose topology on EC2 + RDS)"

# -- a literal document ------------------------------------------------------------------------------------------
# The platform: 730 h x $0.05 = $36.50 + 730 h x $0.046 = $33.58 + 20 GB-months x $0.0005 = $0.01 -> $70.09.
# Lambda serves 10,000/day for $15.00 and 1M/day for $120.00; training $0.02 and storage $0.01 a month.
# 10,000/day: 0.02 + 15.00 + 0.01 + 70.09 = $85.12 (the platform the largest line);
# 1M/day:     0.02 + 120.00 + 0.01 + 70.09 = $190.12 (serving the largest).
PLATFORM_COMPONENTS = [
    ("Airflow control plane + MLflow + Redis (t3.medium on-demand)", "AmazonEC2", "hours", 730.0, 0.05),
    (
        "Airflow + MLflow database (RDS PostgreSQL db.t4g.micro, Single-AZ)",
        "AmazonRDS",
        "hours",
        730.0,
        0.046,
    ),
    ("Artifact and report bucket (S3 Standard, 12 months of runs)", "AmazonS3", "GB-months", 20.0, 0.0005),
]


def platform_part(share: float) -> dict:
    full = 36.5 + 33.58 + 0.01
    return {
        "design": "self-hosted",
        "label": SELF_HOSTED,
        "region": "us-east-1",
        "snapshot_id": "2026-12-07",
        "attribution_share": share,
        "full_usd_per_month": full,
        "usd_per_month": full * share,
        "components": [
            {
                "name": name,
                "service": service,
                "unit": unit,
                "monthly_quantity": quantity,
                "price": price,
                "monthly_cost": quantity * price,
                "source": f"snapshot 2026-12-07: {service}",
            }
            for name, service, unit, quantity, price in PLATFORM_COMPONENTS
        ],
        "sizing": ["control instance t3.medium (2 vCPU, 4 GiB): peak 1,825 MB measured x 1.25"],
        "caveats": ["always-on instances priced on demand"],
    }


def literal_document(*, share: float | None = 1.0, volumes=(10_000, 1_000_000)) -> dict:
    """``share`` None: the document of design ``none`` (no platform keys at all)."""
    serving = {10_000: 15.0, 1_000_000: 120.0}
    platform = None if share is None else platform_part(share)

    def tco_option(rpd: float) -> dict:
        monthly = serving[rpd] + 0.02 + 0.01 + (0.0 if platform is None else platform["usd_per_month"])
        option = {
            "key": "lambda:1024",
            "label": "Lambda 1024 MB",
            "option": "lambda",
            "feasible": True,
            "drop_in": True,
            "serving_usd_per_month": serving[rpd],
            "training_usd_per_month": 0.02,
            "storage_usd_per_month": 0.01,
            "usd_per_month": monthly,
            "total_usd": monthly * 12,
            "commitment": None,
            "cost_components": [],
        }
        if platform is not None:
            option |= {
                "platform_usd_per_month": platform["usd_per_month"],
                "platform_usd": platform["usd_per_month"] * 12,
            }
        return option

    tco = {
        "region": "us-east-1",
        "snapshot_id": "2026-12-07",
        "horizon_months": 12,
        "retrain_cadence": "weekly",
        "runs_per_month": 52 / 12,
        "training_run": {"instance_type": "t3.small", "market": "on-demand", "usd": 0.0046},
        "scenarios": [
            {"requests_per_day": rpd, "cheapest": "lambda:1024", "options": [tco_option(rpd)]}
            for rpd in volumes
        ],
        "breakevens": [],
        "reserved_breakevens": [],
        "notes": [],
    }
    if platform is not None:
        tco["platform"] = platform
    grid_option = {
        "key": "lambda:1024",
        "name": "Lambda 1024 MB",
        "option": "lambda",
        "feasible": True,
        "drop_in": True,
        "config": "1024 MB",
        "cost_components": [
            {
                "name": "Requests",
                "service": "AWSLambda",
                "unit": "1M requests",
                "monthly_quantity": 0.3,
                "price": 0.2,
                "monthly_cost": 0.06,
            }
        ],
    }
    return {
        "region": "us-east-1",
        "snapshot_id": "2026-12-07",
        "prices_as_of": "2026-12-07",
        "grid": {
            "region": "us-east-1",
            "snapshot_id": "2026-12-07",
            "prices_as_of": "2026-12-07",
            "scenarios": [
                {
                    "requests_per_day": rpd,
                    "cheapest": "lambda:1024",
                    "options": [dict(grid_option, monthly_cost=serving[rpd], usd_per_1k_requests=0.05)],
                }
                for rpd in volumes
            ],
        },
        "tco": tco,
    }


def adhoc(document: dict) -> ReportInputs:
    return ReportInputs(
        title="What if",
        kind="adhoc",
        period_start=None,
        period_end=None,
        generated_at=GENERATED_AT,
        training_runs=(),
        price_changes=(),
        pricing_status=None,
        analysis=document,
        spot_history=(),
    )


# -- the headline -------------------------------------------------------------------------------------------------


def test_the_headline_says_when_the_platform_is_the_largest_line() -> None:
    rendered = render_report(adhoc(literal_document()))
    sentence = (
        f"The platform ({SELF_HOSTED}) is the largest cost: $70.09 of $85.12 a month at 10,000 requests/day."
    )
    tco = rendered.data["analysis"]["tco"]
    assert tco["platform_headline"] == sentence
    [low, high] = tco["breakdown"]
    assert (low["largest"], high["largest"]) == ("platform", "serving")
    assert (low["training_usd_per_month"], low["serving_usd_per_month"], low["storage_usd_per_month"]) == (
        0.02,
        15.0,
        0.01,
    )
    assert low["platform_usd_per_month"] == pytest.approx(70.09)
    assert high["usd_per_month"] == pytest.approx(190.12)
    assert f'data-platform-headline="1"><b>{sentence}</b>' in html_unescape(rendered.html_file)
    assert f"\n\n{sentence}\n" in rendered.text


def test_a_shared_platform_says_its_share_in_the_headline() -> None:
    # a quarter: 70.09 x 0.25 = $17.5225 of 15.00 + 0.02 + 0.01 + 17.5225 = $32.5525 at 10,000/day
    view = build_view(adhoc(literal_document(share=0.25)))
    assert view["analysis"]["tco"]["platform_headline"] == (
        f"The platform ({SELF_HOSTED}) is the largest cost: $17.52 (a 0.25 share of $70.09) of $32.55 a month "
        "at 10,000 requests/day."
    )


def test_no_headline_when_the_platform_is_not_the_largest_line() -> None:
    # 1M/day only: serving $120.00 beats the platform's $70.09
    view = build_view(adhoc(literal_document(volumes=(1_000_000,))))
    tco = view["analysis"]["tco"]
    assert tco["platform_headline"] is None
    assert [b["largest"] for b in tco["breakdown"]] == ["serving"]
    rendered = render_report(adhoc(literal_document(volumes=(1_000_000,))))
    assert "is the largest cost" not in rendered.text
    assert "data-platform-headline" not in rendered.html_file


# -- what "cheapest" covers ---------------------------------------------------------------------------------------


def test_the_cheapest_says_serving_and_everything() -> None:
    rendered = render_report(adhoc(literal_document()))
    # 1M/day (the headline volume): serving $120.00; everything 120.00 + 0.02 + 0.01 + 70.09 = $190.12
    phrase = f"serving: Lambda 1024 MB $120.00/month; {EVERYTHING}: $190.12/month"
    assert rendered.summary == f"cheapest at 1M/day: {phrase}"
    assert rendered.subject == f"What if: cheapest at 1M/day: {phrase}"
    html = html_unescape(rendered.html_file)
    assert (
        f"At <b>10k/day</b>: serving: <b>Lambda 1024 MB</b> $15.00/month; {EVERYTHING}: <b>$85.12</b>/month"
        in html
    )
    assert f"1024 MB, $15.00/month ($0.0500 per 1,000 requests); {EVERYTHING}: $85.12/month." in html
    text = rendered.text
    assert (
        f"  10,000 requests/day (medium): Lambda 1024 MB $15.00 (1024 MB)\n    {EVERYTHING}: $85.12/month"
        in text
    )
    # the TCO lines: 85.12 x 12 = $1,021.44 over the horizon
    assert (
        f"  10,000 requests/day (medium): serving: Lambda 1024 MB $15.00/month; {EVERYTHING}: $85.12/month, "
        "$1,021.44 in all" in text
    )
    assert (
        "    10k/day: training $0.0200 + serving $15.00 + storage $0.0100 + platform $70.09 = $85.12" in text
    )


def test_the_platform_table_lists_components_sizing_and_share() -> None:
    rendered = render_report(adhoc(literal_document(share=0.25)))
    html = html_unescape(rendered.html_file)
    assert 'data-platform="self-hosted"' in html
    # the full line, then the quarter charged: 730 h x $0.05 = $36.50 -> $9.125 (shown to the cent, half to even)
    assert (
        "<td>Airflow control plane + MLflow + Redis (t3.medium on-demand)</td><td>730 hours</td>"
        "<td>$0.05</td><td>$36.50</td><td>$9.12</td><td>snapshot 2026-12-07: AmazonEC2</td>"
    ) in _without_styles(html)
    assert "× 0.25 share" in html
    assert "Sizing: control instance t3.medium (2 vCPU, 4 GiB): peak 1,825 MB measured x 1.25" in html
    assert "Share: 0.25 of it is charged to this model" in html
    assert "<th>Platform /mo</th>" in _without_styles(html)
    text = rendered.text
    assert (
        f"  platform: {SELF_HOSTED}, $70.09/month; 0.25 of it is charged to this model (the platform is shared "
        "with other pipelines): $17.52/month"
    ) in text
    assert (
        "    Airflow + MLflow database (RDS PostgreSQL db.t4g.micro, Single-AZ): 730 hours x $0.046 = $33.58/month"
        in text
    )
    table = list(csv.DictReader(io.StringIO(rendered.csv_tables["platform.csv"])))
    assert [float(r["charged_monthly_cost"]) for r in table] == pytest.approx([9.125, 8.395, 0.0025])
    tco = list(csv.DictReader(io.StringIO(rendered.csv_tables["tco.csv"])))
    assert float(tco[0]["platform_usd_per_month"]) == pytest.approx(17.5225)


def _without_styles(html: str) -> str:
    import re

    return re.sub(r' style="[^"]*"', "", html)


# -- the chart, and nothing new for "none" ---------------------------------------------------------------------


def test_the_breakdown_chart_is_drawn_with_a_platform_only() -> None:
    with_platform = build_view(adhoc(literal_document()))
    png = tco_breakdown_chart(with_platform["analysis"]["tco"])
    assert png is not None and png.startswith(PNG_MAGIC) and len(png) > 10_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 460)
    assert "tco_breakdown.png" in render_report(adhoc(literal_document())).images
    none = build_view(adhoc(literal_document(share=None)))
    assert tco_breakdown_chart(none["analysis"]["tco"]) is None
    assert "tco_breakdown.png" not in render_report(adhoc(literal_document(share=None))).images


# what the view held before the platform was priced (a "none" analysis must render exactly that)
TCO_VIEW_KEYS = {
    "horizon_months",
    "retrain_cadence",
    "runs_per_month",
    "training_run",
    "scenarios",
    "breakevens",
    "reserved_breakevens",
    "no_breakeven",
}
TCO_OPTION_KEYS = {
    "key",
    "label",
    "option",
    "feasible",
    "drop_in",
    "reason",
    "cheapest",
    "serving_usd_per_month",
    "training_usd_per_month",
    "storage_usd_per_month",
    "usd_per_month",
    "total_usd",
    "owed_at_horizon_usd",
}
CHEAPEST_KEYS = {
    "requests_per_day",
    "short",
    "long",
    "key",
    "name",
    "usd_per_month",
    "usd_per_1k_requests",
    "config",
    "caveats",
    "design",
    "runner_up",
    "design_rows",
    "commitment",
    "cold_starts",
    "reimplementation",
}


def test_the_view_of_none_is_unchanged() -> None:
    none = literal_document(share=None)
    view = build_view(adhoc(none))
    tco = view["analysis"]["tco"]
    assert set(tco) == TCO_VIEW_KEYS
    assert all(set(o) == TCO_OPTION_KEYS for s in tco["scenarios"] for o in s["options"])
    assert all(set(c) == CHEAPEST_KEYS for c in view["analysis"]["cheapest"])
    shown = json.dumps(view)
    for word in ("platform", "everything", "breakdown"):
        assert word not in shown, word
    assert summary_line(view) == "cheapest at 1M/day: Lambda 1024 MB $120.00/month"
    rendered = render_report(adhoc(none))
    assert "everything" not in rendered.text and "everything (" not in rendered.html_file
    assert "Platform /mo" not in rendered.html_file and "data-platform" not in rendered.html_file
    assert "platform.csv" not in rendered.csv_tables
    assert "platform" not in rendered.csv_tables["tco.csv"].splitlines()[0]
    # 15.00 + 0.02 + 0.01 = $15.03 a month, x 12 = $180.36
    assert "  10,000 requests/day (medium): Lambda 1024 MB $180.36 ($15.03/month)" in rendered.text
    # with a platform, the same view gains the platform's keys and nothing else
    with_platform = build_view(adhoc(literal_document()))["analysis"]["tco"]
    assert set(with_platform) == TCO_VIEW_KEYS | {"platform", "breakdown", "platform_headline"}


# -- a whole analysis --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysed() -> dict:
    """The slow model on the shipped snapshot, self-hosted at a 0.25 share, sized from the literal footprint."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_platform, "load_footprint", lambda path=None: FOOTPRINT)
        return analyze(
            load_profile(SLOW_MODEL_METRICS),
            build_price_sheet(None, "us-east-1"),
            spec=MonteCarloSpec(samples=20, seed=1),
            platform=PlatformAssumptions(design="self-hosted", attribution_share=0.25),
        ).to_json_dict()


def test_a_whole_analysis_shows_the_platform_everywhere(analysed: dict) -> None:
    platform = analysed["tco"]["platform"]
    # t3.medium 730 h x $0.0416 = $30.368 + ... = $70.0917 in all (test_pipeline_platform's hand sums)
    assert platform["full_usd_per_month"] == pytest.approx(70.0916984375)
    rendered = render_report(adhoc(analysed))
    assert rendered.images["tco_breakdown.png"].startswith(PNG_MAGIC)
    tco = rendered.data["analysis"]["tco"]
    assert len(tco["breakdown"]) == len(analysed["tco"]["scenarios"])
    for b, scenario in zip(tco["breakdown"], analysed["tco"]["scenarios"], strict=True):
        [best] = [o for o in scenario["options"] if o["key"] == scenario["cheapest"]]
        assert b["platform_usd_per_month"] == pytest.approx(70.0916984375 * 0.25)
        lines = [b[f"{line}_usd_per_month"] for line in ("training", "serving", "storage", "platform")]
        assert sum(lines) == pytest.approx(best["usd_per_month"])
    # the quarter ($17.52) is the largest line wherever serving is cheaper than that
    largest = [b for b in tco["breakdown"] if b["largest"] == "platform"]
    assert largest and tco["platform_headline"].startswith(
        f"The platform ({SELF_HOSTED}) is the largest cost: $17.52"
    )
    assert rendered.summary.startswith("cheapest at 1M/day: serving: ")
    assert f"; {EVERYTHING}: " in rendered.summary
    assert 'data-platform="self-hosted"' in rendered.html_file
