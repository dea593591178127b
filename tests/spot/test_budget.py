"""The pre-flight estimate and the budget guard that refuses a run before anything is launched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def test_preflight_estimate_adds_boot_and_the_expected_interruption_overhead() -> None:
    from datetime import date

    from costing.pricing.sheet import InstanceRates, PriceSheet
    from pipeline.spot.budget import Throughput, preflight_estimate

    sheet = PriceSheet(
        region="us-east-1",
        snapshot_id="literal",
        prices_as_of=date(2026, 1, 1),
        instances={
            "r6i.xlarge": InstanceRates(
                "r6i.xlarge",
                4,
                32.0,
                "x86_64",
                on_demand_usd_per_hour=0.252,
                spot_usd_per_hour=0.0826,
                spot_p90_usd_per_hour=0.09,
                interruption_rate_per_month=0.10,
            )
        },
    )
    config = {
        "batch_size": 8,
        "seq_len": 32,
        "epochs": 1,
        "val_fraction": 0.1,
        "max_steps_per_epoch": 0,
        "checkpoint_every_steps": 50,
    }
    estimate = preflight_estimate(
        config=config,
        dataset_chars=40_000,
        throughput=Throughput(256.0, "literal"),
        sheet=sheet,
        instance_type="r6i.xlarge",
        market="spot",
    )
    # work 35,840 tokens / 256 tok/s = 140 s, + 300 s boot; 140 steps with a checkpoint every 50 (50 x 8 x 32 /
    # 256 = 50 s) and one at the end of the epoch: 2 + 1 = 3 writes of 2 s; M = 730 h x 3,600 / 0.10 =
    # 26,280,000 s; loss per interruption (50 + 2) / 2 + 180 = 206 s
    wall = (140 + 300 + 3 * 2) / (1 - 206 / 26_280_000)
    assert estimate.work_seconds == pytest.approx(140)
    assert estimate.expected_wall_seconds == pytest.approx(wall)
    assert estimate.usd == pytest.approx(wall / 3600 * 0.0826)
    on_demand = preflight_estimate(
        config=config,
        dataset_chars=40_000,
        throughput=Throughput(256.0, "literal"),
        sheet=sheet,
        instance_type="r6i.xlarge",
        market="on-demand",
    )
    assert on_demand.usd == pytest.approx((140 + 300 + 3 * 2) / 3600 * 0.252)  # no interruptions on-demand
    with pytest.raises(ValueError, match=r"m5\.large"):
        preflight_estimate(
            config=config,
            dataset_chars=40_000,
            throughput=Throughput(256.0, "literal"),
            sheet=sheet,
            instance_type="m5.large",
            market="spot",
        )


def test_budget_guard_message_names_the_estimate_and_the_budget(
    pipeline_home: Path, tiny_corpus: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from helpers import TINY_RUN_CONF

    from pipeline import names, tracking
    from pipeline.spot.budget import check_budget

    run_id = tracking.get_or_create_run(names.TRAINING_EXPERIMENT, "rnn_retraining", "manual__budget")
    validated = {
        "mlflow_run_id": run_id,
        "config": {**TINY_RUN_CONF, "val_fraction": 0.1, "corpus_uri": str(tiny_corpus)},
        "compute": {
            "backend": "ec2_spot",
            "instance_type": "r6i.xlarge",
            "region": "us-east-1",
            "market": "spot",
        },
        "dataset_chars": 40_000,
        "dataset_sha256": hashlib.sha256(tiny_corpus.read_bytes()).hexdigest(),
    }
    with pytest.raises(AirflowFailException) as refused:
        check_budget(validated=validated, params={"max_budget_usd": 0.001})
    message = str(refused.value)
    assert message.startswith("pre-flight estimate $0.0")
    assert "is above max_budget_usd $0.001; nothing was launched" in message
    assert "no comparable finished run in MLflow; conservative default 2,000" in message
    assert "r6i.xlarge spot in us-east-1" in message
    assert "300 s boot, setup and upload (default 300 s, not measured on this account:" in message
    accepted = check_budget(validated=validated, params={"max_budget_usd": 5})
    assert 0.001 < accepted["usd"] < 5


def test_preflight_uses_the_measured_boot_overhead() -> None:
    from datetime import date

    from costing.model.training import RunOverhead
    from costing.pricing.sheet import InstanceRates, PriceSheet
    from pipeline.spot.budget import Throughput, preflight_estimate

    sheet = PriceSheet(
        region="us-east-1",
        snapshot_id="literal",
        prices_as_of=date(2026, 1, 1),
        instances={
            "r6i.xlarge": InstanceRates(
                "r6i.xlarge",
                4,
                32.0,
                "x86_64",
                on_demand_usd_per_hour=0.252,
                spot_usd_per_hour=None,
                spot_p90_usd_per_hour=None,
            )
        },
    )
    config = {"batch_size": 8, "seq_len": 32, "epochs": 1, "val_fraction": 0.1, "checkpoint_every_steps": 50}
    estimate = preflight_estimate(
        config=config,
        dataset_chars=40_000,
        throughput=Throughput(256.0, "literal"),
        sheet=sheet,
        instance_type="r6i.xlarge",
        market="on-demand",
        overhead=RunOverhead(120.0, "measured on 2 earlier spot attempts on r6i.xlarge: ...", 2),
    )
    # 140 s of work + 120 s measured boot + 3 checkpoint writes of 2 s, no interruptions on-demand
    assert estimate.expected_wall_seconds == pytest.approx(140 + 120 + 3 * 2)
    assert estimate.usd == pytest.approx((140 + 120 + 3 * 2) / 3600 * 0.252)
    assert (
        "120 s boot, setup and upload (measured on 2 earlier spot attempts on r6i.xlarge"
        in estimate.describe()
    )
