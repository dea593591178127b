"""What a cloud training run bills outside its training process: boot before it, upload after it.

A spot instance is billed from launch to termination. The training process (what a local run's
``training.total_wall_seconds`` measures: setup, steps, evaluation, checkpoints) runs in between:

* **before** it, launch, boot, cloud-init, installing the bundle (python and the torch CPU wheel)
  and reading the config: an attempt's ``launched_at`` to ``training_started_at`` in the spot ledger;
* **after** it, the model and metrics upload, the log and outcome marker, and shutdown: from the
  end of its training loop (``training.segments[].finished_at``) to ``terminated_at``.

Every estimate of a run that has not been billed (the local run priced *as if* on an instance, the
expected run of the TCO, the budget guard's pre-flight estimate) adds this overhead once, as a
:class:`RunOverhead` that says where its number came from:

* from the **spot ledger** of earlier attempts (``compute.attempts`` and ``training.segments`` of
  earlier ``ec2_spot`` runs' ``metrics.json``; the pipeline fetches them): the median boot plus the
  median upload-and-shutdown, on the same instance type when there are any (:func:`overhead_from_ledger`);
* otherwise :data:`DEFAULT_RUN_OVERHEAD`, labelled as a default that was not measured on this account.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Launch + boot + `dnf install python3.11` + `pip install` of the bundle with the torch CPU wheel on
# Amazon Linux 2023, then the upload and shutdown: assumed when the spot backend was written, never
# measured on an AWS account. The first spot run's ledger replaces it.
DEFAULT_RUN_OVERHEAD_SECONDS = 300.0
DEFAULT_RUN_OVERHEAD_SOURCE = (
    f"default {DEFAULT_RUN_OVERHEAD_SECONDS:.0f} s, not measured on this account: assumed for launch, boot, "
    "installing python and the torch CPU wheel on Amazon Linux 2023, upload and shutdown; "
    "no earlier spot attempt recorded it"
)


@dataclass(frozen=True)
class RunOverhead:
    """Seconds a cloud run bills outside its training process, and where that number came from."""

    seconds: float
    source: str  # in words, for the output: measured on which attempts, or the default
    attempts: int = 0  # earlier attempts behind the number; 0 = the default

    def __post_init__(self) -> None:
        if not self.seconds >= 0:
            raise ValueError(f"RunOverhead.seconds={self.seconds!r} must be >= 0")

    @property
    def measured(self) -> bool:
        return self.attempts > 0


DEFAULT_RUN_OVERHEAD = RunOverhead(DEFAULT_RUN_OVERHEAD_SECONDS, DEFAULT_RUN_OVERHEAD_SOURCE)


@dataclass(frozen=True)
class OverheadSample:
    """One earlier attempt's overhead, as its ledger row and training segment recorded it."""

    instance_type: str
    boot_seconds: float  # launch to training start
    after_training_seconds: float | None = None  # end of the training loop to termination (None: unknown)


def _moment(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def overhead_samples(metrics: Mapping[str, Any]) -> list[OverheadSample]:
    """The samples of one earlier run's ``metrics.json``: one per attempt that recorded when training started.

    The upload and shutdown part is known for an attempt whose training segment (the one that started
    while it ran) finished its loop. Rows an older version wrote, or garbled ones, are skipped.
    """
    compute = metrics.get("compute") or {}
    training = metrics.get("training") or {}
    segments = []
    for segment in training.get("segments") or []:
        try:
            segments.append((_moment(segment.get("started_at")), _moment(segment.get("finished_at"))))
        except (AttributeError, TypeError, ValueError):
            continue
    samples = []
    for row in compute.get("attempts") or []:
        try:
            launched = _moment(row["launched_at"])
            started = _moment(row.get("training_started_at"))
            ended = _moment(row.get("terminated_at"))
            instance_type = str(row["instance_type"])
        except (KeyError, TypeError, ValueError):
            continue
        if launched is None or started is None or started < launched:
            continue
        after = None
        if ended is not None:
            finished = next(
                (f for s, f in segments if s is not None and launched <= s <= ended and f is not None), None
            )
            if finished is not None and finished <= ended:
                after = (ended - finished).total_seconds()
        samples.append(OverheadSample(instance_type, (started - launched).total_seconds(), after))
    return samples


def overhead_from_ledger(samples: Iterable[OverheadSample], instance_type: str) -> RunOverhead:
    """Median boot + median upload-and-shutdown of earlier attempts (on ``instance_type`` if any), else the default.

    Example: boots of 100, 130 and 180 s and uploads of 20 and 30 s on r6i.xlarge -> 130 + 25 = 155 s.
    """
    by_type: dict[str, list[OverheadSample]] = {}
    for sample in samples:
        by_type.setdefault(sample.instance_type, []).append(sample)
    same = by_type.get(instance_type, [])
    chosen = same or [sample for group in by_type.values() for sample in group]
    if not chosen:
        return DEFAULT_RUN_OVERHEAD
    boot = statistics.median(s.boot_seconds for s in chosen)
    after = [s.after_training_seconds for s in chosen if s.after_training_seconds is not None]
    where = (
        f"on {instance_type}" if same else f"on {', '.join(sorted(by_type))} (none on {instance_type} yet)"
    )
    plural = "s" if len(chosen) > 1 else ""
    parts = (
        f"median boot {boot:,.0f} s + median upload and shutdown {statistics.median(after):,.0f} s"
        if after
        else f"median boot {boot:,.0f} s (upload and shutdown not recorded)"
    )
    return RunOverhead(
        seconds=float(boot + (statistics.median(after) if after else 0.0)),
        source=f"measured on {len(chosen)} earlier spot attempt{plural} {where}: {parts}",
        attempts=len(chosen),
    )
