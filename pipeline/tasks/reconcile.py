"""Task bodies of ``cost_reconcile``: the bill, matched to the training runs by tag, logged beside the estimate.

gather (the cloud training runs of the lookback window, with what was estimated for their tagged
resources) -> fetch the bill (the newest delivery of each billing period of an AWS Data Export in
S3, FOCUS 1.2 or CUR 2.0 Parquet; or Cost Explorer grouped by the run tag when no export is
configured) -> record (per run: ``cost.billed_actual_usd``, ``cost.estimate_error_pct``,
``cost.basis = invoice``; the estimate ``cost.train_usd`` stays beside it).

Exports arrive 24-48 h late and are restated: a run not in the bill yet is *pending* and tried again
the next day; a run whose bill changed (a newer delivery) is logged again; one whose bill did not
change is left alone, so a re-run changes nothing. How to point it at a real export:
docs/cost-reconciliation.md.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from costing.report.reconciliation import (
    BilledRun,
    ExportObject,
    bill_lines,
    billed_by_run,
    cost_explorer_by_run,
    estimate_error_pct,
    newest_export_files,
)
from pipeline import names, tracking

log = logging.getLogger(__name__)

SOURCE_EXPORT = "data-export"
SOURCE_COST_EXPLORER = "cost-explorer"
RECONCILIATION_ARTIFACT = "reconciliation.json"
FOCUS_COLUMNS = ("BilledCost", "Tags", "ResourceId", "ChargeCategory", "ServiceName")
CUR2_COLUMNS = (
    "line_item_unblended_cost",
    "resource_tags",
    "line_item_resource_id",
    "line_item_line_item_type",
    "line_item_product_code",
)
ERROR_DECIMALS = 9  # metrics compared to decide "unchanged" are rounded to this
COST_EXPLORER_REGION = "us-east-1"  # Cost Explorer has one endpoint, whatever the connection's region


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, "prefix/"); anything else is refused with what to write."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise _fail(
            f"billing export {uri!r} is not an s3://bucket/prefix URI (the Data Export's S3 destination)"
        )
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def tagged_estimate_usd(cost: dict[str, Any]) -> float:
    """What the estimate says the run's tagged resources cost: instances + EBS (S3 is billed per bucket)."""
    instances = float((cost.get("instances") or {}).get("usd", 0.0))
    return instances + float((cost.get("storage") or {}).get("ebs_usd", 0.0))


# -- gather ----------------------------------------------------------------------------------------------------


def gather_runs(*, now: datetime, lookback_days: int) -> list[dict[str, Any]]:
    """The cloud training runs started in the lookback window, with their estimates and last reconciliation."""
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    experiment = client.get_experiment_by_name(names.TRAINING_EXPERIMENT)
    if experiment is None:
        return []
    since = now - timedelta(days=lookback_days)
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"attributes.start_time >= {int(since.timestamp() * 1000)} and "
            f"tags.`{names.TAG_COMPUTE_BACKEND}` = 'ec2_spot'"
        ),
        order_by=["attributes.start_time ASC"],
        max_results=5000,
    )
    found = []
    for run in runs:
        if names.COST_TRAIN_USD not in run.data.metrics:
            continue  # not costed (yet): nothing to compare
        cost = tracking.load_json_artifact(run, names.TRAINING_COST_ARTIFACT)
        found.append(
            {
                "mlflow_run_id": run.info.run_id,
                "run_name": run.info.run_name,
                "started_at": datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(),
                "estimate_usd": float(run.data.metrics[names.COST_TRAIN_USD]),
                "tagged_estimate_usd": tagged_estimate_usd(cost),
                "instance_ids": [a["instance_id"] for a in cost.get("attempts") or []],
                "billed_version": run.data.tags.get(names.TAG_BILLED_VERSION, ""),
                "billed_actual_usd": run.data.metrics.get(names.COST_BILLED_ACTUAL_USD),
            }
        )
    return found


