"""Every option's deployable design for each requirement (exposure x availability), checked by hand.

The literal profile and sheet (tests/model_literals.py) at 10,000 requests a day:

* requests a month R = 10,000 x 365 / 12 = 304,166.67; log lines 200 B -> 0.0566555 GB; answers 500 B
  -> 0.141639 GB out; in + out 800 B -> 0.226622 GB through an interface endpoint;
* c6i.large serves 160 requests/s (batch 64, p95 0.6 s), so the peak (0.347 requests/s) needs one
  instance: 2 for multi-AZ (one per zone), 1 for single;
* each instance: 730 h x $0.10 = $73.00, a weekly deploy start of 120 s (52/12 x 120 / 3,600 x $0.10 =
  $0.014444) and a 20 GB root volume ($1.60); 2 CloudWatch agent metrics ($0.60) on top of the
  service's 5 ($1.50);
* an image pull of 1 GB per instance per deploy: 52/12 = 4.3333 GB a month per instance.
"""

from __future__ import annotations

import pytest
from model_literals import PROFILE, SHEET

from costing.model.assumptions import ServingAssumptions
from costing.model.grid import cost_grid, cost_scenario

R = 10_000 * 365 / 12
LOGS_GB = R * 200 / 2**30  # 0.0566555
OUT_GB = R * 500 / 2**30  # 0.141639
ENDPOINT_GB = R * 800 / 2**30  # 0.226622
IMAGES_GB = 52 / 12 * 1.0  # a month, per instance
CLOUDWATCH_LOGS = LOGS_GB * (0.50 + 0.03)  # 0.030027: ingestion + a month's storage
DATA_OUT = OUT_GB * 0.09  # 0.012747
MODEL_FILE = 10 / 1024 * 0.023  # 0.000225
EC2_INSTANCE = 730 * 0.10 + 52 / 12 * 120 / 3600 * 0.10 + 20 * 0.08  # 74.614444
ALB = 730 * 0.0225 + 10_000 / 86_400 / 25 * 730 * 0.008  # hours + LCU (new connections): 16.452037
NAT = 730 * 0.045 + 730 * 0.005  # the gateway and its public address: 36.50 a month before GB


def design(exposure: str, availability: str, key: str, requests_per_day: float = 10_000):
    a = ServingAssumptions(exposure=exposure, availability=availability)
    option = cost_scenario(PROFILE, SHEET, requests_per_day, assumptions=a).option(key)
    assert option.feasible, option.reason
    return option, {part.role: (part.choice, part.usd_per_month) for part in option.design}


def test_ec2_public_multi_az_an_internet_facing_alb_and_an_address_per_instance():
    option, parts = design("public", "multi-az", "ec2-on-demand:c6i.large")
    assert parts["front door"] == ("internet-facing ALB", pytest.approx(ALB + 2 * 730 * 0.005))  # 23.75
    assert parts["compute"] == ("2 x c6i.large, batch 64, across 2 zones", pytest.approx(2 * EC2_INSTANCE))
    # egress: 2 addresses ($7.30) beat a NAT gateway ($36.50 + GB) and 4 endpoints x 2 zones ($58.40 + GB)
    assert parts["egress"] == (
        "a public IPv4 address per instance or task",
        pytest.approx(7.30),
    )
    assert parts["logs and metrics"] == ("CloudWatch", pytest.approx(9 * 0.30 + CLOUDWATCH_LOGS))
    assert parts["data transfer out"] == ("to the internet", pytest.approx(DATA_OUT))
    assert option.usd_per_month == pytest.approx(183.02, abs=0.01)
    assert sum(cost for _, cost in parts.values()) == pytest.approx(option.usd_per_month)


def test_ec2_public_single_no_alb_no_nat_one_public_address():
    option, parts = design("public", "single", "ec2-on-demand:c6i.large")
    assert parts["front door"] == (
        "none: clients reach the instance's own public IPv4 address (TLS on the instance)",
        0.0,
    )
    assert parts["compute"] == ("1 x c6i.large, batch 64, in one zone", pytest.approx(EC2_INSTANCE))
    assert parts["egress"][1] == pytest.approx(730 * 0.005)  # its own address: $3.65
    assert not any(c.service in ("AWSELB",) or c.name.startswith("NAT") for c in option.components)
    # 74.61 + 3.65 + 7 metrics $2.10 + logs, data out, model file
    assert option.usd_per_month == pytest.approx(
        EC2_INSTANCE + 3.65 + 7 * 0.30 + CLOUDWATCH_LOGS + DATA_OUT + MODEL_FILE
    )
    assert option.usd_per_month == pytest.approx(80.41, abs=0.01)


