"""The arithmetic training estimates and bills share, against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from costing.model.training import billed_run_seconds
from costing.model.training.rules import billed_seconds_for


def test_one_launch_bills_at_least_the_minimum():
    assert billed_seconds_for(0) == 60
    assert billed_seconds_for(59.5) == 60
    assert billed_seconds_for(61.25) == pytest.approx(61.25)
    with pytest.raises(ValueError, match="duration_seconds=-1"):
        billed_seconds_for(-1)


def test_a_run_bills_at_least_the_minimum_per_launch():
    assert billed_run_seconds(100.0, 1.0) == 100.0
    assert billed_run_seconds(100.0, 2.0) == 120.0  # two launches: 2 x 60 s
    assert list(billed_run_seconds(np.array([30.0, 100.0]), np.array([1.0, 1.0]))) == [60.0, 100.0]
