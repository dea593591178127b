"""
### Refresh AWS prices into a new immutable pricing snapshot

Daily. Fetches EC2 (on-demand, reserved), EBS, S3, data transfer, ALB, CloudWatch, NAT, Lambda,
Fargate and SageMaker prices from the **AWS Price List Query API** and 30 days of **spot price
history** for every AZ, validates the normalised price table with **Great Expectations** (no null,
zero or negative rates, expected units, every required SKU present, moves beyond ±50 % flagged),
writes a new versioned snapshot (local folder, or `s3://` when `RNN_PIPELINE_PRICING_ROOT` says
so), diffs it against the previous one and publishes the `pricing_snapshot` asset, which triggers
`cost_recompute`.

No AWS connection, missing credentials, an API error or prices that fail validation: **nothing is
written**, the last good snapshot stays in use, and `fetch_validate_write` ends *skipped* with
"stale: kept <snapshot>, age N days, because ..." (also recorded in `.refresh-status.json` next to
the snapshots, where reports read it).

AWS access: the Airflow connection in `aws_conn_id` (default `aws_default`), needing
`pricing:GetProducts` and `ec2:DescribeSpotPriceHistory`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

from pipeline import assets

REFRESH_INSTANCE_TYPES = [
    "t3.medium",
    "t3.large",
    "t3.small",
    "m5.large",
    "m5.xlarge",
    "m6i.large",
    "m6i.xlarge",
    "m6i.2xlarge",
    "m7i.large",
    "m7i.xlarge",
    "m7g.large",
    "m7g.xlarge",
    "c5.large",
    "c5.xlarge",
    "c6i.large",
    "c6i.xlarge",
    "c6i.2xlarge",
    "c7i.large",
    "c7i.xlarge",
    "c7g.large",
    "c7g.xlarge",
    "r5.large",
    "r5.xlarge",
    "r6i.large",
    "r6i.xlarge",
    "r6i.2xlarge",
    "r7i.large",
    "r7i.xlarge",
    "g4dn.xlarge",
]


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["pricing", "cost", "aws"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "regions": Param(
            ["us-east-1", "eu-west-1"],
            type="array",
            items={"type": "string"},
            minItems=1,
            title="Regions",
            description="One region per line.",
        ),
        "instance_types": Param(
            REFRESH_INSTANCE_TYPES,
            type="array",
            items={"type": "string"},
            minItems=1,
            title="EC2 instance types",
        ),
        "spot_window_days": Param(
            30, type="integer", minimum=1, maximum=90, title="Spot history window (days)"
        ),
        "max_change_pct": Param(
            50, type="number", exclusiveMinimum=0, maximum=1000, title="Flag price moves beyond (%)"
        ),
        "aws_conn_id": Param("aws_default", type="string", minLength=1, title="AWS connection id"),
    },
)
def pricing_refresh():
    @task(multiple_outputs=False)
    def fetch_validate_write() -> dict:
        from pipeline.tasks.pricing import fetch_validate_write as run

        context = get_current_context()
        return run(dag_id=context["dag"].dag_id, run_id=context["run_id"], params=dict(context["params"]))

    @task(multiple_outputs=False)
    def diff_against_previous(refreshed: dict) -> dict:
        from pipeline.tasks.pricing import diff_against_previous as run

        return run(refreshed=refreshed)

    @task(multiple_outputs=False, outlets=[assets.PRICING_SNAPSHOT])
    def publish(diffed: dict, *, outlet_events=None) -> str:
        outlet_events[assets.PRICING_SNAPSHOT].extra = {
            "snapshot_id": diffed["snapshot_id"],
            "snapshot_uri": diffed["snapshot_uri"],
            "changes": diffed["diff_counts"],
        }
        return diffed["snapshot_id"]

    publish(diff_against_previous(fetch_validate_write()))


pricing_refresh()
