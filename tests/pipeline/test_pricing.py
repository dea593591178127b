"""pricing_refresh's AWS side: the clients come from the amazon provider's hooks.

No test touches the network: the pricing client is stubbed and points at a closed loopback port.
"""

from __future__ import annotations

import json
import shutil

import pytest

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT

CLOSED_PORT = "http://127.0.0.1:9"  # discard port: nothing listens, so nothing can leave the machine
SHIPPED = DEFAULT_SNAPSHOT_ROOT / "2026-12-01"  # the newest shipped snapshot: "the last good one"


@pytest.fixture
def root(tmp_path):
    """A snapshot root holding a copy of the newest shipped snapshot: the 'last good' one."""
    shutil.copytree(SHIPPED, tmp_path / SHIPPED.name)
    return tmp_path


def test_the_clients_come_from_the_connections_hooks(monkeypatch) -> None:
    from pipeline.tasks.pricing import aws_clients

    monkeypatch.setenv(
        "AIRFLOW_CONN_PRICES",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": CLOSED_PORT, "region_name": "eu-west-1"}}),
    )
    pricing, ec2 = aws_clients("prices", ["us-east-1", "eu-west-1"])
    # the Price List API is served from us-east-1 whatever the connection's region; EC2 is regional
    assert (pricing.meta.service_model.service_name, pricing.meta.region_name) == ("pricing", "us-east-1")
    assert {region: (c.meta.service_model.service_name, c.meta.region_name) for region, c in ec2.items()} == {
        "us-east-1": ("ec2", "us-east-1"),
        "eu-west-1": ("ec2", "eu-west-1"),
    }
    assert {pricing.meta.endpoint_url, *(c.meta.endpoint_url for c in ec2.values())} == {CLOSED_PORT}


def test_without_a_connection_id_the_hooks_use_boto3s_default_chain() -> None:
    from pipeline.tasks.pricing import aws_clients

    pricing, ec2 = aws_clients(None, ["eu-west-1"])
    assert pricing.meta.region_name == "us-east-1" and ec2["eu-west-1"].meta.region_name == "eu-west-1"
    assert pricing.meta.endpoint_url == "https://api.pricing.us-east-1.amazonaws.com"  # nothing is sent
