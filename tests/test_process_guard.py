"""The process guard (tests/process_guard.py) stops what a test leaves running, even a process that
ignores SIGTERM, and says what it stopped; a session that leaves nothing behind prints nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

TESTS = Path(__file__).resolve().parent

LEAKING_TESTS = """
import subprocess, sys
from pathlib import Path

def test_leaves_a_sleeper():
    child = subprocess.Popen(["sleep", "300"])
    Path(r"{pids}").open("a").write(f"{{child.pid}}\\n")

def test_leaves_one_that_ignores_sigterm():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\\n"  # its handler is in place
    Path(r"{pids}").open("a").write(f"{{child.pid}}\\n")
"""


def _run_session(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", "-q", "-p", "process_guard", "-p", "no:cacheprovider"),
            *options,
            str(folder),
        ],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(TESTS), "PYTEST_ADDOPTS": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["one process", "two xdist workers"])
def test_leftover_processes_are_stopped_and_named(tmp_path: Path, options: tuple[str, ...]) -> None:
    pids_file = tmp_path / "pids.txt"
    (tmp_path / "test_leaky.py").write_text(LEAKING_TESTS.format(pids=pids_file))
    result = _run_session(tmp_path, *options)
    assert result.returncode == 0, result.stdout + result.stderr

    pids = [int(line) for line in pids_file.read_text().split()]
    assert len(pids) == 2
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    stopped = [
        line for line in result.stdout.splitlines() if "stopping a process a test left running" in line
    ]
    assert len(stopped) == 2, result.stdout
    assert any("sleep 300" in line for line in stopped)
    assert any("SIG_IGN" in line for line in stopped)


@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["one process", "two xdist workers"])
def test_a_clean_session_says_nothing(tmp_path: Path, options: tuple[str, ...]) -> None:
    (tmp_path / "test_clean.py").write_text("def test_nothing_left():\n    assert True\n")
    result = _run_session(tmp_path, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left running" not in result.stdout
