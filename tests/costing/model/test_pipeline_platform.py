"""The platform that runs the pipeline (MWAA or self-hosted) against numbers computed by hand."""

from __future__ import annotations

import json

import pytest
from model_literals import FOOTPRINT, PROFILE, sheet

from costing.model.pipeline_platform import (
    PlatformAssumptions,
    PlatformError,
    PlatformFootprint,
    choose_mwaa_class,
    designs_priced_in,
    platform_demand,
    price_platform,
)
from costing.model.tco import tco
from costing.model.training.plan import plan_training
from costing.pricing.sheet import InstanceRates, MwaaClassRates

RUNS = 52 / 12  # weekly

INSTANCES = {
    # type, vCPU, GiB, arch, on-demand $/h (spot and commitments play no part here)
    "t3.small": InstanceRates("t3.small", 2, 2.0, "x86_64", 0.0208, None, None),
    "t3.medium": InstanceRates("t3.medium", 2, 4.0, "x86_64", 0.0416, None, None),
    "m6i.large": InstanceRates("m6i.large", 2, 8.0, "x86_64", 0.096, None, None),
}
PLATFORM_SHEET = sheet(
    instances=INSTANCES,
    mwaa_classes={
        "mw1.small": MwaaClassRates("mw1.small", 0.49, 0.055, 0.055),
        "mw1.medium": MwaaClassRates("mw1.medium", 0.74, 0.11, 0.11),
    },
    mwaa_metadata_usd_per_gb_month=0.10,
    rds_postgres_usd_per_hour={"db.t4g.micro": 0.016, "db.t4g.small": 0.032},
    rds_gp3_usd_per_gb_month=0.115,
    rds_backup_usd_per_gb_month=0.095,
    elasticache_redis_usd_per_hour={"cache.t4g.micro": 0.016},
    ses_usd_per_1k_emails=0.10,
)


def price(design: str, *, training_peak_mb: float = 600.0, **changes):
    return price_platform(
        PlatformAssumptions(design=design, **changes),
        PLATFORM_SHEET,
        runs_per_month=RUNS,
        run_wall_seconds=300.0,  # shorter than the measured run: the measured 600 s counts
        training_peak_rss_mb=training_peak_mb,
        footprint=FOOTPRINT,
    )


def lines(cost) -> dict[str, float]:
    return {c.name: c.usd_per_month for c in cost.components}


def test_self_hosted_is_sized_from_the_measured_topology():
    cost = price("self-hosted")
    # control: (400 + 300 + 250 + 200 + 300 + 10) MB x 1.25 = 1,825 MB beside 512 MB for the OS -> t3.medium
    # (t3.small leaves 1,536 MB); mean load 162 CPU-s / 600 s = 0.27 cores < t3.medium's 0.2 x 2 baseline.
    # worker: max(1,200, 600 + 512) x 1.25 = 1,500 MB, 2 vCPU for 2 concurrent tasks -> t3.small
    assert lines(cost) == pytest.approx(
        {
            "Airflow control plane + MLflow + Redis (t3.medium on-demand)": 730 * 0.0416,  # 30.368
            "Airflow control plane + MLflow + Redis root volume (gp3, 20 GB)": 20 * 0.08,
            "Airflow control plane + MLflow + Redis public IPv4 address": 730 * 0.005,
            "Celery workers (1) (t3.small on-demand)": 730 * 0.0208,  # 15.184
            "Celery workers (1) root volume (gp3, 20 GB)": 20 * 0.08,
            "Celery workers (1) public IPv4 address": 730 * 0.005,
            "Airflow + MLflow database (RDS PostgreSQL db.t4g.micro, Single-AZ)": 730 * 0.016,  # 11.68
            "Airflow + MLflow database storage (gp3)": 20 * 0.115,
            "Airflow + MLflow database backups beyond the free allowance (as much as the storage)": 0.0,
            # 50 MiB a run x 4.333 runs x 12 months = 2.5390625 GB
            "Artifact and report bucket (S3 Standard, 12 months of runs)": 2.5390625 * 0.023,
            "Artifact and report writes (S3 PUT)": 40 * RUNS / 1000 * 0.005,
            "Report mail (SES)": RUNS / 1000 * 0.10,
        }
    )
    assert cost.full_usd_per_month == pytest.approx(
        70.032 + 2.5390625 * 0.023 + 40 * RUNS / 1000 * 0.005 + RUNS / 1e4
    )
    assert cost.usd_per_month == cost.full_usd_per_month
    assert "Redis co-located on the control instance (as docker-compose.yaml runs it)" in cost.sizing
    assert len(cost.sources) == len(cost.components)
    assert all(source.startswith("snapshot literal: ") for source in cost.sources)


