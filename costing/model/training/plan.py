"""A training run's full cost on a price sheet: instance time under spot interruptions, plus storage.

:mod:`costing.model.training.run_cost` prices instance time (an estimate, or the billed attempts of a real spot
run). This module adds what a run also uses and what interruptions cost in expectation:

* **Storage.** The dataset, a checkpoint and the model file live in S3 (GB-months, kept between
  runs: see :func:`TrainingPlan.storage_lines`); each run writes its checkpoints and outputs (PUT
  requests) and uses a gp3 volume while it runs (GB-months prorated to the billed seconds).
* **Work and checkpoint writes, each counted once.** The measured wall time of a run already holds
  the checkpoints that run wrote. The plan's work ``W`` is that wall time less those writes (their
  measured seconds, ``training.segments[].checkpoint_seconds``, else ``n`` writes x ``delta``); the
  plan then writes ``n`` checkpoints (:func:`~costing.model.training.rules.checkpoint_writes`: as the
  measured run did, unless another interval is asked for) of ``delta`` seconds each to S3.
* **Overhead.** A cloud run also bills its boot before the training process and its upload after
  it (:mod:`~costing.model.training.overhead`: from the spot ledger of earlier attempts, else a
  labelled default): added once to the expected wall time.
* **Expected spot cost under interruptions** (a first-order model, stated once). Interruptions
  arrive as a Poisson process with mean time between interruptions
  ``M = 730 h / interruption_rate_per_month`` (the Spot Advisor bucket's upper bound). A run does
  ``W`` seconds of work and ``n`` checkpoint writes of ``delta`` seconds, one every ``tau`` seconds
  of work. An interruption loses on average half a checkpoint segment, ``(tau + delta) / 2``, plus a
  restart overhead ``R`` (replacement launch, boot, reading the checkpoint). The expected wall time
  ``T`` satisfies ``T = W + n delta + (T / M) x ((tau + delta) / 2 + R)``, so
  ``T = (W + n delta) / (1 - ((tau + delta) / 2 + R) / M)``, with ``T / M`` expected
  interruptions. Billed seconds, ``T`` + the overhead, are at least the per-launch minimum for every
  attempt (:func:`~costing.model.training.rules.billed_run_seconds`).
* **Checkpoint interval.** Young's approximation (Daly's first-order term):
  ``tau_opt = sqrt(2 x delta x M)``; recommended as ``min(tau_opt, W)`` since a run shorter than
  ``tau_opt`` only needs its end-of-epoch checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from costing.model.assumptions import TrainingAssumptions
from costing.model.capacity import Number
from costing.model.drivers import Drivers, Line, MissingRate, sheet_rate
from costing.model.profile import ModelProfile
from costing.model.results import CostComponent, check_same_region, jsonable
from costing.model.training.overhead import DEFAULT_RUN_OVERHEAD, RunOverhead
from costing.model.training.rules import billed_run_seconds, checkpoint_writes
from costing.model.training.run_cost import TrainingCost
from costing.model.training.storage import TRAINER_OUTPUT_PUTS
from costing.pricing import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MARKET,
    MARKET_ON_DEMAND,
    MARKET_SPOT,
    MARKETS,
    PriceSheet,
)
from costing.units import BYTES_PER_GB, BYTES_PER_MB, SECONDS_PER_HOUR, SECONDS_PER_MONTH


def mean_time_between_interruptions_seconds(interruption_rate_per_month: Number) -> Number:
    """``M = 730 h x 3,600 / rate``: 0.05/month -> 52,560,000 s (14,600 h); rate 0 -> infinity."""
    if isinstance(interruption_rate_per_month, int | float):
        return (
            math.inf if interruption_rate_per_month <= 0 else SECONDS_PER_MONTH / interruption_rate_per_month
        )
    import numpy as np

    with np.errstate(divide="ignore"):
        return np.where(
            interruption_rate_per_month > 0, SECONDS_PER_MONTH / interruption_rate_per_month, np.inf
        )


def young_daly_interval_seconds(checkpoint_write_seconds: float, mtbi_seconds: float) -> float:
    """``sqrt(2 x delta x M)``: delta 0.5 s, M 52,560,000 s -> 7,250 s."""
    if checkpoint_write_seconds < 0 or mtbi_seconds <= 0:
        raise ValueError(
            f"checkpoint_write_seconds={checkpoint_write_seconds!r} must be >= 0 and "
            f"mtbi_seconds={mtbi_seconds!r} > 0"
        )
    return math.sqrt(2.0 * checkpoint_write_seconds * mtbi_seconds)


def expected_wall_seconds(
    work_seconds: Number,
    checkpoint_writes: float,
    checkpoint_interval_seconds: float,
    checkpoint_write_seconds: float,
    restart_seconds: float,
    mtbi_seconds: Number,
) -> tuple[Number, Number]:
    """(expected wall seconds, expected interruptions) of a run under interruptions; see the module docstring.

    Example: W 3,600 s, 6 writes of 10 s every 600 s, R 180 s, M 36,000 s -> base 3,660 s, loss 485 s
    per interruption, T = 3,660 / (1 - 485 / 36,000) = 3,709.98 s, 0.10305 interruptions.
    Raises ``ValueError`` when ``M`` is so short that the run never finishes in expectation.
    """
    if checkpoint_interval_seconds <= 0:
        raise ValueError(f"checkpoint_interval_seconds={checkpoint_interval_seconds!r} must be > 0")
    base = work_seconds + checkpoint_writes * checkpoint_write_seconds
    loss = (checkpoint_interval_seconds + checkpoint_write_seconds) / 2.0 + restart_seconds
    fraction = loss / mtbi_seconds
    import numpy as np

    if np.any(np.asarray(fraction) >= 1.0):
        raise ValueError(
            f"mean time between interruptions ({np.min(mtbi_seconds):,.0f} s) is not longer than the work lost per "
            f"interruption ({loss:,.0f} s): the run never finishes in expectation; checkpoint more often"
        )
    wall = base / (1.0 - fraction)
    return wall, wall / mtbi_seconds


def expected_lost_work_seconds(
    interruptions: Number, checkpoint_interval_seconds: float, checkpoint_write_seconds: float
) -> Number:
    """Work redone after interruptions: half a checkpoint segment each (restart overhead excluded)."""
    return interruptions * (checkpoint_interval_seconds + checkpoint_write_seconds) / 2.0


@dataclass(frozen=True)
class TrainingPlan:
    """One training run's inputs with the rates copied from the sheet; priced by :meth:`evaluate`."""

    region: str
    snapshot_id: str
    instance_type: str
    market: str
    usd_per_hour: float  # at the market
    on_demand_usd_per_hour: float
    interruption_rate_per_month: float  # 0 on-demand
    work_seconds: float  # wall time of an uninterrupted run, less its checkpoint writes
    checkpoint_writes: float  # per run, each counted once (rules.checkpoint_writes)
    checkpoint_interval_seconds: float
    checkpoint_write_seconds: float  # each, to S3
    restart_seconds: float
    overhead_seconds: float  # boot before the training process, upload after it: once per run
    overhead_source: str  # where overhead_seconds came from (the spot ledger, or the default)
    epochs: int
    dataset_bytes: float
    checkpoint_bytes: float
    model_file_bytes: float
    ebs_gb: float
    ebs_usd_per_gb_month: float
    s3_usd_per_gb_month: float
    s3_put_usd_per_1k_requests: float
    retained_model_versions: int
    notes: tuple[str, ...] = ()

    @property
    def mtbi_seconds(self) -> float:
        return mean_time_between_interruptions_seconds(self.interruption_rate_per_month)

    def wall_seconds(self, drivers: Drivers | None = None) -> tuple[Number, Number]:
        """(expected wall seconds with the overhead, expected interruptions) of one run."""
        factor = 1.0 if drivers is None or self.market != MARKET_SPOT else drivers.interruption_factor
        rate = self.interruption_rate_per_month * factor if self.market == MARKET_SPOT else 0.0
        wall, interruptions = expected_wall_seconds(
            self.work_seconds,
            self.checkpoint_writes,
            self.checkpoint_interval_seconds,
            self.checkpoint_write_seconds,
            self.restart_seconds,
            mean_time_between_interruptions_seconds(rate),
        )
        return wall + self.overhead_seconds, interruptions

    def run_lines(self, drivers: Drivers | None = None) -> list[Line]:
        """Cost lines of one run (instance, EBS while it runs, S3 PUTs)."""
        price = 1.0 if drivers is None else drivers.price_factor
        if self.market == MARKET_SPOT and drivers is not None:
            price = price * drivers.spot_price_factor
        wall, interruptions = self.wall_seconds(drivers)
        billed = billed_run_seconds(wall, 1.0 + interruptions)
        storage_price = 1.0 if drivers is None else drivers.price_factor
        return [
            Line(
                f"Training instance ({self.instance_type}, {self.market})",
                "AmazonEC2",
                "hours",
                billed / SECONDS_PER_HOUR,
                self.usd_per_hour * price,
            ),
            Line(
                f"EBS gp3 training volume ({self.ebs_gb:g} GB while running)",
                "AmazonEC2",
                "GB-months",
                self.ebs_gb * billed / SECONDS_PER_MONTH,
                self.ebs_usd_per_gb_month * storage_price,
            ),
            Line(
                "S3 PUT requests (checkpoints, model, metrics)",
                "AmazonS3",
                "1k requests",
                (self.checkpoint_writes + TRAINER_OUTPUT_PUTS) / 1000.0,
                self.s3_put_usd_per_1k_requests * storage_price,
            ),
        ]

    def storage_lines(self, drivers: Drivers | None = None) -> list[Line]:
        """Monthly S3 storage kept between runs: dataset, latest checkpoint, retained model versions."""
        price = 1.0 if drivers is None else drivers.price_factor
        gb = (
            self.dataset_bytes + self.checkpoint_bytes + self.retained_model_versions * self.model_file_bytes
        ) / BYTES_PER_GB
        return [
            Line(
                f"S3 Standard: dataset, checkpoint, {self.retained_model_versions} model versions",
                "AmazonS3",
                "GB-months",
                gb,
                self.s3_usd_per_gb_month * price,
            )
        ]

    def run_usd(self, drivers: Drivers | None = None) -> Number:
        return sum(line.usd_per_month for line in self.run_lines(drivers))

    def storage_usd_per_month(self, drivers: Drivers | None = None) -> Number:
        return sum(line.usd_per_month for line in self.storage_lines(drivers))

    def on_demand_equivalent_usd(self) -> float:
        """The same run on on-demand: no interruptions, the on-demand rate, the same storage."""
        on_demand = replace(
            self,
            market=MARKET_ON_DEMAND,
            usd_per_hour=self.on_demand_usd_per_hour,
            interruption_rate_per_month=0.0,
        )
        return float(on_demand.run_usd())


