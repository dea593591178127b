"""Text -> vocabulary -> integer tensors -> (input, target) batches for truncated BPTT.

Batching follows pytorch/examples word_language_model: the training split is cut into
``batch_size`` contiguous streams and walked ``seq_len`` characters at a time, so batch ``i`` of an
epoch is a pure function of ``i`` (which is what makes exact resume possible).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnn.corpus import CorpusError


class Vocab:
    """Sorted character set; saved with every checkpoint and model so generation decodes the same."""

    def __init__(self, chars: list[str]) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted({ch for ch in text if ch not in self.index})
        if unknown:
            raise ValueError(f"characters not in the model's vocabulary: {unknown!r}")
        return torch.tensor([self.index[ch] for ch in text], dtype=torch.long)

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@dataclass(frozen=True)
class Splits:
    train: torch.Tensor  # 1-D LongTensor of character ids
    val: torch.Tensor


def split_tokens(ids: torch.Tensor, val_fraction: float, *, seq_len: int, batch_size: int) -> Splits:
    """Contiguous split: the last ``val_fraction`` of the corpus is validation."""
    n_val = int(len(ids) * val_fraction)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    min_train = batch_size * (seq_len + 1)
    if len(train) < min_train:
        raise CorpusError(
            f"corpus too small for training: {len(train)} training characters, need at least "
            f"batch_size x (seq_len + 1) = {min_train}; use a larger corpus or smaller batch_size/seq_len"
        )
    if len(val) < seq_len + 1:
        raise CorpusError(
            f"corpus too small for validation: {len(val)} validation characters, need at least {seq_len + 1}"
        )
    return Splits(train=train, val=val)


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Reshape to (batch_size, n) streams, dropping the remainder."""
    n = len(ids) // batch_size
    return ids[: n * batch_size].view(batch_size, n)


def steps_per_epoch(streams: torch.Tensor, seq_len: int) -> int:
    return (streams.size(1) - 1) // seq_len


def get_batch(streams: torch.Tensor, step: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets for step ``step`` of an epoch, both (batch, seq_len)."""
    start = step * seq_len
    x = streams[:, start : start + seq_len]
    y = streams[:, start + 1 : start + 1 + seq_len]
    return x, y