# -- fetch the bill --------------------------------------------------------------------------------------------


# The readers below take their client as an argument (tests hand in a Stubber'd or moto client);
# fetch_bill, the task body, gets it from the amazon provider's hooks and the DAG's AWS connection.


def s3_client(aws_conn_id: str) -> Any:
    """The S3 client of an Airflow AWS connection (``S3Hook``: credentials, region, endpoint_url extra)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def cost_explorer_client(aws_conn_id: str) -> Any:
    """The Cost Explorer client of an Airflow AWS connection (the provider has no CE hook: ``AwsBaseHook``)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=aws_conn_id, client_type="ce", region_name=COST_EXPLORER_REGION).get_conn()


def read_export_rows(data: bytes, tag_key: str) -> list[Any]:
    """The tagged usage lines of one Parquet file, read in record batches of the columns needed only."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(io.BytesIO(data))
    present = set(parquet.schema_arrow.names)
    columns = [c for c in (FOCUS_COLUMNS if "BilledCost" in present else CUR2_COLUMNS) if c in present]
    lines = []
    for batch in parquet.iter_batches(columns=columns, batch_size=65_536):
        lines += bill_lines(batch.to_pylist(), tag_key)
    return lines


def bill_from_export(
    s3: Any, export_uri: str, *, since: datetime
) -> tuple[dict[str, BilledRun], dict[str, Any]]:
    """USD per run from the newest delivery of each billing period since ``since`` (month granularity),
    read with the S3 client ``s3``."""
    bucket, prefix = parse_s3_uri(export_uri)
    objects = [
        ExportObject(key=item["Key"], last_modified=item["LastModified"], size=int(item.get("Size", 0)))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    first_period = f"{since:%Y-%m}"
    versions = [
        v for v in newest_export_files(objects) if not v.billing_period or v.billing_period >= first_period
    ]
    if not versions:
        raise _fail(
            f"no Parquet files under {export_uri} for billing periods since {first_period}: is this the Data "
            "Export's S3 destination (FOCUS 1.2 or CUR 2.0, Parquet)? A new export's first delivery takes up to 24 h"
        )
    lines = []
    for version in versions:
        for key in version.keys:
            lines += read_export_rows(
                s3.get_object(Bucket=bucket, Key=key)["Body"].read(), names.TAG_ALLOCATION_MLFLOW_RUN_ID
            )
    source = {
        "source": SOURCE_EXPORT,
        "uri": export_uri,
        "versions": {
            v.billing_period: v.version or f"delivered {v.delivered_at.isoformat()}" for v in versions
        },
        "version": ";".join(
            f"{v.billing_period}:{v.version or v.delivered_at.isoformat()}" for v in versions
        ),
        "files": sum(len(v.keys) for v in versions),
    }
    return billed_by_run(lines), source


def bill_from_cost_explorer(
    ce: Any, *, start: datetime, end: datetime
) -> tuple[dict[str, BilledRun], dict[str, Any]]:
    """USD per run from Cost Explorer (the client ``ce``), daily, grouped by the run tag (all pages)."""
    request: dict[str, Any] = {
        "TimePeriod": {"Start": f"{start:%Y-%m-%d}", "End": f"{end:%Y-%m-%d}"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": names.TAG_ALLOCATION_MLFLOW_RUN_ID}],
    }
    pages = []
    while True:
        page = ce.get_cost_and_usage(**request)
        pages.append(page)
        token = page.get("NextPageToken")
        if not token:
            break
        request["NextPageToken"] = token
    billed = cost_explorer_by_run(pages, names.TAG_ALLOCATION_MLFLOW_RUN_ID)
    estimated = any(p.get("Estimated") for page in pages for p in page.get("ResultsByTime") or [])
    version = json.dumps(
        {run_id: round(b.billed_usd, ERROR_DECIMALS) for run_id, b in sorted(billed.items())}, sort_keys=True
    )
    source = {
        "source": SOURCE_COST_EXPLORER,
        "uri": f"cost explorer {request['TimePeriod']['Start']}..{request['TimePeriod']['End']}",
        "estimated": estimated,
        "version": f"ce:{hash_text(version)}",
    }
    return billed, source


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fetch_bill(*, export_uri: str, now: datetime, lookback_days: int, aws_conn_id: str) -> dict[str, Any]:
    """The bill per run id (JSON-able): from the export when one is configured, else from Cost Explorer."""
    since = now - timedelta(days=lookback_days)
    if export_uri.strip():
        billed, source = bill_from_export(s3_client(aws_conn_id), export_uri.strip(), since=since)
    else:
        billed, source = bill_from_cost_explorer(
            cost_explorer_client(aws_conn_id), start=since, end=now + timedelta(days=1)
        )
    log.info("bill from %s: %d tagged run(s)", source["uri"], len(billed))
    return {
        "source": source,
        "runs": {
            run_id: {
                "billed_usd": b.billed_usd,
                "lines": b.lines,
                "resources": list(b.resources),
                "by_service": b.by_service,
            }
            for run_id, b in billed.items()
        },
    }


# -- record ----------------------------------------------------------------------------------------------------


def record(*, runs: list[dict[str, Any]], bill: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Log the bill on each matched training run; say which runs are pending (not in the bill yet)."""
    import mlflow

    source = bill["source"]
    outcome: dict[str, list[str]] = {"reconciled": [], "unchanged": [], "pending": []}
    errors = {}
    for run in runs:
        run_id = run["mlflow_run_id"]
        billed = bill["runs"].get(run_id)
        if billed is None or billed["billed_usd"] <= 0:
            outcome["pending"].append(run_id)
            continue
        billed_usd = float(billed["billed_usd"])
        error = estimate_error_pct(run["tagged_estimate_usd"], billed_usd)
        errors[run_id] = error
        previous = run.get("billed_actual_usd")
        if (
            run.get("billed_version") == source["version"]
            and previous is not None
            and round(previous, ERROR_DECIMALS) == round(billed_usd, ERROR_DECIMALS)
        ):
            outcome["unchanged"].append(run_id)
            continue
        with tracking.task_run(run_id):
            mlflow.log_metrics(
                {
                    names.COST_BILLED_ACTUAL_USD: billed_usd,
                    names.COST_ESTIMATE_ERROR_PCT: error,
                    names.COST_TAGGED_ESTIMATE_USD: run["tagged_estimate_usd"],
                }
            )
            mlflow.set_tags(
                {
                    names.TAG_COST_BASIS: names.COST_BASIS_INVOICE,
                    names.TAG_BILLED_SOURCE: f"{source['source']} {source['uri']}"[:5000],
                    names.TAG_BILLED_VERSION: source["version"][:5000],
                    names.TAG_RECONCILED_AT: now.isoformat(),
                }
            )
            mlflow.log_dict(
                {
                    "mlflow_run_id": run_id,
                    "reconciled_at": now.isoformat(),
                    "source": source,
                    "billed_actual_usd": billed_usd,
                    "tagged_estimate_usd": run["tagged_estimate_usd"],
                    "estimate_error_pct": error,
                    "estimate_usd": run["estimate_usd"],
                    "bill": billed,
                    "instance_ids": run["instance_ids"],
                    "compared": "instances and their EBS volumes (S3 is billed per bucket and stays an estimate)",
                },
                RECONCILIATION_ARTIFACT,
            )
        outcome["reconciled"].append(run_id)
    log.info(
        "reconciled %d, unchanged %d, pending %d (not in the bill yet: exports arrive 24-48 h late)",
        len(outcome["reconciled"]),
        len(outcome["unchanged"]),
        len(outcome["pending"]),
    )
    return {**outcome, "estimate_error_pct": errors, "source": source}
