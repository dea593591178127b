"""``python -m devtools.test_timeline <file>``: where a test run's time and CPU went, from the lines
``RNN_TEST_TIMELINE=<file> make test`` wrote (tests/timeline.py).

Prints the modules by CPU seconds (the work, whatever ran beside it) with their wall seconds, then each
xdist worker's lane: its modules in the order it ran them, when each started and how long it took, and
when the worker finished. The run ends with its last worker: that lane is the one to shorten.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.test_timeline",
        description="Sum a test run's timeline (RNN_TEST_TIMELINE=<file> make test) by module and by worker.",
    )
    parser.add_argument("file", type=Path, help="the JSON lines tests/timeline.py wrote")
    parser.add_argument("--top", type=int, default=30, help="modules to list (default %(default)s)")
    return parser


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def module_of(test: str) -> str:
    return test.split("::", 1)[0]


def report(lines: list[dict], top: int) -> str:
    t0 = min(line["start"] for line in lines)
    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    for line in lines:
        cpu[module_of(line["test"])] += line["cpu_seconds"]
        wall[module_of(line["test"])] += line["end"] - line["start"]
    out = [f"{'CPU s':>8} {'wall s':>8}  module (CPU of the worker and the children it waited for)"]
    for module in sorted(cpu, key=lambda m: -cpu[m])[:top]:
        out.append(f"{cpu[module]:8.1f} {wall[module]:8.1f}  {module}")
    out.append(f"{sum(cpu.values()):8.1f} {sum(wall.values()):8.1f}  all {len(cpu)} modules")
    lanes: dict[str, list[dict]] = defaultdict(list)
    for line in sorted(lines, key=lambda line: line["start"]):
        lanes[line["worker"]].append(line)
    for worker, worker_lines in sorted(lanes.items(), key=lambda kv: -max(x["end"] for x in kv[1])):
        end = max(x["end"] for x in worker_lines) - t0
        out.append(f"\n{worker}: finished at {end / 60:.1f} min")
        units: list[list] = []  # [module, start, end, cpu]
        for line in worker_lines:
            module = module_of(line["test"])
            if units and units[-1][0] == module:
                units[-1][2] = line["end"]
                units[-1][3] += line["cpu_seconds"]
            else:
                units.append([module, line["start"], line["end"], line["cpu_seconds"]])
        for module, start, stop, seconds in units:
            if stop - start >= 10:
                out.append(
                    f"  {(start - t0) / 60:5.1f} min  {stop - start:6.0f} s  {seconds:6.0f} CPU s  {module}"
                )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        lines = load(args.file)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the timeline {args.file}: {exc}", file=sys.stderr)
        return 2
    if not lines:
        print(
            f"error: {args.file} has no timeline lines (was RNN_TEST_TIMELINE set for the run?)",
            file=sys.stderr,
        )
        return 2
    print(report(lines, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
