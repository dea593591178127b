"""The bill matched to runs: export versions, FOCUS and CUR 2.0 lines, Cost Explorer groups, the error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from costing.report.reconciliation import (
    ExportObject,
    bill_lines,
    billed_by_run,
    cost_explorer_by_run,
    estimate_error_pct,
    newest_export_files,
    normalized_tag_key,
)

TAG = "rnn:mlflow_run_id"


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_only_the_newest_delivery_of_each_billing_period_counts() -> None:
    base = "exports/rnn/data"
    objects = [
        # March delivered twice into version folders (a restatement), April once, files overwritten in place
        ExportObject(f"{base}/BILLING_PERIOD=2026-03/20260303T0100Z-a/rnn-00001.snappy.parquet", at(3, 1)),
        ExportObject(f"{base}/BILLING_PERIOD=2026-03/20260303T0100Z-a/rnn-00002.snappy.parquet", at(3, 1)),
        ExportObject(f"{base}/BILLING_PERIOD=2026-03/20260305T0100Z-b/rnn-00001.snappy.parquet", at(5, 1)),
        ExportObject(
            f"{base}/BILLING_PERIOD=2026-04/rnn-00001.snappy.parquet", datetime(2026, 4, 2, tzinfo=UTC)
        ),
        ExportObject("exports/rnn/metadata/BILLING_PERIOD=2026-03/rnn-Manifest.json", at(5, 1)),  # not data
    ]
    march, april = newest_export_files(objects)
    assert (march.billing_period, march.version) == ("2026-03", "20260305T0100Z-b")
    assert march.keys == (f"{base}/BILLING_PERIOD=2026-03/20260305T0100Z-b/rnn-00001.snappy.parquet",)
    assert (april.billing_period, april.version, len(april.keys)) == ("2026-04", "", 1)


@pytest.mark.parametrize(
    "key", ["rnn:mlflow_run_id", "user:rnn:mlflow_run_id", "user_rnn_mlflow_run_id", "user_rnn:mlflow_run_id"]
)
def test_the_run_tag_is_found_however_the_export_spells_it(key: str) -> None:
    assert normalized_tag_key(key) == "rnn_mlflow_run_id"


def focus_row(cost, tags, category="Usage", resource="i-0aaa", service="Amazon Elastic Compute Cloud"):
    return {
        "BilledCost": cost,
        "Tags": tags,
        "ResourceId": resource,
        "ChargeCategory": category,
        "ServiceName": service,
    }


def test_focus_lines_of_the_run_tag_are_summed_per_run() -> None:
    rows = [
        focus_row(0.045, [("user:rnn:mlflow_run_id", "run-a")]),  # a Parquet map: key-value pairs
        focus_row(
            0.0004,
            {"user:rnn:mlflow_run_id": "run-a"},
            resource="vol-0aaa",
            service="Amazon Elastic Block Store",
        ),
        focus_row(0.010, json.dumps({"user:rnn:mlflow_run_id": "run-b"}), resource="i-0bbb"),
        focus_row(0.5, {"user:team": "web"}, resource="i-0ccc"),  # unrelated: no run tag
        focus_row(0.003, {"user:rnn:mlflow_run_id": "run-a"}, category="Tax"),  # not usage
        focus_row(0.2, None, resource="i-0ddd"),
    ]
    billed = billed_by_run(bill_lines(rows, TAG))
    assert set(billed) == {"run-a", "run-b"}
    assert billed["run-a"].billed_usd == pytest.approx(0.0454)
    assert billed["run-a"].resources == ("i-0aaa", "vol-0aaa") and billed["run-a"].lines == 2
    assert billed["run-a"].by_service == pytest.approx(
        {"Amazon Elastic Compute Cloud": 0.045, "Amazon Elastic Block Store": 0.0004}
    )


def test_cur2_lines_are_read_too() -> None:
    rows = [
        {"line_item_unblended_cost": 0.02, "resource_tags": {"user_rnn_mlflow_run_id": "run-a"},
         "line_item_resource_id": "i-0aaa", "line_item_line_item_type": "Usage", "line_item_product_code": "AmazonEC2"},
        {"line_item_unblended_cost": 0.01, "resource_tags": {"user_rnn_mlflow_run_id": "run-a"},
         "line_item_resource_id": "i-0aaa", "line_item_line_item_type": "Credit", "line_item_product_code": "AmazonEC2"},
    ]  # fmt: skip
    [line] = bill_lines(rows, TAG)
    assert (line.run_id, line.billed_usd, line.service) == ("run-a", 0.02, "AmazonEC2")


def test_an_export_of_another_shape_is_refused_with_what_to_export() -> None:
    with pytest.raises(ValueError, match=r"export FOCUS 1\.2 or CUR 2\.0"):
        bill_lines([{"lineItem/UnblendedCost": 1.0}], TAG)


def test_cost_explorer_groups_are_summed_over_days_and_pages() -> None:
    def page(*groups, estimated=False):
        return {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-03-02", "End": "2026-03-03"},
                    "Total": {},
                    "Groups": [
                        {"Keys": [key], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                        for key, amount in groups
                    ],
                    "Estimated": estimated,
                }
            ],
            "DimensionValueAttributes": [],
        }

    billed = cost_explorer_by_run(
        [
            page(("rnn:mlflow_run_id$", "12.5"), ("rnn:mlflow_run_id$run-a", "0.0300")),
            page(
                ("rnn:mlflow_run_id$run-a", "0.0154"), ("rnn:mlflow_run_id$run-b", "0.0100"), estimated=True
            ),
        ],
        TAG,
    )
    assert set(billed) == {"run-a", "run-b"}  # "$" alone: the untagged costs
    assert billed["run-a"].billed_usd == pytest.approx(0.0454) and billed["run-a"].lines == 2


def test_the_error_is_relative_to_the_bill() -> None:
    assert estimate_error_pct(0.0410, 0.0400) == pytest.approx(2.5)
    assert estimate_error_pct(0.0390, 0.0400) == pytest.approx(-2.5)
    with pytest.raises(ValueError, match="zero bill"):
        estimate_error_pct(0.01, 0.0)
