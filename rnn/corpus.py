"""Where training text comes from: the built-in default corpus or any fsspec URL.

The repository ships no third-party text. The default corpus is assembled at run time, offline,
from English prose that every CPython installation carries: the help topics in the standard
library's ``pydoc_data.topics`` module (the text behind ``help("assert")`` and friends).

A large corpus is never held whole: :func:`open_corpus` gives a :class:`CorpusSource` that can be
read again and again in chunks (a local file, decompressed on the fly), and :func:`utf8_pieces` cuts
those chunks at character boundaries so each piece decodes on its own exactly as the whole would.
Remote corpora (s3://, https://) are still read into memory once.
"""

from __future__ import annotations

import hashlib
import importlib
import lzma
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from toolkit import storage

DEFAULT_CORPUS_URI = "builtin://pydoc-topics"


def default_corpus_text() -> str:
    """The stdlib help topics, in a stable (sorted) order, separated by blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name].strip("\n") for name in sorted(topics)) + "\n"


class CorpusError(ValueError):
    """The corpus could not be read; the message names the URI and what to do.

    ``transient`` is True when its host could not be reached (trying again may work), False when
    retrying cannot help (not found, no credentials, not UTF-8, corrupt archive).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# magic numbers of the compressed formats read transparently, and how to open each
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_BZIP2_BLOCK = b"\x31\x41\x59\x26\x53\x59"  # after "BZh" + level digit: every bzip2 stream's first block
_XZ_MAGIC = b"\xfd7zXZ\x00"


def compression_of(data: bytes) -> str | None:
    """``"gzip"``, ``"bz2"`` or ``"xz"`` when the bytes start with that format's magic number."""
    if data.startswith(_GZIP_MAGIC):
        return "gzip"
    if data.startswith(_XZ_MAGIC):
        return "xz"
    if data.startswith(_BZIP2_MAGIC) and data[3:4].isdigit() and data[4:10] == _BZIP2_BLOCK:
        return "bz2"
    return None


def decompress(data: bytes, uri: str) -> tuple[bytes, str | None]:
    """(the text bytes, the compression they came in); uncompressed data is returned as is."""
    import bz2
    import gzip
    import lzma
    import zlib

    kind = compression_of(data)
    if kind is None:
        return data, None
    opener = {"gzip": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress}[kind]
    try:
        return opener(data), kind
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise CorpusError(
            f"corpus {uri!r} is {kind}-compressed (it starts with {data[:4].hex(' ')}) but does not "
            f"decompress ({type(exc).__name__}: {exc}); the file may be truncated: download it again"
        ) from exc


def read_corpus_bytes(uri: str) -> bytes:
    """The corpus at ``uri`` as text bytes: ``builtin://pydoc-topics``, a local path, s3://, https://.

    gzip, bz2 and xz files are decompressed (recognised by their first bytes, whatever their name).
    """
    if uri == DEFAULT_CORPUS_URI:
        return default_corpus_text().encode("utf-8")
    if uri.startswith("builtin://"):
        raise CorpusError(
            f"unknown built-in corpus {uri!r}; the only built-in corpus is {DEFAULT_CORPUS_URI!r}"
        )
    try:
        raw = storage.read_bytes(uri)
    except storage.StorageError as exc:
        if isinstance(exc, FileNotFoundError):
            raise CorpusError(
                f"corpus not found: {uri!r}. Point the corpus setting at an existing file."
            ) from exc
        raise CorpusError(f"corpus {uri!r}: {exc}", transient=exc.transient) from exc
    except FileNotFoundError as exc:
        raise CorpusError(
            f"corpus not found: {uri!r} ({exc.strerror or exc}). Point the corpus setting at an existing file."
        ) from exc
    except IsADirectoryError as exc:
        raise CorpusError(f"corpus {uri!r} is a directory; give the path of one text file") from exc
    except PermissionError as exc:
        raise CorpusError(f"corpus {uri!r} is not readable: {exc}") from exc
    except (OSError, ValueError, ImportError) as exc:
        raise CorpusError(f"could not read corpus {uri!r}: {type(exc).__name__}: {exc}") from exc
    return decompress(raw, uri)[0]


