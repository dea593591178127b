"""The training bundle: a reproducible wheel of rnn, with the pinned requirements, that imports when installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def test_bundle_is_a_reproducible_wheel_of_rnn_that_imports(tmp_path: Path, repo_root: Path) -> None:
    from pipeline.spot.bundle import build_wheel, pinned_requirements

    wheel = build_wheel()
    assert build_wheel().data == wheel.data  # same sources, same bytes
    assert wheel.filename == "rnn_trainer-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(__import__("io").BytesIO(wheel.data)) as archive:
        names = archive.namelist()
        metadata = archive.read("rnn_trainer-0.1.0.dist-info/METADATA").decode()
        record = archive.read("rnn_trainer-0.1.0.dist-info/RECORD").decode()
        archive.extractall(tmp_path / "site")
    assert {"rnn/__main__.py", "rnn/train.py", "rnn/checkpoint.py"} <= set(names)
    assert not any("__pycache__" in name for name in names)
    assert "Requires-Dist: torch==2.13.0" in metadata
    assert all(f"Requires-Dist: {pin}" in metadata for pin in pinned_requirements())
    for line in record.splitlines()[:-1]:  # every file's hash is right
        name, digest, size = line.split(",")
        data = (tmp_path / "site" / name).read_bytes()
        assert int(size) == len(data) and digest.startswith("sha256=")
    # installed = unpacked on the path: it is the package that runs, not the repo's
    out = subprocess.run(
        [sys.executable, "-c", "import rnn.train, rnn; print(rnn.__file__)"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip().startswith(str(tmp_path / "site"))
