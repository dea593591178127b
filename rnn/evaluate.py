"""Loss of a model on an evaluation split, measured the same way for every model compared.

Validation loss is only comparable on the same characters, windowed the same way. The evaluation
split of a corpus is its last ``val_fraction`` (exactly the held-out tail ``rnn.train`` measures its
validation loss on), capped at :data:`MAX_EVAL_CHARS`: a fixed budget, so scoring takes seconds
whatever the corpus size. Every model is scored on it with the same window length and number of
streams (:data:`EVAL_SEQ_LEN`, :data:`EVAL_BATCH_SIZE`), whatever it was trained with; the
characters a score covers (:func:`scored_chars`) are recorded beside it. A model whose vocabulary
lacks a character of the split cannot be scored on it. :func:`read_evaluation_split` cuts the split
out of a corpus read in chunks, holding no more than one chunk and the split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnn.corpus import CorpusSource, decoded_pieces
from rnn.data import Vocab, evaluation_chars, evaluation_streams
from rnn.model import CharLSTM
from rnn.train import loss_over

EVAL_SEQ_LEN = 128  # characters per window
EVAL_BATCH_SIZE = 16  # parallel streams (hidden state carried along each)
MAX_EVAL_CHARS = 500_000  # the first this many characters of the split: seconds, not minutes


class VocabularyMismatchError(ValueError):
    """The model cannot encode the evaluation text; ``missing`` are the characters it never saw."""

    def __init__(self, missing: list[str], vocab_size: int) -> None:
        shown = "".join(missing[:20]) + ("…" if len(missing) > 20 else "")
        super().__init__(
            f"{len(missing)} character(s) of the evaluation data are not in its vocabulary of "
            f"{vocab_size}: {shown!r}"
        )
        self.missing = missing


def evaluation_split(text: str, val_fraction: float, *, max_chars: int = MAX_EVAL_CHARS) -> str:
    """The last ``val_fraction`` of ``text`` (as ``rnn.data.split_tokens`` cuts it), at most ``max_chars``."""
    if not 0.0 < val_fraction < 1.0 or not math.isfinite(val_fraction):
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = int(len(text) * val_fraction)
    return text[len(text) - n_val :][:max_chars]


def read_evaluation_split(
    source: CorpusSource, val_fraction: float, *, max_chars: int = MAX_EVAL_CHARS
) -> str:
    """:func:`evaluation_split` of a corpus read in chunks: one pass counts its characters, a second
    keeps the split's first ``max_chars``. A CorpusError if it is not UTF-8."""
    if not 0.0 < val_fraction < 1.0 or not math.isfinite(val_fraction):
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    chars = sum(len(text) for _, text in decoded_pieces(source))
    start = chars - int(chars * val_fraction)
    kept: list[str] = []
    position, wanted = 0, min(max_chars, chars - start)
    for _, text in decoded_pieces(source):
        if position + len(text) > start:
            first = max(0, start - position)
            kept.append(text[first : first + wanted])
            wanted -= len(kept[-1])
        position += len(text)
        if wanted <= 0:
            break
    return "".join(kept)


def scored_chars(text_chars: int) -> int:
    """Characters a score covers on a text of ``text_chars`` characters: the targets of every whole
    ``EVAL_SEQ_LEN`` window of ``EVAL_BATCH_SIZE`` streams (a little less than the text)."""
    batch_size = max(1, min(EVAL_BATCH_SIZE, (text_chars - 1) // (EVAL_SEQ_LEN + 1)))
    return batch_size * ((text_chars // batch_size - 1) // EVAL_SEQ_LEN) * EVAL_SEQ_LEN


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy, nats per character (may be nan/inf for a broken model)
    chars: int  # characters scored (:func:`scored_chars` of the text)
    seq_len: int = EVAL_SEQ_LEN
    batch_size: int = EVAL_BATCH_SIZE
    budget_chars: int = MAX_EVAL_CHARS  # the split is cut to at most this many characters

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss)


def evaluate_on(model: CharLSTM, vocab: Vocab, text: str) -> Evaluation:
    """Score ``model`` on ``text``; :class:`VocabularyMismatchError` if it cannot encode every character."""
    missing = sorted(set(text) - set(vocab.chars))
    if missing:
        raise VocabularyMismatchError(missing, len(vocab))
    if len(text) < EVAL_SEQ_LEN + 1:
        raise ValueError(
            f"evaluation text too short: {len(text)} characters, need at least {EVAL_SEQ_LEN + 1}"
        )
    streams = evaluation_streams(
        vocab.encode_ids(text), batch_size=EVAL_BATCH_SIZE, seq_len=EVAL_SEQ_LEN, max_chars=0
    )
    loss = loss_over(model, streams, EVAL_SEQ_LEN)
    return Evaluation(loss=loss, chars=evaluation_chars(streams, EVAL_SEQ_LEN))