def decode_utf8(data: bytes, uri: str) -> str:
    """The text; a :class:`CorpusError` naming the first bad byte and what the bytes look like if not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"corpus {uri!r} is not valid UTF-8: byte {exc.start:,} is 0x{data[exc.start]:02X}; "
            f"{what_the_bytes_look_like(data, exc.start)}"
        ) from exc


def what_the_bytes_look_like(data: bytes, first_bad: int) -> str:
    """A hint for bytes that are not UTF-8: which encoding or file type they look like, and what to do."""
    return describe_bytes(
        data[:HEAD_BYTES], data[max(0, first_bad - WINDOW_BYTES) : first_bad + WINDOW_BYTES], data[first_bad]
    )


HEAD_BYTES = 1 << 16  # the start of a file the hint looks at (byte order marks, magic numbers, NULs)
WINDOW_BYTES = 2000  # and this many bytes either side of the first bad byte


def describe_bytes(head: bytes, window: bytes, bad_byte: int) -> str:
    """:func:`what_the_bytes_look_like` from the parts it reads: the first :data:`HEAD_BYTES` of the
    file, :data:`WINDOW_BYTES` either side of the first bad byte, and that byte."""
    for bom, hint in (
        ((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"), "UTF-32"),
        ((b"\xff\xfe", b"\xfe\xff"), "UTF-16"),
    ):
        if head.startswith(bom):
            return (
                f"the file starts with a {hint} byte order mark: convert it with `iconv -f {hint} -t UTF-8`"
            )
    for magic, what in (
        (b"PK\x03\x04", "a zip archive: unzip it and point at the text file inside"),
        (
            b"\x28\xb5\x2f\xfd",
            "zstd-compressed: decompress it first (`zstd -d`); gzip, bz2 and xz are read as they are",
        ),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract it and point at the text file inside"),
        (b"%PDF", "a PDF document, not plain text: extract its text first"),
        (_GZIP_MAGIC, "gzip-compressed"),
    ):
        if head.startswith(magic):
            return f"it looks like {what}"
    if head and head.count(0) > len(head) // 4:
        return (
            "a quarter of its bytes are NUL, so it looks like UTF-16 without a byte order mark: "
            "convert it with `iconv -f UTF-16LE -t UTF-8` (or UTF-16BE)"
        )
    high = sum(1 for byte in window if byte >= 0x80)
    controls = sum(1 for byte in window if byte < 0x20 and byte not in b"\n\r\t\f")
    if controls > len(window) // 20:
        return "it looks like binary data, not text: point the corpus setting at a text file"
    if high and high <= len(window) // 4:
        char = bytes([bad_byte]).decode("cp1252", errors="replace")
        return (
            f"it looks like Latin-1 / Windows-1252 text (that byte is {char!r} there): convert it with "
            "`iconv -f WINDOWS-1252 -t UTF-8`"
        )
    return "re-encode it as UTF-8 (e.g. `iconv -f <its encoding> -t UTF-8`)"


@dataclass(frozen=True)
class CorpusStats:
    """Size and identity of a corpus, as recorded in metrics.json."""

    uri: str
    size_bytes: int
    chars: int
    vocab_size: int
    sha256: str


def corpus_stats_of(source: CorpusSource) -> CorpusStats:
    """:func:`corpus_stats` of a corpus read in chunks: bytes that are not UTF-8 count as U+FFFD, as
    ``decode("utf-8", errors="replace")`` makes them. Memory is one chunk and the character counts."""
    import numpy as np

    digest, size, chars = hashlib.sha256(), 0, 0
    counts = np.zeros(0, dtype=np.int64)
    for _, piece in utf8_pieces(source.chunks()):
        digest.update(piece)
        size += len(piece)
        points = piece_code_points(piece, piece.decode("utf-8", errors="replace"))
        chars += len(points)
        piece_counts = np.bincount(points, minlength=len(counts))
        piece_counts[: len(counts)] += counts
        counts = piece_counts
    return CorpusStats(
        uri=source.uri,
        size_bytes=size,
        chars=chars,
        vocab_size=int(np.count_nonzero(counts)),
        sha256=digest.hexdigest(),
    )


def corpus_stats(uri: str, data: bytes, text: str) -> CorpusStats:
    return CorpusStats(
        uri=uri,
        size_bytes=len(data),
        chars=len(text),
        vocab_size=len(set(text)),
        sha256=hashlib.sha256(data).hexdigest(),
    )


# --- reading a corpus in chunks ---------------------------------------------------------------

CHUNK_BYTES = 1 << 20  # what one read takes from a corpus: memory is a few times this, whatever its size

_OPENERS = {"gzip": "gzip", "bz2": "bz2", "xz": "lzma"}  # compression -> module whose open() streams it


@dataclass(frozen=True)
class CorpusSource:
    """A corpus's text bytes, readable as often as needed in chunks: a local file (decompressed on the
    fly when compressed) or bytes in memory. Picklable, so a child process can read it itself.

    ``known_sha256``: the sha256 these bytes were validated under, if they were; whoever reads
    them again checks it (:func:`rnn.tokens.load_corpus_ids`).
    """

    uri: str
    path: str | None = None  # local file holding the (possibly compressed) text
    compression: str | None = None  # "gzip", "bz2", "xz" or None
    data: bytes | None = None  # the text bytes themselves, instead of a file
    known_sha256: str | None = None

    @classmethod
    def of_bytes(cls, uri: str, data: bytes) -> CorpusSource:
        return cls(uri=uri, data=bytes(data))

    @property
    def size_bytes(self) -> int | None:
        """Text bytes, when known without reading them (not for a compressed file)."""
        if self.data is not None:
            return len(self.data)
        if self.compression is None and self.path is not None:
            return os.stat(self.path).st_size
        return None

    def chunks(self, chunk_bytes: int | None = None) -> Iterator[bytes]:
        """The text bytes in order, ``chunk_bytes`` (default :data:`CHUNK_BYTES`) at a time."""
        chunk_bytes = chunk_bytes or CHUNK_BYTES
        if self.data is not None:
            for start in range(0, len(self.data), chunk_bytes):
                yield self.data[start : start + chunk_bytes]
            return
        with self._open() as handle:
            while True:
                try:
                    chunk = handle.read(chunk_bytes)
                except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
                    raise self._read_error(exc) from exc
                if not chunk:
                    return
                yield chunk

    def read_at_most(self, limit: int) -> bytes | None:
        """All the text bytes if there are at most ``limit`` of them, else None (having read ``limit + 1``)."""
        if self.data is not None:
            return self.data if len(self.data) <= limit else None
        size = self.size_bytes
        if size is not None and size > limit:
            return None
        parts, total = [], 0
        for chunk in self.chunks(min(CHUNK_BYTES, limit + 1)):
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                return None
        return b"".join(parts)

    def read_range(self, start: int, length: int) -> bytes:
        """``length`` text bytes from offset ``start`` (fewer at the end); a compressed file is read from
        its beginning."""
        if self.data is not None:
            return self.data[start : start + length]
        if self.compression is None:
            with self._open() as handle:
                handle.seek(start)
                return handle.read(length)
        parts, position = [], 0
        for chunk in self.chunks():
            end = position + len(chunk)
            if end > start:
                parts.append(chunk[max(0, start - position) : start + length - position])
            position = end
            if position >= start + length:
                break
        return b"".join(parts)

    def sha256(self) -> str:
        """The sha256 of the text bytes, read in chunks."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def describe_bad_byte(self, offset: int) -> str:
        """:func:`what_the_bytes_look_like` for the byte at ``offset``, reading only the parts it needs."""
        start = max(0, offset - WINDOW_BYTES)
        window = self.read_range(start, offset + WINDOW_BYTES - start)
        return describe_bytes(self.read_range(0, HEAD_BYTES), window, window[offset - start])

    def _open(self) -> BinaryIO:
        assert self.path is not None
        try:
            if self.compression is None:
                return open(self.path, "rb")
            return importlib.import_module(_OPENERS[self.compression]).open(self.path, "rb")
        except OSError as exc:
            raise _local_error(self.uri, exc) from exc

    def _read_error(self, exc: BaseException) -> CorpusError:
        if self.compression is None:
            return CorpusError(f"could not read corpus {self.uri!r}: {type(exc).__name__}: {exc}")
        with open(self.path or "", "rb") as handle:
            head = handle.read(4)
        return CorpusError(
            f"corpus {self.uri!r} is {self.compression}-compressed (it starts with {head.hex(' ')}) but does "
            f"not decompress ({type(exc).__name__}: {exc}); the file may be truncated: download it again"
        )


