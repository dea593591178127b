"""The run's position (steps, epochs), the process clock (spot segment accounting) and the checkpoint
triggers, from literal numbers and clock readings."""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import asdict

import pytest

from rnn.checkpoint import CheckpointTriggers, ProcessClock, ProcessSegment, TrainingState

EARLIER_SEGMENT = {"started_at": "T-earlier", "resumed_from_step": None, "work_seconds": 30.0}


def readings(*values: float) -> Callable[[], float]:
    """A clock that reads ``values`` in turn and fails loudly if read once more."""
    values_left = iter(values)
    return lambda: next(values_left)


def utc_times(count: int) -> Callable[[], str]:
    names: Iterator[str] = iter(f"T{i}" for i in range(count))
    return lambda: next(names)


def test_a_resumed_process_accounts_setup_restore_work_and_checkpoints() -> None:
    clock = ProcessClock.start(
        now=readings(100.0, 102.5, 103.0, 110.0, 110.25, 120.0, 120.5, 125.0, 126.0), utc_now=utc_times(4)
    )
    clock.setup_done()  # 102.5
    resumed = TrainingState(global_step=5, wall_seconds=40.0, segments=[EARLIER_SEGMENT])
    clock.restored(resumed, resumed_from_step=5)  # 103.0: work starts

    resumed.global_step = 8
    with clock.checkpointing(resumed):  # 110.0 -> 110.25
        # what the checkpoint holds: earlier processes' 40 s + this one's 10 s so far
        assert resumed.wall_seconds == 50.0
        assert resumed.segments == [
            EARLIER_SEGMENT,
            {
                "started_at": "T0",
                "resumed_from_step": 5,
                "setup_seconds": 2.5,  # 100.0 -> 102.5
                "restore_seconds": 0.5,  # 102.5 -> 103.0
                "work_seconds": 7.0,  # 103.0 -> 110.0
                "checkpoint_seconds": 0.0,  # the write under way is not finished
                "checkpoints": 1,
                "last_checkpoint_at": "T1",
                "last_checkpoint_step": 8,
                "finished_at": None,
            },
        ]
    assert clock.segment.checkpoint_seconds == 0.25

    resumed.global_step = 10
    with clock.checkpointing(resumed):  # 120.0 -> 120.5
        assert resumed.wall_seconds == 60.0
    segment = resumed.segments[-1]
    assert segment["work_seconds"] == 16.75  # 120.0 - 103.0 - 0.25 of checkpoint writes
    assert segment["checkpoint_seconds"] == 0.25 and segment["checkpoints"] == 2
    assert segment["last_checkpoint_at"] == "T2" and segment["last_checkpoint_step"] == 10

    clock.finish()  # 125.0
    assert clock.segment.work_seconds == 21.25  # 125.0 - 103.0 - 0.75
    assert clock.segment.checkpoint_seconds == 0.75 and clock.segment.finished_at == "T3"
    assert clock.wall_seconds() == 66.0  # 40 + (126.0 - 100.0)
    assert clock.segments()[0] == EARLIER_SEGMENT and clock.segments()[1]["finished_at"] == "T3"


def test_a_fresh_process_is_the_first_segment_and_its_own_wall_time() -> None:
    clock = ProcessClock.start(now=readings(0.0, 1.0, 1.0, 4.0), utc_now=utc_times(1))
    clock.setup_done()
    clock.restored(TrainingState(), resumed_from_step=None)
    assert clock.wall_seconds() == 4.0
    [segment] = clock.segments()
    assert segment["resumed_from_step"] is None
    assert segment["setup_seconds"] == 1.0 and segment["restore_seconds"] == 0.0


def test_a_segment_rounds_to_a_tenth_of_a_millisecond_but_keeps_adding_unrounded() -> None:
    segment = ProcessSegment(started_at="T0", resumed_from_step=None, setup_seconds=1.0, restore_seconds=0.0)
    segment.checkpoint_seconds += 0.123456
    segment.note_checkpoint(work_seconds=2.345678, step=4, at="T1")
    assert segment.to_dict()["checkpoint_seconds"] == 0.1235 and segment.to_dict()["work_seconds"] == 2.3457
    assert segment.checkpoint_seconds == 0.123456


def test_checkpoints_are_due_on_the_cadence_or_on_request() -> None:
    triggers = CheckpointTriggers(every_steps=50)
    assert [step for step in range(1, 151) if triggers.due(step)] == [50, 100, 150]
    triggers.checkpoint_requested = True
    assert triggers.due(7)
    assert triggers.take_request() and not triggers.take_request()  # served once
    assert not triggers.due(7)


def test_stop_after_a_global_step() -> None:
    triggers = CheckpointTriggers(every_steps=50, stop_after_global_step=5)
    assert [triggers.should_stop(step) for step in (4, 5, 6)] == [False, True, True]
    assert not CheckpointTriggers(every_steps=50).should_stop(10**9)


@pytest.fixture
def restores_signal_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("restores_signal_handlers")
def test_sigusr1_requests_a_checkpoint_and_sigterm_a_stop() -> None:
    triggers = CheckpointTriggers(every_steps=50)
    triggers.install_signal_handlers()
    os.kill(os.getpid(), signal.SIGUSR1)
    assert triggers.due(7) and not triggers.should_stop(7)
    assert triggers.take_request()
    os.kill(os.getpid(), signal.SIGTERM)
    assert triggers.should_stop(7)


def test_steps_add_up_into_the_epoch_and_finishing_it_moves_to_the_next() -> None:
    state = TrainingState(global_step=10, train_seconds=3.0, attempts=2)
    state.count_step(loss=2.0, seconds=0.25)
    state.count_step(loss=1.0, seconds=0.25)
    assert (state.step_in_epoch, state.global_step, state.epoch_steps_done) == (2, 12, 2)
    assert state.train_seconds == 3.5 and state.epoch_loss_sum == 3.0
    state.epoch_seconds = 2.00004  # steps, logging, checkpoints and evaluation: the loop adds its laps

    stats = state.finish_epoch(val_loss=math.log(4.0), tokens_per_step=64)
    assert stats.epoch == 1 and stats.steps == 2 and stats.tokens == 128
    assert stats.wall_seconds == 2.0  # rounded to a tenth of a millisecond
    assert stats.train_loss == 1.5 and stats.train_perplexity == math.exp(1.5)
    assert stats.val_perplexity == pytest.approx(4.0)
    assert stats.tokens_per_s == 128 / 2.00004  # from the unrounded seconds
    assert state.history == [asdict(stats)]
    assert (state.epoch, state.step_in_epoch, state.epoch_steps_done) == (1, 0, 0)
    assert state.epoch_seconds == 0.0 and state.epoch_loss_sum == 0.0
    assert (state.global_step, state.train_seconds, state.attempts) == (12, 3.5, 2)  # the run's totals stay


def test_an_epoch_without_time_has_no_rate() -> None:
    state = TrainingState()
    state.count_step(loss=1.0, seconds=0.0)
    assert state.finish_epoch(val_loss=1.0, tokens_per_step=64).tokens_per_s == 0.0
