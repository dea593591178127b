"""The fused C++ step of :class:`rnn.serving.decoder.FastDecoder`: compiled once per machine, then loaded.

At batch 1 the default model's step is memory-bound (10 MB of weights per character) and, run as
separate torch ops, about half of it is the cost of launching those ops from Python. ``fused_step.cpp``
does a whole step (the matrix-vector products with each layer's gate maths fused in, and the head) in
one call, and :meth:`generate` the whole completion including sampling. It serves batches of up to
:data:`MAX_BATCH` rows; larger batches are compute-bound and go to oneDNN (the torch-ops step).

It is built with ``torch.utils.cpp_extension`` (g++ and ninja) into :func:`cache_dir`, keyed by the
source, torch and Python versions, the compiler flags and this CPU's instruction set, so a build is
never loaded on a machine it was not built for. ``python -m rnn build-kernel`` builds it ahead of
time (``make install`` does); otherwise the first decoder builds it (about 25 s on 2 cores). Where it
cannot be built, or ``RNN_FUSED_STEP=0``, the decoder falls back to the torch-ops step and says why
(:func:`load` ``.reason``; ``python -m rnn bench --compare`` prints it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from rnn.serving.settings import FUSED_STEP_ENV

SOURCE = Path(__file__).with_name("fused_step.cpp")
DISABLE_ENV = FUSED_STEP_ENV  # "0": never use the fused step (the torch-ops step serves every batch)
DIR_ENV = "RNN_KERNEL_DIR"  # where builds are cached (default: $XDG_CACHE_HOME/rnn-pipeline/kernels)
MAX_BATCH = 8  # rows per step the fused step takes (compiled in as RNN_MAX_BATCH); larger: oneDNN
# -fopenmp: at::parallel_for on torch's own threads
CFLAGS = ("-O3", "-march=native", "-fopenmp", f"-DRNN_MAX_BATCH={MAX_BATCH}")
LDFLAGS = ("-fopenmp",)
STALE_LOCK_SECONDS = 900.0  # a build lock older than this was left by a killed build

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusedStepBuild:
    module: ModuleType | None  # the extension (its ``LstmStep`` class), or None when unavailable
    reason: str  # where it was loaded from, or why it is not available
    detail: str = ""  # the compiler's output when a build failed

    @property
    def available(self) -> bool:
        return self.module is not None


def cache_dir() -> Path:
    configured = os.environ.get(DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rnn-pipeline" / "kernels"


def _cpu_flags() -> str:
    """This CPU's instruction-set flags (what -march=native compiles for)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_name() -> str:
    """The extension's name: one per source, torch, Python, flags and CPU (a build is only loaded where it fits)."""
    key = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        torch.__version__,
        sys.version,
        " ".join(CFLAGS + LDFLAGS),
        _cpu_flags(),
    ):
        key.update(part if isinstance(part, bytes) else part.encode())
    return f"rnn_fused_step_{key.hexdigest()[:16]}"


def _import_built(name: str, directory: Path) -> ModuleType | None:
    library = directory / f"{name}.so"
    if not library.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _remove_stale_lock(directory: Path) -> None:
    lock = directory / "lock"  # torch.utils.cpp_extension's FileBaton
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink()
    except FileNotFoundError:
        pass


def _build(name: str, directory: Path) -> ModuleType:
    from torch.utils.cpp_extension import load as load_extension

    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_lock(directory)
    return load_extension(
        name,
        sources=[str(SOURCE)],
        extra_cflags=list(CFLAGS),
        extra_ldflags=list(LDFLAGS),
        build_directory=str(directory),
        verbose=False,
    )


@functools.cache
def load(*, build: bool = True) -> FusedStepBuild:
    """The fused step for this machine: loaded if built, built first if ``build`` (once per process)."""
    if os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return FusedStepBuild(None, f"turned off ({DISABLE_ENV}={os.environ[DISABLE_ENV]})")
    name = build_name()
    directory = cache_dir() / name
    try:
        module = _import_built(name, directory)
        if module is None:
            if not build:
                return FusedStepBuild(
                    None, f"not built yet (python -m rnn build-kernel builds it into {directory})"
                )
            log.info("building the fused decoder step into %s (once per machine, about 25 s)", directory)
            module = _build(name, directory)
    except (
        RuntimeError,
        OSError,
        ImportError,
        subprocess.SubprocessError,
    ) as exc:  # no compiler/ninja, bad build
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        reason = (
            f"could not be built ({first}); the torch-ops step is used instead. Install g++ and ninja "
            f"(pip install ninja), or set {DISABLE_ENV}=0 to silence this"
        )
        log.warning("fused decoder step %s", reason)
        return FusedStepBuild(None, reason, text)
    return FusedStepBuild(module, f"fused C++ step, batches of 1-{MAX_BATCH} ({directory})")
