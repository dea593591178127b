"""Our processes' OpenMP threads wait passively unless the environment says otherwise (rnn/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnn import DEFAULT_OMP_WAIT_POLICY, OMP_WAIT_POLICY_ENV

pytestmark = pytest.mark.unit

PROBE = "import os, rnn, torch; print(os.environ['OMP_WAIT_POLICY'])"


def _policy_seen_by_a_fresh_process(extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != OMP_WAIT_POLICY_ENV} | extra
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_rnn_sets_passive_waiting_before_torch_loads_openmp() -> None:
    assert DEFAULT_OMP_WAIT_POLICY == "PASSIVE"
    assert _policy_seen_by_a_fresh_process({}) == "PASSIVE"


def test_an_operators_own_policy_wins() -> None:
    assert _policy_seen_by_a_fresh_process({OMP_WAIT_POLICY_ENV: "ACTIVE"}) == "ACTIVE"
