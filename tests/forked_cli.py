"""``python -m rnn ...`` and ``python -m costing ...`` as forked children of one preloaded process.

A test that runs a command line wants a fresh process: its own exit status, stdout and stderr, nothing
left over from the test's own imports. Starting ``python -m rnn`` for each pays torch's, pandas' and
Great Expectations' imports again, 2-4 s of CPU a time. :class:`ForkedCommands` starts one process that
imports both command lines, and every module of ``rnn`` and ``costing``, once; each command then runs in
a child forked from it: a new process, with the command's arguments, environment and working folder,
stdout and stderr on files and the child's exit status, exactly as ``main(argv)`` of ``python -m
<program>`` would end (tests/test_command_lines.py checks ``python -m`` is that ``main``).

Nothing in the preloading process runs torch before it forks (importing it starts no thread), so a child
that trains starts its thread pools itself, as a fresh interpreter would.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SERVER = """
import importlib, json, os, pkgutil, sys, threading, traceback
import costing, rnn
from costing.cli import main as costing_main
from rnn.__main__ import main as rnn_main

for package in (rnn, costing):  # what the commands import when they run, imported once here
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
os.environ["GX_ANALYTICS_ENABLED"] = "False"
for module in LIBRARIES:  # ... and the libraries they import inside functions
    importlib.import_module(module)
# a thread would not survive the fork, and any lock it held would stay taken in the child
assert threading.active_count() == 1, [thread.name for thread in threading.enumerate()]

MAINS = {"rnn": rnn_main, "costing": costing_main}
requests, replies = sys.stdin, sys.stdout
replies.write("ready\\n")
replies.flush()
for line in requests:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = [request["program"], *request["argv"]]
        try:
            code = MAINS[request["program"]](request["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int) and exc.code is not None:
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    replies.write(json.dumps({"pid": pid}) + "\\n")
    replies.flush()
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    replies.write(json.dumps({"code": code}) + "\\n")
    replies.flush()
"""


# What the command lines import inside their functions (so that `--help` stays fast): imported by the
# preloading process, once.
LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "torch",
    "matplotlib.pyplot",
    "mlflow",
    "fsspec",
    "tqdm",
    "great_expectations",
)


class ForkedCommands:
    """One preloaded process; :meth:`run` runs a command line in a child forked from it."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="forked-cli-"))
        self._count = 0
        self._server = subprocess.Popen(
            [sys.executable, "-c", f"LIBRARIES = {LIBRARIES!r}\n{SERVER}"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._reply(timeout_seconds=300) != "ready":
            raise RuntimeError("the preloaded command-line process did not start")

    def _reply(self, timeout_seconds: float) -> str:
        assert self._server.stdout is not None
        ready, _, _ = select.select([self._server.stdout], [], [], timeout_seconds)
        if not ready:
            raise TimeoutError(f"no answer from the preloaded command-line process in {timeout_seconds} s")
        line = self._server.stdout.readline()
        if not line:
            raise RuntimeError(f"the preloaded command-line process exited ({self._server.wait()})")
        return line.strip()

    def run(
        self,
        program: str,
        *argv: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str = REPO,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """``python -m <program> <argv...>``: its exit status, stdout and stderr (``subprocess.run``'s shape).

        ``env`` replaces the environment (default: this process's), as ``subprocess.run(env=...)`` does.
        A command still running after ``timeout`` seconds is killed and raises ``subprocess.TimeoutExpired``.
        """
        assert self._server.stdin is not None
        self._count += 1
        stdout, stderr = (self._folder / f"{self._count}.{name}" for name in ("stdout", "stderr"))
        request = {
            "program": program,
            "argv": list(argv),
            "env": dict(os.environ if env is None else env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        pid = json.loads(self._reply(timeout_seconds=30))["pid"]
        try:
            code = json.loads(self._reply(timeout_seconds=timeout))["code"]
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self._reply(timeout_seconds=30)
            raise subprocess.TimeoutExpired([program, *argv], timeout) from None
        result = subprocess.CompletedProcess(
            [program, *argv], code, stdout.read_text(errors="replace"), stderr.read_text(errors="replace")
        )
        stdout.unlink()
        stderr.unlink()
        return result

    def close(self) -> None:
        if self._server.stdin is not None:
            self._server.stdin.close()
        try:
            self._server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        for path in self._folder.iterdir():
            path.unlink()
        self._folder.rmdir()


@contextlib.contextmanager
def forked_commands() -> Iterator[ForkedCommands]:
    commands = ForkedCommands()
    try:
        yield commands
    finally:
        commands.close()
