"""Corpus validation with Great Expectations: the suites in include/expectations/ pass on the
built-in corpus and fail, naming the expectation and its observed value, on broken corpora."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rnn.corpus import default_corpus_text
from rnn.corpus_validation import (
    DEFAULT_SUITE_DIR,
    SUITE_FILES,
    CorpusValidation,
    CorpusValidationError,
    require_valid,
    validate_corpus,
    write_validation_report,
)

REPO = Path(__file__).resolve().parents[2]

NOT_EMPTY = "corpus is not empty"
MIN_SIZE = "corpus has at least min_chars characters"
VALID_UTF8 = "corpus is valid UTF-8"
PRINTABLE = "at least 98% of characters are printable (newline, carriage return and tab count as printable)"
DISTINCT_LINES = "at least half of the non-empty lines are distinct (duplicate-line ratio at most 50%)"
MEAN_LENGTH = "mean line length is between 5 and 2,000 characters"
MEDIAN_LENGTH = "median line length is between 1 and 2,000 characters"
P99_LENGTH = "99th percentile of line length is between 1 and 10,000 characters"
LONGEST_LINE = "longest line has between 1 and 100,000 characters"


@pytest.fixture(scope="module")
def default_text() -> str:
    return default_corpus_text()


@pytest.fixture(scope="module")
def default_validation(default_text) -> CorpusValidation:
    return validate_corpus(default_text.encode("utf-8"))


def failed(validation: CorpusValidation) -> dict[str, object]:
    """description -> observed value of each failed expectation."""
    return {outcome.description: outcome.observed_value for outcome in validation.failures}


def error_message(validation: CorpusValidation) -> str:
    with pytest.raises(CorpusValidationError) as info:
        require_valid(validation)
    assert info.value.validation is validation
    return str(info.value)


# --- the suites ------------------------------------------------------------------------------


def test_suites_are_gx_json_with_a_description_for_every_expectation():
    assert DEFAULT_SUITE_DIR == REPO / "include" / "expectations"
    for file_name in SUITE_FILES.values():
        suite = json.loads((DEFAULT_SUITE_DIR / file_name).read_text(encoding="utf-8"))
        assert suite["name"] == Path(file_name).stem
        assert suite["expectations"]
        for expectation in suite["expectations"]:
            assert expectation["type"].startswith("expect_")
            assert expectation["meta"]["description"].strip()


# --- the built-in corpus passes ------------------------------------------------------------------


def test_default_corpus_passes(default_validation, default_text):
    assert default_validation.success, default_validation.summary()
    assert not default_validation.failures
    assert default_validation.corpus_chars == len(default_text)
    assert default_validation.corpus_bytes == len(default_text.encode("utf-8"))
    observed = {o.description: o.observed_value for o in default_validation.outcomes}
    # GX's numbers agree with a direct count
    assert observed[NOT_EMPTY] == len(default_text)
    assert observed[VALID_UTF8] == 0
    assert observed[PRINTABLE] == pytest.approx(1.0)
    assert observed["vocabulary has between 10 and 20,000 distinct characters"] == len(set(default_text))
    # the line statistics, read off the line-length histogram, agree with the lines themselves
    lengths = sorted(len(line) for line in default_text.splitlines())
    non_empty = [line for line in default_text.splitlines() if line]
    assert observed[MEAN_LENGTH] == pytest.approx(sum(lengths) / len(lengths), rel=1e-12)
    assert observed[MEDIAN_LENGTH] == lengths[math.ceil(0.5 * len(lengths)) - 1]
    assert observed[P99_LENGTH] == lengths[math.ceil(0.99 * len(lengths)) - 1]
    assert observed[LONGEST_LINE] == lengths[-1]
    assert observed[DISTINCT_LINES] == pytest.approx(len(set(non_empty)) / len(non_empty), rel=1e-12)
    assert {o.expectation for o in default_validation.outcomes} == {
        "expect_column_sum_to_be_between",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_max_to_be_between",
    }
    require_valid(default_validation)  # does not raise


def test_summary_has_one_line_per_expectation(default_validation):
    lines = default_validation.summary().splitlines()
    assert len(lines) == 1 + len(default_validation.outcomes)
    assert all(line.startswith("PASS  ") for line in lines[1:])
    summary = default_validation.summary()
    assert "PASS  corpus is valid UTF-8: observed 0 invalid bytes; expected at most 0" in summary
    assert f"(every one of {default_validation.corpus_chars:,} characters" in summary


# --- broken corpora fail, naming the expectation ----------------------------------------------------


def test_empty_file_fails_not_empty_without_crashing():
    validation = validate_corpus(b"")
    assert not validation.success
    assert failed(validation)[NOT_EMPTY] == 0
    message = error_message(validation)
    assert (
        "FAIL  corpus is not empty: observed 0 characters; expected at least 1 "
        "[expect_column_sum_to_be_between(count)]" in message
    )


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 200, random.Random(0).randbytes(50_000)],
    ids=["all-byte-values", "random-bytes"],
)
def test_binary_file_fails_utf8_and_printable(data):
    validation = validate_corpus(data)
    failures = failed(validation)
    assert VALID_UTF8 in failures
    assert PRINTABLE in failures
    assert failures[VALID_UTF8] > 0
    message = error_message(validation)
    assert "expect_column_sum_to_be_between(count)" in message
    assert "where valid_utf8 == False" in message
    assert "expected at least 98% where is_printable == True" in message
    assert "it looks like binary data, not text" in message


def test_all_byte_values_report_exact_counts():
    validation = validate_corpus(bytes(range(256)) * 200)
    # bytes 0x80..0xFF never start a valid sequence on their own: 128 per repetition
    assert failed(validation)[VALID_UTF8] == 128 * 200
    # 0x00..0x1F and 0x7F are control characters, except tab, newline and carriage return: 30 of 128
    # valid characters; as a share of all 256 * 200 characters, 98 printable of 256
    assert failed(validation)[PRINTABLE] == pytest.approx(98 / 256)
    message = error_message(validation)
    assert "observed 25,600 invalid bytes (first at byte 128: 0x80;" in message
    assert "observed 38.28% printable (most frequent: U+0000 x200," in message


def test_latin1_text_fails_utf8_only_and_says_it_looks_like_latin1(default_text):
    text = "Café, crème brûlée, déjà vu.\n" * 20 + default_text
    data = text.encode("latin-1", errors="replace")
    validation = validate_corpus(data)
    assert list(failed(validation)) == [VALID_UTF8]
    assert failed(validation)[VALID_UTF8] == sum(1 for byte in data if byte >= 0x80)
    message = error_message(validation)
    assert (
        "first at byte 3: 0xE9; it looks like Latin-1 / Windows-1252 text (that byte is 'é' there)" in message
    )
    assert "iconv -f WINDOWS-1252 -t UTF-8" in message


def test_invalid_bytes_inside_valid_text_are_counted(default_text):
    valid = default_text.encode("utf-8")
    data = (
        valid[:1000] + b"\xff" + valid[1000:2000] + b"\xc3\x28" + valid[2000:]
    )  # 0xC3 lacks its continuation
    validation = validate_corpus(data)
    assert list(failed(validation)) == [VALID_UTF8]
    assert failed(validation)[VALID_UTF8] == 2
    assert "observed 2 invalid bytes (first at byte 1,000: 0xFF;" in error_message(validation)


@pytest.mark.parametrize(
    "prefix,looks_like",
    [
        (b"\xff\xfe", "UTF-16 byte order mark"),
        (b"\xff\xfe\x00\x00", "UTF-32 byte order mark"),
        (b"PK\x03\x04", "a zip archive"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    ],
)
def test_the_utf8_failure_names_what_the_bytes_look_like(default_text, prefix, looks_like):
    validation = validate_corpus(prefix + b"\x80" + default_text.encode("utf-8"))
    assert looks_like in error_message(validation)


def test_utf16_without_a_byte_order_mark_is_named(default_text):
    validation = validate_corpus(default_text.encode("utf-16-le"))
    assert "looks like UTF-16 without a byte order mark" in error_message(validation)


# --- every byte is validated, however large the corpus ----------------------------------------------


def _big_text(chars: int) -> str:
    """Numbered lines of the built-in corpus (no line repeats), ``chars`` characters long."""
    lines = default_corpus_text().splitlines()
    out, size, i = [], 0, 0
    while size < chars:
        line = f"{i:07d} {lines[i % len(lines)]}\n"
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out)[:chars]


def test_one_latin1_byte_deep_inside_a_large_corpus_fails():
    data = _big_text(6_000_000).encode("utf-8")
    bad = data[:250_000] + b"\xe9" + data[250_001:]
    validation = validate_corpus(bad)
    assert list(failed(validation)) == [VALID_UTF8]
    assert failed(validation)[VALID_UTF8] == 1
    assert "first at byte 250,000: 0xE9; it looks like Latin-1" in error_message(validation)


def test_control_characters_anywhere_in_a_large_corpus_count():
    # 8% control characters, all in the stretches between the 100 evenly spaced 50,000-character
    # chunks a sample of 5,000,000 out of 6,000,000 characters would look at
    chars = list(_big_text(6_000_000))
    chunk, stride = 50_000, (6_000_000 - 50_000) / 99
    gaps = [range(round(i * stride) + chunk, round((i + 1) * stride)) for i in range(99)]
    positions = [p for gap in gaps for p in gap]
    for p in random.Random(0).sample(positions, 480_000):
        chars[p] = "\x07"
    validation = validate_corpus("".join(chars).encode("utf-8"))
    assert list(failed(validation)) == [PRINTABLE]
    assert failed(validation)[PRINTABLE] == pytest.approx(0.92)
    assert "observed 92% printable (most frequent: U+0007 x480,000)" in error_message(validation)


def test_one_repeated_line_fails_duplicate_ratio():
    repeats = 5_000
    validation = validate_corpus(b"the quick brown fox jumps over the lazy dog\n" * repeats)
    assert list(failed(validation)) == [DISTINCT_LINES]
    assert failed(validation)[DISTINCT_LINES] == pytest.approx(1 / repeats)
    message = error_message(validation)
    assert "expect_column_sum_to_be_between(distinct_share)" in message
    assert f"observed {1 / repeats:.4g}; expected between 0.5 and 1 where length_chars > 0" in message


# --- min_chars -------------------------------------------------------------------------------------


def test_min_chars_default_comes_from_the_suite_and_can_be_overridden(default_text):
    small = default_text[:3000].encode("utf-8")
    by_default = validate_corpus(small)
    assert list(failed(by_default)) == [MIN_SIZE]
    assert (
        "corpus has at least min_chars characters: observed 3,000 characters; expected at least 10,000"
        in error_message(by_default)
    )

    assert validate_corpus(small, min_chars=1000).success

    stricter = validate_corpus(default_text.encode("utf-8"), min_chars=1_000_000)
    assert list(failed(stricter)) == [MIN_SIZE]
    assert f"observed {len(default_text):,} characters; expected at least 1,000,000" in error_message(
        stricter
    )


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_min_chars_must_be_a_non_negative_int(bad):
    with pytest.raises(ValueError, match="min_chars"):
        validate_corpus(b"text", min_chars=bad)


def test_corpus_must_be_bytes():
    with pytest.raises(TypeError, match="bytes"):
        validate_corpus("a str")  # type: ignore[arg-type]


def test_missing_suite_dir_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("corpus_characters.json")):
        validate_corpus(b"text", suite_dir=tmp_path)


# --- reports and errors --------------------------------------------------------------------------


def test_write_validation_report_writes_json_and_html(tmp_path):
    validation = validate_corpus(bytes(range(256)) * 200)
    out_dir = tmp_path / "run-1" / "validation"
    paths = write_validation_report(validation, out_dir)
    assert [p.name for p in paths] == ["validation.json", "validation.html"]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "validation.html",
        "validation.json",
    ]  # no temp files

    report = json.loads((out_dir / "validation.json").read_text(encoding="utf-8"))
    assert report["success"] is False
    assert report["corpus_bytes"] == 256 * 200
    assert VALID_UTF8 in report["failures"]
    assert len(report["gx_results"]) == 2
    assert {r["suite_name"] for r in report["gx_results"]} == {"corpus_characters", "corpus_lines"}
    assert report == json.loads(json.dumps(validation.to_json_dict()))

    page = (out_dir / "validation.html").read_text(encoding="utf-8")
    assert "Corpus validation: FAILED" in page
    assert "corpus is valid UTF-8" in page
    assert "https://" not in page  # self-contained, opens offline


def test_write_validation_report_replaces_previous_files(tmp_path, default_validation):
    write_validation_report(validate_corpus(b""), tmp_path)
    write_validation_report(default_validation, tmp_path)
    assert json.loads((tmp_path / "validation.json").read_text())["success"] is True


def test_error_message_names_every_failure_with_observed_value_and_bound():
    validation = validate_corpus(b"")
    error = CorpusValidationError(validation)
    assert isinstance(error, ValueError)
    message = str(error)
    assert message.startswith(
        f"corpus failed validation: {len(validation.failures)} of 10 expectations not met"
    )
    for outcome in validation.failures:
        assert f"FAIL  {outcome.description}: observed" in message
        assert f"expected {outcome.bound}" in message
    assert (
        "vocabulary has between 10 and 20,000 distinct characters: observed 0 distinct characters; "
        "expected between 10 and 20,000" in message
    )
    assert "min_chars" in message  # says what to do


# --- no network, light import ---------------------------------------------------------------------


def test_import_is_light_and_validation_opens_no_connection():
    script = textwrap.dedent(
        """
        import json, socket, sys
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(repr(args[:2]))
            raise OSError("network disabled in test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import rnn.corpus_validation
        heavy = sorted(m for m in ("great_expectations", "pandas", "numpy") if m in sys.modules)
        validation = rnn.corpus_validation.validate_corpus(b"hello, world\\n" * 10, min_chars=1)
        print(json.dumps({"heavy": heavy, "attempts": attempts, "ran": len(validation.outcomes)}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "attempts": [], "ran": 10}
    assert "Calculating Metrics" not in done.stderr  # progress bars are off