@dataclass(frozen=True)
class TrainingRunCost:
    """What one training run costs in expectation (or as billed), storage included."""

    region: str
    snapshot_id: str
    instance_type: str
    market: str
    components: tuple[CostComponent, ...]  # per run
    usd: float  # per run, all components
    on_demand_equivalent_usd: float
    spot_savings_pct: float
    work_seconds: float
    overhead_seconds: float  # boot and upload, in expected_wall_seconds
    overhead_source: str
    expected_wall_seconds: float
    expected_interruptions: float
    expected_lost_work_seconds: float
    checkpoint_interval_seconds: float
    checkpoint_write_seconds: float
    checkpoint_writes: float  # per run
    recommended_checkpoint_interval_seconds: float  # min(Young/Daly, work)
    young_daly_interval_seconds: float  # unclamped; inf on-demand
    storage_components: tuple[CostComponent, ...]  # per month, kept between runs
    storage_usd_per_month: float
    basis: str
    notes: tuple[str, ...] = field(default=())

    def to_json_dict(self) -> dict[str, Any]:
        data = jsonable(asdict(self))
        data["cost_components"] = [c.to_json_dict() for c in self.components]
        data["storage_cost_components"] = [c.to_json_dict() for c in self.storage_components]
        del data["components"], data["storage_components"]
        return data


