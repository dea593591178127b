"""The cost report: charts are real PNGs, the HTML marks the cheapest and references only attached
images, the MIME message parses into its parts, empty and missing inputs still render, text is escaped,
and a stored report ends with a valid report.json."""

from __future__ import annotations

import copy
import csv
import email
import email.policy
import functools
import io
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html import unescape as html_unescape
from pathlib import Path

import pytest

from costing.model.analysis import analyze
from costing.model.model_source import load_profile
from costing.model.resources import map_resources
from costing.model.sensitivity import MonteCarloSpec
from costing.pricing.diff import PriceChange, SnapshotDiff
from costing.pricing.sheet_builder import build_price_sheet
from costing.report import (
    RenderedReport,
    ReportInputs,
    SpotSeries,
    TrainingRunRow,
    build_email,
    render_report,
    write_report,
)
from costing.report.formatting import requests_short, usd_text
from costing.report.inputs import TRAINING_RUN_COLUMNS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The report's sections are exercised on a slow model with no load test, whatever the shipped reference
# measures today: the reference as it was before the fast decoder (149 ms per 200-character completion,
# no serving section). On it some alternatives are infeasible at a tight SLO, the cheapest alternative
# changes between 100 and 1M requests/day, and fleets are sized by the formula.
SLOW_MODEL_METRICS = Path(__file__).with_name("slow_model_metrics.json")
SLOW_MODEL_SOURCE = "tests/costing/report/slow_model_metrics.json"
GENERATED_AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 28, tzinfo=UTC)
CID_SRC = re.compile(r'<img[^>]*\ssrc="cid:([^"]+)"')
FILE_SRC = re.compile(r'<img[^>]*\ssrc="([^"]+)"')


# -- inputs ----------------------------------------------------------------------------------------------------


def analysis_document() -> dict:
    """The analysis every report here shows unless a test gives another: a fresh copy each time (tests change
    theirs), computed once (an analysis costs seconds of CPU)."""
    return copy.deepcopy(_analysis_document())


@functools.cache
def _analysis_document() -> dict:
    profile = load_profile(SLOW_MODEL_METRICS)
    sheet = build_price_sheet(None, "us-east-1")
    document = analyze(profile, sheet, spec=MonteCarloSpec(samples=200, seed=1)).to_json_dict()
    metrics = json.loads(SLOW_MODEL_METRICS.read_text())
    document["resources"] = map_resources(metrics, profile, sheet, peak_gflops=195.0).to_json_dict()
    document["model"] = {
        "source": "rnn-textgen version 3 (run abc123)",
        "version": 3,
        "training_run_id": "abc123",
        "training_cost_paid": {
            "usd": 0.00141,
            "on_demand_usd": 0.00425,
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
            "is_estimate": True,
            "snapshot_id": "2025-06-02",
            "basis": "estimate",
            "spot_savings_pct": 66.8,
        },
        "training_cost_at_todays_prices": {
            "usd": 0.00143,
            "on_demand_usd": 0.00425,
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
            "is_estimate": True,
            "snapshot_id": "2025-06-02",
            "basis": "estimate",
            "spot_savings_pct": 66.4,
        },
    }
    return document


def training_runs() -> tuple[TrainingRunRow, ...]:
    def run(
        day: int,
        name: str,
        *,
        cost: float | None,
        on_demand: float | None,
        loss: float | None,
        status: str = "FINISHED",
        registered: bool = False,
        interruptions: int = 0,
        market: str = "spot",
        basis: str = "estimate",
    ) -> TrainingRunRow:
        return TrainingRunRow(
            run_id=f"run{day:02d}{name[:3]}",
            run_name=name,
            started_at=datetime(2026, 11, day, 3, 15, tzinfo=UTC),
            status=status,
            cost_usd=cost,
            on_demand_usd=on_demand,
            cost_basis=basis,
            val_loss=loss,
            interruptions=interruptions,
            instance_type="r6i.xlarge",
            market=market,
            region="us-east-1",
            registered=registered,
            mlflow_url=f"http://127.0.0.1:5000/#/experiments/1/runs/run{day:02d}",
        )

    return (
        run(21, "weekly-2026-11-21", cost=0.00142, on_demand=0.00425, loss=1.912),
        run(
            24,
            "manual-lr-3e-3",
            cost=0.00311,
            on_demand=0.00901,
            loss=1.844,
            registered=True,
            interruptions=1,
            basis="billed-estimate",
        ),
        run(26, "on-demand-check", cost=0.00420, on_demand=0.00420, loss=1.861, market="on-demand"),
        run(27, "weekly-2026-11-27", cost=None, on_demand=None, loss=None, status="FAILED"),
    )


def price_diff() -> dict:
    def change(
        kind: str,
        service: str,
        price_key: str,
        instance_type: str,
        term: str,
        before: float | None,
        after: float | None,
        unit: str = "Hrs",
        az: str = "",
    ) -> PriceChange:
        return PriceChange(
            kind=kind,
            region="us-east-1",
            service=service,
            price_key=price_key,
            usage_type="",
            instance_type=instance_type,
            term=term,
            reserved_term="",
            availability_zone=az,
            begin_range="0",
            unit=unit,
            previous_usd_rate=before,
            current_usd_rate=after,
        )

    diff = SnapshotDiff(
        previous_snapshot_id="2026-11-20",
        current_snapshot_id="2026-11-25",
        changed=(
            change("changed", "AmazonEC2", "ec2.instance", "t3.small", "OnDemand", 0.0208, 0.0218),
            change(
                "changed", "AWSLambda", "lambda.requests", "", "OnDemand", 2e-07, 1.8e-07, unit="Requests"
            ),
        ),
        added=(change("added", "AmazonEC2", "ec2.instance", "c7g.large", "OnDemand", None, 0.0725),),
        unchanged=131,
        spot_changed=(
            change("changed", "AmazonEC2", "ec2.spot", "r6i.xlarge", "Spot", 0.0826, 0.0712, az="us-east-1b"),
        ),
    )
    return diff.to_dict()


