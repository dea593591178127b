"""The boot and upload a cloud run bills outside its training process: from the ledger, else the default."""

from __future__ import annotations

import pytest

from costing.model.training import (
    DEFAULT_RUN_OVERHEAD,
    OverheadSample,
    RunOverhead,
    overhead_from_ledger,
    overhead_samples,
)


def attempt(instance_type: str, day: int, boot: str | None, terminated: str = "10:30:00") -> dict:
    return {
        "instance_id": "i-0123456789abcdef0",
        "instance_type": instance_type,
        "availability_zone": "us-east-1a",
        "market": "spot",
        "launched_at": f"2026-01-{day:02d}T10:00:00.000000Z",
        "training_started_at": None if boot is None else f"2026-01-{day:02d}T{boot}.000000Z",
        "terminated_at": f"2026-01-{day:02d}T{terminated}.000000Z",
        "interrupted": False,
        "attempt": "1.1",
        "outcome": "done",
    }


def segment(day: int, started: str, finished: str | None) -> dict:
    return {
        "started_at": f"2026-01-{day:02d}T{started}.000000Z",
        "finished_at": None if finished is None else f"2026-01-{day:02d}T{finished}.000000Z",
        "setup_seconds": 5.0,
        "checkpoint_seconds": 1.0,
        "checkpoints": 2,
    }


def run(*attempts: dict, segments: tuple[dict, ...] = ()) -> dict:
    return {
        "compute": {"backend": "ec2_spot", "attempts": list(attempts)},
        "training": {"segments": list(segments)},
    }


def test_samples_from_an_earlier_runs_metrics():
    # Launched 10:00:00, training started 10:02:10 (130 s boot), the loop ended 10:29:35, terminated
    # 10:30:00: 25 s of upload and shutdown.
    document = run(attempt("r6i.xlarge", 5, "10:02:10"), segments=(segment(5, "10:02:10", "10:29:35"),))
    assert overhead_samples(document) == [OverheadSample("r6i.xlarge", 130.0, 25.0)]
    # Interrupted before its loop ended: the boot is known, the upload is not.
    unfinished = run(attempt("r6i.xlarge", 6, "10:01:40"), segments=(segment(6, "10:01:40", None),))
    assert overhead_samples(unfinished) == [OverheadSample("r6i.xlarge", 100.0, None)]
    # Failed before training started, a row from an older ledger, no compute at all: no sample.
    assert overhead_samples(run(attempt("r6i.xlarge", 8, None), {"instance_type": "r6i.xlarge"})) == []
    assert overhead_samples({"training": {}}) == []


def test_the_ledger_gives_the_median_boot_plus_the_median_upload_on_the_instance_type():
    samples = [
        OverheadSample("r6i.xlarge", 130.0, 30.0),
        OverheadSample("r6i.xlarge", 100.0, 20.0),
        OverheadSample("r6i.xlarge", 180.0, None),  # interrupted: no upload
        OverheadSample("c7g.large", 600.0, 40.0),
    ]
    same = overhead_from_ledger(samples, "r6i.xlarge")
    assert (same.seconds, same.attempts, same.measured) == (130.0 + 25.0, 3, True)
    assert same.source == (
        "measured on 3 earlier spot attempts on r6i.xlarge: median boot 130 s + median upload and shutdown 25 s"
    )
    other = overhead_from_ledger(samples, "m7i.large")  # none on it: every type's attempts
    assert (other.seconds, other.attempts) == (
        155.0 + 30.0,
        4,
    )  # medians of 100, 130, 180, 600 and 20, 30, 40
    assert other.source.startswith(
        "measured on 4 earlier spot attempts on c7g.large, r6i.xlarge (none on m7i.large"
    )
    boot_only = overhead_from_ledger([OverheadSample("r6i.xlarge", 120.0)], "r6i.xlarge")
    assert (boot_only.seconds, boot_only.source) == (
        120.0,
        "measured on 1 earlier spot attempt on r6i.xlarge: median boot 120 s (upload and shutdown not recorded)",
    )


def test_without_a_ledger_the_default_says_it_was_not_measured():
    default = overhead_from_ledger([], "r6i.xlarge")
    assert default is DEFAULT_RUN_OVERHEAD
    assert (default.seconds, default.attempts, default.measured) == (300.0, 0, False)
    assert default.source.startswith("default 300 s, not measured on this account: assumed for launch, boot")
    with pytest.raises(ValueError, match="seconds=-1"):
        RunOverhead(-1.0, "nonsense")
