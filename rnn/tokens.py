"""A corpus as character ids, in bounded memory: encoded once per corpus into a token file, then mapped.

Up to :data:`IN_MEMORY_MAX_BYTES` of text is read, decoded and encoded in memory, vectorised
(:meth:`rnn.data.Vocab.encode_ids`). A larger corpus is read in chunks (:class:`rnn.corpus.CorpusSource`)
and never held whole:

1. its sha256, which names its token file in the cache folder (:func:`token_cache_dir`);
2. if that file is there (a retry, a resume, another run on the same corpus), it is memory-mapped and
   nothing is encoded again;
3. otherwise one pass collects its characters (the vocabulary) and counts them, the disk is checked
   for room (a corpus whose token file does not fit is refused, before anything is encoded, naming
   both sizes), and a second pass writes each chunk's ids, in the smallest dtype that holds the
   vocabulary, to a temporary file that is renamed into place (``toolkit.storage.atomic_local_file``),
   then its description (``tokens-<sha256>.json``). The bytes are hashed again on the way: if they
   changed while being read, nothing is kept.

Memory is then one chunk plus the pages of the token file training touches; the operating system's
page cache holds the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn.corpus import CorpusError, CorpusSource, CorpusStats, decode_utf8, decoded_pieces, piece_code_points
from rnn.data import Vocab, id_dtype
from toolkit import storage

TOKEN_CACHE_ENV = "RNN_TOKEN_CACHE_DIR"
DEFAULT_TOKEN_CACHE_DIR = Path("~/.cache/rnn-pipeline/tokens")
IN_MEMORY_MAX_BYTES = 8 << 20  # corpora up to this many bytes of text are encoded in memory, no file
TOKEN_FORMAT = "rnn-tokens/1"


def token_cache_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """Where token files live: ``configured``, else ``$RNN_TOKEN_CACHE_DIR``, else ~/.cache/rnn-pipeline/tokens."""
    chosen = configured or os.environ.get(TOKEN_CACHE_ENV) or DEFAULT_TOKEN_CACHE_DIR
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class CorpusIds:
    """A corpus as ids (1-D, the vocabulary's dtype; memory-mapped when it comes from a token file)."""

    ids: np.ndarray
    vocab: Vocab
    stats: CorpusStats
    token_file: Path | None  # None when encoded in memory
    encoded: bool  # this call encoded the corpus (False: its token file was already there)


def load_corpus_ids(
    source: CorpusSource,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    in_memory_max_bytes: int | None = None,
) -> CorpusIds:
    """The corpus's ids, vocabulary and stats: in memory when at most ``in_memory_max_bytes`` (default
    :data:`IN_MEMORY_MAX_BYTES`), else through its token file."""
    limit = IN_MEMORY_MAX_BYTES if in_memory_max_bytes is None else in_memory_max_bytes
    data = source.read_at_most(limit)
    if data is not None:
        return _in_memory(source, data)
    cache = token_cache_dir(cache_dir)
    sha256 = source.known_sha256 or source.sha256()
    found = _read_token_file(cache, sha256, source.uri)
    if found is not None:
        return found
    return _encode_to_token_file(source, cache, sha256)


def _in_memory(source: CorpusSource, data: bytes) -> CorpusIds:
    sha256 = hashlib.sha256(data).hexdigest()
    _check_unchanged(source, sha256)
    text = decode_utf8(data, source.uri)
    points = piece_code_points(data, text)
    vocab = Vocab.from_code_points(np.flatnonzero(np.bincount(points)))
    ids = vocab.ids_of_code_points(points)
    stats = CorpusStats(
        uri=source.uri, size_bytes=len(data), chars=len(ids), vocab_size=len(vocab), sha256=sha256
    )
    return CorpusIds(ids=ids, vocab=vocab, stats=stats, token_file=None, encoded=True)


def _changed_while_read(uri: str, sha256: str) -> CorpusError:
    return CorpusError(
        f"corpus {uri!r} changed while it was being read (sha256 {sha256[:12]}… at first); nothing was "
        "encoded: make sure nothing writes to it, then try again"
    )


def _check_unchanged(source: CorpusSource, sha256: str) -> None:
    if source.known_sha256 and sha256 != source.known_sha256:
        raise CorpusError(
            f"corpus {source.uri!r} changed since it was validated (sha256 {source.known_sha256[:12]}…, "
            f"now {sha256[:12]}…); validate it again"
        )


def token_paths(cache: Path, sha256: str) -> tuple[Path, Path]:
    """The token file of the corpus with this sha256 and its JSON description."""
    return cache / f"tokens-{sha256}.bin", cache / f"tokens-{sha256}.json"


def _read_token_file(cache: Path, sha256: str, uri: str) -> CorpusIds | None:
    """The memory-mapped ids when a complete token file for ``sha256`` is there, else None."""
    tokens, description = token_paths(cache, sha256)
    try:
        meta = json.loads(description.read_text(encoding="utf-8"))
        size = tokens.stat().st_size
    except (OSError, ValueError):
        return None
    vocab = Vocab(meta["vocab"])
    dtype = np.dtype(meta["dtype"])
    chars = int(meta["chars"])
    if meta.get("format") != TOKEN_FORMAT or dtype != vocab.dtype or size != chars * dtype.itemsize:
        return None  # another format, or a file that does not match its description: encode again
    ids = np.memmap(tokens, dtype=dtype, mode="r", shape=(chars,)) if chars else np.zeros(0, dtype)
    stats = CorpusStats(
        uri=uri, size_bytes=int(meta["size_bytes"]), chars=chars, vocab_size=len(vocab), sha256=sha256
    )
    return CorpusIds(ids=ids, vocab=vocab, stats=stats, token_file=tokens, encoded=False)


@dataclass(frozen=True)
class CorpusProfile:
    """What one pass over a corpus learns: its sha256, sizes and distinct characters."""

    sha256: str
    size_bytes: int
    chars: int
    distinct: np.ndarray  # code points, sorted


def profile(source: CorpusSource) -> CorpusProfile:
    """One pass: sha256, size, characters and the distinct ones (CorpusError if it is not UTF-8)."""
    digest, size, chars = hashlib.sha256(), 0, 0
    counts = np.zeros(0, dtype=np.int64)
    for piece, text in decoded_pieces(source):
        digest.update(piece)
        size += len(piece)
        points = piece_code_points(piece, text)
        chars += len(points)
        piece_counts = np.bincount(points, minlength=len(counts))
        piece_counts[: len(counts)] += counts
        counts = piece_counts
    return CorpusProfile(digest.hexdigest(), size, chars, np.flatnonzero(counts))


def check_disk_space(cache: Path, *, uri: str, size_bytes: int, token_bytes: int) -> None:
    """Refuse, naming both sizes, when the token file would not fit on the disk of ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache).free
    if token_bytes > free:
        raise CorpusError(
            f"corpus {uri!r} ({size_bytes:,} bytes) needs a {token_bytes:,}-byte token file, but the disk "
            f"of {str(cache)!r} has only {free:,} bytes free; free some space there or point "
            f"{TOKEN_CACHE_ENV} (--token-cache-dir) at a disk with room. Nothing was encoded."
        )


def _encode_to_token_file(source: CorpusSource, cache: Path, sha256: str) -> CorpusIds:
    seen = profile(source)
    _check_unchanged(source, seen.sha256)
    if seen.sha256 != sha256:
        raise _changed_while_read(source.uri, sha256)
    vocab = Vocab.from_code_points(seen.distinct)
    dtype = id_dtype(len(vocab))
    check_disk_space(
        cache, uri=source.uri, size_bytes=seen.size_bytes, token_bytes=seen.chars * dtype.itemsize
    )
    tokens, description = token_paths(cache, sha256)
    digest, written = hashlib.sha256(), 0
    with storage.atomic_local_file(str(tokens)) as out:
        for piece, text in decoded_pieces(source):
            digest.update(piece)
            try:
                ids = vocab.ids_of_code_points(piece_code_points(piece, text))
            except ValueError as exc:  # a character the first pass did not see
                raise _changed_while_read(source.uri, sha256) from exc
            out.write(memoryview(ids))
            written += len(ids)
        if digest.hexdigest() != sha256 or written != seen.chars:
            raise _changed_while_read(source.uri, sha256)
    meta = {
        "format": TOKEN_FORMAT,
        "sha256": sha256,
        "uri": source.uri,
        "size_bytes": seen.size_bytes,
        "chars": seen.chars,
        "dtype": dtype.name,
        "vocab": vocab.chars,
    }
    storage.write_text_atomic(str(description), json.dumps(meta, indent=1) + "\n")
    found = _read_token_file(cache, sha256, source.uri)
    assert found is not None, f"token file {tokens} was just written"
    return CorpusIds(ids=found.ids, vocab=found.vocab, stats=found.stats, token_file=tokens, encoded=True)
