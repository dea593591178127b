"""A pytest plugin: at the end of a session, stop and name every process a test left running.

A leftover child (a server a test forgot, or a deadlocked fork) keeps CI's output open after the
tests end, so CI would wait for it until its time limit. tests/conftest.py loads this plugin.
"""

from __future__ import annotations

import contextlib

import psutil
import pytest


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop, and name, any process still running under this pytest process."""
    leftovers = psutil.Process().children(recursive=True)
    if not leftovers:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for child in leftovers:
        try:
            described = f"{child.pid} {' '.join(child.cmdline())[:200]}"
        except psutil.Error:
            described = f"{child.pid} (already gone)"
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"stopping a process a test left running: {described}", yellow=True)
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
