"""Our processes' OpenMP threads wait passively after a short spin unless the environment sets a wait policy
(rnn/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnn import DEFAULT_GOMP_SPINCOUNT, DEFAULT_OMP_WAIT_POLICY, GOMP_SPINCOUNT_ENV, OMP_WAIT_POLICY_ENV

pytestmark = pytest.mark.unit

PROBE = "import os, rnn, torch; print(os.environ['OMP_WAIT_POLICY'], os.environ.get('GOMP_SPINCOUNT', '-'))"


def _settings_seen_by_a_fresh_process(extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in (OMP_WAIT_POLICY_ENV, GOMP_SPINCOUNT_ENV)} | extra
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_rnn_sets_passive_waiting_after_a_short_spin_before_torch_loads_openmp() -> None:
    assert (DEFAULT_OMP_WAIT_POLICY, DEFAULT_GOMP_SPINCOUNT) == ("PASSIVE", "2000")
    assert _settings_seen_by_a_fresh_process({}) == "PASSIVE 2000"


def test_an_operators_own_policy_wins_and_gets_no_spin_count() -> None:
    assert _settings_seen_by_a_fresh_process({OMP_WAIT_POLICY_ENV: "ACTIVE"}) == "ACTIVE -"
    assert _settings_seen_by_a_fresh_process({OMP_WAIT_POLICY_ENV: "PASSIVE"}) == "PASSIVE -"


def test_an_operators_own_spin_count_wins() -> None:
    assert _settings_seen_by_a_fresh_process({GOMP_SPINCOUNT_ENV: "0"}) == "PASSIVE 0"
