"""pricing_refresh's AWS side: the clients come from the amazon provider's hooks, and
``python -m pipeline.tasks.pricing`` is the Price List API refresh from a shell (boto3's default chain).

No test touches the network: the pricing client is stubbed and points at a closed loopback port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber

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


def test_command_line_refresh_reports_stale_with_exit_code_1(root, monkeypatch, capsys):
    import pipeline.tasks.pricing

    client = boto3.client(
        "pricing",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=CLOSED_PORT,
    )
    stubber = Stubber(client)
    stubber.add_client_error("get_products", service_error_code="AccessDeniedException", http_status_code=400)
    stubber.activate()
    monkeypatch.setattr(pipeline.tasks.pricing, "aws_clients", lambda conn_id, regions: (client, {}))
    assert pipeline.tasks.pricing.main(["--root", str(root), "--region", "us-east-1"]) == 1
    assert capsys.readouterr().out.startswith("stale: kept 2026-12-01, age ")
    stubber.deactivate()


def test_command_line_without_credentials_is_one_error_line(repo_root, root, tmp_path):
    """The real command, in its own process: one line on stderr, nothing on stdout, nothing written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW__LOGGING"))}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_EC2_METADATA_DISABLED="true",  # no instance role to find here, and no probe of 169.254.169.254
    )
    before = sorted(p.name for p in root.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.tasks.pricing", "--root", str(root), "--timeout-seconds", "1"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: no AWS credentials found")
    assert "python -m costing refresh" in result.stderr  # the way without an account
    assert sorted(p.name for p in root.iterdir()) == before


def test_command_line_bad_input_is_one_error_line(capsys):
    from pipeline.tasks.pricing import main

    with pytest.raises(SystemExit) as exit_:
        main(["--spot-window-days", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument --spot-window-days")
