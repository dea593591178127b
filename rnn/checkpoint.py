"""Checkpoints: everything needed to continue a run exactly where it stopped, and when to write one.

A checkpoint holds the model and optimizer state, the position (epoch, step in epoch, global
step), the carried LSTM hidden state, every RNG state, the vocabulary, the config and the epoch
history so far. It is written whole (see ``toolkit.storage``) to one URI, local or s3://, and replaced
on every save, so "the latest checkpoint" is always a complete one.

It also holds the time of each training process (one spot attempt) up to that checkpoint: the
:class:`ProcessClock` keeps this process's :class:`ProcessSegment`. :class:`CheckpointTriggers` say
when to write one: the cadence, SIGUSR1 (and carry on), SIGTERM or a step to stop after (and stop).
"""

from __future__ import annotations

import io
import math
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from rnn.config import RESUME_KEYS, TrainConfig
from rnn.metrics import EpochStats, utc_now_iso
from toolkit import storage
from toolkit.storage import first_line

CHECKPOINT_FORMAT = "rnn-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to a different run; the message says which and why."""


@dataclass
class TrainingState:
    """Position of a run between two steps (everything that is not a tensor of the model)."""

    epoch: int = 0  # 0-based epoch in progress
    step_in_epoch: int = 0  # next step to run inside that epoch
    global_step: int = 0  # optimizer steps taken so far
    train_seconds: float = 0.0  # time spent in training steps, summed over attempts
    epoch_seconds: float = 0.0  # time spent in the current epoch so far (steps + eval)
    epoch_loss_sum: float = 0.0  # sum of per-step losses in the current epoch
    epoch_steps_done: int = 0  # steps of the current epoch already taken
    wall_seconds: float = 0.0  # process wall time of earlier attempts, up to their last checkpoint
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per finished epoch
    started_at: str = ""  # ISO-8601 UTC start of the first attempt
    attempts: int = 1  # processes that have worked on this run (1 + resumes)
    segments: list[dict[str, Any]] = field(default_factory=list)  # one per process, as of its last checkpoint

    def count_step(self, *, loss: float, seconds: float) -> None:
        """One optimizer step is done: its loss and time go into the epoch's sums."""
        self.step_in_epoch += 1
        self.global_step += 1
        self.train_seconds += seconds
        self.epoch_loss_sum += loss
        self.epoch_steps_done += 1

    def finish_epoch(self, *, val_loss: float, tokens_per_step: int) -> EpochStats:
        """The epoch in progress is done: its stats join ``history`` and the next epoch starts at step 0."""
        train_loss = self.epoch_loss_sum / max(self.epoch_steps_done, 1)
        tokens = self.epoch_steps_done * tokens_per_step
        stats = EpochStats(
            epoch=self.epoch + 1,
            steps=self.epoch_steps_done,
            tokens=tokens,
            wall_seconds=round(self.epoch_seconds, 4),
            train_loss=train_loss,
            train_perplexity=math.exp(train_loss),
            val_loss=val_loss,
            val_perplexity=math.exp(val_loss),
            tokens_per_s=tokens / self.epoch_seconds if self.epoch_seconds else 0.0,
        )
        self.history.append(asdict(stats))
        self.epoch += 1
        self.step_in_epoch = 0
        self.epoch_seconds = 0.0
        self.epoch_loss_sum = 0.0
        self.epoch_steps_done = 0
        return stats


