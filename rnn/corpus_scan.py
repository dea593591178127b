"""One pass over a corpus's bytes, in chunks: everything its validation looks at, in bounded memory.

:class:`CorpusScan` takes the corpus piece by piece (:func:`rnn.corpus.utf8_pieces`: each piece ends
at a character boundary) and keeps only aggregates, so its memory is one piece plus:

* the count of every distinct character (a table indexed by code point, as long as the largest one);
  each byte that is not valid UTF-8 is decoded with ``errors="surrogateescape"`` into a lone
  surrogate U+DC80..U+DCFF and counted there, so every byte is looked at;
* where the first invalid byte is, with the bytes a hint about it needs (the first 64 KiB and 2,000
  bytes either side of it);
* the line-length histogram (lines as ``str.splitlines()`` cuts them, a ``\\r\\n`` split across two
  pieces included), one count per distinct length;
* distinct non-empty lines by a 64-bit hash of each line (:class:`DistinctLines`): exact up to
  :data:`DISTINCT_LINES_CAPACITY` distinct lines, a K-minimum-values estimate beyond (relative
  error about 1/sqrt(capacity), 0.1 %), in fixed memory;
* the sha256 and the sizes.

A line can be longer than a piece: only its length and running hash are carried to the next piece.
Everything is numpy over the piece's code points; no Python object per character or per line.
numpy is imported inside the functions, like GX and pandas in :mod:`rnn.corpus_validation`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from rnn.corpus import HEAD_BYTES, WINDOW_BYTES, code_points, describe_bytes

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() splits on
_CR, _LF = 0x0D, 0x0A
INVALID_BYTE_FIRST, INVALID_BYTE_LAST = 0xDC80, 0xDCFF  # surrogateescape's stand-ins for invalid bytes
_REPLACEMENT = 0xFFFD  # an invalid byte inside a line hashes as U+FFFD (lines compare as text would)
DISTINCT_LINES_CAPACITY = 1 << 20  # hashes kept: exact below, estimated above (8 MiB + 8 MiB of lengths)

_MASK = (1 << 64) - 1
_BASE = 0x9E3779B97F4A7C15  # odd: the polynomial hash's base, mod 2**64
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)

# numpy arrays (numpy is imported on use)
Array = Any


@functools.cache
def _break_table() -> Array:
    """code point -> is a line break, for code points up to U+2029 (the last slot stands for beyond)."""
    import numpy as np

    table = np.zeros(ord("\u2029") + 2, dtype=bool)
    table[[ord(ch) for ch in LINE_BREAKS]] = True
    return table


@dataclass(frozen=True)
class LineHistogram:
    """Lines by length: ``lengths`` ascending, how many ``lines`` have each, and how many of those are
    distinct (``distinct``: 0 for length 0, whose lines are all the empty line and not counted)."""

    lengths: Array  # int64
    lines: Array  # int64
    distinct: Array  # int64
    distinct_exact: (
        bool  # False when the distinct counts are estimates (more distinct lines than kept hashes)
    )

    @property
    def total(self) -> int:
        return int(self.lines.sum())

    @property
    def non_empty(self) -> int:
        return int(self.lines[self.lengths > 0].sum())


@dataclass(frozen=True)
class ScanResult:
    sha256: str
    size_bytes: int
    chars: int  # an invalid byte counts as one character (its stand-in)
    counts: Array  # int64, index = code point
    first_invalid_byte: int | None  # offset of the first byte that is not UTF-8
    first_invalid_value: int | None  # and its value
    invalid_byte_hint: str  # what the bytes look like there (rnn.corpus.describe_bytes), "" if none
    lines: LineHistogram

    @property
    def invalid_bytes(self) -> int:
        return int(self.counts[INVALID_BYTE_FIRST : INVALID_BYTE_LAST + 1].sum())


class CorpusScan:
    """Feed it consecutive pieces with :meth:`add`, then :meth:`finish`."""

    def __init__(self, *, distinct_capacity: int = DISTINCT_LINES_CAPACITY) -> None:
        import numpy as np

        self._sha256 = hashlib.sha256()
        self._size = 0
        self._chars = 0
        self._counts = np.zeros(0, dtype=np.int64)
        self._head = b""
        self._before = b""  # the last WINDOW_BYTES seen, until the first invalid byte is found
        self._first_invalid: int | None = None
        self._after = b""  # bytes from the first invalid byte on, up to WINDOW_BYTES
        self._lines = LineSplitter(DistinctLines(distinct_capacity))

    def add(self, piece: bytes) -> None:
        """The next piece of the corpus (it must end at a character boundary)."""
        import numpy as np

        self._sha256.update(piece)
        if len(self._head) < HEAD_BYTES:
            self._head += piece[: HEAD_BYTES - len(self._head)]
        if self._first_invalid is not None and len(self._after) < WINDOW_BYTES:
            self._after += piece[: WINDOW_BYTES - len(self._after)]
        if piece.isascii():  # most pieces of most corpora: the bytes are the code points
            points = np.frombuffer(piece, dtype=np.uint8)
        else:
            points = code_points(piece.decode("utf-8", errors="surrogateescape"))
        piece_counts = np.bincount(points, minlength=len(self._counts))
        invalid = piece_counts[INVALID_BYTE_FIRST : INVALID_BYTE_LAST + 1].any()
        if invalid:
            if self._first_invalid is None:
                self._locate_first_invalid(piece)
            points = np.where(
                (points >= INVALID_BYTE_FIRST) & (points <= INVALID_BYTE_LAST), _REPLACEMENT, points
            ).astype(np.uint32)
        elif self._first_invalid is None:
            self._before = (self._before + piece[-WINDOW_BYTES:])[-WINDOW_BYTES:]
        piece_counts[: len(self._counts)] += self._counts
        self._counts = piece_counts
        self._lines.add(points, len(piece_counts) - 1 if not invalid else None)
        self._size += len(piece)
        self._chars += len(points)

    def _locate_first_invalid(self, piece: bytes) -> None:
        try:
            piece.decode("utf-8")
            return  # cannot happen: the piece holds an invalid byte
        except UnicodeDecodeError as exc:
            start = exc.start
        self._first_invalid = self._size + start
        self._before = (self._before + piece[:start])[-WINDOW_BYTES:]
        self._after = piece[start : start + WINDOW_BYTES]

    def finish(self) -> ScanResult:
        hint = ""
        if self._first_invalid is not None:
            hint = describe_bytes(self._head, self._before + self._after, self._after[0])
        return ScanResult(
            sha256=self._sha256.hexdigest(),
            size_bytes=self._size,
            chars=self._chars,
            counts=self._counts,
            first_invalid_byte=self._first_invalid,
            first_invalid_value=self._after[0] if self._first_invalid is not None else None,
            invalid_byte_hint=hint,
            lines=self._lines.finish(),
        )


class LineSplitter:
    """Cuts a stream of code points into lines as ``str.splitlines()`` does, keeping per line only its
    length (into a histogram) and, for non-empty lines, a hash (into :class:`DistinctLines`)."""

    def __init__(self, distinct: DistinctLines) -> None:
        import numpy as np

        self.distinct = distinct
        self.length_counts: dict[int, int] = {}
        self.partial_length = 0  # the line in progress at the end of the last piece
        self.partial_hash = 0  # its polynomial hash so far (sum of code point x BASE**position, mod 2**64)
        self.after_cr = False  # the last piece ended with "\r": a "\n" starting the next belongs to it
        self._powers = self._inverses = np.ones(1, dtype=np.uint64)

    def add(self, points: Array, largest: int | None = None) -> None:
        """The next code points (uint8 or uint32); ``largest``: the largest of them, when known."""
        import numpy as np

        n = len(points)
        if not n:
            return
        skip_first = self.after_cr and points[0] == _LF
        table = _break_table()
        if points.dtype == np.uint8 or (largest is not None and largest < len(table)):
            is_break = table[points]
        else:
            is_break = table[np.minimum(points, len(table) - 1)]
        if skip_first:
            is_break[0] = False
        breaks = np.flatnonzero(is_break)
        # "\r\n" is one line break: its "\n" ends no line
        follows_cr = np.zeros(len(breaks), dtype=bool)
        if len(breaks) > 1:
            follows_cr[1:] = (breaks[1:] == breaks[:-1] + 1) & (points[breaks[:-1]] == _CR)
        swallowed = follows_cr & (points[breaks] == _LF)
        ends = breaks[~swallowed]  # where each line ends (its break starts)
        width = 1 + np.append(swallowed[1:], False)[~swallowed]  # 2 for "\r\n"
        starts = np.concatenate(([int(skip_first)], ends + width))  # the piece's segments start here
        stops = np.append(ends, n)
        self.after_cr = bool(len(ends)) and ends[-1] == n - 1 and points[n - 1] == _CR

        lengths = stops - starts
        hashes = self._segment_hashes(points, breaks, starts, lengths, skip_first)
        # the first segment continues the line in progress; the last one is the new line in progress
        first_length = self.partial_length + int(lengths[0])
        first_hash = (self.partial_hash + pow(_BASE, self.partial_length, 1 << 64) * int(hashes[0])) & _MASK
        if len(ends) == 0:
            self.partial_length, self.partial_hash = first_length, first_hash
            return
        lengths[0], hashes[0] = first_length, first_hash
        self.partial_length, self.partial_hash = int(lengths[-1]), int(hashes[-1])
        self._record(lengths[:-1], hashes[:-1])

    def _segment_hashes(
        self,
        points: Array,
        breaks: Array,
        starts: Array,
        lengths: Array,
        skip_first: bool,
    ) -> Array:
        """sum(code point x BASE**(position in its segment)) mod 2**64, per segment (0 when empty).

        From one prefix sum over the piece: with ``S[k] = sum(c[i] BASE**i for i < k)``, the segment
        ``[s, e)`` hashes to ``(S[e] - S[s]) x BASE**-s`` (BASE is odd, so it has an inverse mod 2**64).
        """
        import numpy as np

        n = len(points)
        powers, inverses = self._power_tables(n)
        terms = points.astype(np.uint64)
        terms *= powers[:n]  # wraps mod 2**64, as meant
        terms[breaks] = 0  # break characters belong to no line
        if skip_first:
            terms[0] = 0
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(terms, out=prefix[1:])
        hashes = np.zeros(len(starts), dtype=np.uint64)
        non_empty = lengths > 0
        first, last = starts[non_empty], starts[non_empty] + lengths[non_empty]
        hashes[non_empty] = (prefix[last] - prefix[first]) * inverses[first]
        return hashes

    def _power_tables(self, n: int) -> tuple[Array, Array]:
        """BASE**i and BASE**-i mod 2**64 for i < n (at least), kept for the next piece."""
        import numpy as np

        if len(self._powers) < n:
            size = max(n, 2 * len(self._powers))
            for name, base in (("_powers", _BASE), ("_inverses", _BASE_INVERSE)):
                table = np.full(size, base, dtype=np.uint64)
                table[0] = 1
                setattr(self, name, np.cumprod(table, dtype=np.uint64))
        return self._powers, self._inverses

    def _record(self, lengths: Array, hashes: Array) -> None:
        import numpy as np

        values, counts = np.unique(lengths, return_counts=True)
        for length, count in zip(values.tolist(), counts.tolist(), strict=True):
            self.length_counts[length] = self.length_counts.get(length, 0) + count
        non_empty = lengths > 0
        self.distinct.add(_mix(hashes[non_empty], lengths[non_empty]), lengths[non_empty])

    def finish(self) -> LineHistogram:
        import numpy as np

        if self.partial_length:  # a last line without a line break
            self._record(
                np.array([self.partial_length], dtype=np.int64),
                np.array([self.partial_hash], dtype=np.uint64),
            )
            self.partial_length, self.partial_hash = 0, 0
        lengths = np.array(sorted(self.length_counts), dtype=np.int64)
        lines = np.array([self.length_counts[length] for length in lengths.tolist()], dtype=np.int64)
        distinct_by_length, exact = self.distinct.by_length()
        distinct = np.array(
            [distinct_by_length.get(length, 0) for length in lengths.tolist()], dtype=np.int64
        )
        distinct = np.minimum(
            distinct, lines
        )  # an estimate never says more lines are distinct than there are
        return LineHistogram(lengths=lengths, lines=lines, distinct=distinct, distinct_exact=exact)


def _mix(hashes: Array, lengths: Array) -> Array:
    """The line hash with its length folded in, through murmur3's 64-bit finaliser: uniform bits
    (:class:`DistinctLines` reads the smallest values as a sample)."""
    import numpy as np

    with np.errstate(over="ignore"):
        h = hashes ^ (lengths.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9))
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
    return h


class DistinctLines:
    """How many distinct lines (of each length), from their 64-bit hashes, in fixed memory.

    Keeps the ``capacity`` smallest distinct hashes seen (a K-minimum-values sketch) with each line's
    length. While fewer distinct lines than that were seen, it holds all of them and the counts are
    exact (up to 64-bit hash collisions); beyond, the smallest hashes are a uniform sample of the
    distinct lines and the count is estimated from the largest of them.
    """

    def __init__(self, capacity: int = DISTINCT_LINES_CAPACITY) -> None:
        import numpy as np

        self.capacity = capacity
        self.hashes = np.zeros(0, dtype=np.uint64)  # sorted, distinct
        self.lengths = np.zeros(0, dtype=np.int64)
        self.saturated = False  # some hashes were dropped: counts are estimates
        self._pending: list[tuple[Array, Array]] = []
        self._pending_count = 0

    def add(self, hashes: Array, lengths: Array) -> None:
        if self.saturated:
            keep = hashes < self.hashes[-1]
            hashes, lengths = hashes[keep], lengths[keep]
        if len(hashes):
            self._pending.append((hashes, lengths))
            self._pending_count += len(hashes)
        if self._pending_count >= self.capacity:
            self._merge()

    def _merge(self) -> None:
        import numpy as np

        if not self._pending:
            return
        hashes = np.concatenate([self.hashes, *(h for h, _ in self._pending)])
        lengths = np.concatenate([self.lengths, *(n for _, n in self._pending)])
        self._pending, self._pending_count = [], 0
        hashes, first = np.unique(hashes, return_index=True)
        lengths = lengths[first]
        if len(hashes) > self.capacity:
            hashes, lengths = hashes[: self.capacity], lengths[: self.capacity]
            self.saturated = True
        self.hashes, self.lengths = hashes, lengths

    def count(self) -> float:
        """Distinct lines seen: exact, or the K-minimum-values estimate (capacity - 1) / (largest kept hash / 2**64)."""
        self._merge()
        if not self.saturated:
            return float(len(self.hashes))
        return (self.capacity - 1) / ((float(self.hashes[-1]) + 1.0) / 2.0**64)

    def by_length(self) -> tuple[dict[int, int], bool]:
        """Distinct lines per length (estimates scale the sample to :meth:`count`), and whether exact."""
        import numpy as np

        total = self.count()
        values, counts = np.unique(self.lengths, return_counts=True)
        scale = total / max(len(self.hashes), 1)
        by_length = {
            int(length): int(count) if not self.saturated else round(count * scale)
            for length, count in zip(values.tolist(), counts.tolist(), strict=True)
        }
        return by_length, not self.saturated