def _components(lines: list[Line]) -> tuple[CostComponent, ...]:
    return tuple(
        CostComponent(
            name=line.name,
            service=line.service,
            unit=line.unit,
            quantity=float(line.quantity),
            usd_per_unit=float(line.usd_per_unit),
            usd_per_month=float(line.usd_per_month),
        )
        for line in lines
    )


def checkpoint_write_seconds(model_file_bytes: float, assumptions: TrainingAssumptions) -> float:
    """Seconds to write one checkpoint to S3: the measured value if given, else its bytes (about 3x the
    model file: weights + AdamW's two moments) at the assumed rate. 10 MiB model -> 30 MiB -> 0.3 s."""
    if assumptions.checkpoint_write_seconds is not None:
        return assumptions.checkpoint_write_seconds
    checkpoint_bytes = model_file_bytes * assumptions.checkpoint_bytes_per_model_byte
    return checkpoint_bytes / (assumptions.checkpoint_write_mb_per_s * BYTES_PER_MB)


def plan_run(
    sheet: PriceSheet,
    *,
    instance_type: str,
    market: str,
    work_seconds: float,
    checkpoint_writes: float,
    checkpoint_interval_seconds: float,
    epochs: int,
    model_file_bytes: float,
    dataset_bytes: float,
    assumptions: TrainingAssumptions | None = None,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
    notes: tuple[str, ...] = (),
) -> TrainingPlan:
    """A run of ``work_seconds`` of training (no checkpoint writes in it) and ``checkpoint_writes`` writes
    on ``instance_type`` in ``market``, at ``sheet``'s rates: what :func:`plan_training` (from a measured
    run) and the budget guard's pre-flight estimate (from a configuration) both price."""
    a = assumptions or TrainingAssumptions()
    if market not in MARKETS:
        raise ValueError(f"market={market!r} is not one of {', '.join(repr(m) for m in MARKETS)}")
    if instance_type not in sheet.instances:
        raise ValueError(
            f"training instance type {instance_type!r} is not in price sheet {sheet.snapshot_id} "
            f"({sheet.region}); available: {', '.join(sorted(sheet.instances)) or 'none'}"
        )
    rates = sheet.instances[instance_type]
    notes_ = list(notes)
    if market == MARKET_SPOT:
        if rates.spot_usd_per_hour is None:
            raise ValueError(
                f"no spot price for {instance_type} in {sheet.region} in snapshot {sheet.snapshot_id}; "
                "price training on-demand (market='on-demand') or pick another type"
            )
        usd_per_hour = rates.spot_usd_per_hour
        interruption = rates.interruption_rate_per_month
        if interruption is None:
            interruption = a.default_interruption_rate_per_month
            notes_.append(
                f"no Spot Advisor bucket for {instance_type}: {interruption:.0%} interruptions/month assumed"
            )
    else:
        usd_per_hour, interruption = rates.on_demand_usd_per_hour, 0.0
    try:
        ebs = sheet_rate(sheet, "ebs_gp3_usd_per_gb_month")
        s3 = sheet_rate(sheet, "s3_standard_usd_per_gb_month")
        put = sheet_rate(sheet, "s3_put_usd_per_1k_requests")
    except MissingRate as exc:
        raise ValueError(f"cannot price training storage: {exc}") from exc
    return TrainingPlan(
        region=sheet.region,
        snapshot_id=sheet.snapshot_id,
        instance_type=instance_type,
        market=market,
        usd_per_hour=usd_per_hour,
        on_demand_usd_per_hour=rates.on_demand_usd_per_hour,
        interruption_rate_per_month=float(interruption),
        work_seconds=float(work_seconds),
        checkpoint_writes=float(checkpoint_writes),
        checkpoint_interval_seconds=float(checkpoint_interval_seconds),
        checkpoint_write_seconds=float(checkpoint_write_seconds(model_file_bytes, a)),
        restart_seconds=a.restart_overhead_seconds,
        overhead_seconds=overhead.seconds,
        overhead_source=overhead.source,
        epochs=epochs,
        dataset_bytes=float(dataset_bytes),
        checkpoint_bytes=float(model_file_bytes * a.checkpoint_bytes_per_model_byte),
        model_file_bytes=float(model_file_bytes),
        ebs_gb=a.ebs_gb,
        ebs_usd_per_gb_month=ebs,
        s3_usd_per_gb_month=s3,
        s3_put_usd_per_1k_requests=put,
        retained_model_versions=a.retained_model_versions,
        notes=tuple(notes_),
    )


