"""What a cloud training run pays besides its instances: S3 storage and requests, the EBS volume.

* **EBS**: the gp3 root volume, for the billed seconds of the attempts (GB-months prorated).
* **S3 storage**: the bytes under the run's prefix at the end x the run's wall time (prorated GB-months).
* **S3 requests**: counted where the pipeline makes them (uploads, marker reads, downloads, the
  trigger's HEAD polls; passed in) and estimated for the instance (:func:`run_s3_usage`):

  - per attempt: bundle, config and corpus GETs, one checkpoint GET per resume, log + marker PUTs;
  - per run: one PUT per checkpoint write (:func:`~costing.model.training.rules.checkpoint_writes`,
    counted once), plus model.pt and metrics.json.

  A multipart upload is counted as one request. Rates come from the snapshot's price sheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from costing.model.training.rules import checkpoint_writes
from costing.units import BYTES_PER_GB, SECONDS_PER_MONTH

if TYPE_CHECKING:
    from collections.abc import Mapping

    from costing.pricing.sheet import PriceSheet

# What the instance itself reads and writes besides checkpoints (the user data, pipeline.spot.userdata)
INSTANCE_GETS_PER_ATTEMPT = 3  # bundle, config, corpus
INSTANCE_PUTS_PER_ATTEMPT = 2  # log, marker
TRAINER_OUTPUT_PUTS = 2  # model.pt, metrics.json


@dataclass(frozen=True)
class StorageRates:
    s3_usd_per_gb_month: float
    s3_put_usd_per_1k: float  # PUT, COPY, POST, LIST
    s3_get_usd_per_1k: float  # GET, HEAD and the rest
    ebs_gp3_usd_per_gb_month: float
    source: str

    @classmethod
    def from_sheet(cls, sheet: PriceSheet) -> StorageRates:
        values = {
            "s3_usd_per_gb_month": sheet.s3_standard_usd_per_gb_month,
            "s3_put_usd_per_1k": sheet.s3_put_usd_per_1k_requests,
            "s3_get_usd_per_1k": sheet.s3_get_usd_per_1k_requests,
            "ebs_gp3_usd_per_gb_month": sheet.ebs_gp3_usd_per_gb_month,
        }
        missing = [name for name, value in values.items() if value is None]
        if missing:
            raise ValueError(
                f"pricing snapshot {sheet.snapshot_id} has no {', '.join(missing)} for {sheet.region}; "
                "refresh the pricing snapshot"
            )
        return cls(**values, source=f"snapshot {sheet.snapshot_id} ({sheet.region})")  # type: ignore[arg-type]


@dataclass(frozen=True)
class S3Usage:
    put_requests: float
    get_requests: float
    stored_bytes: float
    stored_seconds: float


@dataclass(frozen=True)
class StorageCost:
    s3_storage_usd: float
    s3_requests_usd: float
    ebs_usd: float
    usage: S3Usage
    ebs_gb_seconds: float
    rates: StorageRates

    @property
    def usd(self) -> float:
        return self.s3_storage_usd + self.s3_requests_usd + self.ebs_usd


def run_s3_usage(
    *,
    attempts: int,
    interruptions: int,
    pipeline_counts: Mapping[str, int],
    global_steps: int,
    checkpoint_every_steps: int,
    epochs: int,
    stored_bytes: int,
    stored_seconds: float,
) -> S3Usage:
    """Requests of one run: counted on the pipeline side (``pipeline_counts``: put, list, get and head
    requests), estimated on the instance side (module docstring).

    Example: 2 attempts (1 interrupted), 120 steps, a checkpoint every 50, 2 epochs, no pipeline
    requests -> PUTs 2 x 2 + (2 + 2 + 1) + 2 = 11, GETs 2 x 3 + 1 = 7.
    """
    instance_gets = INSTANCE_GETS_PER_ATTEMPT * attempts + max(attempts - 1, 0)
    instance_puts = INSTANCE_PUTS_PER_ATTEMPT * attempts
    trainer_puts = (
        checkpoint_writes(global_steps, max(checkpoint_every_steps, 1), epochs, interruptions)
        + TRAINER_OUTPUT_PUTS
    )
    return S3Usage(
        put_requests=float(
            pipeline_counts.get("put_requests", 0)
            + pipeline_counts.get("list_requests", 0)
            + instance_puts
            + trainer_puts
        ),
        get_requests=float(
            pipeline_counts.get("get_requests", 0) + pipeline_counts.get("head_requests", 0) + instance_gets
        ),
        stored_bytes=float(stored_bytes),
        stored_seconds=float(stored_seconds),
    )


def storage_cost(usage: S3Usage, rates: StorageRates, *, ebs_gb: float, billed_seconds: float) -> StorageCost:
    """S3 storage + requests and the EBS root volume while the instances ran.

    Example: 1 GiB for 730 h at $0.023 -> $0.023; 1,000 PUTs at $0.005/1k -> $0.005;
    20 GB gp3 for 3,600 s at $0.08 -> 20 x 0.08 x 3,600 / 2,628,000 = $0.00219.
    """
    gb_months = usage.stored_bytes / BYTES_PER_GB * usage.stored_seconds / SECONDS_PER_MONTH
    ebs_gb_seconds = ebs_gb * billed_seconds
    return StorageCost(
        s3_storage_usd=gb_months * rates.s3_usd_per_gb_month,
        s3_requests_usd=(
            usage.put_requests * rates.s3_put_usd_per_1k + usage.get_requests * rates.s3_get_usd_per_1k
        )
        / 1000.0,
        ebs_usd=ebs_gb_seconds / SECONDS_PER_MONTH * rates.ebs_gp3_usd_per_gb_month,
        usage=usage,
        ebs_gb_seconds=ebs_gb_seconds,
        rates=rates,
    )
