"""A pytest plugin: at the end of a session, stop and name every process a test left running.

A leftover child (a server a test forgot, or a deadlocked fork) keeps CI's output open after the
tests end, so CI would wait for it until its time limit. tests/conftest.py loads this plugin.

Under pytest-xdist each worker stops its own leftovers and hands their names to the controller,
which prints them (a worker has no terminal); the controller then stops its own, after its workers
have exited.
"""

from __future__ import annotations

import contextlib

import psutil
import pytest

STOPPED_KEY = "process_guard_stopped"  # where a worker hands the controller what it stopped


def stop_leftovers() -> list[str]:
    """Stop every process still running under this one (SIGTERM, then SIGKILL after 5 s); name each."""
    leftovers = psutil.Process().children(recursive=True)
    described = []
    for child in leftovers:
        try:
            described.append(f"{child.pid} {' '.join(child.cmdline())[:200]}")
        except psutil.Error:
            described.append(f"{child.pid} (already gone)")
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    return described


def _report(config: pytest.Config, described: list[str], where: str = "") -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for line in described:
        reporter.ensure_newline()
        reporter.write_line(f"stopping a process a test left running{where}: {line}", yellow=True)


@pytest.hookimpl(trylast=True)  # after pytest-xdist has shut its workers down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop, and name, any process still running under this pytest process."""
    described = stop_leftovers()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints them
        workeroutput[STOPPED_KEY] = described
    else:
        _report(session.config, described)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # pytest-xdist: a worker finished
    described = getattr(node, "workeroutput", {}).get(STOPPED_KEY, [])
    _report(node.config, described, where=f" (worker {node.gateway.id})")