def test_redis_on_elasticache_moves_it_off_the_control_instance():
    cost = price("self-hosted", redis="elasticache")
    assert lines(cost)["Redis (ElastiCache cache.t4g.micro)"] == pytest.approx(730 * 0.016)
    assert "Airflow control plane + MLflow (t3.medium on-demand)" in lines(cost)


def test_mwaa_takes_the_smallest_priced_class_that_fits():
    cost = price("mwaa")
    assert lines(cost) == pytest.approx(
        {
            "MWAA environment (mw1.small: 1 worker, 2 schedulers, web server)": 730 * 0.49,  # 357.70
            "MWAA metadata database storage": 10 * 0.10,
            # the MLflow server alone: 300 MB x 1.25 = 375 MB -> t3.small
            "MLflow tracking server (t3.small on-demand)": 730 * 0.0208,
            "MLflow tracking server root volume (gp3, 20 GB)": 20 * 0.08,
            "MLflow tracking server public IPv4 address": 730 * 0.005,
            "MLflow database (RDS PostgreSQL db.t4g.micro, Single-AZ)": 730 * 0.016,
            "MLflow database storage (gp3)": 20 * 0.115,
            "MLflow database backups beyond the free allowance (as much as the storage)": 0.0,
            "Artifact and report bucket (S3 Standard, 12 months of runs)": (2.5390625 + 0.001) * 0.023,
            "Artifact and report writes (S3 PUT)": 40 * RUNS / 1000 * 0.005,
            "Report mail (SES)": RUNS / 1000 * 0.10,
        }
    )
    assert cost.full_usd_per_month == pytest.approx(
        393.114 + 2.5400625 * 0.023 + 40 * RUNS / 1000 * 0.005 + RUNS / 1e4
    )
    (why, *_) = cost.sizing
    assert why.startswith("mw1.small: 6 DAGs of 50; 2 concurrent tasks on 1 worker(s) of 5")
    assert "mw1.micro: not priced in this snapshot" in why


def test_a_bigger_model_needs_a_bigger_mwaa_worker():
    # training peak 2,000 MB: a worker needs (2,000 + 512) x 1.25 = 3,140 MB > mw1.small's 2 GB -> mw1.medium
    cost = price("mwaa", training_peak_mb=2_000.0)
    assert "MWAA environment (mw1.medium: 1 worker, 2 schedulers, web server)" in lines(cost)
    assert "a worker needs 3,140 MB > 2 GB" in cost.sizing[0]


def test_more_concurrency_adds_mwaa_workers_only_while_busy():
    # 3 workers x 2 tasks = 6 tasks: mw1.small runs 5 per worker -> 2 workers, 1 beyond the included one,
    # billed for 4.333 runs x 600 s = 0.7222 h a month
    cost = price("mwaa", workers=3)
    extra = lines(cost)["MWAA additional workers (1 while busy)"]
    assert extra == pytest.approx(RUNS * 600 / 3600 * 0.055)
    assert price("mwaa", mwaa_schedulers=3).components[1].usd_per_month == pytest.approx(730 * 0.055)


