"""Text -> vocabulary -> integer ids -> (input, target) batches for truncated BPTT.

Batching follows pytorch/examples word_language_model: the training split is cut into
``batch_size`` contiguous streams and walked ``seq_len`` characters at a time, so batch ``i`` of an
epoch is a pure function of ``i`` (which is what makes exact resume possible).

Ids are kept in the smallest integer type that holds the vocabulary (:func:`id_dtype`: one byte per
character for up to 256 symbols), as numpy arrays, possibly memory-mapped from a token file
(:mod:`rnn.tokens`). Only the slice a batch needs becomes int64 (``torch.long``, what the embedding
lookup takes). Encoding is vectorised: text -> UTF-32 code points -> a lookup table, never a Python
object per character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnn.corpus import CorpusError, code_points

# Arrays of character ids: numpy (possibly memory-mapped, small dtype) or a torch tensor.
Ids = Any


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest integer type that holds ids ``0 .. vocab_size - 1``: uint8, uint16 or int32."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)  # Unicode has 1,114,112 code points: far below 2**31


class Vocab:
    """Sorted character set; saved with every checkpoint and model so generation decodes the same."""

    def __init__(self, chars: list[str]) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        self.dtype = id_dtype(len(self.chars))
        self._table: np.ndarray | None = None

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls.from_code_points(np.unique(code_points(text)))

    @classmethod
    def from_code_points(cls, distinct: np.ndarray) -> Vocab:
        """The vocabulary of these distinct code points, in code-point order (= ``sorted(set(text))``)."""
        return cls([chr(c) for c in np.sort(np.asarray(distinct, dtype=np.int64))])

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def _lookup_table(self) -> np.ndarray:
        """code point -> id, -1 where the code point is not in the vocabulary (one slot past the largest)."""
        if self._table is None:
            points = np.array([ord(ch) for ch in self.chars], dtype=np.int64)
            table = np.full(int(points.max(initial=-1)) + 2, -1, dtype=np.int32)
            table[points] = np.arange(len(points), dtype=np.int32)
            self._table = table
        return self._table

    def ids_of_code_points(self, points: np.ndarray) -> np.ndarray:
        """Ids (in :attr:`dtype`) of code points; ValueError naming the characters not in the vocabulary."""
        table = self._lookup_table()
        if points.dtype == np.uint8 and len(table) > 0xFF:  # ASCII bytes: every one indexes the table
            ids = table[points]
        else:
            ids = table[np.minimum(points, len(table) - 1)]
        if ids.size and int(ids.min()) < 0:
            unknown = [chr(c) for c in np.unique(points[ids < 0])]
            raise ValueError(f"characters not in the model's vocabulary: {unknown!r}")
        return ids.astype(self.dtype, copy=False)

    def encode_ids(self, text: str) -> np.ndarray:
        """The text as ids in the vocabulary's smallest dtype (a numpy array)."""
        return self.ids_of_code_points(code_points(text))

    def encode(self, text: str) -> torch.Tensor:
        """The text as a LongTensor of ids (what the model and the decoders take)."""
        return torch.from_numpy(self.encode_ids(text).astype(np.int64))

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@dataclass(frozen=True)
class Splits:
    train: Ids  # 1-D character ids (numpy, small dtype; a torch tensor works too)
    val: Ids


def split_tokens(ids: Ids, val_fraction: float, *, seq_len: int, batch_size: int) -> Splits:
    """Contiguous split: the last ``val_fraction`` of the corpus is validation (views, no copy)."""
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


def batchify(ids: Ids, batch_size: int) -> Ids:
    """Reshape to (batch_size, n) streams, dropping the remainder (a view of ``ids``)."""
    n = len(ids) // batch_size
    return ids[: n * batch_size].reshape(batch_size, n)


def steps_per_epoch(streams: Ids, seq_len: int) -> int:
    return (streams.shape[1] - 1) // seq_len


def get_batch(streams: Ids, step: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets for step ``step`` of an epoch, both (batch, seq_len) LongTensors."""
    start = step * seq_len
    x = streams[:, start : start + seq_len]
    y = streams[:, start + 1 : start + 1 + seq_len]
    return as_long(x), as_long(y)


def as_long(block: Ids) -> torch.Tensor:
    """A block of ids as int64 for the embedding lookup: the only place ids are widened."""
    if isinstance(block, torch.Tensor):
        return block.long()
    return torch.from_numpy(np.ascontiguousarray(block, dtype=np.int64))


def evaluation_streams(ids: Ids, *, batch_size: int, seq_len: int, max_chars: int) -> Ids:
    """The (streams, length) array a validation loss is measured on: a fixed, deterministic sample.

    With ``max_chars`` 0 or at least the split, the whole split cut into ``batch_size`` streams (the
    hidden state is carried along each). Otherwise ``batch_size`` stretches of ``max_chars //
    batch_size + 1`` characters, evenly spaced from the start to the end of the split: the same
    characters every epoch and every run, so losses compare; :func:`evaluation_chars` says how many
    are scored.
    """
    batch_size = max(1, min(batch_size, (len(ids) - 1) // (seq_len + 1)))
    per_stream = max_chars // batch_size + 1
    if not max_chars or per_stream * batch_size >= len(ids) or per_stream < seq_len + 1:
        return batchify(ids, batch_size)
    spacing = (len(ids) - per_stream) / max(batch_size - 1, 1)
    starts = [round(i * spacing) for i in range(batch_size)]
    stretches = [ids[start : start + per_stream] for start in starts]
    if isinstance(ids, torch.Tensor):
        return torch.stack(stretches)
    return np.stack(stretches)


def evaluation_chars(streams: Ids, seq_len: int) -> int:
    """Characters scored (targets) when a loss is measured over these streams in ``seq_len`` windows."""
    return streams.shape[0] * steps_per_epoch(streams, seq_len) * seq_len
