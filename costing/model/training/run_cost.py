"""The cost of one training run.

Two ways to get it, one result type (:class:`TrainingCost`):

* :func:`estimate_training_cost` - a run measured somewhere else (the ``local`` backend) priced *as
  if* it had run for the same time on the configured instance type and market, plus the boot, setup
  and upload a cloud run also bills (:mod:`~costing.model.training.overhead`: from the spot ledger of
  earlier attempts, else a labelled default). Labelled an estimate.
* :func:`spot_training_cost` - a real cloud run described by its instance attempts (launch and
  terminate times, AZ, market). Each attempt is billed on its own: per second, 60-second minimum,
  at the spot price in force in its AZ while it ran.

Billing rules (Linux, on-demand and spot): per-second billing with a minimum of
:data:`~costing.pricing.defaults.MINIMUM_BILLED_SECONDS` per instance launch. An interrupted spot instance is
billed for the seconds it ran. Storage (EBS, S3) and data transfer are not part of this module yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from costing.model.training.overhead import DEFAULT_RUN_OVERHEAD, RunOverhead
from costing.model.training.rules import billed_seconds_for
from costing.pricing import PriceCatalog
from costing.pricing.defaults import MARKET_ON_DEMAND, MARKET_SPOT, MARKETS, MINIMUM_BILLED_SECONDS
from costing.pricing.parse import region_of_availability_zone
from costing.units import SECONDS_PER_HOUR

MARKET_MIXED = "mixed"  # a multi-attempt run that fell back from spot to on-demand


@dataclass(frozen=True)
class TrainingCost:
    """What one training run cost (or would have cost), with the rates and basis it was computed on."""

    instance_type: str
    region: str
    market: str  # "spot" | "on-demand" ("mixed" for multi-attempt runs that used both)
    billed_seconds: float  # after the 60-second minimum per attempt
    usd: float  # cost at the configured market
    on_demand_usd: float  # the same seconds at the on-demand rate
    spot_savings_pct: float  # (on_demand_usd - usd) / on_demand_usd * 100; 0 for the on-demand market
    per_epoch_usd: float
    usd_per_hour: float  # rate used at the configured market (average over attempts when billed)
    on_demand_usd_per_hour: float
    basis: str  # one sentence saying how the number was computed
    is_estimate: bool  # True when the run did not happen on this instance type
    snapshot_id: str  # the pricing snapshot the rates came from
    attempts: int = 1  # instance launches billed
    overhead_seconds: float = 0.0  # estimates: boot, setup and upload added to the measured seconds
    overhead_source: str = ""  # estimates: where overhead_seconds came from (the ledger, or the default)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InstanceAttempt:
    """One instance launch of a cloud training run; a spot run may need several after interruptions."""

    instance_type: str
    availability_zone: str
    market: str  # "spot" | "on-demand"
    launch_time: datetime  # timezone-aware
    terminate_time: datetime  # timezone-aware
    interrupted: bool = False  # reclaimed by EC2 (spot interruption)
    instance_id: str = ""

    def __post_init__(self) -> None:
        _check_market(self.market)
        region_of_availability_zone(self.availability_zone)  # raises on a malformed AZ
        if self.launch_time.tzinfo is None or self.terminate_time.tzinfo is None:
            raise ValueError(
                f"attempt {self.instance_id or self.instance_type}: launch_time and terminate_time must be "
                "timezone-aware datetimes (EC2 reports UTC)"
            )
        if self.terminate_time < self.launch_time:
            raise ValueError(
                f"attempt {self.instance_id or self.instance_type}: terminate_time {self.terminate_time} "
                f"is before launch_time {self.launch_time}"
            )

    @property
    def region(self) -> str:
        return region_of_availability_zone(self.availability_zone)

    @property
    def seconds(self) -> float:
        """Seconds the instance ran (before the billing minimum)."""
        return (self.terminate_time - self.launch_time).total_seconds()


def billed_seconds(attempt: InstanceAttempt) -> float:
    """Seconds billed for one attempt (per-second billing, with the minimum per launch)."""
    return billed_seconds_for(attempt.seconds)


def estimate_training_cost(
    *,
    duration_seconds: float,
    epochs: int,
    instance_type: str,
    region: str,
    market: str,
    catalog: PriceCatalog,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> TrainingCost:
    """Price a run that took ``duration_seconds``, plus ``overhead``, as one launch of ``instance_type`` in ``region``.

    Spot uses :meth:`PriceCatalog.current_spot_usd_per_hour` (mean over AZs of each AZ's latest
    price), since a run that did not happen on EC2 has no AZ or launch time to look up.
    Example: 1,500 s + 300 s overhead on-demand at $0.252/h -> billed 1,800 s -> $0.126.
    """
    _check_duration(duration_seconds)
    _check_epochs(epochs)
    _check_market(market)
    on_demand_rate = catalog.on_demand_usd_per_hour(instance_type, region)
    if market == MARKET_SPOT:
        rate = catalog.current_spot_usd_per_hour(instance_type, region)
        rate_basis = "mean of AZ prices"
    else:
        rate = on_demand_rate
        rate_basis = "on-demand rate"
    seconds = billed_seconds_for(duration_seconds + overhead.seconds)
    usd = seconds / SECONDS_PER_HOUR * rate
    on_demand_usd = seconds / SECONDS_PER_HOUR * on_demand_rate
    return TrainingCost(
        instance_type=instance_type,
        region=region,
        market=market,
        billed_seconds=seconds,
        usd=usd,
        on_demand_usd=on_demand_usd,
        spot_savings_pct=_savings_pct(usd, on_demand_usd) if market == MARKET_SPOT else 0.0,
        per_epoch_usd=usd / epochs,
        usd_per_hour=rate,
        on_demand_usd_per_hour=on_demand_rate,
        basis=(
            f"estimate: local run of {duration_seconds:,.1f} s + {overhead.seconds:,.0f} s boot, setup and upload "
            f"({overhead.source}), priced as if on {instance_type} {market} in {region} "
            f"({rate_basis}, snapshot {catalog.snapshot_id})"
        ),
        is_estimate=True,
        snapshot_id=catalog.snapshot_id,
        overhead_seconds=overhead.seconds,
        overhead_source=overhead.source,
    )


def attempt_usd(attempt: InstanceAttempt, catalog: PriceCatalog) -> float:
    """What one attempt was billed: its billed seconds at the price in force while it ran.

    Spot prices are integrated over the billed interval, switching at each recorded price change in
    its AZ; an attempt shorter than the minimum is priced as if it ran the full minimum.
    """
    seconds = billed_seconds(attempt)
    if attempt.market == MARKET_ON_DEMAND:
        return (
            seconds / SECONDS_PER_HOUR * catalog.on_demand_usd_per_hour(attempt.instance_type, attempt.region)
        )
    start = attempt.launch_time
    end = start + timedelta(seconds=seconds)
    changes = sorted(
        point.timestamp
        for point in catalog.spot_history(attempt.instance_type, attempt.region)
        if point.availability_zone == attempt.availability_zone and start < point.timestamp < end
    )
    usd = 0.0
    for segment_start, segment_end in zip([start, *changes], [*changes, end], strict=True):
        rate = catalog.spot_usd_per_hour_at(
            attempt.instance_type, attempt.region, attempt.availability_zone, segment_start
        )
        usd += (segment_end - segment_start).total_seconds() / SECONDS_PER_HOUR * rate
    return usd


def spot_training_cost(
    attempts: Sequence[InstanceAttempt], catalog: PriceCatalog, *, epochs: int
) -> TrainingCost:
    """The billed cost of a cloud run from its attempts (all of one instance type in one region)."""
    if not attempts:
        raise ValueError("attempts is empty: a billed run needs at least one instance attempt")
    _check_epochs(epochs)
    instance_types = sorted({a.instance_type for a in attempts})
    regions = sorted({a.region for a in attempts})
    if len(instance_types) > 1 or len(regions) > 1:
        raise ValueError(
            f"attempts mix instance types {instance_types} / regions {regions}; "
            "cost each instance type and region separately and add the results"
        )
    instance_type, region = instance_types[0], regions[0]
    on_demand_rate = catalog.on_demand_usd_per_hour(instance_type, region)
    seconds = sum(billed_seconds(a) for a in attempts)
    usd = sum(attempt_usd(a, catalog) for a in attempts)
    on_demand_usd = seconds / SECONDS_PER_HOUR * on_demand_rate
    markets = sorted({a.market for a in attempts})
    market = markets[0] if len(markets) == 1 else MARKET_MIXED
    interrupted = sum(1 for a in attempts if a.interrupted)
    return TrainingCost(
        instance_type=instance_type,
        region=region,
        market=market,
        billed_seconds=seconds,
        usd=usd,
        on_demand_usd=on_demand_usd,
        spot_savings_pct=0.0 if market == MARKET_ON_DEMAND else _savings_pct(usd, on_demand_usd),
        per_epoch_usd=usd / epochs,
        usd_per_hour=usd / (seconds / SECONDS_PER_HOUR),
        on_demand_usd_per_hour=on_demand_rate,
        basis=(
            f"billed: {len(attempts)} attempt(s) of {instance_type} {market} in {region} "
            f"({interrupted} interrupted), per-second billing with a {MINIMUM_BILLED_SECONDS}-second minimum "
            f"per attempt, spot price in force per AZ (snapshot {catalog.snapshot_id})"
        ),
        is_estimate=False,
        snapshot_id=catalog.snapshot_id,
        attempts=len(attempts),
    )


def _savings_pct(usd: float, on_demand_usd: float) -> float:
    return (on_demand_usd - usd) / on_demand_usd * 100 if on_demand_usd > 0 else 0.0


def _check_market(market: str) -> None:
    if market not in MARKETS:
        raise ValueError(f"market={market!r} is not one of {', '.join(repr(m) for m in MARKETS)}")


def _check_duration(duration_seconds: float) -> None:
    if (
        isinstance(duration_seconds, bool)
        or not isinstance(duration_seconds, int | float)
        or not math.isfinite(duration_seconds)
        or duration_seconds <= 0
    ):
        raise ValueError(
            f"duration_seconds={duration_seconds!r} must be a positive, finite number of seconds "
            "(the measured wall-clock time of the training run)"
        )


def _check_epochs(epochs: int) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(
            f"epochs={epochs!r} must be an integer >= 1 (the number of epochs the run completed)"
        )


# -- spot-true accounting: where each billed second of an attempt went --------------------------------------


@dataclass(frozen=True)
class AttemptTimings:
    """What the training process of one attempt measured about itself (metrics.json ``training.segments[]``).

    A process killed without warning is known up to its last checkpoint (the segment is saved in it).
    """

    started_at: datetime  # the process started (after boot, install and bundle download)
    setup_seconds: float  # corpus download/read, vocabulary, batches, model
    restore_seconds: float  # loading the checkpoint it resumed from
    work_seconds: float  # training steps + evaluation kept: up to the last checkpoint, or to the end
    checkpoint_seconds: float  # checkpoint writes finished (before the last one, if it did not finish)
    checkpoints: int  # checkpoint writes started
    last_checkpoint_at: datetime | None  # when the last checkpoint write started
    finished_at: datetime | None  # the process ended its loop itself (None: known as of its last checkpoint)

    @classmethod
    def from_segment(cls, segment: dict) -> AttemptTimings:
        def moment(value: str | None) -> datetime | None:
            return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00"))

        started = moment(segment["started_at"])
        if started is None:
            raise ValueError(f"training segment {segment!r} has no started_at")
        return cls(
            started_at=started,
            setup_seconds=float(segment.get("setup_seconds") or 0.0),
            restore_seconds=float(segment.get("restore_seconds") or 0.0),
            work_seconds=float(segment.get("work_seconds") or 0.0),
            checkpoint_seconds=float(segment.get("checkpoint_seconds") or 0.0),
            checkpoints=int(segment.get("checkpoints") or 0),
            last_checkpoint_at=moment(segment.get("last_checkpoint_at")),
            finished_at=moment(segment.get("finished_at")),
        )


@dataclass(frozen=True)
class AttemptSeconds:
    """One attempt's billed seconds split four ways: training + wasted + overhead = billable.

    * training: steps and evaluation whose result survived (in the checkpoint the next attempt
      resumed from, or in the final model);
    * wasted: work done after the last checkpoint that the interruption threw away (all of an
      attempt that left no checkpoint at all: it bought nothing);
    * overhead: startup (boot, install, bundle and data download, restore), checkpoint writes, and
      the rest (model upload and shutdown after the end, the 60-second minimum, unmeasured gaps).
    """

    billable_seconds: float
    training_seconds: float
    wasted_seconds: float
    startup_seconds: float
    checkpoint_seconds: float
    other_overhead_seconds: float
    measured: bool  # False: no timings for this attempt (everything counted as wasted)

    @property
    def overhead_seconds(self) -> float:
        return self.startup_seconds + self.checkpoint_seconds + self.other_overhead_seconds


def split_attempt_seconds(attempt: InstanceAttempt, timings: AttemptTimings | None) -> AttemptSeconds:
    """Where the billed seconds of ``attempt`` went (see :class:`AttemptSeconds`).

    An attempt that did not finish is known up to its last checkpoint: the write that started then is
    taken to last as long as the attempt's earlier writes did on average; everything from its end to
    the instance's termination was wasted. Whatever the parts do not explain (the billing minimum,
    shutdown, clocks a little apart) is overhead; parts that add up to more than the billed seconds
    are trimmed from overhead first, then from waste.

    Example: launched 10:00:00, process started 10:01:30 (90 s boot), 20 s setup, 10 s restore,
    1,048 s of work kept, 5 checkpoint writes started, the last at 10:20:00, the 4 before it 32 s in
    all (so the last took 8 s), terminated 10:25:00 -> billable 1,500 s = training 1,048 +
    wasted 292 (10:20:08 to 10:25:00) + overhead 160 (startup 120, checkpoints 40).
    """
    billable = billed_seconds(attempt)
    if timings is None:
        return AttemptSeconds(billable, 0.0, billable, 0.0, 0.0, 0.0, measured=False)
    boot = max(0.0, (timings.started_at - attempt.launch_time).total_seconds())
    startup = boot + timings.setup_seconds + timings.restore_seconds
    training = max(0.0, timings.work_seconds)
    if timings.finished_at is None:
        completed = max(timings.checkpoints - 1, 0)
        last_write = timings.checkpoint_seconds / completed if completed else 0.0
        checkpoints = timings.checkpoint_seconds + last_write
        kept_until = (
            timings.last_checkpoint_at + timedelta(seconds=last_write)
            if timings.last_checkpoint_at is not None
            else timings.started_at + timedelta(seconds=timings.setup_seconds + timings.restore_seconds)
        )
        wasted = max(0.0, (attempt.terminate_time - kept_until).total_seconds())
        if timings.last_checkpoint_at is None:  # no checkpoint: nothing it trained survived
            training = 0.0
    else:
        checkpoints = timings.checkpoint_seconds
        wasted = 0.0
    other = billable - (training + wasted + startup + checkpoints)
    excess, other = max(0.0, -other), max(0.0, other)  # parts exceeding the bill: clocks apart
    startup, excess = _trim(startup, excess)
    checkpoints, excess = _trim(checkpoints, excess)
    wasted, excess = _trim(wasted, excess)
    training, excess = _trim(training, excess)
    return AttemptSeconds(billable, training, wasted, startup, checkpoints, other, measured=True)


def _trim(value: float, excess: float) -> tuple[float, float]:
    cut = min(value, excess)
    return value - cut, excess - cut


@dataclass(frozen=True)
class SpotAccounting:
    """A cloud run's instance cost split into training, wasted and overhead, with effective savings.

    Each attempt's seconds are priced at that attempt's average rate (its billed USD / billed seconds).
    The on-demand equivalent is what the same work would have cost on one uninterrupted on-demand
    instance: the billed seconds less the wasted ones and less the startup of every attempt after the
    first. ``effective_savings_pct = (1 - billed / on-demand equivalent) x 100`` - SageMaker's managed
    spot savings, extended with waste: it drops (and goes negative) as interruptions throw work away.
    """

    attempts: tuple[AttemptSeconds, ...]
    attempt_usd: tuple[float, ...]
    on_demand_usd_per_hour: float

    @property
    def billed_usd(self) -> float:
        return sum(self.attempt_usd)

    def _usd(self, seconds_of: str) -> float:
        return sum(
            getattr(a, seconds_of) * (usd / a.billable_seconds)
            for a, usd in zip(self.attempts, self.attempt_usd, strict=True)
            if a.billable_seconds > 0
        )

    @property
    def training_usd(self) -> float:
        return self._usd("training_seconds")

    @property
    def wasted_usd(self) -> float:
        return self._usd("wasted_seconds")

    @property
    def overhead_usd(self) -> float:
        return self._usd("overhead_seconds")

    def seconds(self, name: str) -> float:
        return sum(getattr(a, name) for a in self.attempts)

    @property
    def on_demand_equivalent_seconds(self) -> float:
        resumed_startup = sum(a.startup_seconds for a in self.attempts[1:])
        return self.seconds("billable_seconds") - self.seconds("wasted_seconds") - resumed_startup

    @property
    def on_demand_equivalent_usd(self) -> float:
        return self.on_demand_equivalent_seconds / SECONDS_PER_HOUR * self.on_demand_usd_per_hour

    @property
    def effective_savings_pct(self) -> float:
        equivalent = self.on_demand_equivalent_usd
        return (1 - self.billed_usd / equivalent) * 100 if equivalent > 0 else 0.0


def account_spot_run(
    attempts: Sequence[InstanceAttempt],
    timings: Sequence[AttemptTimings | None],
    catalog: PriceCatalog,
) -> SpotAccounting:
    """Split and price every attempt (``timings[i]`` belongs to ``attempts[i]``, None when unmeasured)."""
    if len(attempts) != len(timings):
        raise ValueError(
            f"{len(attempts)} attempts but {len(timings)} timings; give one (or None) per attempt"
        )
    if not attempts:
        raise ValueError("attempts is empty: a billed run needs at least one instance attempt")
    first = attempts[0]
    return SpotAccounting(
        attempts=tuple(split_attempt_seconds(a, t) for a, t in zip(attempts, timings, strict=True)),
        attempt_usd=tuple(attempt_usd(a, catalog) for a in attempts),
        on_demand_usd_per_hour=catalog.on_demand_usd_per_hour(first.instance_type, first.region),
    )
