"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model and optimizer state, the position (epoch, step in epoch, global
step), the carried LSTM hidden state, every RNG state, the vocabulary, the config and the epoch
history so far. It is written whole (see ``toolkit.storage``) to one URI, local or s3://, and replaced
on every save, so "the latest checkpoint" is always a complete one.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from typing import Any

import torch

from rnn.config import RESUME_KEYS, TrainConfig
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
