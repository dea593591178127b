"""The large-corpus bench's generated corpus is one the pipeline accepts: it passes validation."""

from __future__ import annotations

from pathlib import Path

from devtools.corpus_bench import write_corpus
from rnn.corpus_validation import validate_corpus


def test_the_generated_corpus_has_the_size_asked_for_and_passes_validation(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    size = write_corpus(path, 1_500_000)
    assert 1_500_000 <= size < 1_500_000 + 600_000  # whole blocks of the help topics
    validation = validate_corpus(path.read_bytes())
    assert validation.success, validation.summary()
