"""Streamed corpus validation: chunks cut anywhere give what the whole corpus gives, the line statistics
equal the per-line table the validation used to build, and memory does not grow with the corpus."""

from __future__ import annotations

import random
import re
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnn.corpus import CorpusSource, default_corpus_text, utf8_pieces
from rnn.corpus_scan import CorpusScan, DistinctLines, LineHistogram
from rnn.corpus_validation import validate_corpus, validate_corpus_source

VALID_UTF8 = "corpus is valid UTF-8"


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def scan(data: bytes, chunk_bytes: int, **options: int) -> CorpusScan:
    scanner = CorpusScan(**options)
    for _, piece in utf8_pieces(chunks_of(data, chunk_bytes)):
        scanner.add(piece)
    return scanner


def old_line_table(data: bytes) -> tuple[list[int], list[str]]:
    """What the validation built before: every line's length, and the non-empty lines (as it did: an
    invalid byte replaced by U+FFFD, str.splitlines())."""
    text = re.sub(r"[\udc80-\udcff]", "\ufffd", data.decode("utf-8", errors="surrogateescape"))
    lines = text.splitlines()
    return [len(line) for line in lines], [line for line in lines if line]


def expected_histogram(data: bytes) -> LineHistogram:
    lengths, non_empty = old_line_table(data)
    by_length = Counter(lengths)
    distinct = Counter(len(line) for line in set(non_empty))
    keys = sorted(by_length)
    return LineHistogram(
        lengths=np.array(keys, dtype=np.int64),
        lines=np.array([by_length[k] for k in keys], dtype=np.int64),
        distinct=np.array([distinct.get(k, 0) if k else 0 for k in keys], dtype=np.int64),
        distinct_exact=True,
    )


def assert_same_histogram(found: LineHistogram, expected: LineHistogram) -> None:
    assert found.lengths.tolist() == expected.lengths.tolist()
    assert found.lines.tolist() == expected.lines.tolist()
    assert found.distinct.tolist() == expected.distinct.tolist()
    assert found.distinct_exact


TRICKY = [
    b"",
    b"\n",
    b"\n\n",
    b"a",
    b"a\n",
    b"a\r\nb",
    b"\r\n\r\n",
    b"a\rb\r",
    b"a\r\r\nb\r\n\nc",
    b"one\x0btwo\x0cthree\x1cfour\x1dfive\x1esix" + "\x85seven\u2028eight\u2029nine".encode(),
    b"dup\ndup\ndup\r\nDup\n\ndup",
    b"caf\xc3\xa9\ncaf\xe9\ncaf\xe8\n",  # invalid bytes count as U+FFFD: the last two lines are the same line
    "漢字\n😀😀\n漢字\n\n".encode() * 5,
    b"x" * 5_000 + b"\n" + b"y" * 3 + b"\r\n" + b"x" * 5_000,
]


@pytest.mark.parametrize("data", TRICKY, ids=[f"case{i}" for i in range(len(TRICKY))])
@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 64, 1 << 20])
def test_line_statistics_equal_the_old_per_line_table(data: bytes, chunk_bytes: int) -> None:
    found = scan(data, chunk_bytes).finish().lines
    assert_same_histogram(found, expected_histogram(data))


def test_line_statistics_of_a_random_corpus_equal_the_old_per_line_table() -> None:
    rng = random.Random(0)
    alphabet = ["a", "b", "é", "€", "😀", " ", "\n", "\r", "\r\n", "\u2028", "\x85"]
    pieces = [rng.choice(alphabet) for _ in range(30_000)]
    data = "".join(pieces).encode("utf-8")
    data = data[:1000] + b"\xff\xc3" + data[1000:]  # and two invalid bytes
    expected = expected_histogram(data)
    for chunk_bytes in (7, 100, 4096):
        assert_same_histogram(scan(data, chunk_bytes).finish().lines, expected)


def test_the_suite_reads_the_old_statistics_off_the_histogram() -> None:
    data = b"".join(TRICKY[9:]) * 3 + default_corpus_text()[:30_000].encode()
    lengths, non_empty = old_line_table(data)
    observed = {o.description: o.observed_value for o in validate_corpus(data, min_chars=0).outcomes}
    ordered = sorted(lengths)
    assert observed["mean line length is between 5 and 2,000 characters"] == pytest.approx(
        float(np.mean(lengths)), rel=1e-12
    )
    for q, name in ((0.5, "median line length"), (0.99, "99th percentile of line length")):
        found = observed[f"{name} is between 1 and {'2,000' if q == 0.5 else '10,000'} characters"]
        assert found == np.quantile(ordered, q, method="inverted_cdf")
    assert observed["longest line has between 1 and 100,000 characters"] == max(lengths)
    distinct = observed[
        "at least half of the non-empty lines are distinct (duplicate-line ratio at most 50%)"
    ]
    assert distinct == pytest.approx(len(set(non_empty)) / len(non_empty), rel=1e-12)


def test_pieces_end_at_character_boundaries_and_decode_as_the_whole() -> None:
    rng = random.Random(1)
    parts = ["a", "é", "€", "😀", "\n"] + [bytes([b]).decode("latin-1") for b in range(3)]
    data = "".join(rng.choice(parts) for _ in range(2_000)).encode("utf-8")
    broken = data[:100] + b"\xe2\x82" + data[100:200] + b"\xf0\x9f" + data[200:] + b"\xc3"  # truncated
    for blob in (data, broken, bytes(range(256)) * 3):
        whole = blob.decode("utf-8", errors="surrogateescape")
        for size in (1, 2, 3, 4, 5, 17):
            pieces = list(utf8_pieces(chunks_of(blob, size)))
            assert b"".join(piece for _, piece in pieces) == blob
            assert [offset for offset, _ in pieces] == list(np.cumsum([0] + [len(p) for _, p in pieces])[:-1])
            assert "".join(p.decode("utf-8", errors="surrogateescape") for _, p in pieces) == whole
            if blob is data:  # valid UTF-8: every piece decodes strictly on its own
                for _, piece in pieces:
                    piece.decode("utf-8")


