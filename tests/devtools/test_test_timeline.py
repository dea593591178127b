"""tests/timeline.py records each test phase's time and CPU; devtools.test_timeline sums them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT

from devtools.test_timeline import main, report


def test_the_plugin_writes_a_line_per_phase_with_the_cpu_it_used(tmp_path: Path) -> None:
    (tmp_path / "test_busy.py").write_text(
        "import time\n\ndef test_spins():\n    end = time.process_time() + 0.3\n"
        "    while time.process_time() < end:\n        pass\n\ndef test_sleeps():\n    time.sleep(0.3)\n"
    )
    timeline = tmp_path / "timeline.jsonl"
    env = {**os.environ, "RNN_TEST_TIMELINE": str(timeline), "PYTHONPATH": str(REPO_ROOT / "tests")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "timeline", "-p", "no:cacheprovider", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in timeline.read_text().splitlines()]
    assert [(line["test"].split("::")[1], line["phase"]) for line in lines] == [
        (test, phase) for test in ("test_spins", "test_sleeps") for phase in ("setup", "call", "teardown")
    ]
    calls = {line["test"].split("::")[1]: line for line in lines if line["phase"] == "call"}
    assert calls["test_spins"]["cpu_seconds"] >= 0.25 and calls["test_sleeps"]["cpu_seconds"] < 0.2
    assert calls["test_sleeps"]["end"] - calls["test_sleeps"]["start"] >= 0.3


def test_the_report_sums_modules_and_lists_each_workers_lane_last_finisher_first() -> None:
    def line(worker: str, test: str, start: float, end: float, cpu: float) -> dict:
        return {
            "worker": worker,
            "test": test,
            "phase": "call",
            "start": start,
            "end": end,
            "cpu_seconds": cpu,
        }

    text = report(
        [
            line("gw0", "tests/a.py::t1", 0, 60, 30),
            line("gw0", "tests/a.py::t2", 60, 90, 20),
            line("gw1", "tests/b.py::t", 0, 300, 100),
        ],
        top=10,
    )
    assert "    50.0     90.0  tests/a.py" in text and "   100.0    300.0  tests/b.py" in text
    assert text.index("gw1: finished at 5.0 min") < text.index("gw0: finished at 1.5 min")
    assert "    0.0 min      90 s      50 CPU s  tests/a.py" in text


def test_a_missing_or_empty_timeline_is_one_error(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "none.jsonl")]) == 2
    (tmp_path / "empty.jsonl").write_text("")
    assert main([str(tmp_path / "empty.jsonl")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: cannot read the timeline") and "has no timeline lines" in err[1]
