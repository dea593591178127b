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
Under pytest-xdist (``-n``) the tests go out in units (:class:`TierScheduling`): a module's tests stay
on one worker, so a module-scoped fixture is built once; the browser tests, and the production tests,
are one unit each, as they share one expensive session (a browser stack, a production topology). The
longest units go first, so the slowest worker starts at once.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

TIERS = ("unit", "integration", "e2e", "browser", "production")
# Tiers whose tests share one session (a browser stack, a production topology): under pytest-xdist each
# runs on one worker, so each is kept in one folder, which the scheduler below sends as one unit.
ONE_WORKER_FOLDERS = {"production": "tests/production/", "browser": "tests/browser/"}


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
        folder = ONE_WORKER_FOLDERS.get(tier)
        if folder is not None and not item.nodeid.startswith(folder):
            raise pytest.UsageError(f"{item.nodeid} is a {tier} test: it belongs in {folder} (one worker)")


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


def _unit_rank(scope: str, tests: int) -> tuple[int, int]:
    """Which units go out first: the production topology, the browser, the whole-DAG modules, then the
    rest, most tests first (one worker runs the production unit from start to end)."""
    if scope.startswith(ONE_WORKER_FOLDERS["production"]):
        return (0, -tests)
    if scope.startswith(ONE_WORKER_FOLDERS["browser"]):
        return (1, -tests)
    if scope.endswith("_e2e.py"):
        return (2, -tests)
    return (3, -tests)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's load-by-scope scheduling, with this project's units and order (module docstring)."""
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for folder in ONE_WORKER_FOLDERS.values():
                if nodeid.startswith(folder):
                    return folder
            return nodeid.split("::", 1)[0]  # the module

        def _assign_work_unit(self, node: object) -> None:
            first = min(self.workqueue, key=lambda scope: _unit_rank(scope, len(self.workqueue[scope])))
            self.workqueue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    return TierScheduling(config, log)