def spot_series() -> tuple[SpotSeries, ...]:
    start = datetime(2026, 10, 29, tzinfo=UTC)
    series = []
    for az, base in (("us-east-1a", 0.081), ("us-east-1b", 0.0826), ("us-east-1c", 0.079)):
        points = tuple(
            (start + timedelta(days=3 * i, hours=5 * i), round(base * (1 + 0.04 * ((i * 7) % 5 - 2)), 4))
            for i in range(10)
        )
        series.append(SpotSeries(instance_type="r6i.xlarge", availability_zone=az, points=points))
    return tuple(series)


def weekly_inputs(**changes) -> ReportInputs:
    values = dict(
        title="Weekly cost report, 2026-11-21 – 2026-11-28",
        kind="weekly",
        period_start=PERIOD_END - timedelta(days=7),
        period_end=PERIOD_END,
        generated_at=GENERATED_AT,
        training_runs=training_runs(),
        price_changes=(price_diff(),),
        pricing_status={
            "status": "fresh",
            "snapshot_id": "2025-06-02",
            "message": "snapshot 2025-06-02 written",
            "age_days": 0.4,
        },
        analysis=changes["analysis"] if "analysis" in changes else analysis_document(),
        spot_history=spot_series(),
        links={"MLflow": "http://127.0.0.1:5000", "Airflow": "http://127.0.0.1:8080"},
        notes=("runs on the local backend are estimates",),
    )
    values.update(changes)
    return ReportInputs(**values)


@pytest.fixture(scope="module")
def document() -> dict:
    return analysis_document()


@pytest.fixture(scope="module")
def rendered(document: dict) -> RenderedReport:
    return render_report(weekly_inputs(analysis=document))


@pytest.fixture(scope="module")
def parsed(rendered: RenderedReport) -> EmailMessage:
    message = build_email(
        rendered,
        sender="Cost reports <rnn-cost@example.org>",
        recipients=["lead@example.org", "finops@example.org"],
    )
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- charts and HTML ---------------------------------------------------------------------------------------------


def test_every_chart_with_data_is_a_real_png(rendered: RenderedReport) -> None:
    assert set(rendered.images) == {
        "cost_per_run.png",
        "cost_vs_val_loss.png",
        "spot_history.png",
        "scenarios.png",
        "tornado.png",
        "monte_carlo.png",
    }
    for name, png in rendered.images.items():
        assert png.startswith(PNG_MAGIC), name
        assert len(png) > 10_000, f"{name} is only {len(png)} bytes"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert 700 <= width <= 900 and 350 <= height <= 500, (name, width, height)


def test_html_marks_the_cheapest_alternative_of_each_scenario(
    rendered: RenderedReport, document: dict
) -> None:
    html = rendered.html_file
    assert "Serving cost by alternative" in html
    for column in ("100/day", "10,000/day", "1,000,000/day"):
        assert f">{column}</th>" in html
    cheapest_cells = dict(re.findall(r'<td[^>]*data-cheapest="(\d+)">([^<]*)', html))
    assert len(cheapest_cells) == len(document["grid"]["scenarios"])
    for scenario in document["grid"]["scenarios"]:
        [cheapest] = [o for o in scenario["options"] if o["key"] == scenario["cheapest"]]
        cell = cheapest_cells[str(int(scenario["requests_per_day"]))]
        assert cell.startswith("&#9733; $")  # the star
        assert float(cell.split("$")[1].replace(",", "")) == pytest.approx(cheapest["monthly_cost"], rel=0.01)
    assert "Total cost of ownership" in html and "Break-evens" in html
    assert "Around 264,561 requests/day" in html or "requests/day the cheapest alternative changes" in html
    assert "prices as of <b>2025-06-01</b>" in html and "2025-06-02" in html
    assert "weekly-2026-11-21" in html and 'href="http://127.0.0.1:5000/#/experiments/1/runs/run24"' in html
    assert "No training runs in this period" not in html


def test_the_report_shows_the_requirement_and_why_the_cheapest_design_wins(
    rendered: RenderedReport, document: dict
) -> None:
    html, text = rendered.html_file, rendered.text
    assert 'data-requirement="public/multi-az"' in html
    assert "every design meets: public (an HTTPS API for clients on the internet), multi-az" in text
    for scenario in document["grid"]["scenarios"]:
        [cheapest] = [o for o in scenario["options"] if o["key"] == scenario["cheapest"]]
        table = re.search(
            rf'<table[^>]*data-design="{int(scenario["requests_per_day"])}">(.*?)</table>', html, re.S
        )
        assert table, scenario["requests_per_day"]
        shown = html_unescape(table.group(1))
        for part in cheapest["design"]:
            assert f">{part['role']}</td>" in shown and part["choice"] in shown
        assert "next cheapest" in shown  # the runner-up's design beside it
    assert "    design: front door: " in text and "    next: " in text
    view = rendered.data["analysis"]["cheapest"][0]
    assert [row["role"] for row in view["design_rows"]][:2] == ["front door", "compute"]
    assert view["runner_up"]["name"] and view["runner_up"]["design"]


