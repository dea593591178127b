"""A pytest plugin: every test is in exactly one tier, and a unit test starts no service.

The tiers, fastest first (``make test-unit`` ... ``make test-production``; ``make test`` runs all):

- ``unit``: no services, no real training. A test without a tier marker is a unit test.
- ``integration``: real local services (moto in server mode, MLflow, an SMTP catcher, the inference
  server), training in subprocesses, pip builds.
- ``e2e``: whole DAG runs (``dag.test()``, ``airflow dags test``).
- ``browser``: a real browser against the Airflow and MLflow UIs.
- ``production``: the production topology (Postgres, Redis, Celery workers, the MLflow server).

A unit test that starts listening on a socket fails and says to mark it: that is a service.
Under pytest-xdist, the browser and production tests each stay on one worker (``--dist loadgroup``):
they share one expensive fixture per session.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

TIERS = ("unit", "integration", "e2e", "browser", "production")
# tiers whose tests share one session fixture (a topology, a browser): keep each on one xdist worker
ONE_WORKER_TIERS = ("browser", "production")


def pytest_configure(config: pytest.Config) -> None:
    for tier, text in (
        ("unit", "no services, no real training (the default for a test without a tier marker)"),
        (
            "integration",
            "real local services (moto, MLflow, SMTP, the inference server), training in subprocesses",
        ),
        ("e2e", "whole DAG runs (dag.test(), airflow dags test)"),
        ("browser", "a real browser against the Airflow and MLflow UIs"),
        ("production", "the production topology (Postgres, Redis, Celery workers, MLflow server)"),
    ):
        config.addinivalue_line("markers", f"{tier}: {text}")


def tier_of(item: pytest.Item) -> str:
    tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    if len(tiers) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked with several tiers {sorted(tiers)}: keep one")
    return tiers.pop() if tiers else "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if tier == "unit" and not item.get_closest_marker("unit"):
            item.add_marker(pytest.mark.unit)
        if tier in ONE_WORKER_TIERS:
            item.add_marker(pytest.mark.xdist_group(tier))


class ServiceInUnitTest(AssertionError):
    pass


@contextlib.contextmanager
def _no_listening(item: pytest.Item) -> Iterator[None]:
    """While a unit test (and any fixture it sets up, of any scope) runs, listening on a socket fails."""
    if tier_of(item) != "unit":
        yield
        return
    listen = socket.socket.listen

    def refuse(sock: socket.socket, *args: object) -> None:
        raise ServiceInUnitTest(
            f"{item.nodeid} starts a service (listens on {sock.getsockname()}): "
            "mark it @pytest.mark.integration (tests/tiers.py)"
        )

    socket.socket.listen = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.listen = listen  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _no_listening(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _no_listening(item):
        return (yield)
