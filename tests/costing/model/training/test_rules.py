"""The arithmetic training estimates and bills share, against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from costing.model.training import billed_run_seconds, steps_per_epoch, training_steps, training_tokens
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


def test_training_tokens():
    config = {"batch_size": 8, "seq_len": 32, "epochs": 2, "val_fraction": 0.1, "max_steps_per_epoch": 0}
    # 40,000 chars -> 4,000 held out, 36,000 train -> 4,500 per stream -> (4,500 - 1) // 32 = 140 steps
    assert training_steps(config, 40_000) == 140 * 2
    assert training_tokens(config, 40_000) == 140 * 8 * 32 * 2
    assert training_tokens({**config, "max_steps_per_epoch": 8}, 40_000) == 8 * 8 * 32 * 2


def test_the_held_out_tail_is_rounded_down_as_rnn_cuts_it():
    # 4,275 x 0.1 = 427.5 -> 427 held out, 3,848 train -> 481 per stream -> 480 // 32 = 15 steps.
    # The budget guard's own count took int(4,275 x 0.9) = 3,847 train -> 480 per stream -> 14 steps.
    assert steps_per_epoch(4_275, batch_size=8, seq_len=32, val_fraction=0.1) == 15
    test_steps_agree_with_how_rnn_cuts_the_corpus(4_275, 8, 32, 0.1)


@pytest.mark.parametrize("chars", [4_275 * 2 + 1, 4_586, 40_000, 123_457])
@pytest.mark.parametrize(
    ("batch_size", "seq_len", "val_fraction"), [(8, 32, 0.1), (32, 128, 0.1), (3, 17, 0.23)]
)
def test_steps_agree_with_how_rnn_cuts_the_corpus(chars, batch_size, seq_len, val_fraction):
    from rnn import data

    ids = np.zeros(chars, dtype=np.uint8)
    splits = data.split_tokens(ids, val_fraction, seq_len=seq_len, batch_size=batch_size)
    expected = data.steps_per_epoch(data.batchify(splits.train, batch_size), seq_len)
    got = steps_per_epoch(chars, batch_size=batch_size, seq_len=seq_len, val_fraction=val_fraction)
    assert got == expected