def test_the_report_shows_what_commitments_owe_at_the_horizon(
    rendered: RenderedReport, document: dict
) -> None:
    """The shipped snapshot on the default 12-month horizon: every 3-year term still owes 24 months there, and
    the report lists each, with what serving 12 months and leaving costs against on-demand."""
    html, text = html_unescape(rendered.html_file), rendered.text
    view = rendered.data["analysis"]["commitments"]
    assert (view["horizon_months"], view["commitment_use"]) == (12, "horizon")
    scenarios = document["grid"]["scenarios"]
    assert any(row["name"].startswith("EC2 reserved 3 yr") for row in view["rows"])
    assert len({row["requests_per_day"] for row in view["rows"]}) == len(scenarios)
    for row in view["rows"]:
        assert (row["term_months"], row["months_owed"]) == (36, 24)
        [option] = [
            o
            for s in scenarios
            if s["requests_per_day"] == row["requests_per_day"]
            for o in s["options"]
            if o["name"] == row["name"]
        ]
        assert row["owed_at_horizon_usd"] == pytest.approx(option["commitment"]["owed_at_horizon_usd"])
        assert row["cost_if_left_at_horizon_usd"] == pytest.approx(12 * option["monthly_cost"])
        assert row["cost_if_left_at_horizon_usd"] > row["on_demand_usd"]  # leaving a 3-year term costs more
    assert 'data-commitments="12"' in html and "12 months, then leaving" in html
    assert "Commitments over their term, at the 12-month horizon: horizon (the service may stop" in text
    first = view["rows"][0]
    assert (
        f"{first['name']}: owes {usd_text(first['owed_at_horizon_usd'])} at the horizon (24 of 36 months)"
        in text
    )
    # the winners: no 3-year term; a winner bought as a commitment says what it owes
    for cheapest in rendered.data["analysis"]["cheapest"]:
        assert "3 yr" not in (cheapest["name"] or "")
        if cheapest["name"] and "1 yr" in cheapest["name"]:
            assert cheapest["commitment"].endswith("nothing owed at the 12-month horizon.")


def test_the_report_says_how_often_the_serverless_options_start_cold_and_the_fix(
    rendered: RenderedReport,
) -> None:
    html, text = rendered.html_file, rendered.text
    low = rendered.data["analysis"]["cheapest"][0]  # 100/day: about half the requests start cold
    shown = {cold["name"]: cold for cold in low["cold_starts"]}
    assert set(shown) == {"Lambda", "SageMaker serverless"}
    assert shown["Lambda"]["share"] == pytest.approx(0.49935, rel=1e-4)
    assert shown["Lambda"]["fix"] == "keep-warm ping every 5 min"
    assert "cold starts: 49.9% of requests (idle > 10 min)" in shown["Lambda"]["summary"]
    assert 'data-cold-start="100">Lambda: cold starts: 49.9% of requests' in html
    assert "    Lambda: cold starts: 49.9% of requests (idle > 10 min), +2.40 s each; p95 " in text
    high = rendered.data["analysis"]["cheapest"][-1]  # 1M/day: none
    assert all(cold["share"] == 0.0 and not cold["fix"] for cold in high["cold_starts"])


def test_html_images_reference_cids_in_the_email_and_files_on_disk(rendered: RenderedReport) -> None:
    cids = CID_SRC.findall(rendered.html_email)
    assert sorted(cids) == sorted(rendered.content_ids.values())
    assert sorted(FILE_SRC.findall(rendered.html_file)) == sorted(rendered.images)
    assert "cid:" not in rendered.html_file


def test_same_inputs_give_the_same_report(rendered: RenderedReport, document: dict) -> None:
    again = render_report(weekly_inputs(analysis=document))
    assert again.images == rendered.images
    assert again.html_email == rendered.html_email and again.text == rendered.text
    assert again.csv_tables == rendered.csv_tables


def test_text_part_and_summary_say_the_totals(rendered: RenderedReport) -> None:
    assert rendered.summary.startswith("4 runs, $0.0087; cheapest at 1M/day: ")
    assert "/month" in rendered.summary
    assert rendered.subject.startswith("Weekly cost report, 2026-11-21 – 2026-11-28: 4 runs")
    text = rendered.text
    assert "Training runs: 4 (3 finished, 1 failed), $0.0087 in total" in text
    assert "Cheapest serving alternative per scenario" in text
    assert "100 requests/day (low): " in text and "1,000,000 requests/day (high): " in text
    assert "Break-even: Around" in text
    assert "Price changes: 1 refresh, 2 changed, 1 added, 0 removed, 1 spot prices moved" in text
    assert "WARNING" not in text


def test_data_is_json_and_lists_what_is_shown(rendered: RenderedReport) -> None:
    data = json.loads(json.dumps(rendered.data, allow_nan=False))
    assert data["training_runs"]["count"] == 4
    assert data["analysis"]["snapshot_id"] == "2026-12-07"
    assert sorted(data["images"]) == sorted(rendered.images)
    assert data["analysis"]["tornado"]["requests_per_day"] == 1_000_000
    assert data["summary"] == rendered.summary


# -- the email ---------------------------------------------------------------------------------------------------


