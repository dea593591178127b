"""Loss of a model on an evaluation split, measured the same way for every model compared.

Validation loss is only comparable on the same characters, windowed the same way. The evaluation
split of a corpus is its last ``val_fraction`` (exactly the held-out tail ``rnn.train`` measures its
validation loss on), capped at :data:`MAX_EVAL_CHARS`; every model is scored on it with the same
window length and number of streams (:data:`EVAL_SEQ_LEN`, :data:`EVAL_BATCH_SIZE`), whatever
it was trained with. A model whose vocabulary lacks a character of the split cannot be scored on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnn.data import Vocab
from rnn.model import CharLSTM
from rnn.train import evaluate

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


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy, nats per character (may be nan/inf for a broken model)
    chars: int  # characters scored
    seq_len: int = EVAL_SEQ_LEN
    batch_size: int = EVAL_BATCH_SIZE

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
    loss = evaluate(model, vocab.encode(text), EVAL_SEQ_LEN, EVAL_BATCH_SIZE)
    return Evaluation(loss=loss, chars=len(text))