def test_ec2_internal_multi_az_an_internal_alb_and_a_nat_gateway():
    option, parts = design("internal", "multi-az", "ec2-on-demand:c6i.large")
    assert parts["front door"] == ("internal ALB", pytest.approx(ALB))  # no public addresses
    # egress: no public address for an internal service; NAT $36.50 + (logs + 2 image pulls) x $0.045 =
    # $36.89 beats 4 endpoints x 2 zones x 730 h x $0.01 = $58.40 + GB x $0.01
    gb = LOGS_GB + 2 * IMAGES_GB  # 8.7233
    assert parts["egress"] == ("NAT gateway", pytest.approx(NAT + gb * 0.045))
    assert parts["egress"][1] == pytest.approx(36.89, abs=0.01)
    assert parts["data transfer out"][1] == 0.0 and parts["data transfer out"][0].startswith(
        "none to the internet"
    )
    assert not any(c.service == "AWSDataTransfer" for c in option.components)
    assert option.usd_per_month == pytest.approx(205.30, abs=0.01)


def test_ec2_internal_single_no_front_door_and_interface_endpoints():
    option, parts = design("internal", "single", "ec2-on-demand:c6i.large")
    assert parts["front door"] == ("none: callers reach the instance's private address", 0.0)
    # egress: 4 endpoints in 1 zone, 730 h x $0.01 each = $29.20 + GB x $0.01 beats NAT $36.50 + GB x $0.045
    gb = LOGS_GB + IMAGES_GB  # 4.39
    assert parts["egress"] == (
        "interface endpoints (ECR, CloudWatch Logs, CloudWatch)",
        pytest.approx(29.2 + gb * 0.01),
    )
    names = {c.name for c in option.components}
    assert "Interface endpoints ecr.api, ecr.dkr, logs, monitoring (x1 zones)" in names
    assert option.usd_per_month == pytest.approx(105.99, abs=0.01)


def test_a_single_zone_fleet_gets_an_alb_once_it_needs_a_second_instance():
    # 3M requests a day: peak 104.2 requests/s over 160 x 60 % = 96 per instance -> 2 instances in one zone
    option, parts = design("public", "single", "ec2-on-demand:c6i.large", 3_000_000)
    assert option.details["instances"] == 2
    assert parts["front door"][0] == "internet-facing ALB"
    assert parts["compute"][0] == "2 x c6i.large, batch 64, in one zone"


@pytest.mark.parametrize(
    ("exposure", "availability", "front_door", "egress", "total"),
    [
        # 2 tasks (730 h x (0.5 x $0.04048 + 1 x $0.004445) = $18.02 each + starts), 5 metrics, no volumes
        ("public", "multi-az", ("internet-facing ALB", ALB + 7.30), 7.30, 68.64),
        (
            "public",
            "single",
            ("none: clients reach the instance's own public IPv4 address (TLS on the instance)", 0.0),
            3.65,
            23.22,
        ),
        ("internal", "multi-az", ("internal ALB", ALB), NAT + (LOGS_GB + 2 * IMAGES_GB) * 0.045, 90.92),
        (
            "internal",
            "single",
            ("none: callers reach the instance's private address", 0.0),
            29.2 + (LOGS_GB + IMAGES_GB) * 0.01,
            48.80,
        ),
    ],
)
def test_fargate_designs(exposure, availability, front_door, egress, total):
    option, parts = design(exposure, availability, "fargate")
    tasks = 2 if availability == "multi-az" else 1
    task = 730 * (0.5 * 0.04048 + 1 * 0.004445) + 52 / 12 * 120 / 3600 * (0.5 * 0.04048 + 0.004445)
    assert parts["compute"][1] == pytest.approx(tasks * task)
    assert parts["front door"] == (front_door[0], pytest.approx(front_door[1]))
    assert parts["egress"][1] == pytest.approx(egress)
    assert option.usd_per_month == pytest.approx(total, abs=0.01)


def test_lambda_public_is_its_free_function_url_and_internal_an_interface_endpoint():
    compute = R / 1e6 * 0.20 + R * (110 * 2 * 1769 / 1024 + 0.5) / 1000 * 0.0000166667  # 1.990058
    logs = 5 * 0.30 + R * 460 / 2**30 * (0.50 + 0.03)  # the function's lines + Lambda's 260 B
    for availability in ("multi-az", "single"):
        option, parts = design("public", availability, "lambda")
        assert parts["front door"] == ("Lambda function URL", 0.0)  # no API Gateway: not needed
        assert parts["compute"][1] == pytest.approx(compute)
        assert option.usd_per_month == pytest.approx(compute + logs + DATA_OUT + MODEL_FILE)  # 3.57
    # internal: Invoke through an interface endpoint, 730 h x $0.01 per zone + 800 B per request x $0.01/GB
    for availability, zones in (("multi-az", 2), ("single", 1)):
        option, parts = design("internal", availability, "lambda")
        assert parts["front door"] == (
            f"interface endpoint (lambda) in {zones} zone{'s' if zones > 1 else ''}",
            pytest.approx(zones * 7.30 + ENDPOINT_GB * 0.01),
        )
        assert option.usd_per_month == pytest.approx(
            compute + logs + zones * 7.30 + ENDPOINT_GB * 0.01 + MODEL_FILE
        )
    assert design("internal", "multi-az", "lambda")[0].usd_per_month == pytest.approx(18.16, abs=0.01)