def test_email_has_headers_and_the_mime_structure(parsed: EmailMessage, rendered: RenderedReport) -> None:
    assert parsed["Subject"] == rendered.subject
    assert parsed["From"].addresses[0].addr_spec == "rnn-cost@example.org"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["lead@example.org", "finops@example.org"]
    assert parsed["Message-ID"] and parsed["Date"]
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, *attachments = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert related.get_payload()[0].get_content_type() == "text/html"
    assert {a.get_content_type() for a in attachments} == {"text/csv"}
    assert parsed.get_body(("plain",)).get_content() == rendered.text
    assert "Serving cost by alternative" in parsed.get_body(("html",)).get_content()


def test_inline_images_match_every_cid_reference(parsed: EmailMessage) -> None:
    html = parsed.get_body(("html",)).get_content()
    referenced = set(CID_SRC.findall(html))
    images = [part for part in parsed.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 6
    attached = {}
    for part in images:
        assert part.get_content_disposition() == "inline"
        assert part.get_filename().endswith(".png")
        assert part.get_content().startswith(PNG_MAGIC)
        attached[part["Content-ID"].strip("<>")] = part.get_filename()
    assert referenced == set(attached)


def test_csv_attachments_parse_and_match_the_inputs(parsed: EmailMessage, document: dict) -> None:
    attachments = {
        part.get_filename(): part.get_content()
        for part in parsed.iter_attachments()
        if part.get_content_type() == "text/csv"
    }
    assert set(attachments) == {
        "training_runs.csv",
        "scenarios.csv",
        "tco.csv",
        "price_changes.csv",
        "tornado.csv",
        "monte_carlo.csv",
        "spot_history.csv",
    }
    for name in attachments:
        part = next(p for p in parsed.iter_attachments() if p.get_filename() == name)
        assert part.get_content_disposition() == "attachment"

    runs = csv_rows(attachments["training_runs.csv"])
    assert tuple(runs[0]) == TRAINING_RUN_COLUMNS
    assert [r["run_name"] for r in runs] == [r.run_name for r in training_runs()]
    assert float(runs[1]["cost_usd"]) == 0.00311 and runs[1]["registered"] == "True"
    assert runs[3]["cost_usd"] == "" and runs[3]["status"] == "FAILED"
    assert runs[0]["started_at"] == "2026-11-21T03:15:00Z"

    scenarios = csv_rows(attachments["scenarios.csv"])
    assert len(scenarios) == sum(len(s["options"]) for s in document["grid"]["scenarios"])
    cheapest = {float(r["requests_per_day"]): r["key"] for r in scenarios if r["cheapest"] == "True"}
    assert cheapest == {s["requests_per_day"]: s["cheapest"] for s in document["grid"]["scenarios"]}
    spot = next(
        r
        for r in scenarios
        if r["key"] == document["grid"]["scenarios"][2]["cheapest"]
        and float(r["requests_per_day"]) == 1_000_000
    )
    [expected] = [o for o in document["grid"]["scenarios"][2]["options"] if o["key"] == spot["key"]]
    assert float(spot["usd_per_month"]) == pytest.approx(expected["monthly_cost"])

    tco = csv_rows(attachments["tco.csv"])
    assert len(tco) == sum(len(s["options"]) for s in document["tco"]["scenarios"])
    # what a commitment owes at the horizon: a 3-year term 24 of its 36 months, nothing for other options
    for rows in (scenarios, tco):
        owed = {
            r["key"].split(":")[0]: r["owed_at_horizon_usd"] for r in rows if r["key"].endswith("t3.small")
        }
        assert float(owed["ec2-reserved-3yr"]) > 0 and float(owed["ec2-reserved-1yr"]) == 0
        assert owed["ec2-on-demand"] == ""
    changes = csv_rows(attachments["price_changes.csv"])
    t3 = next(r for r in changes if r["instance_type"] == "t3.small")
    assert (float(t3["previous_usd_rate"]), float(t3["current_usd_rate"])) == (0.0208, 0.0218)
    assert float(t3["change_pct"]) == pytest.approx(4.8077, rel=1e-3)
    assert {r["section"] for r in changes} == {"changed", "added", "spot_changed"}
    tornado = csv_rows(attachments["tornado.csv"])
    assert len(tornado) == sum(len(t["bars"]) for t in document["sensitivity"]["tornados"])
    mc = csv_rows(attachments["monte_carlo.csv"])
    assert all(
        float(r["p10_usd_per_month"]) <= float(r["p50_usd_per_month"]) <= float(r["p90_usd_per_month"])
        for r in mc
    )
    assert {r["samples"] for r in mc} == {"200"}


def test_email_needs_recipients(rendered: RenderedReport) -> None:
    with pytest.raises(ValueError, match="recipient"):
        build_email(rendered, sender="a@example.org", recipients=[])


# -- edge cases ----------------------------------------------------------------------------------------------------


def test_an_empty_week_says_so_and_still_shows_the_latest_analysis(document: dict) -> None:
    rendered = render_report(weekly_inputs(training_runs=(), price_changes=(), analysis=document))
    assert "No training runs in this period" in rendered.html_file
    assert "No training runs in this period." in rendered.text
    assert "Serving cost by alternative" in rendered.html_file and "data-cheapest" in rendered.html_file
    assert rendered.summary.startswith("no training runs; cheapest at 1M/day: ")
    assert "cost_per_run.png" not in rendered.images and "cost_vs_val_loss.png" not in rendered.images
    assert "scenarios.png" in rendered.images
    assert csv_rows(rendered.csv_tables["training_runs.csv"]) == []
    assert rendered.csv_tables["training_runs.csv"].strip() == ",".join(TRAINING_RUN_COLUMNS)
    assert "price_changes.csv" not in rendered.csv_tables
    message = email.message_from_bytes(
        build_email(rendered, sender="r@example.org", recipients=["a@example.org"]).as_bytes(),
        policy=email.policy.default,
    )
    assert set(CID_SRC.findall(message.get_body(("html",)).get_content())) == {
        p["Content-ID"].strip("<>") for p in message.walk() if p.get_content_type() == "image/png"
    }


def test_no_analysis_yet_renders_and_says_so() -> None:
    rendered = render_report(
        weekly_inputs(analysis=None, pricing_status=None, spot_history=(), price_changes=())
    )
    assert "No cost analysis yet" in rendered.html_file
    assert "No cost analysis yet" in rendered.text
    assert rendered.summary == "4 runs, $0.0087; no cost analysis yet"
    assert set(rendered.images) == {"cost_per_run.png", "cost_vs_val_loss.png"}
    assert set(rendered.csv_tables) == {"training_runs.csv"}
    build_email(rendered, sender="r@example.org", recipients=["a@example.org"])


def test_nothing_at_all_still_renders() -> None:
    rendered = render_report(
        weekly_inputs(
            training_runs=(),
            analysis=None,
            pricing_status=None,
            spot_history=(),
            price_changes=(),
            links={},
            notes=(),
        )
    )
    assert rendered.images == {}
    assert (
        "No training runs in this period" in rendered.html_file
        and "No cost analysis yet" in rendered.html_file
    )
    message = build_email(rendered, sender="r@example.org", recipients=["a@example.org"])
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert [p.get_filename() for p in parsed.iter_attachments()] == ["training_runs.csv"]


def test_stale_pricing_shows_a_banner_and_marks_the_subject(document: dict) -> None:
    status = {
        "status": "stale",
        "snapshot_id": "2025-06-02",
        "age_days": 9.5,
        "message": "Price List API unreachable; kept snapshot 2025-06-02",
    }
    rendered = render_report(weekly_inputs(pricing_status=status, analysis=document))
    assert "Pricing is stale." in rendered.html_file
    assert "Price List API unreachable; kept snapshot 2025-06-02" in rendered.html_file
    assert "9.5 days old" in rendered.html_file
    assert rendered.subject.startswith("[pricing stale] ")
    assert "WARNING: pricing is stale" in rendered.text
    assert rendered.summary.endswith("; pricing stale")


def test_every_text_is_escaped(document: dict) -> None:
    evil = TrainingRunRow(
        run_id="x",
        run_name='<script>alert("x")</script>',
        started_at=datetime(2026, 11, 25, tzinfo=UTC),
        status="FINISHED",
        cost_usd=0.001,
        on_demand_usd=0.003,
        cost_basis="estimate",
        val_loss=1.9,
        interruptions=0,
        instance_type="r6i.xlarge",
        market="spot",
        region="us-east-1",
        registered=False,
        mlflow_url="javascript:alert(1)",
    )
    rendered = render_report(
        weekly_inputs(
            training_runs=(evil,),
            analysis=document,
            notes=("<b>bold</b> & co",),
            links={"Evil": "javascript:alert(2)"},
        )
    )
    for html in (rendered.html_email, rendered.html_file):
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
        assert "javascript:" not in html


def test_adhoc_report_shows_its_inputs(document: dict) -> None:
    request = {
        "region": "us-east-1",
        "requests_per_day": [100.0, 10000.0, 1000000.0],
        "horizon_months": 12.0,
        "retrain_cadence": "weekly",
        "instance_types": None,
        "latency_slo_ms": 800,
        "tokens_per_request": 200,
        "peak_factor": 3.0,
        "options": None,
    }
    rendered = render_report(
        weekly_inputs(
            title="Ad hoc cost analysis: 100, 10,000, 1,000,000 requests/day in us-east-1",
            kind="adhoc",
            period_start=None,
            period_end=None,
            training_runs=(),
            price_changes=(),
            request=request,
            analysis=document,
        )
    )
    html = rendered.html_file
    assert "Inputs of this analysis" in html
    assert "Latency SLO, p95 (ms)" in html and "<b>800</b>" in html and "every type in the snapshot" in html
    assert "No training runs in this period" not in html  # an ad hoc report is not about a period
    assert "Training runs" not in html
    assert rendered.summary.startswith("cheapest at 1M/day: ")
    assert "Latency SLO, p95 (ms): 800" in rendered.text


def adhoc_document(latency_slo_ms: float) -> dict:
    from dataclasses import replace

    from costing.model.assumptions import ServingAssumptions

    return analyze(
        load_profile(SLOW_MODEL_METRICS),
        build_price_sheet(None, "us-east-1"),
        (100.0, 50_000.0, 5_000_000.0),
        assumptions=replace(ServingAssumptions(), latency_slo_ms=latency_slo_ms),
        instance_types=["t3.small", "c5.large", "m5.large"],
        spec=MonteCarloSpec(samples=100),
    ).to_json_dict()


def adhoc_inputs(document: dict, **request) -> ReportInputs:
    return weekly_inputs(
        title="Ad hoc cost analysis",
        kind="adhoc",
        period_start=None,
        period_end=None,
        training_runs=(),
        price_changes=(),
        analysis=document,
        request=request or None,
    )


def test_infeasible_alternatives_are_named_and_left_out_of_the_chart() -> None:
    rendered = render_report(adhoc_inputs(adhoc_document(latency_slo_ms=300.0), latency_slo_ms=300))
    html = rendered.html_file
    assert ">50,000/day</th>" in html and ">5,000,000/day</th>" in html
    assert re.search(r'<td[^>]*title="[^"]+">infeasible</td>', html)
    assert "Infeasible:" in html and "Cloudflare Workers at 5M/day" in html
    assert "scenarios.png" in rendered.images
    assert rendered.summary.startswith("cheapest at 5M/day: EC2 spot t3.small $")


def test_no_feasible_alternative_anywhere_still_renders() -> None:
    rendered = render_report(adhoc_inputs(adhoc_document(latency_slo_ms=200.0), latency_slo_ms=200))
    assert "no feasible drop-in alternative" in rendered.html_file
    assert "5,000,000 requests/day: no feasible drop-in alternative" in rendered.text
    assert rendered.summary == "at 5M/day: no feasible drop-in alternative"
    assert not {"scenarios.png", "tornado.png", "monte_carlo.png"} & set(rendered.images)
    assert "data-cheapest" not in rendered.html_file


def test_a_pricing_model_filter_limits_every_table(document: dict) -> None:
    import copy

    filtered = copy.deepcopy(document)
    for scenario in filtered["grid"]["scenarios"]:  # what the pipeline's option_filter does
        scenario["options"] = [o for o in scenario["options"] if o["option"] in ("ec2-spot", "lambda")]
    rendered = render_report(adhoc_inputs(filtered, options=["ec2-spot", "lambda"]))
    analysis = rendered.data["analysis"]
    assert [row["option"] for row in analysis["matrix"]["rows"]] == ["ec2-spot", "lambda"]
    assert {o["option"] for s in analysis["tco"]["scenarios"] for o in s["options"]} == {"ec2-spot", "lambda"}
    assert [row["option"] for row in analysis["monte_carlo"]["rows"]] == ["ec2-spot", "lambda"]
    assert "SageMaker" not in rendered.html_file.split("Assumptions and notes")[0]


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        weekly_inputs(kind="monthly", analysis=None)
    with pytest.raises(ValueError, match="timezone"):
        TrainingRunRow(
            run_id="x",
            run_name="x",
            started_at=datetime(2026, 11, 25),
            status="FINISHED",
            cost_usd=None,
            on_demand_usd=None,
            cost_basis="estimate",
            val_loss=None,
            interruptions=0,
            instance_type="",
            market="",
            region="",
            registered=False,
        )


@pytest.mark.parametrize(
    "requests_per_day,expected",
    [
        (100, "100/day"),
        (10_000, "10k/day"),
        (1_000_000, "1M/day"),
        (264_561.1, "265k/day"),
        (2_500_000, "2.5M/day"),
        (999_999, "1M/day"),
        (12.5, "12.5/day"),
    ],
)
def test_requests_short(requests_per_day: float, expected: str) -> None:
    assert requests_short(requests_per_day) == expected


# -- storing ------------------------------------------------------------------------------------------------------


def test_write_report_writes_every_file_and_report_json_last(
    rendered: RenderedReport, tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "weekly_cost_report" / "2026-11-28_scheduled"
    written = write_report(rendered, str(out), meta={"dag_id": "weekly_cost_report", "run_id": "scheduled"})
    names = [Path(w).name for w in written]
    assert names[-1] == "report.json"
    assert set(names) == {
        "report.html",
        "report.txt",
        "data.json",
        "report.json",
        *rendered.images,
        *rendered.csv_tables,
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left behind
    meta = json.loads((out / "report.json").read_text())
    assert meta["title"] == rendered.data["title"] and meta["kind"] == "weekly"
    assert meta["created_at"] == "2026-11-28T06:00:00Z"
    assert meta["summary"] == rendered.summary and meta["dag_id"] == "weekly_cost_report"
    assert (out / "report.html").read_text() == rendered.html_file
    assert (out / "scenarios.png").read_bytes() == rendered.images["scenarios.png"]
    assert json.loads((out / "data.json").read_text())["summary"] == rendered.summary
    for src in FILE_SRC.findall(rendered.html_file):
        assert (out / src).is_file()


def test_write_report_to_an_fsspec_url(rendered: RenderedReport) -> None:
    import fsspec

    url = "memory://reports/adhoc_cost_analysis/2026-11-28_manual"
    written = write_report(rendered, url)
    assert written[-1] == f"{url}/report.json"
    fs = fsspec.filesystem("memory")
    assert json.loads(fs.cat_file(f"{url}/report.json"))["summary"] == rendered.summary
    assert fs.cat_file(f"{url}/tornado.png") == rendered.images["tornado.png"]


def test_estimate_vs_bill_and_the_change_in_cost_are_in_the_weekly_report() -> None:
    from dataclasses import replace

    runs = list(training_runs())
    # two reconciled cloud runs (errors +2 % and -1 %) and one not in the bill yet
    runs[0] = replace(runs[0], billed_seconds=3600, wasted_usd=0.0001, overhead_usd=0.0002,
                      effective_savings_pct=55.0, tagged_estimate_usd=0.00102, billed_actual_usd=0.00100,
                      estimate_error_pct=2.0)  # fmt: skip
    runs[1] = replace(runs[1], billed_seconds=7200, wasted_usd=0.0003, overhead_usd=0.0004,
                      tagged_estimate_usd=0.00297, billed_actual_usd=0.00300, estimate_error_pct=-1.0)  # fmt: skip
    runs[2] = replace(runs[2], billed_seconds=1800, wasted_usd=0.0, overhead_usd=0.0001)
    previous = (replace(runs[0], run_id="prev", billed_seconds=3600, cost_usd=0.00100),)
    rendered = render_report(weekly_inputs(training_runs=tuple(runs), previous_training_runs=previous))

    reconciliation = rendered.data["reconciliation"]
    assert reconciliation["count"] == 2 and reconciliation["pending"] == 1
    assert reconciliation["median_abs_error_pct"] == pytest.approx(1.5)
    assert "estimate_vs_bill.png" in rendered.images
    assert "Estimate vs bill" in rendered.html_file and "1.50%" in rendered.html_file
    assert "median absolute error 1.50%" in rendered.text
    assert "estimate_vs_bill.csv" in rendered.csv_tables

    change = rendered.data["cost_change"]
    assert change["error"] is None and change["previous_usd"] == pytest.approx(0.00100)
    assert change["usage_usd"] + change["mix_usd"] + change["price_usd"] == pytest.approx(
        change["change_usd"]
    )
    assert "Change in training cost" in rendered.html_file and "usage +$" in rendered.html_file
    assert "wasted by interruptions" in rendered.text


def test_every_price_source_age_the_free_tiers_and_the_metrics_are_shown(rendered: RenderedReport) -> None:
    analysis = rendered.data["analysis"]
    sources = {s["source"].split(" in snapshot")[0]: s for s in analysis["price_sources"]}
    assert set(sources) == {
        "Price List (on-demand, reserved, Savings Plans, services)",
        "EC2 spot prices",
        "Cloudflare Workers table",
        "AWS Free Tier table",
        "Spot interruption table",
    }
    assert sources["EC2 spot prices"]["limit_text"] == "1 day" and sources["EC2 spot prices"]["stale"]
    assert sources["Cloudflare Workers table"]["limit_text"] == "90 days"
    assert analysis["free_tiers_applied"] is False
    assert analysis["metrics_source"].startswith(SLOW_MODEL_SOURCE)
    assert "Price sources" in rendered.html_file and "limit 7 days" in rendered.html_file
    assert "Free tiers not applied (they belong to an account, not a workload)" in rendered.html_file
    assert "free tiers: not applied" in rendered.text and f"metrics: {SLOW_MODEL_SOURCE}" in rendered.text


def test_the_resource_mapping_has_a_section(rendered: RenderedReport) -> None:
    resources = rendered.data["analysis"]["resources"]
    assert resources["parameters"] == 2_842_747
    assert resources["training"][0]["why"] == "chosen" and resources["serving"][0]["rank"] == 1
    assert "Resource mapping" in rendered.html_file
    assert "Against the original hand analysis (training): " in rendered.html_file
    assert "Resource mapping: 2,842,747 parameters" in rendered.text


def test_measured_and_formula_capacity_are_shown_side_by_side() -> None:
    from dataclasses import replace

    from costing.model.profile import CapacityPoint, ServingCapacity

    measured = ServingCapacity(
        max_rps_at_slo=30.0,
        p95_ms_at_max=800.0,
        slo_ms=1000.0,
        completion_chars=200,
        cpu_count=2,
        rss_bytes=300 * 2**20,
        max_batch_size=64,
        curve=(CapacityPoint(15.0, 300.0), CapacityPoint(30.0, 800.0)),
    )
    profile = replace(load_profile(SLOW_MODEL_METRICS), serving=measured)
    sheet = build_price_sheet(None, "us-east-1")
    document = analyze(profile, sheet, spec=MonteCarloSpec(samples=50, seed=1)).to_json_dict()
    rendered = render_report(weekly_inputs(analysis=document))
    html, text = rendered.html_file, rendered.text
    capacity = document["grid"]["capacity"]
    assert capacity["measured_rps"] == 30.0 and capacity["ratio"] == pytest.approx(
        30.0 / capacity["formula_rps"]
    )
    assert "Serving capacity: measured vs formula" in html and 'data-capacity="measured"' in html
    assert (
        f"(measured / formula = {capacity['ratio']:.2f})" in html
        and f"(measured / formula = {capacity['ratio']:.2f})" in text
    )
    # one row per fleet at the busiest scenario, measured next to formula, with their ratio
    rows = re.findall(
        r"<tr><td[^>]*>([^<]+)</td><td[^>]*>([\d.]+)</td><td[^>]*>([\d.]+)</td><td[^>]*>([\d.]+)</td>", html
    )
    names = [name for name, *_ in rows]
    assert any(n.startswith("EC2 on-demand") for n in names) and "ECS Fargate (" in " ".join(names)
    for _, measured_rps, formula_rps, ratio in rows:
        assert float(ratio) == pytest.approx(float(measured_rps) / float(formula_rps), abs=0.01)
    assert "measured on 2 CPUs (load test: 30.0 requests/s at p95 &lt;= 1,000 ms, 200 chars)" in html
    # without a load test: the formula, and the report says so
    formula_only = render_report(weekly_inputs(analysis=analysis_document()))
    assert 'data-capacity="formula"' in formula_only.html_file
    assert "fleets sized by the formula: no load test in metrics.json" in formula_only.text


def _sweep_document(study: str, recommended: int | None) -> dict:
    """A finished sweep's sweep.json, literal: three trials, the last infeasible."""
    trials = [
        {
            "trial": 0,
            "state": "complete",
            "usd_per_month": 30.0,
            "val_bpc": 2.6,
            "feasible": True,
            "reason": "feasible",
            "params": {"hidden_size": 460},
        },
        {
            "trial": 1,
            "state": "complete",
            "usd_per_month": 20.0,
            "val_bpc": 3.0,
            "feasible": True,
            "reason": "feasible",
            "params": {"hidden_size": 192},
        },
        {
            "trial": 2,
            "state": "complete",
            "usd_per_month": None,
            "val_bpc": 3.5,
            "feasible": False,
            "reason": "infeasible: no option serves the volume",
            "params": {"hidden_size": 96},
        },
    ]
    point = None if recommended is None else trials[recommended]
    return {
        "study": study,
        "target": {
            "requests_per_day": 1_000_000,
            "region": "us-east-1",
            "slo_ms": 1000,
            "retrain_cadence": "weekly",
        },
        "budget_usd": 1.0,
        "spent_usd": 0.04,
        "trials": trials,
        "front": [1, 0],
        "recommendation": {
            "trial": recommended,
            "point": point,
            "bar_bpc": 2.73 if point else None,
            "rule": "trial 0: the cheapest feasible trial within 5% of the best loss"
            if point
            else "no feasible trial",
        },
        "champion": {"usd_per_month": 48.0} if point else None,
        "saving_usd_per_month": 18.0 if point else None,
    }


def test_each_sweep_of_the_week_has_its_sentence_front_and_chart() -> None:
    report = render_report(
        weekly_inputs(sweeps=(_sweep_document("rnn_sweep/a", 0), _sweep_document("rnn_sweep/b", None)))
    )
    assert {"sweep_front_1.png", "sweep_front_2.png"} <= set(report.images)
    for name in ("sweep_front_1.png", "sweep_front_2.png"):
        assert report.images[name].startswith(b"\x89PNG")
    html = report.html_file
    assert (
        html.index("rnn_sweep/a: 3 trials")
        < html.index("sweep_front_1.png")
        < html.index("rnn_sweep/b: 3 trials")
    )
    assert "it saves $18.00/month" in html and "0 (recommended)" in html
    assert "rnn_sweep/b: 3 trials at 1,000,000 requests/day (us-east-1), 2 on the front" in report.text


def _budget_status() -> dict:
    from costing.model.budget import (
        DesignCost,
        MonthInputs,
        TrainingSpend,
        month_status,
        parse_budgets,
        status_document,
    )

    budgets = parse_budgets({"month_usd": {"training": 2, "serving": 40, "platform": 100, "total": 120}})
    inputs = MonthInputs(
        month="2026-11",
        elapsed_fraction=0.5,
        runs=(TrainingSpend("weekly run", 1.5, billed=False),),
        recent_run_usd=(1.0, 2.0),
        remaining_runs=2,
        schedule="rnn_retraining @weekly",
        serving=DesignCost("Lambda 512 MB", 30.0, "cost_recompute run abc"),
        platform=DesignCost("self-hosted", 80.0, "cost_recompute run abc"),
    )
    return status_document(budgets, inputs, month_status(budgets, inputs))


def test_the_budget_section_charts_budget_actual_and_forecast_and_leads_the_headline() -> None:
    status = _budget_status()
    report = render_report(weekly_inputs(budget=status))
    assert report.images["budget.png"].startswith(b"\x89PNG")
    html = report.html_file
    assert html.index("Budget, 2026-11") < html.index("budget.png") < html.index("Training runs")
    # training: $1.50 spent + two runs of $1 or $2 (P50 $4.50) + serving $30 + platform $80: within $120
    assert ": 2026-11 forecast $114.50 of the $120.00 budget; 4 runs" in report.subject
    total = next(c for c in report.data["budget"]["categories"] if c["category"] == "total")
    assert total["forecast_p10_usd"] <= total["forecast_p50_usd"] <= total["forecast_p90_usd"]
    training = next(c for c in report.data["budget"]["categories"] if c["category"] == "training")
    assert training["over"] and "training: budget $2.00, actual $1.50 ($1.50 estimated)" in report.text
    assert "OVER BUDGET" in report.text and "not metered" in report.text
    assert "budget.png" not in render_report(weekly_inputs()).images  # no status: no section, no chart


def test_the_anomalies_of_the_period_are_a_table_with_their_evidence() -> None:
    from costing.model.anomaly import run_cost_anomalies

    [anomaly] = run_cost_anomalies(
        run_id="r7",
        run_name="stuck week",
        usd=0.09,
        usd_per_mtok=None,
        history_usd=[0.02, 0.021, 0.019, 0.02, 0.022],
        history_usd_per_mtok=[],
        detected_by="rnn_retraining.watch_spend",
        detected_at="2026-11-26T07:01:00+00:00",
        event_at="2026-11-26T07:00:30+00:00",
    )
    report = render_report(weekly_inputs(anomalies=(anomaly.to_dict(),)))
    html = report.html_file
    assert "<h2" in html and "Anomalies" in html and "training run stuck week: cost $0.09 is 4.50x" in html
    assert "rnn_retraining.watch_spend, 0.5 min after the event" in html
    assert "Anomalies: 1 detected in the period." in report.text and "robust z" in report.text
    assert "None detected in this period." in render_report(weekly_inputs()).html_file
