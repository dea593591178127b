"""Literal inputs for the cost-model tests: a price sheet and a model profile with round numbers.

The numbers are chosen so every test can be checked with a pocket calculator:

* profile: 200-char completion p50 100 ms / p95 150 ms / p99 200 ms / mean 110 ms at batch 1 on 2 CPUs;
  batch 16 at 16,000 tokens/s (0.2 s per batch), batch 64 at 32,000 tokens/s (0.4 s per batch);
  model file 10 MiB, serving memory 512 MiB, dataset 1 MiB; training 3,600 s wall, 300 steps in
  3,000 s, a checkpoint every 60 steps (600 s of work).
* serving (the load test, when a test adds it): on 2 CPUs at p95 <= 1,000 ms for 200-char completions,
  40 requests/s (p95 900 ms) is the highest passing rate; the curve: 10 rps p95 300 ms, 20 rps 400 ms,
  40 rps 900 ms, 80 rps 3,000 ms with 20 % errors; server peak RSS 256 MiB, batch limit 64.
* sheet (flat rates: no volume tiers): public IPv4 $0.005/h; interface endpoints $0.01 per AZ-hour and
  $0.01/GB; c6i.large 2 vCPU / 4 GiB $0.10/h on-demand,
  $0.04 spot, 1yr $0.06 / 3yr $0.04 reserved, 5 % interruptions; c6i.xlarge 4 / 8 $0.20, spot $0.08, no reserved, no Spot Advisor bucket;
  t3.small 2 / 2 $0.02 (burstable, 20 % baseline); m7g.large 2 / 8 arm64 $0.08, no spot price.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date

from costing.model.pipeline_platform import ComponentFootprint, PlatformFootprint
from costing.model.profile import BatchThroughput, CapacityPoint, ModelProfile, ServingCapacity
from costing.pricing.sheet import CloudflareWorkersRates, InstanceRates, PriceSheet, SageMakerInstanceRates

MIB = 2**20

PROFILE = ModelProfile(
    latency_p50_ms=100.0,
    latency_p95_ms=150.0,
    latency_p99_ms=200.0,
    latency_mean_ms=110.0,
    throughput=(BatchThroughput(16, 16_000.0), BatchThroughput(64, 32_000.0)),
    completion_chars=200,
    host_cpu_count=2,
    host_cpu_model="Test CPU",
    parameters=2_842_747,
    model_file_bytes=10 * MIB,
    peak_rss_bytes=512 * MIB,
    dataset_bytes=1 * MIB,
    training_wall_seconds=3_600.0,
    training_step_seconds=3_000.0,
    training_global_steps=300,
    training_epochs=3,
    checkpoint_every_steps=60,
    run_id="literal",
)

SERVING = ServingCapacity(
    max_rps_at_slo=40.0,
    p95_ms_at_max=900.0,
    slo_ms=1000.0,
    completion_chars=200,
    cpu_count=2,
    rss_bytes=256 * MIB,
    max_batch_size=64,
    mean_batch_size_at_max=20.0,
    curve=(
        CapacityPoint(10.0, 300.0),
        CapacityPoint(20.0, 400.0),
        CapacityPoint(40.0, 900.0),
        CapacityPoint(80.0, 3000.0, 0.2),
    ),
    measured_at="2025-06-01T00:00:00Z",
)
MEASURED = replace(PROFILE, serving=SERVING)


def serving_section(**overrides) -> dict:
    """The ``serving`` section of metrics.json v2 with SERVING's numbers."""
    section = {
        "slo_ms": 1000.0,
        "completion_chars": 200,
        "max_rps_at_slo": 40.0,
        "p95_ms_at_max": 900.0,
        "p50_ms_at_max": 450.0,
        "mean_batch_size_at_max": 20.0,
        "cpu_count": 2,
        "torch_threads": 2,
        "rss_bytes": 256 * MIB,
        "rss_bytes_after_load": 200 * MIB,
        "max_batch_size": 64,
        "precision": "fp32",
        "curve": [
            {"rate_rps": 10.0, "p95_ms": 300.0, "error_rate": 0.0, "passed": True},
            {"rate_rps": 20.0, "p95_ms": 400.0, "error_rate": 0.0, "passed": True},
            {"rate_rps": 40.0, "p95_ms": 900.0, "error_rate": 0.0, "passed": True},
            {"rate_rps": 80.0, "p95_ms": 3000.0, "error_rate": 0.2, "passed": False},
        ],
        "measured_at": "2025-06-01T00:00:00Z",
    }
    return section | overrides


WORKERS = CloudflareWorkersRates(
    monthly_base_usd=5.0,
    included_requests_per_month=10_000_000.0,
    usd_per_million_requests=0.30,
    included_cpu_ms_per_month=30_000_000.0,
    usd_per_million_cpu_ms=0.02,
    max_cpu_ms_per_request=30_000.0,
    max_memory_mb=128.0,
    source_url="https://developers.cloudflare.com/workers/platform/pricing/",
    as_of=date(2025, 6, 1),
)