def _big_valid_bytes(size: int) -> bytes:
    lines = default_corpus_text().splitlines()
    out = "".join(f"{i:07d} {lines[i % len(lines)]} — é 😀\n" for i in range(size // 40))
    return out.encode("utf-8")[:size]


def test_an_invalid_byte_in_a_later_chunk_is_found_and_located(tmp_path: Path) -> None:
    valid = _big_valid_bytes(600_000)
    valid = valid[: valid.rindex(b"\n") + 1]
    at = next(i for i in range(450_000, len(valid)) if valid[i] < 0x80 and valid[i + 1] < 0x80)
    bad = valid[:at] + b"\xe9" + valid[at + 1 :]  # an ASCII character replaced by a Latin-1 'é'
    whole = validate_corpus(bad)
    path = tmp_path / "corpus.txt"
    path.write_bytes(bad)
    streamed = validate_corpus_source(CorpusSource(uri=str(path), path=str(path)), chunk_bytes=64 * 1024)
    failures = {o.description: o for o in streamed.failures}
    assert VALID_UTF8 in failures and failures[VALID_UTF8].observed_value == 1
    assert f"first at byte {at:,}: 0xE9; it looks like Latin-1" in failures[VALID_UTF8].detail
    assert [(o.description, o.observed_value, o.detail) for o in streamed.outcomes] == [
        (o.description, o.observed_value, o.detail) for o in whole.outcomes
    ]
    assert streamed.sha256 == whole.sha256 and streamed.corpus_chars == whole.corpus_chars


def test_a_chunk_boundary_inside_a_multibyte_character_is_not_an_invalid_byte() -> None:
    data = ("abc€" * 10_000 + "\n" + "x😀y" * 10_000 + "\n").encode("utf-8")
    for chunk_bytes in (1_000, 1_001, 1_002, 1_003, 4_097):  # cut inside 3- and 4-byte characters
        validation = validate_corpus_source(
            CorpusSource.of_bytes("c", data), chunk_bytes=chunk_bytes, min_chars=0
        )
        observed = {o.description: o.observed_value for o in validation.outcomes}
        assert observed[VALID_UTF8] == 0
        assert observed["vocabulary has between 10 and 20,000 distinct characters"] == 8  # a b c € \\n x 😀 y
        assert validation.corpus_chars == len(data.decode("utf-8"))


def test_distinct_lines_are_exact_below_the_capacity_and_estimated_above() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, size=50_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    lengths = rng.integers(1, 40, size=50_000)
    exact = DistinctLines(capacity=1 << 20)
    sketch = DistinctLines(capacity=4_096)
    for start in range(0, 100_000, 7_000):  # every line twice
        part = np.arange(start, min(start + 7_000, 100_000)) % 50_000
        exact.add(hashes[part], lengths[part])
        sketch.add(hashes[part], lengths[part])
    assert exact.count() == 50_000
    by_length, is_exact = exact.by_length()
    assert is_exact and by_length == dict(Counter(lengths.tolist()))
    assert abs(sketch.count() - 50_000) / 50_000 < 0.06  # 1 / sqrt(4,096) = 1.6 % standard error
    estimated, is_exact = sketch.by_length()
    assert not is_exact and len(sketch.hashes) == 4_096
    assert sum(estimated.values()) == pytest.approx(sketch.count(), rel=0.01)


def test_scanning_memory_does_not_grow_with_the_corpus() -> None:
    block = _big_valid_bytes(1 << 20)
    block = block[: block.rindex(b"\n") + 1]

    def peak_bytes(blocks: int) -> int:
        tracemalloc.start()
        scanner = CorpusScan()
        for _, piece in utf8_pieces(block for _ in range(blocks)):
            scanner.add(piece)
        result = scanner.finish()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.size_bytes == blocks * len(block)
        return peak

    small, large = peak_bytes(2), peak_bytes(16)
    assert large < small * 1.5 + (2 << 20), (small, large)  # 16 MB scanned in about what 2 MB took
    assert large < 64 << 20  # a few 8-byte arrays per character of a 1 MB piece


def test_stats_read_in_chunks_are_the_stats_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import rnn.corpus
    from rnn.corpus import corpus_stats, corpus_stats_of

    data = (
        ("Café — 漢字 😀\n" * 500).encode() + b"\xe2\x82 broken \xff\n" + b"plain ascii\n" * 300 + b"\xf0\x9f"
    )
    monkeypatch.setattr(rnn.corpus, "CHUNK_BYTES", 7)
    streamed = corpus_stats_of(CorpusSource.of_bytes("c.txt", data))
    assert streamed == corpus_stats("c.txt", data, data.decode("utf-8", errors="replace"))


def test_lines_that_are_all_distinct_are_a_share_of_exactly_one() -> None:
    rng = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    lines: set[str] = set()
    # 10/74 + 8/74 + ... + 17/74 is 1.0000000000000002 in floating point: over the bound of 1
    for length, count in enumerate([10, 8, 6, 9, 10, 14, 17], start=1):
        made: set[str] = set()
        while len(made) < count:
            made.add("".join(rng.choice(letters) for _ in range(length)))
        lines |= made
    validation = validate_corpus(("\n".join(sorted(lines)) + "\n").encode(), min_chars=0)
    distinct = next(
        o for o in validation.outcomes if o.description.startswith("at least half of the non-empty")
    )
    assert distinct.observed_value == 1.0 and distinct.success
