"""costing stays light: importing it loads no Airflow, torch, rnn, AWS client or data-frame library."""

from __future__ import annotations

import subprocess
import sys


def test_costing_imports_no_airflow_torch_rnn_or_boto3():
    code = (
        "import sys, costing, costing.pricing.catalog, costing.model.training.run_cost, costing.pricing.snapshot, costing.pricing.recording, "
        "costing.pricing.fetch, costing.pricing.price_validation, costing.pricing.diff, costing.pricing.sheet_builder, costing.pricing.reference_tables; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'airflow', 'torch', 'rnn', 'boto3', 'botocore', "
        "'pandas', 'great_expectations', 'fsspec', 's3fs'}); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_costing_never_imports_torch_rnn_or_airflow(repo_root):
    code = (
        "import sys, costing.cli, costing.model.analysis, costing.model.grid_benchmark; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'rnn', 'airflow')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