def test_sagemaker_public_needs_a_front_door_internal_invokes_through_an_interface_endpoint():
    # serverless: public = a function URL + a 128 MB proxy that waits the endpoint's 380.56 ms:
    # R x $0.20/1M + R x 0.38056 s x 0.125 GB x $0.0000166667 = $0.0608 + $0.2412
    billed_s = (110 * 2 * 1769 / 1024 + 0.5) / 1000
    proxy = R / 1e6 * 0.20 + R * billed_s * 0.125 * 0.0000166667
    _, parts = design("public", "multi-az", "sagemaker-serverless")
    assert parts["front door"] == ("Lambda function URL + proxy function", pytest.approx(proxy))
    assert proxy == pytest.approx(0.302, abs=0.001)
    # the proxy writes Lambda's 260 B of log lines per request too
    assert parts["logs and metrics"][1] == pytest.approx(5 * 0.30 + R * 460 / 2**30 * 0.53)
    _, internal = design("internal", "single", "sagemaker-serverless")
    assert internal["front door"] == (
        "interface endpoint (runtime.sagemaker) in 1 zone",
        pytest.approx(7.30 + ENDPOINT_GB * 0.01),
    )
    # real-time: the proxy waits the endpoint's p95 at batch 64 (0.6 s, an upper bound of the mean)
    _, parts = design("public", "single", "sagemaker-realtime")
    assert parts["front door"][1] == pytest.approx(R / 1e6 * 0.20 + R * 0.6005 * 0.125 * 0.0000166667)
    assert parts["compute"] == (
        "1 x ml.c5.large, batch 64, in one zone",
        pytest.approx(730 * 0.102 + 52 / 12 * 120 / 3600 * 0.102),
    )
    _, internal = design("internal", "multi-az", "sagemaker-realtime")
    assert internal["front door"][0] == "interface endpoint (runtime.sagemaker) in 2 zones"
    assert internal["compute"][0] == "2 x ml.c5.large, batch 64, across 2 zones"


def test_workers_cannot_be_internal():
    a = ServingAssumptions(exposure="internal")
    option = cost_scenario(PROFILE, SHEET, 10_000, assumptions=a).option("cloudflare-workers")
    assert not option.feasible and "not in the VPC" in option.reason
    _, parts = design("public", "single", "cloudflare-workers")
    assert parts["front door"] == ("the Worker's route on Cloudflare's network (included)", 0)


def test_the_requirement_is_checked_and_min_instances_respects_it():
    with pytest.raises(ValueError, match="exposure='private' must be one of public, internal"):
        ServingAssumptions(exposure="private")
    with pytest.raises(ValueError, match="availability='multi' must be one of multi-az, single"):
        ServingAssumptions(availability="multi")
    with pytest.raises(ValueError, match="min_instances=1 is too few for availability='multi-az'"):
        ServingAssumptions(min_instances=1)
    assert ServingAssumptions(availability="single").instance_floor == 1
    assert ServingAssumptions(availability="single", min_instances=3).instance_floor == 3
    assert ServingAssumptions().instance_floor == 2


def test_the_grid_json_names_the_requirement_and_every_options_design():
    a = ServingAssumptions(exposure="internal", availability="single")
    document = cost_grid(PROFILE, SHEET, [10_000], assumptions=a).to_json_dict()
    assert document["requirement"] == {"exposure": "internal", "availability": "single"}
    option = next(o for o in document["scenarios"][0]["options"] if o["key"] == "ec2-on-demand:c6i.large")
    roles = [part["role"] for part in option["design"]]
    assert roles == [
        "front door",
        "compute",
        "egress",
        "logs and metrics",
        "data transfer out",
        "model storage",
    ]
    egress = option["design"][2]
    assert egress["cost_components"] == [
        "Interface endpoints ecr.api, ecr.dkr, logs, monitoring (x1 zones)",
        "Interface endpoints: data processed (image pulls, logs)",
    ]
    assert sum(part["monthly_cost"] for part in option["design"]) == pytest.approx(option["monthly_cost"])
