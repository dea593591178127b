"""A pytest plugin: where the test run's time and CPU go, test by test (``RNN_TEST_TIMELINE=<file>``).

``make test`` is CPU-bound on 2 cores, so a test's wall time says more about what ran beside it than about
itself. With ``RNN_TEST_TIMELINE`` set, every phase (setup, call, teardown) of every test appends one JSON
line to that file: the xdist worker, the test, the phase, its start and end (epoch seconds) and the CPU
seconds its worker process and the children it waited for used meanwhile (a server a fixture started is
counted in the teardown that stops it). ``python -m devtools.test_timeline <file>`` sums it by module
and draws each worker's lane. Unset, the plugin does nothing.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator

import pytest

TIMELINE_ENV = "RNN_TEST_TIMELINE"


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _phase(item: pytest.Item, phase: str) -> Iterator[None]:
    path = os.environ.get(TIMELINE_ENV)
    if not path:
        yield
        return
    started, cpu = time.time(), _cpu_seconds()
    try:
        yield
    finally:
        line = {
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "test": item.nodeid,
            "phase": phase,
            "start": started,
            "end": time.time(),
            "cpu_seconds": round(_cpu_seconds() - cpu, 3),
        }
        with open(path, "a", encoding="utf-8") as sink:  # one short line per write: appends do not interleave
            sink.write(json.dumps(line) + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _phase(item, "setup")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _phase(item, "call")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield from _phase(item, "teardown")
