"""A pytest plugin: every test is in exactly one tier, and a unit test starts no service.

The tiers, fastest first (``make test-unit`` ... ``make test-production``; ``make test`` runs all):

- ``unit``: no services, no real training. A test without a tier marker is a unit test.
- ``integration``: real local services (moto in server mode, MLflow, an SMTP catcher, the inference
  server), training in subprocesses, pip builds.
- ``e2e``: whole DAG runs (``dag.test()``, ``airflow dags test``).
- ``browser``: a real browser against the Airflow and MLflow UIs.
- ``production``: the production topology (Postgres, Redis, Celery workers, the MLflow server).

A unit test that listens on a socket, or uses a fixture that did, fails and says to mark it: that is a
service.
Under pytest-xdist (``--dist loadgroup``) a module's tests stay on one worker, so a module-scoped fixture
is built once; the browser and the production tests each stay on one worker, as they share one
expensive session (a browser stack, a production topology).
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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if tier == "unit" and not item.get_closest_marker("unit"):
            item.add_marker(pytest.mark.unit)
        # Under pytest-xdist (--dist loadgroup) a group runs on one worker: a module's tests stay together,
        # so its module-scoped fixtures are built once, and a one-worker tier's modules share a session.
        group = tier if tier in ONE_WORKER_TIERS else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


class ServiceInUnitTest(AssertionError):
    pass


# fixtures seen listening on a socket when they were set up (a server of any scope), by name
SERVICE_FIXTURES: set[str] = set()


@contextlib.contextmanager
def _listens() -> Iterator[list[object]]:
    """Collects the addresses anything listens on meanwhile (in any thread).

    The socket still listens: a server thread that failed to start could leave a test waiting for it.
    """
    listen = socket.socket.listen
    addresses: list[object] = []

    def record(sock: socket.socket, *args: object) -> None:
        addresses.append(sock.getsockname())
        listen(sock, *args)

    socket.socket.listen = record  # type: ignore[method-assign]
    try:
        yield addresses
    finally:
        socket.socket.listen = listen  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[object]:
    with _listens() as addresses:
        result = yield
    if addresses:
        SERVICE_FIXTURES.add(fixturedef.argname)
    return result


def _check_unit(item: pytest.Item, addresses: list[object]) -> None:
    services = sorted(SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())))
    if tier_of(item) == "unit" and (addresses or services):
        what = f"listens on {', '.join(map(str, addresses))}" if addresses else f"uses {', '.join(services)}"
        raise ServiceInUnitTest(
            f"{item.nodeid} starts a service ({what}): mark it @pytest.mark.integration (tests/tiers.py)"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _listens() as addresses:
        result = yield
    _check_unit(item, addresses)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _listens() as addresses:
        result = yield
    _check_unit(item, addresses)
    return result
