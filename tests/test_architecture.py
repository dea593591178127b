"""The tree is the architecture: import-linter's contracts (pyproject.toml) hold, and they bite.

Layers ``devtools -> dags -> pipeline -> {rnn | costing} -> toolkit``, inside costing ``report -> model ->
pricing``, rnn/costing free of Airflow and of each other, no cycles (docs/architecture.md).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("dags", "pipeline", "rnn", "costing", "toolkit", "devtools")

# rnn modules that import torch: the only first-party modules a function may import on use
TORCH_MODULES = {
    "rnn.data",
    "rnn.checkpoint",
    "rnn.model",
    "rnn.serving.generate",
    "rnn.train",
    "rnn.serving.benchmark",
    "rnn.evaluate",
    "rnn.serving.decoder",
    "rnn.serving.batching",
    "rnn.serving.server",
    "rnn.serving.fused_step",
}
# wraps the amazon provider (boto3); imported on use so DAG files parse without boto3
BOTO3_MODULES = {"pipeline.spot.hooks"}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("costing/pricing/catalog.py", "import costing.report.charts", "costing: report -> model -> pricing"),
        ("rnn/corpus.py", "import costing.units", "rnn and costing are independent"),
        ("toolkit/storage.py", "import rnn.corpus", "dags -> pipeline -> {rnn, costing} -> toolkit"),
        ("pipeline/names.py", "import devtools.bench", "nothing Airflow loads imports devtools"),
        ("costing/model/tco.py", "import airflow.sdk", "know nothing of Airflow"),
        ("pipeline/price_store.py", "import pipeline.tasks.pricing", "no import cycles inside a package"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO / "pyproject.toml", copy)
    for package in PACKAGES:
        shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # injected by the test\n")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0, result.stdout[-3000:]
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout[-3000:]


def _function_local_first_party_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if in_function and isinstance(child, ast.ImportFrom) and child.module and not child.level:
                modules = {child.module} | {f"{child.module}.{alias.name}" for alias in child.names}
                if child.module.split(".")[0] in PACKAGES and not modules & (TORCH_MODULES | BOTO3_MODULES):
                    found.append(f"{path.relative_to(REPO)}:{child.lineno}: {ast.unparse(child)}")
            if in_function and isinstance(child, ast.Import):
                for alias in child.names:
                    if (
                        alias.name.split(".")[0] in PACKAGES
                        and alias.name not in TORCH_MODULES | BOTO3_MODULES
                    ):
                        found.append(f"{path.relative_to(REPO)}:{child.lineno}: {ast.unparse(child)}")
            visit(child, inside)

    visit(tree, False)
    return found


def test_first_party_imports_are_at_the_top_of_each_module() -> None:
    """Function-local imports only for heavy libraries (torch-importing rnn modules, the boto3 hook),
    and in dags/ for the task bodies (pipeline.tasks), which a DAG file imports inside its tasks so
    that parsing it does not load them (tests/dags/test_dag_integrity.py checks that)."""
    offenders = [
        hit
        for package in ("dags", "pipeline", "rnn", "costing", "toolkit", "devtools", "plugins")
        for path in sorted((REPO / package).rglob("*.py"))
        for hit in _function_local_first_party_imports(path)
        if not (package == "dags" and _imports_a_task_module(hit))
    ]
    assert offenders == []


def _imports_a_task_module(hit: str) -> bool:
    statement = hit.split(": ", 1)[1]
    return statement.startswith(("from pipeline.tasks import ", "from pipeline.tasks."))
