"""
### Refresh AWS prices into a new immutable pricing snapshot

Daily: fetch AWS prices, validate them, check that the cost model can use them, write a new versioned
snapshot and publish the `pricing_snapshot` asset, which schedules `cost_recompute`. With an AWS
connection (`aws_conn_id`) the prices come from the Price List API and the spot price history; without
one, from the Price List's public bulk offer files (no account needed; spot prices then come from the
Spot Instance Advisor's savings). On a network or API error, or on prices that fail validation or
the gate, nothing is written: the last good snapshot stays in use and `fetch_validate_write` ends
*skipped* with "stale: kept ..., because ...".

* **fetch_validate_write** – fetch, validate with Great Expectations, run the cost model's own lookups
  on the candidate, write the new snapshot.
* **diff_against_previous** – what changed against the previous snapshot, and by how much.
* **publish** – publish the `pricing_snapshot` asset with the snapshot id and the change counts.
* **detect_price_anomalies** – prices that moved more than 20 % since the previous snapshot: an anomaly,
  alerted once ([docs/governance.md](../docs/governance.md)).

How: [docs/pricing.md](../docs/pricing.md) (the two sources, what is checked, the AWS permissions, the
shipped snapshot).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from costing.choices import REFRESH_INSTANCE_TYPES, REFRESH_REGIONS, REFRESH_SPOT_WINDOW_DAYS
from pipeline import assets
from pipeline.conf import refuse_bad_conf
from pipeline.ui.params import form_params


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    description="Fetch and validate AWS prices into a new pricing snapshot, diff it, publish it",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["pricing", "cost", "aws"],
    default_args={"pre_execute": refuse_bad_conf, "retries": 2, "retry_delay": timedelta(minutes=5)},
    params=form_params(
        {
            "regions": Param(
                list(REFRESH_REGIONS),
                type="array",
                items={"type": "string"},
                minItems=1,
                title="Regions",
                description="One region per line.",
            ),
            "instance_types": Param(
                list(REFRESH_INSTANCE_TYPES),
                type="array",
                items={"type": "string"},
                minItems=1,
                title="EC2 instance types",
                description="One type per line. The default is what python -m costing refresh fetches too: "
                "every type the shipped snapshot prices.",
            ),
            "spot_window_days": Param(
                REFRESH_SPOT_WINDOW_DAYS,
                type="integer",
                minimum=1,
                maximum=90,
                title="Spot history window (days)",
            ),
            "max_change_pct": Param(
                50, type="number", exclusiveMinimum=0, maximum=1000, title="Flag price moves beyond (%)"
            ),
            "aws_conn_id": Param("aws_default", type="string", minLength=1, title="AWS connection id"),
        }
    ),
)
def pricing_refresh():
    @task(multiple_outputs=False)
    def fetch_validate_write() -> dict:
        """Fetch prices from AWS, validate them and write a new snapshot; skip, keeping the last one, if not."""
        from pipeline.tasks import pricing

        context = get_current_context()
        return pricing.fetch_validate_write(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], params=dict(context["params"])
        )

    @task(multiple_outputs=False)
    def diff_against_previous(refreshed: dict) -> dict:
        """Compare the new snapshot with the previous one."""
        from pipeline.tasks import pricing

        return pricing.diff_against_previous(refreshed=refreshed)

    @task(multiple_outputs=False, outlets=[assets.PRICING_SNAPSHOT])
    def publish(diffed: dict, *, outlet_events=None) -> str:
        """Publish the pricing_snapshot asset (snapshot id, URI and change counts as its extra)."""
        outlet_events[assets.PRICING_SNAPSHOT].extra = {
            "snapshot_id": diffed["snapshot_id"],
            "snapshot_uri": diffed["snapshot_uri"],
            "changes": diffed["diff_counts"],
        }
        return diffed["snapshot_id"]

    @task(multiple_outputs=False)
    def detect_price_anomalies(diffed: dict) -> dict:
        """Prices that moved beyond the threshold since the previous snapshot: an anomaly, alerted once."""
        from pipeline.tasks import anomalies

        return anomalies.detect_price_anomalies(
            diffed=diffed, detected_by="pricing_refresh.detect_price_anomalies"
        )

    refreshed = fetch_validate_write()
    diffed = diff_against_previous(refreshed)
    publish(diffed)
    detect_price_anomalies(diffed)


pricing_refresh()
