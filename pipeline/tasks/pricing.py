"""Task bodies of ``pricing_refresh``: fetch, validate and write a snapshot, then diff it.

With an AWS connection the prices come from the Price List API and the spot price history; without
one, from the Price List's public bulk offer files (``settings.price_list_url``). Both add the
Savings Plans offer files and the Spot Instance Advisor document (``settings.spot_advisor_url``).
Snapshots live where :mod:`pipeline.price_store` says. A refresh that cannot fetch (no network, no
credentials, an API error) or whose prices fail validation or the gate writes nothing, records the
staleness in ``<pricing_root>/.refresh-status.json`` and ends the task *skipped* with the reason, so
the run is visibly not a plain success.

The AWS clients come from the amazon provider's hooks (:func:`aws_clients`); ``costing`` only takes
them. ``python -m pipeline.tasks.pricing`` (:func:`main`) is ``python -m costing refresh`` from the
Price List API and spot price history, with boto3's default credentials: the way to the API without
an Airflow deployment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from costing.cli import add_refresh_arguments, refresh_regions, run_refresh
from costing.pricing import BulkOffers, diff_snapshots, load_snapshot, refresh_snapshot
from costing.pricing.fetch import DEFAULT_SPOT_WINDOW_DAYS, PRICING_API_REGIONS
from pipeline.price_store import STATUS_FILE, local_snapshot_dir, seed_pricing_root
from pipeline.settings import load_settings, run_dir
from toolkit import storage
from toolkit.arguments import EXIT_USAGE, Parser, bounded_number

log = logging.getLogger(__name__)

PRICING_API_REGION = PRICING_API_REGIONS[0]  # us-east-1; prices for every region are served from there


def aws_clients(aws_conn_id: str | None, regions: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The Price List client (us-east-1) and one EC2 client per region, from the amazon provider's hooks.

    ``aws_conn_id`` names an Airflow AWS connection (its credentials, role, ``endpoint_url`` extra);
    None uses boto3's default credential chain (environment, ``~/.aws``, an instance role).
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook

    # the provider has no Price List hook: the generic one, for client_type "pricing"
    pricing = AwsBaseHook(
        aws_conn_id=aws_conn_id, client_type="pricing", region_name=PRICING_API_REGION
    ).get_conn()
    ec2 = {
        region: EC2Hook(aws_conn_id=aws_conn_id, region_name=region, api_type="client_type").get_conn()
        for region in regions
    }
    return pricing, ec2


def _connection_missing(aws_conn_id: str) -> str | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(aws_conn_id)
    except AirflowNotFoundException:
        return f"no Airflow connection {aws_conn_id!r} is configured (add an AWS connection for the Price List API)"
    return None


def fetch_validate_write(*, dag_id: str, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fetch Price List documents and spot history, validate them (GX) and write a new immutable snapshot.

    All three happen inside ``costing.pricing.fetch.refresh_snapshot`` so a failure at any step writes nothing.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    settings = load_settings()
    seed_pricing_root(settings)
    regions = list(params["regions"])
    now = datetime.now(UTC)
    missing = _connection_missing(params["aws_conn_id"])
    clients = (
        {}
        if missing
        else dict(
            zip(("pricing_client", "ec2_clients"), aws_clients(params["aws_conn_id"], regions), strict=True)
        )
    )
    refreshed = refresh_snapshot(
        **clients,
        bulk=BulkOffers(settings.price_list_url, timeout_seconds=settings.pricing_timeout_seconds),
        spot_advisor_url=settings.spot_advisor_url,
        root=settings.pricing_root,
        regions=regions,
        instance_types=list(params["instance_types"]),
        now=now,
        spot_window_days=int(params["spot_window_days"]),
        max_change=params["max_change_pct"] / 100,
        snapshot_id=now.strftime("%Y-%m-%dT%H%MZ"),
        cache_dir=settings.home / "cache" / "pricing",
    )
    result = refreshed.to_dict()
    if missing:
        log.info("%s: read the public bulk offer files at %s instead", missing, settings.price_list_url)
        if result["status"] != "fresh":
            # both ways failed: say why each did (offline, the embedded default ends here in seconds)
            result["reason"] = f"{missing}, and {result['reason']}"
            kept = (
                f"kept {result['snapshot_id']}, age {result['age_days']:.1f} days"
                if result["snapshot_id"]
                else "nothing kept"
            )
            result["message"] = f"{result['status']}: {kept}, because {result['reason']}"
    storage.write_text_atomic(
        storage.join(settings.pricing_root, STATUS_FILE),
        json.dumps(
            {
                key: result.get(key)
                for key in ("status", "snapshot_id", "message", "reason", "age_days", "checked_at")
            },
            indent=2,
        ),
    )
    out = run_dir(settings, dag_id, run_id)
    storage.write_text_atomic(storage.join(out, "refresh.json"), json.dumps(result, indent=2, default=str))
    log.info("%s", result["message"])
    if result["status"] != "fresh":
        for failure in result.get("failures") or []:
            log.warning("refresh problem: %s", failure)
        raise AirflowSkipException(result["message"])
    return {
        "snapshot_id": result["snapshot_id"],
        "snapshot_uri": result["snapshot_uri"],
        "previous_snapshot_id": result.get("previous_snapshot_id"),
        "message": result["message"],
        "run_dir": out,
    }


def diff_against_previous(*, refreshed: dict[str, Any]) -> dict[str, Any]:
    """What changed between the previous snapshot and the new one, by how much (JSON, CSV and text)."""
    settings = load_settings()
    current = load_snapshot(local_snapshot_dir(settings, refreshed["snapshot_id"]))
    previous_id = refreshed.get("previous_snapshot_id")
    previous = load_snapshot(local_snapshot_dir(settings, previous_id)) if previous_id else None
    diff = diff_snapshots(previous, current)
    out = refreshed["run_dir"]
    storage.write_text_atomic(
        storage.join(out, "diff.json"), json.dumps(diff.to_dict(), indent=2, default=str)
    )
    storage.write_text_atomic(storage.join(out, "diff.csv"), diff.to_dataframe().to_csv(index=False))
    text = diff.render_text()
    storage.write_text_atomic(storage.join(out, "diff.txt"), text)
    log.info("price changes:\n%s", text)
    return {**refreshed, "diff_counts": diff.counts(), "diff_uri": storage.join(out, "diff.json")}


# -- python -m pipeline.tasks.pricing: the API refresh from a shell ----------------------------------------


def _no_credentials() -> str | None:
    """Why boto3's default chain has no credentials, or None when it has some (no request to an AWS service)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    if AwsBaseHook(aws_conn_id=None, client_type="pricing").get_session().get_credentials() is not None:
        return None
    return (
        "no AWS credentials found (boto3's default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
        "and ~/.aws, an instance or container role): set them, or read the public bulk offer files without an "
        "account: python -m costing refresh"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m costing refresh`` from the Price List API and spot price history, credentials from boto3's
    default chain (clients through :func:`aws_clients`). Exit 0 fresh, 1 stale, 2 failed or bad input."""
    parser = Parser(
        prog="python -m pipeline.tasks.pricing",
        description="What pricing_refresh does with an AWS connection, from a shell: the Price List Query API "
        "(pricing:GetProducts) and spot price history (ec2:DescribeSpotPriceHistory) with boto3's default "
        "credentials, + the public Savings Plans files and the Spot Instance Advisor -> validated, immutable "
        "snapshot. Exit 0 fresh, 1 stale (nothing written), 2 failed.",
    )
    add_refresh_arguments(parser)
    parser.add_argument(
        "--spot-window-days",
        type=bounded_number(minimum=1, maximum=90, integer=True),
        default=DEFAULT_SPOT_WINDOW_DAYS,
        help="days of spot price history (default %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        # the hooks' log lines (when Airflow's logging is already set up) are not the report
        with contextlib.redirect_stdout(sys.stderr):
            missing = _no_credentials()
            clients = None if missing else aws_clients(None, refresh_regions(args))
        if clients is None:
            print(f"error: {missing}", file=sys.stderr)
            return EXIT_USAGE
        pricing, ec2 = clients
        return run_refresh(
            args, pricing_client=pricing, ec2_clients=ec2, spot_window_days=args.spot_window_days
        )
    except (ValueError, KeyError, OSError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    # The hooks import Airflow: its files under the pipeline's home, and only its warnings on the terminal.
    os.environ.setdefault("AIRFLOW_HOME", str(load_settings().home / "airflow"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    sys.exit(main())
