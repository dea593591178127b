"""The training bundle: a wheel of ``rnn/`` (plus the run's config, uploaded next to it).

The wheel is assembled with :mod:`zipfile` from the sources, not by a build backend: building must
work on an Airflow worker without build tools or network, and the same sources must give the same
bytes (fixed timestamps, sorted entries), so re-uploading it on a retried task changes nothing.
Its ``Requires-Dist`` pins come from ``constraints.txt``, so the instance installs the versions the
project is tested with; ``torch==2.13.0`` comes from PyTorch's CPU index on CPU instance types (PyPI's
x86_64 wheel is the CUDA build; :func:`pipeline.spot.userdata.torch_index_url`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import REPO_ROOT

DISTRIBUTION = "rnn_trainer"
# what `python -m rnn train` imports on the instance (torch, fsspec + s3fs for s3://, tqdm)
RUNTIME_REQUIREMENTS = ("torch", "fsspec", "s3fs", "tqdm")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Wheel:
    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def project_version(repo_root: Path = REPO_ROOT) -> str:
    return tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]


def pinned_requirements(
    names: tuple[str, ...] = RUNTIME_REQUIREMENTS, repo_root: Path = REPO_ROOT
) -> list[str]:
    """``name==version`` for each of ``names`` from constraints.txt; a missing pin is an error."""
    pins: dict[str, str] = {}
    for line in (repo_root / "constraints.txt").read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    missing = [name for name in names if name.lower() not in pins]
    if missing:
        raise ValueError(
            f"constraints.txt pins none of {missing}; pin them so the instance installs tested versions"
        )
    return [f"{name}=={pins[name.lower()]}" for name in names]


def build_wheel(
    package_dir: Path = REPO_ROOT / "rnn",
    *,
    version: str | None = None,
    requirements: list[str] | None = None,
) -> Wheel:
    """A pure-Python wheel of the ``rnn`` package at ``package_dir``; same sources, same bytes."""
    version = version or project_version()
    requirements = pinned_requirements() if requirements is None else requirements
    dist_info = f"{DISTRIBUTION}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        files[f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}"] = path.read_bytes()
    if f"{package_dir.name}/__main__.py" not in files:
        raise ValueError(f"{package_dir} has no __main__.py: it is not the rnn package")
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            f"Name: {DISTRIBUTION.replace('_', '-')}",
            f"Version: {version}",
            "Summary: Character-level LSTM trainer of the RNN cost pipeline (python -m rnn)",
            "Requires-Python: >=3.11",
            *[f"Requires-Dist: {requirement}" for requirement in requirements],
            "",
        ]
    )
    files[f"{dist_info}/METADATA"] = metadata.encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pipeline.spot.bundle\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record_name = f"{dist_info}/RECORD"
    record_lines = [f"{name},sha256={_urlsafe_digest(data)},{len(data)}" for name, data in files.items()]
    files[record_name] = ("\n".join([*record_lines, f"{record_name},,"]) + "\n").encode()

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return Wheel(filename=f"{DISTRIBUTION}-{version}-py3-none-any.whl", data=buffer.getvalue())


def _urlsafe_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
