"""Where training text comes from: the built-in default corpus or any fsspec URL.

The repository ships no third-party text. The default corpus is assembled at run time, offline,
from English prose that every CPython installation carries: the help topics in the standard
library's ``pydoc_data.topics`` module (the text behind ``help("assert")`` and friends).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_CORPUS_URI = "builtin://pydoc-topics"


def default_corpus_text() -> str:
    """The stdlib help topics, in a stable (sorted) order, separated by blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name].strip("\n") for name in sorted(topics)) + "\n"


class CorpusError(ValueError):
    """The corpus could not be read; the message names the URI and what to do."""


def read_corpus_bytes(uri: str) -> bytes:
    """Raw bytes of the corpus at ``uri``: ``builtin://pydoc-topics``, a local path, s3://, https://."""
    if uri == DEFAULT_CORPUS_URI:
        return default_corpus_text().encode("utf-8")
    if uri.startswith("builtin://"):
        raise CorpusError(
            f"unknown built-in corpus {uri!r}; the only built-in corpus is {DEFAULT_CORPUS_URI!r}"
        )
    import fsspec

    try:
        with fsspec.open(uri, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise CorpusError(
            f"corpus not found: {uri!r} ({exc}). Point the corpus setting at an existing file."
        ) from exc
    except IsADirectoryError as exc:
        raise CorpusError(f"corpus {uri!r} is a directory; give the path of one text file") from exc
    except PermissionError as exc:
        raise CorpusError(f"corpus {uri!r} is not readable: {exc}") from exc
    except (OSError, ValueError, ImportError) as exc:
        raise CorpusError(f"could not read corpus {uri!r}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class CorpusStats:
    """Size and identity of a corpus, as recorded in metrics.json."""

    uri: str
    size_bytes: int
    chars: int
    vocab_size: int
    sha256: str


def corpus_stats(uri: str, data: bytes, text: str) -> CorpusStats:
    return CorpusStats(
        uri=uri,
        size_bytes=len(data),
        chars=len(text),
        vocab_size=len(set(text)),
        sha256=hashlib.sha256(data).hexdigest(),
    )