def plan_training(
    profile: ModelProfile,
    sheet: PriceSheet,
    *,
    instance_type: str | None = None,
    market: str | None = None,
    assumptions: TrainingAssumptions | None = None,
    wall_seconds: float | None = None,
    checkpoint_interval_seconds: float | None = None,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> TrainingPlan:
    """Plan one retraining run on ``sheet``'s prices from the profile's measured wall time.

    Defaults: the instance type and market the run was recorded on (``metrics["compute"]``), else
    :data:`~costing.pricing.defaults.DEFAULT_INSTANCE_TYPE` on :data:`~costing.pricing.defaults.DEFAULT_MARKET`.
    ``wall_seconds`` replaces the measured wall time (a run with the measured one's checkpoints);
    ``checkpoint_interval_seconds`` replaces the measured cadence, and the writes follow it.
    ``overhead``: the boot and upload a cloud run adds (the spot ledger's, else the labelled default).
    """
    a = assumptions or TrainingAssumptions()
    wall = profile.training_wall_seconds if wall_seconds is None else wall_seconds
    if not wall or wall <= 0:
        raise ValueError(f"training wall_seconds={wall!r} must be > 0 (the measured wall time of a run)")
    write_seconds = checkpoint_write_seconds(profile.model_file_bytes, a)
    epochs = max(profile.training_epochs, 1)
    measured_writes = (
        checkpoint_writes(profile.training_global_steps, profile.checkpoint_every_steps, epochs)
        if profile.checkpoint_every_steps > 0
        else epochs
    )
    # The measured wall time holds the measured run's writes: take them out once, the plan adds its own.
    written_seconds = (
        profile.training_checkpoint_seconds
        if wall_seconds is None and profile.training_checkpoint_seconds is not None
        else measured_writes * write_seconds
    )
    work = wall - written_seconds
    if work <= 0:
        raise ValueError(
            f"training wall time {wall:,.3f} s is not longer than its {measured_writes} checkpoint writes "
            f"({written_seconds:,.3f} s): nothing is left to train; give a longer wall time"
        )
    interval = checkpoint_interval_seconds or profile.checkpoint_interval_seconds or work
    return plan_run(
        sheet,
        instance_type=instance_type or profile.compute_instance_type or DEFAULT_INSTANCE_TYPE,
        market=market or profile.compute_market or DEFAULT_MARKET,
        work_seconds=work,
        checkpoint_writes=int(work // interval) + epochs if checkpoint_interval_seconds else measured_writes,
        checkpoint_interval_seconds=interval,
        epochs=epochs,
        model_file_bytes=profile.model_file_bytes,
        dataset_bytes=profile.dataset_bytes,
        assumptions=a,
        overhead=overhead,
        notes=profile.notes,
    )


def training_run_cost(plan: TrainingPlan) -> TrainingRunCost:
    """The expected cost of one run of ``plan`` (instance + storage), with the checkpoint recommendation."""
    wall, interruptions = plan.wall_seconds()
    components = _components(plan.run_lines())
    usd = sum(c.usd_per_month for c in components)
    on_demand = plan.on_demand_equivalent_usd()
    mtbi = plan.mtbi_seconds
    young_daly = (
        young_daly_interval_seconds(plan.checkpoint_write_seconds, mtbi) if math.isfinite(mtbi) else math.inf
    )
    storage = _components(plan.storage_lines())
    return TrainingRunCost(
        region=plan.region,
        snapshot_id=plan.snapshot_id,
        instance_type=plan.instance_type,
        market=plan.market,
        components=components,
        usd=usd,
        on_demand_equivalent_usd=on_demand,
        spot_savings_pct=(on_demand - usd) / on_demand * 100.0
        if plan.market == MARKET_SPOT and on_demand
        else 0.0,
        work_seconds=plan.work_seconds,
        overhead_seconds=plan.overhead_seconds,
        overhead_source=plan.overhead_source,
        expected_wall_seconds=float(wall),
        expected_interruptions=float(interruptions),
        expected_lost_work_seconds=float(
            expected_lost_work_seconds(
                interruptions, plan.checkpoint_interval_seconds, plan.checkpoint_write_seconds
            )
        ),
        checkpoint_interval_seconds=plan.checkpoint_interval_seconds,
        checkpoint_write_seconds=plan.checkpoint_write_seconds,
        checkpoint_writes=plan.checkpoint_writes,
        recommended_checkpoint_interval_seconds=min(young_daly, plan.work_seconds),
        young_daly_interval_seconds=young_daly,
        storage_components=storage,
        storage_usd_per_month=sum(c.usd_per_month for c in storage),
        basis=(
            f"expected: {plan.work_seconds:,.1f} s of measured work, {plan.checkpoint_writes:g} checkpoint "
            f"writes and {plan.overhead_seconds:,.0f} s boot, setup and upload ({plan.overhead_source}) on "
            f"{plan.instance_type} {plan.market} in {plan.region}, interruptions at "
            f"{plan.interruption_rate_per_month:.0%}/month, checkpoint every {plan.checkpoint_interval_seconds:,.1f} s "
            f"(snapshot {plan.snapshot_id})"
        ),
        notes=plan.notes,
    )


def billed_run_with_storage(cost: TrainingCost, plan: TrainingPlan) -> TrainingRunCost:
    """A billed run (:func:`costing.model.training.run_cost.spot_training_cost`: attempts at the spot price in force, summed)
    plus the storage of ``plan``. Refuses a run from another region than the plan's sheet."""
    check_same_region(cost.region, plan.region, what="the billed training run and the price sheet")
    storage_run = _components(plan.run_lines()[1:])
    instance = CostComponent(
        name=f"Training instance ({cost.instance_type}, {cost.market}, billed)",
        service="AmazonEC2",
        unit="hours",
        quantity=cost.billed_seconds / SECONDS_PER_HOUR,
        usd_per_unit=cost.usd_per_hour,
        usd_per_month=cost.usd,
    )
    components = (instance, *storage_run)
    extra = sum(c.usd_per_month for c in storage_run)
    run = training_run_cost(plan)
    return TrainingRunCost(
        region=cost.region,
        snapshot_id=cost.snapshot_id,
        instance_type=cost.instance_type,
        market=cost.market,
        components=components,
        usd=cost.usd + extra,
        on_demand_equivalent_usd=cost.on_demand_usd + extra,
        spot_savings_pct=(
            0.0
            if cost.market == MARKET_ON_DEMAND or not cost.on_demand_usd
            else (cost.on_demand_usd - cost.usd) / (cost.on_demand_usd + extra) * 100.0
        ),
        work_seconds=plan.work_seconds,
        overhead_seconds=0.0,
        overhead_source="billed: in the attempts' seconds",
        expected_wall_seconds=cost.billed_seconds,
        expected_interruptions=float(cost.attempts - 1),
        expected_lost_work_seconds=run.expected_lost_work_seconds,
        checkpoint_interval_seconds=plan.checkpoint_interval_seconds,
        checkpoint_write_seconds=plan.checkpoint_write_seconds,
        checkpoint_writes=plan.checkpoint_writes,
        recommended_checkpoint_interval_seconds=run.recommended_checkpoint_interval_seconds,
        young_daly_interval_seconds=run.young_daly_interval_seconds,
        storage_components=run.storage_components,
        storage_usd_per_month=run.storage_usd_per_month,
        basis=cost.basis + "; plus EBS while running and S3 PUTs",
        notes=plan.notes,
    )