INSTANCES = {
    "c6i.large": InstanceRates(
        "c6i.large",
        2,
        4.0,
        "x86_64",
        0.10,
        0.04,
        0.05,
        {"1yr/standard/No Upfront": 0.06, "3yr/standard/No Upfront": 0.04},
        0.05,
    ),
    "c6i.xlarge": InstanceRates("c6i.xlarge", 4, 8.0, "x86_64", 0.20, 0.08, 0.09, {}, None),
    "t3.small": InstanceRates("t3.small", 2, 2.0, "x86_64", 0.02, 0.006, 0.007, {}, 0.05),
    "m7g.large": InstanceRates("m7g.large", 2, 8.0, "arm64", 0.08, None, None, {}, None),
}

SHEET = PriceSheet(
    region="us-east-1",
    snapshot_id="literal",
    prices_as_of=date(2025, 6, 1),
    instances=INSTANCES,
    ebs_gp3_usd_per_gb_month=0.08,
    s3_standard_usd_per_gb_month=0.023,
    s3_put_usd_per_1k_requests=0.005,
    s3_get_usd_per_1k_requests=0.0004,
    data_transfer_out_usd_per_gb=0.09,
    alb_usd_per_hour=0.0225,
    alb_usd_per_lcu_hour=0.008,
    nat_gateway_usd_per_hour=0.045,
    nat_gateway_usd_per_gb=0.045,
    public_ipv4_usd_per_hour=0.005,
    vpc_endpoint_usd_per_hour=0.01,
    vpc_endpoint_usd_per_gb=0.01,
    cloudwatch_usd_per_metric_month=0.30,
    cloudwatch_logs_ingest_usd_per_gb=0.50,
    cloudwatch_logs_storage_usd_per_gb_month=0.03,
    lambda_usd_per_million_requests=0.20,
    lambda_x86_usd_per_gb_second=0.0000166667,
    lambda_arm_usd_per_gb_second=0.0000133334,
    fargate_usd_per_vcpu_hour=0.04048,
    fargate_usd_per_gb_hour=0.004445,
    fargate_arm_usd_per_vcpu_hour=0.03238,
    fargate_arm_usd_per_gb_hour=0.00356,
    sagemaker_instances={
        "ml.c5.large": SageMakerInstanceRates("ml.c5.large", 2, 4.0, 0.102),
        "ml.m5.large": SageMakerInstanceRates("ml.m5.large", 2, 8.0, 0.115),
    },
    sagemaker_serverless_usd_per_gb_second=0.00002,
    sagemaker_serverless_usd_per_gb_processed=0.016,
    cloudflare_workers=WORKERS,
)


def sheet(**changes) -> PriceSheet:
    return replace(SHEET, **changes)


def profile(**changes) -> ModelProfile:
    return replace(PROFILE, **changes)


def metrics_dict(**overrides) -> dict:
    """A metrics.json document (schema rnn-metrics v1) with the literal profile's numbers."""
    metrics = {
        "schema": "rnn-metrics",
        "schema_version": 1,
        "run_id": "abc123",
        "status": "completed",
        "finished_at": "2025-06-01T00:00:00.000000Z",
        "config": {"epochs": 3, "max_steps_per_epoch": 0, "checkpoint_every_steps": 60},
        "dataset": {"size_bytes": MIB},
        "model": {"parameters": 2_842_747, "file_size_bytes": 10 * MIB, "file": "model.pt"},
        "training": {
            "epochs": [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}],
            "total_wall_seconds": 3_600.0,
            "train_seconds": 3_000.0,
            "global_steps": 300,
            "peak_rss_bytes": 512 * MIB,
        },
        "host": {"cpu_model": "Test CPU", "cpu_count": 2},
        "inference": {
            "completion_chars": 200,
            "runs": 20,
            "latency_ms": {
                "p50": 100.0,
                "p95": 150.0,
                "p99": 200.0,
                "mean": 110.0,
                "min": 90.0,
                "max": 210.0,
            },
            "throughput": [
                {"batch_size": 1, "tokens_per_s": 2_000.0, "seconds": 0.1},
                {"batch_size": 16, "tokens_per_s": 16_000.0, "seconds": 0.2},
                {"batch_size": 64, "tokens_per_s": 32_000.0, "seconds": 0.4},
            ],
        },
        "compute": None,
    }
    metrics.update(overrides)
    return metrics


@functools.cache
def shipped_sheet(region: str = "us-east-1") -> PriceSheet:
    """The price sheet of the newest shipped snapshot (built once per test session)."""
    from costing.pricing.sheet_builder import build_price_sheet

    return build_price_sheet(None, region)


# The platform that runs the pipeline: a measured topology's footprint, in numbers easy to check by hand
def component(name: str, peak: float, cpu: float) -> ComponentFootprint:
    return ComponentFootprint(name=name, peak_rss_mib=peak, peak_cpu_cores=1.0, cpu_seconds=cpu)


FOOTPRINT = PlatformFootprint(
    components={
        c.name: c
        for c in (
            component("airflow-apiserver", 400, 30),
            component("airflow-scheduler", 300, 60),
            component("airflow-dag-processor", 250, 40),
            component("airflow-triggerer", 200, 10),
            component("mlflow", 300, 20),
            component("redis", 10, 2),
            component("postgres", 150, 15),  # moves to RDS: sized nowhere
            component("airflow-worker-1", 1200, 900),
        )
    },
    dags=6,
    worker_concurrency=2,
    run_wall_seconds=600.0,
    bytes_per_run=50 * 2**20,
    objects_per_run=40,
    measured_at="2026-12-07T10:00:00Z",
    source="literal footprint",
)
