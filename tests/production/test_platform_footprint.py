"""The footprint sampler (devtools.platform_footprint) against the live deployment, for a few seconds.

It must find every component's process tree, under the names include/platform_footprint.json uses, with
memory in each; a Celery worker's tree holds its task processes (the prefork pool's children).
"""

from __future__ import annotations

import time

import pytest
from production_testbed import Deployment

from devtools.platform_footprint import Sampler, component_roots, summarize_ticks

# Generous: the first test of a session also starts the deployment.
pytestmark = [pytest.mark.production, pytest.mark.timeout(1800)]


def test_the_sampler_finds_every_component_with_memory_under_the_json_names(prod: Deployment) -> None:
    names = [component.name for component in prod.topology.components()]
    sampler = Sampler(component_roots(prod.topology), interval_seconds=0.5).start()
    time.sleep(3)
    sampler.stop()

    ticks = sampler.ticks()
    assert len(ticks) >= 4
    footprints = summarize_ticks(ticks, names)
    assert set(footprints) == {*names, "total"}
    assert {"postgres", "redis", "s3", "mlflow", "airflow-apiserver", "airflow-scheduler"} <= set(names)
    assert {"airflow-dag-processor", "airflow-triggerer", "airflow-worker-1"} <= set(names)
    for name in names:
        footprint = footprints[name]
        assert footprint.peak_rss_mib > 0, name
        assert footprint.mean_rss_mib > 0, name
        assert footprint.cpu_seconds >= 0, name
    assert footprints["total"].peak_rss_mib >= max(footprints[name].peak_rss_mib for name in names)
    # Postgres serves each connection from a backend process of its own; a worker forks its pool.
    assert footprints["postgres"].max_processes > 1
    assert footprints["airflow-worker-1"].max_processes > 1
    assert all(footprints[name].peak_pss_mib for name in names)  # the first tick reads PSS too