def test_a_configured_class_that_does_not_fit_is_refused_with_the_reason():
    demand = platform_demand(
        FOOTPRINT,
        PlatformAssumptions(design="mwaa"),
        runs_per_month=RUNS,
        run_wall_seconds=1,
        training_peak_rss_mb=3000,
    )
    with pytest.raises(
        PlatformError, match=r"no MWAA environment class fits in us-east-1: mw1.small: a worker needs"
    ):
        choose_mwaa_class(
            demand, PlatformAssumptions(design="mwaa", mwaa_environment_class="mw1.small"), PLATFORM_SHEET
        )


def test_the_attribution_share_scales_every_line():
    full = price("self-hosted")
    quarter = price("self-hosted", attribution_share=0.25)
    assert quarter.full_usd_per_month == pytest.approx(full.full_usd_per_month)
    assert quarter.usd_per_month == pytest.approx(full.full_usd_per_month * 0.25)
    charged = quarter.charged_components()
    assert sum(c.usd_per_month for c in charged) == pytest.approx(quarter.usd_per_month)
    assert charged[0].name == "Airflow control plane + MLflow + Redis (t3.medium on-demand) x 0.25 share"
    assert charged[0].quantity == pytest.approx(730 * 0.25)


def test_none_prices_nothing_and_reproduces_the_tco_exactly():
    assert price("none") is None
    training = plan_training(PROFILE, PLATFORM_SHEET, instance_type="t3.small", market="on-demand")
    before = tco(PROFILE, PLATFORM_SHEET, [100, 10_000], training=training)
    none = tco(PROFILE, PLATFORM_SHEET, [100, 10_000], training=training, platform=None)
    assert json.dumps(none.to_json_dict(), sort_keys=True) == json.dumps(
        before.to_json_dict(), sort_keys=True
    )
    assert "platform" not in none.to_json_dict()
    assert list(none.to_dataframe().columns) == list(before.to_dataframe().columns)

    hosted = tco(
        PROFILE,
        PLATFORM_SHEET,
        [100, 10_000],
        training=training,
        platform=PlatformAssumptions(design="self-hosted", attribution_share=0.5),
        footprint=FOOTPRINT,
    )
    platform = hosted.platform.usd_per_month
    for plain, with_platform in zip(before.scenarios, hosted.scenarios, strict=True):
        assert with_platform.cheapest == plain.cheapest  # the same for every option: never changes the winner
        for a, b in zip(plain.options, with_platform.options, strict=True):
            if a.usd_per_month is None:
                continue
            assert b.platform_usd_per_month == pytest.approx(platform)
            assert b.usd_per_month == pytest.approx(a.usd_per_month + platform)
            assert sum(c.usd_per_month for c in b.components) == pytest.approx(b.usd_per_month)
    assert hosted.to_json_dict()["platform"]["attribution_share"] == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attribution_share": 0.0}, r"attribution share 0.0 is outside \(0, 1\]"),
        ({"attribution_share": 1.5}, r"attribution share 1.5 is outside \(0, 1\]"),
        ({"design": "kubernetes"}, r"platform design 'kubernetes' is not one of self-hosted, mwaa, none"),
        ({"workers": 0}, r"platform workers 0 must be a whole number, at least 1"),
        (
            {"mwaa_environment_class": "mw2.small"},
            r"MWAA environment class 'mw2.small' is not one of mw1.micro",
        ),
        ({"db_storage_gb": 5}, r"db_storage_gb 5: RDS gp3 storage starts at 20 GB"),
    ],
)
def test_bad_platform_input_gets_one_message_naming_the_value(changes, message):
    with pytest.raises(PlatformError, match=message):
        PlatformAssumptions(**changes)


