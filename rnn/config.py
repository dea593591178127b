"""Every knob of a training run, in one typed dataclass (nanoGPT-style: defaults + one comment each)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from rnn.corpus import DEFAULT_CORPUS_URI
from toolkit import lstm


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field and the value."""


# Fields that must match for a checkpoint to be resumed under another config (epochs may grow).
RESUME_KEYS = (
    "seq_len",
    "batch_size",
    "embedding_dim",
    "hidden_size",
    "num_layers",
    "dropout",
    "val_fraction",
    "seed",
    "learning_rate",
    "weight_decay",
    "max_steps_per_epoch",
)


@dataclass(frozen=True)
class TrainConfig:
    # data
    corpus_uri: str = DEFAULT_CORPUS_URI  # local path, s3://, https:// or builtin://pydoc-topics
    val_fraction: float = 0.1  # tail of the corpus held out for validation loss
    eval_chars: int = (
        524_288  # validation characters scored per epoch: a fixed, evenly spread sample of the tail; 0 = all
    )
    seq_len: int = 128  # characters per truncated-BPTT window
    batch_size: int = 32  # parallel streams through the corpus
    # model: the defaults give ~2.84M parameters at a vocabulary of ~100 characters
    embedding_dim: int = 128  # size of each character's embedding
    hidden_size: int = 460  # LSTM units per layer
    num_layers: int = 2  # stacked LSTM layers
    dropout: float = 0.1  # between LSTM layers and before the decoder
    # optimisation
    epochs: int = 3  # full passes over the training split
    max_steps_per_epoch: int = 0  # 0 = the whole split; >0 caps an epoch (tests, smoke runs)
    learning_rate: float = 2e-3  # AdamW
    weight_decay: float = 0.01  # AdamW
    grad_clip: float = 1.0  # max global gradient norm
    seed: int = 1337  # torch + python RNG seed; same seed, same weights
    # bookkeeping
    checkpoint_every_steps: int = 50  # also at every epoch end and on SIGTERM / SIGUSR1
    log_every_steps: int = 10  # one fixed-width log line per interval
    num_threads: int = 0  # torch intra-op threads; 0 = torch's default (all cores)

    def __post_init__(self) -> None:
        positive = (
            "seq_len",
            "batch_size",
            "embedding_dim",
            "hidden_size",
            "num_layers",
            "epochs",
            "checkpoint_every_steps",
            "log_every_steps",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_steps_per_epoch", "num_threads", "seed", "eval_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ("val_fraction", "dropout", "learning_rate", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("learning_rate", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not self.corpus_uri:
            raise ConfigError("corpus_uri is empty; give a path or URL of a UTF-8 text file")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**values)


def parameter_count(config: TrainConfig, vocab_size: int) -> int:
    """Weights of ``rnn.model.CharLSTM`` for this config and vocabulary, without building it (no torch)."""
    return lstm.parameter_count(
        vocab_size=vocab_size,
        embedding_dim=config.embedding_dim,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
    )
