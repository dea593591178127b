"""Where training text comes from: the built-in default corpus or any fsspec URL.

The repository ships no third-party text. The default corpus is assembled at run time, offline,
from English prose that every CPython installation carries: the help topics in the standard
library's ``pydoc_data.topics`` module (the text behind ``help("assert")`` and friends).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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
    head = data[:8]
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "the file starts with a UTF-32 byte order mark: convert it with `iconv -f UTF-32 -t UTF-8`"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file starts with a UTF-16 byte order mark: convert it with `iconv -f UTF-16 -t UTF-8`"
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
    sample = data[: 1 << 16]
    if sample and sample.count(0) > len(sample) // 4:
        return (
            "a quarter of its bytes are NUL, so it looks like UTF-16 without a byte order mark: "
            "convert it with `iconv -f UTF-16LE -t UTF-8` (or UTF-16BE)"
        )
    window = data[max(0, first_bad - 2000) : first_bad + 2000]
    high = sum(1 for byte in window if byte >= 0x80)
    controls = sum(1 for byte in window if byte < 0x20 and byte not in b"\n\r\t\f")
    if controls > len(window) // 20:
        return "it looks like binary data, not text: point the corpus setting at a text file"
    if high and high <= len(window) // 4:
        char = data[first_bad : first_bad + 1].decode("cp1252", errors="replace")
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


def corpus_stats(uri: str, data: bytes, text: str) -> CorpusStats:
    return CorpusStats(
        uri=uri,
        size_bytes=len(data),
        chars=len(text),
        vocab_size=len(set(text)),
        sha256=hashlib.sha256(data).hexdigest(),
    )