def open_corpus(uri: str) -> CorpusSource:
    """The corpus at ``uri`` as a :class:`CorpusSource`: a local file is read in chunks when used (its
    compression recognised by its first bytes); the built-in corpus and remote ones are read now."""
    if uri == DEFAULT_CORPUS_URI or storage.is_remote(uri):
        return CorpusSource.of_bytes(uri, read_corpus_bytes(uri))
    path = uri.removeprefix("file://")
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise _local_error(uri, exc) from exc
    return CorpusSource(uri=uri, path=path, compression=compression_of(head))


def _local_error(uri: str, exc: OSError) -> CorpusError:
    """The same words :func:`read_corpus_bytes` uses for a local file that cannot be read."""
    if isinstance(exc, FileNotFoundError):
        return CorpusError(
            f"corpus not found: {uri!r} ({exc.strerror or exc}). Point the corpus setting at an existing file."
        )
    if isinstance(exc, IsADirectoryError):
        return CorpusError(f"corpus {uri!r} is a directory; give the path of one text file")
    if isinstance(exc, PermissionError):
        return CorpusError(f"corpus {uri!r} is not readable: {exc}")
    return CorpusError(f"could not read corpus {uri!r}: {type(exc).__name__}: {exc}")


def utf8_pieces(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(offset, piece)`` for consecutive pieces of the byte stream, each ending at a character boundary.

    A multibyte character cut by a chunk boundary moves whole into the next piece, so decoding each
    piece on its own (strictly or with ``errors="surrogateescape"``) gives exactly what decoding the
    whole stream at once would: the same characters, the same invalid bytes.
    """
    carry, offset = b"", 0
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = _character_boundary(data)
        if cut:
            yield offset, data[:cut]
            offset += cut
        carry = data[cut:]
    if carry:
        yield offset, carry


def _character_boundary(data: bytes) -> int:
    """The end of ``data`` or, when it ends inside a multibyte sequence, where that sequence starts."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last sequence starts here
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4 if byte < 0xF8 else 1
            return end - back if byte >= 0xC0 and length > back else end
    return end


def code_points(text: str) -> Any:
    """The text's code points as a numpy uint32 array (one copy through UTF-32, no Python object per
    character). Lone surrogates (what ``errors="surrogateescape"`` makes of invalid bytes) pass through."""
    import numpy as np

    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")


def piece_code_points(piece: bytes, text: str) -> Any:
    """:func:`code_points` of ``text``, the decoding of ``piece``: for an ASCII piece, its bytes as they are
    (uint8: no decoding, a quarter of the memory)."""
    import numpy as np

    return np.frombuffer(piece, dtype=np.uint8) if piece.isascii() else code_points(text)


def decoded_pieces(source: CorpusSource, chunk_bytes: int | None = None) -> Iterator[tuple[bytes, str]]:
    """``(piece, its text)`` through the whole corpus; a :class:`CorpusError` naming the first byte that
    is not UTF-8 and what the bytes look like (as :func:`decode_utf8` says it)."""
    for offset, piece in utf8_pieces(source.chunks(chunk_bytes)):
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError as exc:
            first_bad = offset + exc.start
            raise CorpusError(
                f"corpus {source.uri!r} is not valid UTF-8: byte {first_bad:,} is 0x{piece[exc.start]:02X}; "
                f"{source.describe_bad_byte(first_bad)}"
            ) from exc
        yield piece, text