@dataclass
class ProcessSegment:
    """The time of one training process (one spot attempt), as ``metrics.json`` ``training.segments[]``.

    Saved into every checkpoint, so a process killed without warning is known up to its last
    checkpoint: what it did after that was lost. Seconds are this process's only.
    """

    started_at: str  # ISO-8601 UTC when the process started
    resumed_from_step: int | None  # global step of the checkpoint it resumed from, None for a fresh start
    setup_seconds: float  # reading (downloading) the corpus, building vocab, batches and model
    restore_seconds: float  # loading the checkpoint it resumed from
    work_seconds: float = 0.0  # training steps + evaluation, up to the last checkpoint (or the end)
    checkpoint_seconds: float = 0.0  # checkpoint writes finished by then
    checkpoints: int = 0  # checkpoint writes started
    last_checkpoint_at: str | None = None  # ISO-8601 UTC when the last checkpoint write started
    last_checkpoint_step: int | None = None
    finished_at: str | None = None  # set when the process ends its training loop itself

    def note_checkpoint(self, *, work_seconds: float, step: int, at: str) -> None:
        self.work_seconds = round(work_seconds, 4)
        self.checkpoints += 1
        self.last_checkpoint_at = at
        self.last_checkpoint_step = step

    def finish(self, *, work_seconds: float, at: str) -> None:
        self.work_seconds = round(work_seconds, 4)
        self.checkpoint_seconds = round(self.checkpoint_seconds, 4)
        self.finished_at = at

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["checkpoint_seconds"] = round(self.checkpoint_seconds, 4)
        return values


@dataclass
class ProcessClock:
    """Where this training process's time goes, kept as its :class:`ProcessSegment` (spot accounting).

    In order: :meth:`start` as the process starts, :meth:`setup_done` once corpus, vocabulary and
    model are built, :meth:`restored` once the checkpoint (if any) is loaded, which starts the work;
    each checkpoint write inside :meth:`checkpointing`; :meth:`finish` when the loop ends by itself.
    Work is everything after the restore that is not a checkpoint write. ``now`` reads seconds
    (``time.perf_counter``), ``utc_now`` the ISO-8601 UTC time.
    """

    segment: ProcessSegment
    started_s: float  # now() when the process started
    now: Callable[[], float] = time.perf_counter
    utc_now: Callable[[], str] = utc_now_iso
    setup_done_s: float = 0.0  # now() when setup was done
    work_started_s: float = 0.0  # now() when the restore was done
    prior_wall_seconds: float = 0.0  # wall time of earlier processes, up to their last checkpoint
    prior_segments: list[dict[str, Any]] = field(default_factory=list)  # theirs, from the checkpoint

    @classmethod
    def start(
        cls, now: Callable[[], float] = time.perf_counter, utc_now: Callable[[], str] = utc_now_iso
    ) -> ProcessClock:
        started_s = now()
        segment = ProcessSegment(
            started_at=utc_now(), resumed_from_step=None, setup_seconds=0.0, restore_seconds=0.0
        )
        return cls(segment=segment, started_s=started_s, now=now, utc_now=utc_now)

    def setup_done(self) -> None:
        self.setup_done_s = self.now()
        self.segment.setup_seconds = round(self.setup_done_s - self.started_s, 4)

    def restored(self, state: TrainingState, resumed_from_step: int | None) -> None:
        """The run's position is loaded (or fresh); earlier processes' time is what ``state`` holds."""
        self.work_started_s = self.now()
        self.segment.restore_seconds = round(self.work_started_s - self.setup_done_s, 4)
        self.segment.resumed_from_step = resumed_from_step
        self.prior_wall_seconds = state.wall_seconds
        self.prior_segments = list(state.segments)

    def wall_seconds(self) -> float:
        """Process wall time of the run so far: earlier processes' (to their last checkpoint) and this one's."""
        return self.prior_wall_seconds + self.now() - self.started_s

    def segments(self) -> list[dict[str, Any]]:
        """Every process's segment, this one's as of now."""
        return [*self.prior_segments, self.segment.to_dict()]

    @contextmanager
    def checkpointing(self, state: TrainingState) -> Iterator[None]:
        """Time one checkpoint write; first ``state`` gets the wall time and segments it is to hold."""
        started_s = self.now()
        state.wall_seconds = self.prior_wall_seconds + started_s - self.started_s
        self.segment.note_checkpoint(
            work_seconds=self._work_seconds(started_s), step=state.global_step, at=self.utc_now()
        )
        state.segments = self.segments()
        yield
        self.segment.checkpoint_seconds += self.now() - started_s

    def finish(self) -> None:
        self.segment.finish(work_seconds=self._work_seconds(self.now()), at=self.utc_now())

    def _work_seconds(self, now_s: float) -> float:
        return now_s - self.work_started_s - self.segment.checkpoint_seconds


