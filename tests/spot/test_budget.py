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
    assert "300 s boot/install (default 300 s: no earlier spot attempt measured it)" in message
    accepted = check_budget(validated=validated, params={"max_budget_usd": 5})
    assert 0.001 < accepted["usd"] < 5


def _attempt(instance_type: str, launched: str, training_started: str | None) -> dict:
    return {
        "instance_id": "i-0123456789abcdef0",
        "instance_type": instance_type,
        "availability_zone": "us-east-1a",
        "market": "spot",
        "launched_at": launched,
        "terminated_at": "2026-01-05T11:00:00.000000Z",
        "interrupted": False,
        "attempt": "1.1",
        "outcome": "done",
        "training_started_at": training_started,
    }


def test_boot_overhead_is_the_median_of_earlier_attempts_on_the_instance_type() -> None:
    from pipeline.spot.budget import BOOT_SECONDS, measured_boot

    attempts = [
        _attempt("r6i.xlarge", "2026-01-05T10:00:00.000000Z", "2026-01-05T10:02:10.000000Z"),  # 130 s
        _attempt("r6i.xlarge", "2026-01-06T10:00:00.000000Z", "2026-01-06T10:01:40.000000Z"),  # 100 s
        _attempt("r6i.xlarge", "2026-01-07T10:00:00.000000Z", "2026-01-07T10:03:00.000000Z"),  # 180 s
        _attempt("c7g.large", "2026-01-07T10:00:00.000000Z", "2026-01-07T10:10:00.000000Z"),  # 600 s
        _attempt("r6i.xlarge", "2026-01-08T10:00:00.000000Z", None),  # failed before training: no sample
        {"instance_type": "r6i.xlarge"},  # a row from an older ledger: ignored
    ]
    same = measured_boot(attempts, "r6i.xlarge")
    assert (same.seconds, same.attempts) == (130.0, 3)
    assert same.source == "median of 3 earlier attempts on r6i.xlarge"
    other = measured_boot(attempts, "m7i.large")
    assert (other.seconds, other.attempts) == (155.0, 4)  # median of 100, 130, 180, 600
    assert other.source == "median of 4 earlier attempts on c7g.large, r6i.xlarge (none on m7i.large yet)"
    none = measured_boot([], "r6i.xlarge")
    assert (none.seconds, none.attempts) == (BOOT_SECONDS, 0)
    assert none.source.startswith("default 300 s")


def test_preflight_uses_the_measured_boot_overhead() -> None:
    from datetime import date

    from costing.pricing.sheet import InstanceRates, PriceSheet
    from pipeline.spot.budget import BootOverhead, Throughput, preflight_estimate

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
        boot=BootOverhead(120.0, "median of 2 earlier attempts on r6i.xlarge", 2),
    )
    # 140 s of work + 120 s measured boot + 3 checkpoint writes of 2 s, no interruptions on-demand
    assert estimate.expected_wall_seconds == pytest.approx(140 + 120 + 3 * 2)
    assert estimate.usd == pytest.approx((140 + 120 + 3 * 2) / 3600 * 0.252)
    assert "120 s boot/install (median of 2 earlier attempts on r6i.xlarge)" in estimate.describe()
