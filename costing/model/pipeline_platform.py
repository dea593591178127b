"""The platform that runs this pipeline, priced as a deployable design: Amazon MWAA, self-hosted, or none.

Not the serving platforms (:mod:`costing.model.platforms`): this is what runs the DAGs, tracks the
experiments and mails the report, whatever serves the model. Two designs, each named component with its
quantity, rate and source (:class:`~costing.model.results.CostComponent`):

* **Amazon MWAA** (``mwaa``): the smallest environment class the snapshot prices that holds the
  pipeline's DAGs, runs its concurrent tasks (``workers`` x ``worker_concurrency``, as the self-hosted
  topology runs them) on ``ceil(tasks / tasks per worker)`` workers, and whose worker memory holds the
  measured Celery worker (tasks included). The environment (one worker and two schedulers included) is
  billed every hour; workers beyond the included one only while the pipeline is busy (autoscaling:
  retraining runs a month x a run's wall time); schedulers beyond two every hour; metadata database
  storage per GB-month. MWAA provides none of the rest, so the design adds what
  ``docker-compose.yaml`` runs beside Airflow: the MLflow server on the cheapest EC2 type that holds its
  measured memory (root volume, public IPv4 address), an RDS PostgreSQL instance for MLflow (gp3
  storage, backups beyond the free allowance), the artifact bucket (what a run writes, kept
  ``retention_months``) and mail (SES).
* **Self-hosted** (``self-hosted``): the topology of ``docker-compose.yaml`` on EC2, sized from its
  measured peak memory and CPU (``include/platform_footprint.json``, ``make platform-footprint``): one
  control instance for the api-server, scheduler, dag-processor, triggerer, MLflow server and Redis
  (co-located, as in the compose file; ``redis="elasticache"`` moves it to a node), and ``workers``
  Celery worker instances, each the cheapest type whose memory holds the measured worker (tasks
  included) and with a vCPU per concurrent task; one RDS PostgreSQL instance holds the Airflow and
  MLflow databases (as the compose file's one Postgres does); S3 and SES as above.
* ``none``: no platform line; every figure is what it was before the platform was priced.

Always-on instances are priced on demand here; a commitment would lower them (the serving options show
by how much). ``attribution_share`` (0, 1] is the share of a platform shared with other pipelines that
this model is charged: every line is multiplied by it (FOCUS's allocation, docs/cost-model.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from costing.choices import (
    DEFAULT_DB_INSTANCE_CLASS,
    DEFAULT_PLATFORM_DESIGN,
    DEFAULT_PLATFORM_SHARE,
    DEFAULT_PLATFORM_WORKERS,
    DEFAULT_REDIS_PLACEMENT,
    MWAA_ENVIRONMENT_CLASSES,
    PLATFORM_DESIGNS,
    PLATFORM_MWAA,
    PLATFORM_NONE,
    PLATFORM_SELF_HOSTED,
    REDIS_CO_LOCATED,
    REDIS_ELASTICACHE,
    REDIS_PLACEMENTS,
)
from costing.model.assumptions import BURSTABLE_BASELINE_UTILISATION
from costing.model.results import CostComponent, jsonable
from costing.pricing.sheet import InstanceRates, PriceSheet
from costing.units import BYTES_PER_GB, HOURS_PER_MONTH, MB_PER_GB, WEEKS_PER_YEAR
from toolkit.paths import INCLUDE_DIR

FOOTPRINT_FILE = INCLUDE_DIR / "platform_footprint.json"

# docs.aws.amazon.com/mwaa/latest/userguide/environment-class.html (DAG capacity, default tasks per worker
# = celery.worker_autoscale, worker vCPU and memory) and .../mwaa-autoscaling.html (25 workers at most;
# one worker included); CreateEnvironment's Schedulers: 2 to 5, 2 by default (mw1.micro: 1, no scaling)
MWAA_CLASSES_SOURCE = "docs.aws.amazon.com/mwaa/latest/userguide/environment-class.html"
MWAA_INCLUDED_WORKERS = 1
MWAA_INCLUDED_SCHEDULERS = 2
MWAA_MAX_SCHEDULERS = 5


@dataclass(frozen=True)
class MwaaClass:
    name: str
    dag_capacity: int
    tasks_per_worker: int
    worker_vcpus: float
    worker_memory_gb: float
    max_workers: int


# (DAG capacity, tasks per worker, worker vCPU, worker GB, max workers) per class, in the names' order
_MWAA_CLASS_SPECS = (
    (25, 3, 1, 3, 1),
    (50, 5, 1, 2, 25),
    (250, 10, 2, 4, 25),
    (1000, 20, 4, 8, 25),
    (2000, 40, 8, 24, 25),
    (4000, 80, 16, 48, 25),
)
MWAA_CLASSES: tuple[MwaaClass, ...] = tuple(
    MwaaClass(name, *spec) for name, spec in zip(MWAA_ENVIRONMENT_CLASSES, _MWAA_CLASS_SPECS, strict=True)
)
MWAA_CLASS_NAMES = MWAA_ENVIRONMENT_CLASSES

# The component names of include/platform_footprint.json (devtools.production's Topology) by role.
CONTROL_COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
MLFLOW_COMPONENT = "mlflow"
REDIS_COMPONENT = "redis"
WORKER_COMPONENT_PREFIX = "airflow-worker"
RETRAINING_DAG = "rnn_retraining"  # the run whose wall time and S3 writes the footprint records
# An EC2 instance keeps this much memory for the OS and agents beyond the processes it runs.
INSTANCE_OS_RESERVED_MB = 512.0
ROOT_VOLUME_GB = 20.0  # gp3 root volume per platform instance
RDS_MIN_GP3_GB = 20.0  # RDS for PostgreSQL's smallest gp3 allocation


class PlatformError(ValueError):
    """A platform design that cannot be priced as asked: the message names the value and what would work."""


@dataclass(frozen=True)
class ComponentFootprint:
    name: str
    peak_rss_mib: float  # PSS where measured (shared pages counted once), else RSS: the memory to provision
    peak_cpu_cores: float
    cpu_seconds: float


@dataclass(frozen=True)
class PlatformFootprint:
    """What the docker-compose topology measured running a retraining run (``make platform-footprint``)."""

    components: Mapping[str, ComponentFootprint]
    dags: int
    worker_concurrency: int
    run_wall_seconds: float
    bytes_per_run: float  # written to S3 by one retraining run and the cost_recompute it triggers
    objects_per_run: float  # their S3 PUT requests
    measured_at: str
    source: str

    def peak_mib(self, *names: str) -> float:
        return sum(self.components[n].peak_rss_mib for n in names if n in self.components)

    @property
    def worker(self) -> ComponentFootprint:
        workers = [c for n, c in self.components.items() if n.startswith(WORKER_COMPONENT_PREFIX)]
        if not workers:
            raise PlatformError(f"{self.source}: no {WORKER_COMPONENT_PREFIX}* component measured")
        return max(workers, key=lambda c: c.peak_rss_mib)

    @property
    def worker_cpu_seconds(self) -> float:
        """The run's task CPU over every measured worker (the executor spreads a run's tasks over them)."""
        return sum(c.cpu_seconds for n, c in self.components.items() if n.startswith(WORKER_COMPONENT_PREFIX))

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any], *, source: str) -> PlatformFootprint:
        """The document ``make platform-footprint`` writes: components' peaks over the whole window (PSS,
        which counts pages shared by forked processes once, where measured; else RSS), the deployment's DAG
        count and worker concurrency, and the ``rnn_retraining`` run's wall time and S3 writes."""
        try:
            components = {
                name: ComponentFootprint(
                    name=name,
                    peak_rss_mib=float(c.get("peak_pss_mib") or c["peak_rss_mib"]),
                    peak_cpu_cores=float(c.get("peak_cpu_cores", 0.0)),
                    cpu_seconds=float(c.get("cpu_seconds", 0.0)),
                )
                for name, c in dict(data["components"]).items()
                if name != "total"
            }
            run = data["run"]
            if run.get("dag_id") != RETRAINING_DAG or run.get("state") != "success":
                raise ValueError(f"its run is {run.get('dag_id')} {run.get('state')}")
            # each new model triggers cost_recompute (its asset): what both write is one retraining's
            follow_ups = [r for r in data.get("other_runs") or [] if r.get("state") == "success"]
            written = float(run["bytes_written_total"]) + sum(
                float(r["bytes_written_total"]) for r in follow_ups
            )
            puts = sum(_puts(r) for r in (run, *follow_ups))
            return cls(
                components=components,
                dags=int(data["dags"]),
                worker_concurrency=int(data["worker_concurrency"]),
                run_wall_seconds=float(run["wall_seconds"]),
                bytes_per_run=written,
                objects_per_run=puts,
                measured_at=str(data.get("measured_at", "")),
                source=source,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformError(
                f"{source} is not a platform footprint with a successful {RETRAINING_DAG} run ({exc!r}): "
                "run make platform-footprint"
            ) from exc


def _puts(run: Mapping[str, Any]) -> float:
    """A measured run's S3 PUT requests (counted at a proxy), else the objects it wrote."""
    puts = (run.get("s3_requests_by_method") or {}).get("PUT")
    return float(puts if puts is not None else run["objects_written"])


def load_footprint(path: str | Path | None = None) -> PlatformFootprint:
    file = Path(path) if path is not None else FOOTPRINT_FILE
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise PlatformError(
            f"cannot read the platform footprint {file}: {exc} (make platform-footprint)"
        ) from exc
    source = f"include/{file.name}" if file == FOOTPRINT_FILE else str(file)
    return PlatformFootprint.from_json_dict(data, source=source)


@dataclass(frozen=True)
class PlatformAssumptions:
    """The platform design and its sizes; every default is documented in docs/cost-model.md."""

    design: str = DEFAULT_PLATFORM_DESIGN
    attribution_share: float = (
        DEFAULT_PLATFORM_SHARE  # (0, 1]: the share of the platform charged to this model
    )
    workers: int = (
        DEFAULT_PLATFORM_WORKERS  # Celery workers (self-hosted instances; MWAA: the concurrency they give)
    )
    worker_concurrency: int | None = None  # tasks at once per worker; None: the measured topology's
    mwaa_environment_class: str | None = None  # None: the smallest priced class that fits
    mwaa_schedulers: int = MWAA_INCLUDED_SCHEDULERS
    mwaa_metadata_gb: float = 10.0  # metadata database storage (AWS's own worked example: 10 GB)
    instance_type: str | None = None  # self-hosted control instance; None: the cheapest that fits
    worker_instance_type: str | None = None  # self-hosted worker instances; None: the cheapest that fits
    mlflow_instance_type: str | None = None  # MWAA design's MLflow server; None: the cheapest that fits
    db_instance_class: str = DEFAULT_DB_INSTANCE_CLASS
    db_storage_gb: float = RDS_MIN_GP3_GB
    db_backup_gb: float = 0.0  # backup storage beyond the free allowance (= provisioned storage)
    redis: str = DEFAULT_REDIS_PLACEMENT
    elasticache_node_type: str = "cache.t4g.micro"
    retention_months: float = 12.0  # how long run artifacts and reports stay in S3
    emails_per_month: float = WEEKS_PER_YEAR / 12.0  # the weekly report
    memory_headroom: float = 1.25  # sized memory = measured peak x this

    def __post_init__(self) -> None:
        if self.design not in PLATFORM_DESIGNS:
            raise PlatformError(
                f"platform design {self.design!r} is not one of {', '.join(PLATFORM_DESIGNS)}"
            )
        share = self.attribution_share
        if not isinstance(share, (int, float)) or not math.isfinite(share) or not 0 < share <= 1:
            raise PlatformError(
                f"platform attribution share {share!r} is outside (0, 1]: 1 charges the whole platform to "
                "this model, 0.25 a quarter of it"
            )
        if int(self.workers) != self.workers or self.workers < 1:
            raise PlatformError(f"platform workers {self.workers!r} must be a whole number, at least 1")
        if self.worker_concurrency is not None and (
            int(self.worker_concurrency) != self.worker_concurrency or self.worker_concurrency < 1
        ):
            raise PlatformError(
                f"worker concurrency {self.worker_concurrency!r} must be a whole number, at least 1"
            )
        if self.mwaa_environment_class is not None and self.mwaa_environment_class not in MWAA_CLASS_NAMES:
            raise PlatformError(
                f"MWAA environment class {self.mwaa_environment_class!r} is not one of {', '.join(MWAA_CLASS_NAMES)}"
            )
        if not MWAA_INCLUDED_SCHEDULERS <= self.mwaa_schedulers <= MWAA_MAX_SCHEDULERS:
            raise PlatformError(
                f"MWAA schedulers {self.mwaa_schedulers!r} must be {MWAA_INCLUDED_SCHEDULERS} to {MWAA_MAX_SCHEDULERS}"
            )
        if self.redis not in REDIS_PLACEMENTS:
            raise PlatformError(f"redis {self.redis!r} is not one of {', '.join(REDIS_PLACEMENTS)}")
        for name in ("mwaa_metadata_gb", "db_backup_gb", "retention_months", "emails_per_month"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise PlatformError(f"platform {name} {value!r} must be a finite number, 0 or more")
        if not math.isfinite(self.db_storage_gb) or self.db_storage_gb < RDS_MIN_GP3_GB:
            raise PlatformError(
                f"db_storage_gb {self.db_storage_gb!r}: RDS gp3 storage starts at {RDS_MIN_GP3_GB:g} GB"
            )
        if not math.isfinite(self.memory_headroom) or self.memory_headroom < 1:
            raise PlatformError(f"memory_headroom {self.memory_headroom!r} must be 1 or more")


@dataclass(frozen=True)
class PlatformDemand:
    """What the pipeline asks of its platform, from the measured topology and the model being costed."""

    dags: int
    concurrent_tasks: int
    worker_memory_mb: float  # a Celery worker with its tasks running, measured (x headroom)
    busy_hours_per_month: float  # retraining runs a month x a run's wall time on the platform
    runs_per_month: float
    bytes_per_run: float
    objects_per_run: float


@dataclass(frozen=True)
class PlatformCost:
    """A platform design's monthly cost: every component's full line, and the share charged to this model."""

    design: str
    region: str
    snapshot_id: str
    attribution_share: float
    components: tuple[CostComponent, ...]  # full monthly lines, before the share
    sizing: tuple[str, ...]  # why each size was chosen, in words
    caveats: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())  # one per component: where its rate came from

    @property
    def full_usd_per_month(self) -> float:
        return sum(c.usd_per_month for c in self.components)

    @property
    def usd_per_month(self) -> float:
        """The share charged to this model."""
        return self.full_usd_per_month * self.attribution_share

    @property
    def label(self) -> str:
        return PLATFORM_LABELS[self.design]

    def charged_components(self) -> tuple[CostComponent, ...]:
        """The lines with the share applied (what this model's TCO carries)."""
        if self.attribution_share == 1:
            return self.components
        share = self.attribution_share
        return tuple(
            replace(
                c,
                name=f"{c.name} x {share:g} share",
                quantity=c.quantity * share,
                usd_per_month=c.usd_per_month * share,
            )
            for c in self.components
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "label": self.label,
            "region": self.region,
            "snapshot_id": self.snapshot_id,
            "attribution_share": self.attribution_share,
            "full_usd_per_month": jsonable(self.full_usd_per_month),
            "usd_per_month": jsonable(self.usd_per_month),
            "components": [
                {**c.to_json_dict(), "source": s} for c, s in zip(self.components, self.sources, strict=True)
            ],
            "sizing": list(self.sizing),
            "caveats": list(self.caveats),
        }


PLATFORM_LABELS = {
    PLATFORM_MWAA: "Amazon MWAA + MLflow on EC2/RDS",
    PLATFORM_SELF_HOSTED: "Self-hosted (docker-compose topology on EC2 + RDS)",
    PLATFORM_NONE: "No platform",
}


def platform_demand(
    footprint: PlatformFootprint,
    a: PlatformAssumptions,
    *,
    runs_per_month: float,
    run_wall_seconds: float,
    training_peak_rss_mb: float = 0.0,
) -> PlatformDemand:
    """The pipeline's needs: its DAGs, ``workers x concurrency`` tasks at once, a worker's memory (the
    measured worker, or the model's own training peak plus the worker's idle share when that is larger),
    busy hours from the retraining cadence and a run's wall time (at least the measured run's)."""
    concurrency = a.worker_concurrency or footprint.worker_concurrency
    worker_peak = footprint.worker.peak_rss_mib
    memory = max(worker_peak, training_peak_rss_mb + INSTANCE_OS_RESERVED_MB) * a.memory_headroom
    wall = max(run_wall_seconds, footprint.run_wall_seconds)
    return PlatformDemand(
        dags=footprint.dags,
        concurrent_tasks=a.workers * concurrency,
        worker_memory_mb=memory,
        busy_hours_per_month=runs_per_month * wall / 3600.0,
        runs_per_month=runs_per_month,
        bytes_per_run=footprint.bytes_per_run,
        objects_per_run=footprint.objects_per_run,
    )


# -- the pieces both designs share -----------------------------------------------------------------------


def _need(value: float | None, what: str, sheet: PriceSheet, remaining: str) -> float:
    if value is None:
        raise PlatformError(
            f"{what} is not priced in {sheet.region} (snapshot {sheet.snapshot_id}); designs that remain: {remaining}"
        )
    return float(value)


def _line(name: str, service: str, unit: str, quantity: float, rate: float) -> CostComponent:
    return CostComponent(name, service, unit, quantity, rate, quantity * rate)


def cheapest_instance(
    sheet: PriceSheet, *, memory_mb: float, vcpus: int = 1, mean_cpu_cores: float = 0.0
) -> InstanceRates:
    """The cheapest on-demand EC2 type in the sheet with ``memory_mb`` free beside the OS, ``vcpus`` and,
    for a burstable type, a CPU baseline above the measured mean load."""
    fits = [
        r
        for r in sheet.instances.values()
        if r.memory_gib * MB_PER_GB - INSTANCE_OS_RESERVED_MB >= memory_mb
        and r.vcpus >= vcpus
        and mean_cpu_cores <= BURSTABLE_BASELINE_UTILISATION.get(r.instance_type, 1.0) * r.vcpus
    ]
    if not fits:
        raise PlatformError(
            f"no EC2 type in {sheet.region} (snapshot {sheet.snapshot_id}) has {memory_mb:,.0f} MB free and {vcpus} vCPU"
        )
    return min(fits, key=lambda r: (r.on_demand_usd_per_hour, r.instance_type))


def _instance(sheet: PriceSheet, instance_type: str | None, **need: Any) -> InstanceRates:
    if instance_type is None:
        return cheapest_instance(sheet, **need)
    rates = sheet.instances.get(instance_type)
    if rates is None:
        raise PlatformError(
            f"instance type {instance_type!r} is not priced in {sheet.region} (snapshot {sheet.snapshot_id})"
        )
    return rates


def _instance_lines(
    role: str, rates: InstanceRates, count: int, sheet: PriceSheet
) -> list[tuple[CostComponent, str]]:
    ebs = _need(sheet.ebs_gp3_usd_per_gb_month, "EBS gp3", sheet, "none")
    ipv4 = _need(sheet.public_ipv4_usd_per_hour, "public IPv4", sheet, "none")
    where = f"snapshot {sheet.snapshot_id}"
    return [
        (
            _line(
                f"{role} ({rates.instance_type} on-demand)",
                "AmazonEC2",
                "hours",
                count * HOURS_PER_MONTH,
                rates.on_demand_usd_per_hour,
            ),
            f"{where}: AmazonEC2 BoxUsage:{rates.instance_type}",
        ),
        (
            _line(
                f"{role} root volume (gp3, {ROOT_VOLUME_GB:g} GB)",
                "AmazonEC2",
                "GB-months",
                count * ROOT_VOLUME_GB,
                ebs,
            ),
            f"{where}: AmazonEC2 EBS:VolumeUsage.gp3",
        ),
        (
            _line(f"{role} public IPv4 address", "AmazonVPC", "hours", count * HOURS_PER_MONTH, ipv4),
            f"{where}: AmazonVPC PublicIPv4:InUseAddress",
        ),
    ]


def _rds_lines(
    a: PlatformAssumptions, sheet: PriceSheet, what: str, remaining: str
) -> list[tuple[CostComponent, str]]:
    rate = sheet.rds_postgres_usd_per_hour.get(a.db_instance_class)
    if rate is None:
        priced = ", ".join(sorted(sheet.rds_postgres_usd_per_hour)) or "none"
        raise PlatformError(
            f"RDS PostgreSQL {a.db_instance_class!r} is not priced in {sheet.region} (snapshot {sheet.snapshot_id}; "
            f"priced classes: {priced}); designs that remain: {remaining}"
        )
    storage = _need(sheet.rds_gp3_usd_per_gb_month, "RDS gp3 storage", sheet, remaining)
    where = f"snapshot {sheet.snapshot_id}: AmazonRDS"
    lines = [
        (
            _line(
                f"{what} (RDS PostgreSQL {a.db_instance_class}, Single-AZ)",
                "AmazonRDS",
                "hours",
                HOURS_PER_MONTH,
                rate,
            ),
            f"{where} InstanceUsage:{a.db_instance_class}",
        ),
        (
            _line(f"{what} storage (gp3)", "AmazonRDS", "GB-months", a.db_storage_gb, storage),
            f"{where} RDS:GP3-Storage",
        ),
    ]
    backup = _need(sheet.rds_backup_usd_per_gb_month, "RDS backup storage", sheet, remaining)
    lines.append(
        (
            _line(
                f"{what} backups beyond the free allowance (as much as the storage)",
                "AmazonRDS",
                "GB-months",
                a.db_backup_gb,
                backup,
            ),
            f"{where} RDS:ChargedBackupUsage",
        )
    )
    return lines


def _storage_and_mail_lines(
    a: PlatformAssumptions, demand: PlatformDemand, sheet: PriceSheet, *, extra_gb: float = 0.0
) -> list[tuple[CostComponent, str]]:
    where = f"snapshot {sheet.snapshot_id}"
    s3 = _need(sheet.s3_standard_usd_per_gb_month, "S3 Standard", sheet, "none")
    put = _need(sheet.s3_put_usd_per_1k_requests, "S3 PUT requests", sheet, "none")
    ses = _need(sheet.ses_usd_per_1k_emails, "SES outbound email", sheet, "none")
    stored_gb = demand.bytes_per_run * demand.runs_per_month * a.retention_months / BYTES_PER_GB + extra_gb
    return [
        (
            _line(
                f"Artifact and report bucket (S3 Standard, {a.retention_months:g} months of runs)",
                "AmazonS3",
                "GB-months",
                stored_gb,
                s3,
            ),
            f"{where}: AmazonS3 TimedStorage-ByteHrs",
        ),
        (
            _line(
                "Artifact and report writes (S3 PUT)",
                "AmazonS3",
                "1k requests",
                demand.objects_per_run * demand.runs_per_month / 1000.0,
                put,
            ),
            f"{where}: AmazonS3 Requests-Tier1",
        ),
        (
            _line("Report mail (SES)", "AmazonSES", "1k emails", a.emails_per_month / 1000.0, ses),
            f"{where}: AmazonSES outbound email",
        ),
    ]


# -- the designs ----------------------------------------------------------------------------------------


def choose_mwaa_class(
    demand: PlatformDemand, a: PlatformAssumptions, sheet: PriceSheet
) -> tuple[MwaaClass, int, str]:
    """The environment class (the configured one, or the smallest priced one that fits), the workers it runs
    the demand's concurrent tasks on, and why, in words."""
    if not sheet.mwaa_classes:
        raise PlatformError(
            f"Amazon MWAA is not priced in {sheet.region} (snapshot {sheet.snapshot_id}); designs that remain: "
            f"{PLATFORM_SELF_HOSTED}, {PLATFORM_NONE}"
        )
    rejected = []
    for cls in MWAA_CLASSES:
        if a.mwaa_environment_class is not None and cls.name != a.mwaa_environment_class:
            continue
        workers = max(MWAA_INCLUDED_WORKERS, math.ceil(demand.concurrent_tasks / cls.tasks_per_worker))
        problems = []
        if cls.name not in sheet.mwaa_classes:
            problems.append("not priced in this snapshot")
        if demand.dags > cls.dag_capacity:
            problems.append(f"{demand.dags} DAGs > {cls.dag_capacity}")
        if workers > cls.max_workers:
            problems.append(f"{workers} workers > {cls.max_workers}")
        if demand.worker_memory_mb > cls.worker_memory_gb * MB_PER_GB:
            problems.append(f"a worker needs {demand.worker_memory_mb:,.0f} MB > {cls.worker_memory_gb:g} GB")
        if problems:
            rejected.append(f"{cls.name}: {', '.join(problems)}")
            continue
        why = (
            f"{cls.name}: {demand.dags} DAGs of {cls.dag_capacity}; {demand.concurrent_tasks} concurrent tasks on "
            f"{workers} worker(s) of {cls.tasks_per_worker}; a worker needs {demand.worker_memory_mb:,.0f} MB of "
            f"{cls.worker_memory_gb:g} GB ({MWAA_CLASSES_SOURCE})"
        )
        if rejected:
            why += f"; smaller classes ruled out: {'; '.join(rejected)}"
        return cls, workers, why
    raise PlatformError(f"no MWAA environment class fits in {sheet.region}: {'; '.join(rejected)}")


def price_mwaa(
    demand: PlatformDemand, a: PlatformAssumptions, sheet: PriceSheet, footprint: PlatformFootprint
) -> PlatformCost:
    cls, workers, why = choose_mwaa_class(demand, a, sheet)
    rates = sheet.mwaa_classes[cls.name]
    where = f"snapshot {sheet.snapshot_id}: AmazonMWAA"
    size = cls.name.removeprefix("mw1.").capitalize()
    lines = [
        (
            _line(
                f"MWAA environment ({cls.name}: 1 worker, 2 schedulers, web server)",
                "AmazonMWAA",
                "hours",
                HOURS_PER_MONTH,
                rates.environment_usd_per_hour,
            ),
            f"{where} Airflow-{size}Environment",
        )
    ]
    extra_workers = workers - MWAA_INCLUDED_WORKERS
    if extra_workers > 0:
        rate = _need(
            rates.worker_usd_per_hour, f"an additional {cls.name} worker", sheet, PLATFORM_SELF_HOSTED
        )
        lines.append(
            (
                _line(
                    f"MWAA additional workers ({extra_workers} while busy)",
                    "AmazonMWAA",
                    "hours",
                    extra_workers * demand.busy_hours_per_month,
                    rate,
                ),
                f"{where} Airflow-{size}Worker",
            )
        )
    extra_schedulers = a.mwaa_schedulers - MWAA_INCLUDED_SCHEDULERS
    if extra_schedulers > 0:
        rate = _need(
            rates.scheduler_usd_per_hour, f"an additional {cls.name} scheduler", sheet, PLATFORM_SELF_HOSTED
        )
        lines.append(
            (
                _line(
                    f"MWAA additional schedulers ({extra_schedulers})",
                    "AmazonMWAA",
                    "hours",
                    extra_schedulers * HOURS_PER_MONTH,
                    rate,
                ),
                f"{where} Airflow-{size}Scheduler",
            )
        )
    metadata = _need(
        sheet.mwaa_metadata_usd_per_gb_month, "MWAA metadata storage", sheet, PLATFORM_SELF_HOSTED
    )
    lines.append(
        (
            _line("MWAA metadata database storage", "AmazonMWAA", "GB-months", a.mwaa_metadata_gb, metadata),
            f"{where} Airflow-StandardDatabaseStorage",
        )
    )
    mlflow_mb = footprint.peak_mib(MLFLOW_COMPONENT) * a.memory_headroom
    mlflow = _instance(sheet, a.mlflow_instance_type, memory_mb=mlflow_mb)
    lines += _instance_lines("MLflow tracking server", mlflow, 1, sheet)
    lines += _rds_lines(a, sheet, "MLflow database", PLATFORM_SELF_HOSTED)
    dags_gb = 0.001  # the DAG folder and requirements (well under a megabyte): MWAA's DAG bucket
    lines += _storage_and_mail_lines(a, demand, sheet, extra_gb=dags_gb)
    sizing = (
        why,
        f"MLflow server: {mlflow.instance_type} ({mlflow.memory_gib:g} GiB) for {mlflow_mb:,.0f} MB (measured peak x "
        f"{a.memory_headroom:g}, {footprint.source})",
        f"additional workers bill only while busy: {demand.busy_hours_per_month:,.1f} h a month "
        f"({demand.runs_per_month:.2f} runs x their wall time)",
    )
    return _cost(PLATFORM_MWAA, a, sheet, lines, sizing)


def price_self_hosted(
    demand: PlatformDemand, a: PlatformAssumptions, sheet: PriceSheet, footprint: PlatformFootprint
) -> PlatformCost:
    co_located = [*CONTROL_COMPONENTS, MLFLOW_COMPONENT] + (
        [REDIS_COMPONENT] if a.redis == REDIS_CO_LOCATED else []
    )
    control_mb = footprint.peak_mib(*co_located) * a.memory_headroom
    control_cpu = sum(
        footprint.components[n].cpu_seconds for n in co_located if n in footprint.components
    ) / max(footprint.run_wall_seconds, 1.0)
    control = _instance(sheet, a.instance_type, memory_mb=control_mb, vcpus=2, mean_cpu_cores=control_cpu)
    concurrency = a.worker_concurrency or footprint.worker_concurrency
    # a worker's mean load over the month: its measured CPU per run, runs a month, spread over the workers
    worker_cpu = footprint.worker_cpu_seconds * demand.runs_per_month / (HOURS_PER_MONTH * 3600.0) / a.workers
    worker = _instance(
        sheet,
        a.worker_instance_type,
        memory_mb=demand.worker_memory_mb,
        vcpus=concurrency,
        mean_cpu_cores=worker_cpu,
    )
    lines = _instance_lines(
        "Airflow control plane + MLflow" + (" + Redis" if a.redis == REDIS_CO_LOCATED else ""),
        control,
        1,
        sheet,
    )
    lines += _instance_lines(f"Celery workers ({a.workers})", worker, a.workers, sheet)
    if a.redis == REDIS_ELASTICACHE:
        rate = sheet.elasticache_redis_usd_per_hour.get(a.elasticache_node_type)
        if rate is None:
            raise PlatformError(
                f"ElastiCache {a.elasticache_node_type!r} is not priced in {sheet.region} (snapshot "
                f"{sheet.snapshot_id}); use redis={REDIS_CO_LOCATED!r}"
            )
        lines.append(
            (
                _line(
                    f"Redis (ElastiCache {a.elasticache_node_type})",
                    "AmazonElastiCache",
                    "hours",
                    HOURS_PER_MONTH,
                    rate,
                ),
                f"snapshot {sheet.snapshot_id}: AmazonElastiCache NodeUsage:{a.elasticache_node_type}",
            )
        )
    lines += _rds_lines(a, sheet, "Airflow + MLflow database", PLATFORM_NONE)
    lines += _storage_and_mail_lines(a, demand, sheet)
    redis_words = (
        "Redis co-located on the control instance (as docker-compose.yaml runs it)"
        if a.redis == REDIS_CO_LOCATED
        else f"Redis on ElastiCache {a.elasticache_node_type}"
    )
    sizing = (
        f"control instance {control.instance_type} ({control.vcpus} vCPU, {control.memory_gib:g} GiB): "
        f"{', '.join(co_located)} need {control_mb:,.0f} MB (measured peaks x {a.memory_headroom:g}), mean load "
        f"{control_cpu:.2f} cores ({footprint.source})",
        f"{a.workers} worker instance(s) {worker.instance_type} ({worker.vcpus} vCPU, {worker.memory_gib:g} GiB): "
        f"{concurrency} concurrent tasks, {demand.worker_memory_mb:,.0f} MB with tasks running",
        redis_words,
        f"one RDS PostgreSQL {a.db_instance_class} holds the Airflow and MLflow databases",
    )
    return _cost(PLATFORM_SELF_HOSTED, a, sheet, lines, sizing)


def _cost(
    design: str,
    a: PlatformAssumptions,
    sheet: PriceSheet,
    lines: list[tuple[CostComponent, str]],
    sizing: tuple[str, ...],
) -> PlatformCost:
    return PlatformCost(
        design=design,
        region=sheet.region,
        snapshot_id=sheet.snapshot_id,
        attribution_share=float(a.attribution_share),
        components=tuple(c for c, _ in lines),
        sources=tuple(s for _, s in lines),
        sizing=sizing,
        caveats=(
            "always-on instances priced on demand: a 1-year commitment lowers them (see the serving options' "
            "reserved rates)",
        ),
    )


def price_platform(
    a: PlatformAssumptions,
    sheet: PriceSheet,
    *,
    runs_per_month: float,
    run_wall_seconds: float,
    training_peak_rss_mb: float = 0.0,
    footprint: PlatformFootprint | None = None,
) -> PlatformCost | None:
    """The design's monthly cost (None for ``none``); :class:`PlatformError` names what cannot be priced."""
    if a.design == PLATFORM_NONE:
        return None
    footprint = footprint or load_footprint()
    demand = platform_demand(
        footprint,
        a,
        runs_per_month=runs_per_month,
        run_wall_seconds=run_wall_seconds,
        training_peak_rss_mb=training_peak_rss_mb,
    )
    if a.design == PLATFORM_MWAA:
        return price_mwaa(demand, a, sheet, footprint)
    return price_self_hosted(demand, a, sheet, footprint)


def designs_priced_in(sheet: PriceSheet) -> tuple[str, ...]:
    """The designs this sheet can price (``none`` always)."""
    designs = [PLATFORM_NONE]
    if sheet.rds_postgres_usd_per_hour and sheet.rds_gp3_usd_per_gb_month is not None:
        designs.insert(0, PLATFORM_SELF_HOSTED)
        if sheet.mwaa_classes:
            designs.insert(0, PLATFORM_MWAA)
    return tuple(designs)
