"""The project as a wheel: every runtime package is in it, tests/ and devtools/ are not, and installed
code finds include/ through RNN_PIPELINE_INCLUDE_DIR (the wheel does not carry include/).

The wheel is built from a copy of the checkout, so the build's own build/ and *.egg-info folders (and a
stale build/lib with modules that no longer exist) never reach the checkout or the wheel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from helpers import REPO_ROOT

RUNTIME_PACKAGES = (
    "toolkit",
    "rnn",
    "costing",
    "pipeline",
)  # [tool.setuptools.packages.find] in pyproject.toml
CHECKOUT_ONLY = ("tests", "devtools")
INCLUDE_DIR_ENV = "RNN_PIPELINE_INCLUDE_DIR"


def source_packages() -> set[str]:
    """Every package and subpackage in the source tree: each folder with an __init__.py."""
    return {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for top in RUNTIME_PACKAGES
        for init in (REPO_ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def source_modules() -> set[str]:
    """Every .py file under the runtime packages, as a path inside the wheel."""
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for top in RUNTIME_PACKAGES
        for path in (REPO_ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regular (not editable) wheel of the project, built offline."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(
        REPO_ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".local", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    if importlib.util.find_spec("setuptools") is not None:
        # the build backend is in the venv: build with it, no index needed
        isolation = ["--no-build-isolation", "--no-index"]
    else:
        isolation = []  # pip fetches setuptools into an isolated build env (from its cache or the registry)
    pip("wheel", "--no-deps", *isolation, "-w", str(work / "dist"), str(source), cwd=work)
    [built] = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Path:
    """The wheel installed into a folder of its own (no dependencies: they come from the venv)."""
    site = wheel.parent.parent / "site"
    pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel), cwd=wheel.parent)
    return site


PROBE = """
import json, sys
import pipeline.settings, rnn.corpus_validation, toolkit.paths
from costing.pricing.snapshot import latest_snapshot_dir
try:
    latest = str(latest_snapshot_dir())
except FileNotFoundError:
    latest = None
print(json.dumps({
    "modules": {
        name: getattr(module, "__file__", None)
        for name, module in sys.modules.items()
        if name.split(".")[0] in ("toolkit", "rnn", "costing", "pipeline")
    },
    "latest_snapshot_dir": latest,
    "suite_dir": str(rnn.corpus_validation.DEFAULT_SUITE_DIR),
    "toolkit_include": str(toolkit.paths.INCLUDE_DIR),
    "settings_include": str(pipeline.settings.INCLUDE_DIR),
}))
"""


def probe(site: Path, cwd: Path, include_dir: Path | None) -> dict:
    """Import the installed code in a fresh interpreter that cannot see the checkout.

    ``-S``: no site-packages and no .pth files, so the editable install's finder (which maps rnn,
    costing and pipeline to the checkout) is not there; the venv's site-packages comes back on
    PYTHONPATH, after the installed wheel, for the dependencies only.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", INCLUDE_DIR_ENV)}
    env["PYTHONPATH"] = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    if include_dir is not None:
        env[INCLUDE_DIR_ENV] = str(include_dir)
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.integration  # builds a wheel and installs it with pip
def test_the_wheel_holds_every_runtime_package_and_nothing_of_the_checkout(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    in_wheel = {name.rsplit("/", 1)[0].replace("/", ".") for name in names if name.endswith("/__init__.py")}
    expected = source_packages()
    assert {
        "rnn",
        "costing",
        "costing.pricing",
        "costing.model",
        "costing.report",
        "pipeline.spot",
    } <= expected
    assert expected - in_wheel == set(), "packages missing from the wheel"
    assert source_modules() - names == set(), "modules missing from the wheel"
    assert "rnn/serving/fused_step.cpp" in names  # the decoder's fused step compiles from it where it runs
    tops = {name.split("/", 1)[0] for name in names}
    assert not tops & set(CHECKOUT_ONLY), sorted(tops)


@pytest.mark.integration  # builds a wheel and installs it with pip
def test_installed_code_finds_include_through_the_setting(installed: Path, tmp_path: Path) -> None:
    repo_include = (REPO_ROOT / "include").resolve()

    found = probe(installed, tmp_path, include_dir=repo_include)
    outside = [name for name, path in found["modules"].items() if not (path or "").startswith(str(installed))]
    assert outside == [], "imported from outside the installed wheel"
    assert {"toolkit.paths", "pipeline.settings"} <= set(found["modules"])
    assert Path(found["latest_snapshot_dir"]).is_relative_to(repo_include)
    assert Path(found["suite_dir"]).is_dir()
    assert found["settings_include"] == found["toolkit_include"] == str(repo_include)
    assert Path(found["suite_dir"]).parent == repo_include

    # Without the setting, installed code looks next to itself, where a wheel has no include/.
    alone = probe(installed, tmp_path, include_dir=None)
    assert alone["settings_include"] == alone["toolkit_include"]
    own = Path(alone["settings_include"])
    assert own == (installed / "include").resolve() and own != repo_include and not own.exists()
    assert alone["latest_snapshot_dir"] is None


def test_include_dir_comes_from_the_setting_else_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pipeline.settings
    import toolkit.paths

    assert pipeline.settings.INCLUDE_DIR == toolkit.paths.INCLUDE_DIR
    monkeypatch.delenv(INCLUDE_DIR_ENV, raising=False)
    assert toolkit.paths.include_dir() == (REPO_ROOT / "include").resolve()
    monkeypatch.setenv(INCLUDE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert toolkit.paths.include_dir() == (tmp_path / "elsewhere").resolve()
    assert toolkit.paths.INCLUDE_DIR_ENV == INCLUDE_DIR_ENV