@dataclass
class CheckpointTriggers:
    """When to write a checkpoint: every ``every_steps`` steps; on SIGUSR1 (a spot interruption
    notice), and carry on; on SIGTERM, or once ``stop_after_global_step`` is done (to simulate an
    interruption), and stop."""

    every_steps: int
    stop_after_global_step: int | None = None
    stop_requested: bool = False  # SIGTERM arrived
    checkpoint_requested: bool = False  # SIGUSR1 arrived since the last checkpoint

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGUSR1, self._on_sigusr1)

    def should_stop(self, global_step: int) -> bool:
        """Checkpoint and stop after this step."""
        return self.stop_requested or (
            self.stop_after_global_step is not None and global_step >= self.stop_after_global_step
        )

    def due(self, global_step: int) -> bool:
        """Checkpoint after this step and carry on: the cadence, or a request."""
        return self.checkpoint_requested or global_step % self.every_steps == 0

    def take_request(self) -> bool:
        """Whether a checkpoint was requested since the last call (the one just written serves it)."""
        requested, self.checkpoint_requested = self.checkpoint_requested, False
        return requested

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.stop_requested = True

    def _on_sigusr1(self, signum: int, frame: object) -> None:
        self.checkpoint_requested = True


def save_checkpoint(
    uri: str,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    vocab_chars: list[str],
    dataset_sha256: str,
    state: TrainingState,
    hidden: tuple[torch.Tensor, torch.Tensor],
) -> None:
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "vocab": vocab_chars,
        "dataset_sha256": dataset_sha256,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "state": state.__dict__,
        "hidden": [hidden[0], hidden[1]],
        "rng": {"torch": torch.get_rng_state(), "python": _python_rng_to_list()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    storage.write_bytes_atomic(uri, buffer.getvalue())


def load_checkpoint(uri: str) -> dict[str, Any]:
    try:
        raw = storage.read_bytes(uri)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint not found: {uri!r}") from exc
    try:
        payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {uri!r} is corrupt or not an rnn checkpoint ({type(exc).__name__}: {first_line(exc)}); "
            "delete it to start from scratch"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {uri!r} has format {found!r}, expected {CHECKPOINT_FORMAT!r}")
    return payload


def check_compatible(
    payload: dict[str, Any], uri: str, config: TrainConfig, vocab_chars: list[str], dataset_sha256: str
) -> None:
    """Refuse to resume a checkpoint made with another model shape, dataset or seed."""
    saved = payload["config"]
    for key in RESUME_KEYS:
        if saved.get(key) != getattr(config, key):
            raise CheckpointError(
                f"checkpoint {uri!r} does not match this run: {key}={saved.get(key)!r} in the checkpoint, "
                f"{getattr(config, key)!r} now; resume with the same config or use a new checkpoint path"
            )
    if payload["dataset_sha256"] != dataset_sha256:
        raise CheckpointError(
            f"checkpoint {uri!r} was trained on another corpus (sha256 {payload['dataset_sha256'][:12]}…, "
            f"now {dataset_sha256[:12]}…); use a new checkpoint path"
        )
    if list(payload["vocab"]) != vocab_chars:
        raise CheckpointError(f"checkpoint {uri!r} has a different vocabulary from this corpus")


def restore_rng(payload: dict[str, Any]) -> None:
    torch.set_rng_state(payload["rng"]["torch"])
    version, internal, gauss = payload["rng"]["python"]
    random.setstate((version, tuple(internal), gauss))


def _python_rng_to_list() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]