def test_a_region_without_mwaa_names_the_designs_that_remain():
    ireland = sheet(
        region="eu-west-1",
        instances=INSTANCES,
        rds_postgres_usd_per_hour={"db.t4g.micro": 0.017},
        rds_gp3_usd_per_gb_month=0.127,
        rds_backup_usd_per_gb_month=0.095,
        ses_usd_per_1k_emails=0.10,
    )
    assert designs_priced_in(ireland) == ("self-hosted", "none")
    with pytest.raises(
        PlatformError,
        match=r"Amazon MWAA is not priced in eu-west-1 \(snapshot literal\); designs that remain: self-hosted, none",
    ):
        price_platform(
            PlatformAssumptions(design="mwaa"),
            ireland,
            runs_per_month=RUNS,
            run_wall_seconds=1,
            footprint=FOOTPRINT,
        )
    with pytest.raises(
        PlatformError,
        match=r"RDS PostgreSQL 'db.t4g.small' is not priced in eu-west-1 .*priced classes: db.t4g.micro",
    ):
        price_platform(
            PlatformAssumptions(design="self-hosted", db_instance_class="db.t4g.small"),
            ireland,
            runs_per_month=RUNS,
            run_wall_seconds=1,
            footprint=FOOTPRINT,
        )


def footprint_document(**run_changes) -> dict:
    return {
        "dags": 6,
        "worker_concurrency": 2,
        "components": {
            "mlflow": {
                "peak_rss_mib": 920.8,
                "peak_pss_mib": 711.9,
                "cpu_seconds": 4.0,
                "peak_cpu_cores": 0.29,
            },
            "redis": {"peak_rss_mib": 12.4, "cpu_seconds": 0.2},
            "airflow-worker-1": {"peak_rss_mib": 2779.1, "peak_pss_mib": 1099.9, "cpu_seconds": 42.9},
        },
        "total": {"peak_rss_mib": 3712.3},
        "run": {
            "dag_id": "rnn_retraining",
            "state": "success",
            "wall_seconds": 86.3,
            "bytes_written_total": 4018639,
            "objects_written": 82,
            "s3_requests_by_method": {"GET": 62, "PUT": 104},
            **run_changes,
        },
        "measured_at": "2026-12-07T10:09:00Z",
    }


def test_the_footprint_document_is_read_with_shared_pages_counted_once():
    footprint = PlatformFootprint.from_json_dict(footprint_document(), source="doc")
    assert footprint.components["mlflow"].peak_rss_mib == 711.9  # PSS where measured
    assert footprint.components["redis"].peak_rss_mib == 12.4  # else RSS
    assert footprint.worker.peak_rss_mib == 1099.9
    assert (footprint.dags, footprint.worker_concurrency, footprint.run_wall_seconds) == (6, 2, 86.3)
    assert footprint.worker_cpu_seconds == 42.9
    assert (footprint.bytes_per_run, footprint.objects_per_run) == (4018639, 104)  # PUT requests, not objects
    # the cost_recompute each new model triggers writes too: one retraining's volume is both runs'
    recompute = {
        "dag_id": "cost_recompute",
        "state": "success",
        "bytes_written_total": 20499362,
        "objects_written": 8,
    }
    both = PlatformFootprint.from_json_dict({**footprint_document(), "other_runs": [recompute]}, source="doc")
    assert (both.bytes_per_run, both.objects_per_run) == (4018639 + 20499362, 104 + 8)
    with pytest.raises(
        PlatformError, match=r"doc is not a platform footprint with a successful rnn_retraining run"
    ):
        PlatformFootprint.from_json_dict(footprint_document(state="failed"), source="doc")


def test_the_shipped_footprint_measures_every_component_the_designs_size():
    from costing.model.pipeline_platform import CONTROL_COMPONENTS, load_footprint

    footprint = load_footprint()
    assert footprint.source == "include/platform_footprint.json"
    for name in (*CONTROL_COMPONENTS, "mlflow", "redis"):
        assert footprint.components[name].peak_rss_mib > 0, name
    assert footprint.worker.peak_rss_mib > 0 and footprint.dags >= 6 and footprint.bytes_per_run > 0
