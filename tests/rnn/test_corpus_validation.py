"""Corpus validation with Great Expectations: the suites in include/expectations/ pass on the
built-in corpus and fail, naming the expectation and its observed value, on broken corpora."""

from __future__ import annotations

import itertools
import json
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
    SAMPLE_CHARS,
    SAMPLE_CHUNKS,
    SUITE_FILES,
    CorpusValidation,
    CorpusValidationError,
    _sample_chunks,
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
    assert not default_validation.sampled
    assert default_validation.corpus_chars == default_validation.validated_chars == len(default_text)
    observed = {o.description: o.observed_value for o in default_validation.outcomes}
    # GX's numbers agree with a direct count
    assert observed[NOT_EMPTY] == len(default_text)
    assert observed["vocabulary has between 10 and 500 distinct characters"] == len(set(default_text))
    assert {o.expectation for o in default_validation.outcomes} >= {
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_quantile_values_to_be_between",
        "expect_column_max_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
    }
    require_valid(default_validation)  # does not raise


def test_summary_has_one_line_per_expectation(default_validation):
    lines = default_validation.summary().splitlines()
    assert len(lines) == 1 + len(default_validation.outcomes)
    assert all(line.startswith("PASS  ") for line in lines[1:])
    assert "PASS  corpus is valid UTF-8: observed 0% unexpected" in default_validation.summary()


# --- broken corpora fail, naming the expectation ----------------------------------------------------


def test_empty_file_fails_not_empty_without_crashing():
    validation = validate_corpus(b"")
    assert not validation.success
    assert failed(validation)[NOT_EMPTY] == 0
    message = error_message(validation)
    assert (
        "FAIL  corpus is not empty: observed 0; expected at least 1 [expect_table_row_count_to_be_between]"
        in message
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
    assert failures[VALID_UTF8]["unexpected_count"] > 0
    message = error_message(validation)
    assert "expect_column_values_to_be_in_set(valid_utf8)" in message
    assert "expect_column_values_to_be_in_set(is_printable)" in message
    assert "expected at least 98% of values in [True]" in message


def test_all_byte_values_report_exact_counts():
    validation = validate_corpus(bytes(range(256)) * 200)
    observed = failed(validation)[VALID_UTF8]
    # bytes 0x80..0xFF never start a valid sequence on their own: 128 per repetition
    assert observed["unexpected_count"] == 128 * 200
    assert observed["element_count"] == 256 * 200
    assert observed["unexpected_percent"] == pytest.approx(50.0)
    assert "byte 0x80" in observed["examples"]
    assert "U+0000" in failed(validation)[PRINTABLE]["examples"]


def test_latin1_text_fails_utf8_only(default_text):
    text = "Café, crème brûlée, déjà vu.\n" * 20 + default_text
    data = text.encode("latin-1", errors="replace")
    validation = validate_corpus(data)
    assert list(failed(validation)) == [VALID_UTF8]
    observed = failed(validation)[VALID_UTF8]
    assert observed["unexpected_count"] == sum(1 for byte in data if byte >= 0x80)
    message = error_message(validation)
    assert "corpus is valid UTF-8" in message
    assert f"({observed['unexpected_count']:,} of {len(data):,} characters), e.g. byte 0xE9" in message


def test_invalid_bytes_inside_valid_text_are_counted(default_text):
    valid = default_text.encode("utf-8")
    data = (
        valid[:1000] + b"\xff" + valid[1000:2000] + b"\xc3\x28" + valid[2000:]
    )  # 0xC3 lacks its continuation
    validation = validate_corpus(data)
    assert list(failed(validation)) == [VALID_UTF8]
    assert failed(validation)[VALID_UTF8]["unexpected_count"] == 2
    assert failed(validation)[VALID_UTF8]["examples"] == ["byte 0xFF", "byte 0xC3"]
    n_chars = validation.corpus_chars
    assert f"observed {200 / n_chars:.4g}% unexpected (2 of {n_chars:,} characters)" in error_message(
        validation
    )


def test_one_repeated_line_fails_duplicate_ratio():
    repeats = 5_000
    validation = validate_corpus(b"the quick brown fox jumps over the lazy dog\n" * repeats)
    assert list(failed(validation)) == [DISTINCT_LINES]
    assert failed(validation)[DISTINCT_LINES] == pytest.approx(1 / repeats)
    message = error_message(validation)
    assert "expect_column_proportion_of_unique_values_to_be_between(line)" in message
    assert f"observed {1 / repeats:.4g}; expected between 0.5 and 1 where length_chars > 0" in message


# --- min_chars -------------------------------------------------------------------------------------


def test_min_chars_default_comes_from_the_suite_and_can_be_overridden(default_text):
    small = default_text[:3000].encode("utf-8")
    by_default = validate_corpus(small)
    assert list(failed(by_default)) == [MIN_SIZE]
    assert (
        "corpus has at least min_chars characters: observed 3,000; expected at least 10,000"
        in error_message(by_default)
    )

    assert validate_corpus(small, min_chars=1000).success

    stricter = validate_corpus(default_text.encode("utf-8"), min_chars=1_000_000)
    assert list(failed(stricter)) == [MIN_SIZE]
    assert f"observed {len(default_text):,}; expected at least 1,000,000" in error_message(stricter)


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


# --- sampling --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_chars", [10_001, 123_457, 10_000_000])
def test_sample_chunks_are_evenly_spaced_and_disjoint(n_chars):
    chunks = _sample_chunks(n_chars, 10_000)
    assert len(chunks) == SAMPLE_CHUNKS
    assert chunks[0][0] == 0 and chunks[-1][1] == n_chars
    assert all(end - start == 100 for start, end in chunks)
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(chunks))


def test_small_corpus_is_not_sampled():
    assert _sample_chunks(10_000, 10_000) == [(0, 10_000)]
    assert _sample_chunks(0, 10_000) == [(0, 0)]


def test_large_corpus_is_validated_on_a_deterministic_sample(default_text):
    data = default_text.encode("utf-8")
    validation = validate_corpus(data, sample_chars=50_000)
    assert validation.success, validation.summary()
    assert validation.sampled
    assert validation.validated_chars == 50_000
    assert validation.corpus_chars == len(default_text)
    assert validation.to_json_dict()["sampled"] is True
    assert "sampled: 50,000 of" in validation.summary()
    assert validate_corpus(data, sample_chars=50_000).outcomes == validation.outcomes


def test_sample_grows_to_min_chars(default_text):
    validation = validate_corpus(default_text.encode("utf-8"), min_chars=60_000, sample_chars=20_000)
    assert validation.sampled
    assert validation.validated_chars >= 60_000
    assert validation.success, validation.summary()


def test_default_sample_size_above_five_million_characters(default_text):
    text = default_text * (SAMPLE_CHARS // len(default_text) + 1)
    validation = validate_corpus(text.encode("utf-8"))
    assert validation.sampled
    assert validation.validated_chars == SAMPLE_CHARS
    assert validation.corpus_chars == len(text)
    # the corpus is one text pasted 11 times over; even the sample sees the repeats
    assert list(failed(validation)) == [DISTINCT_LINES]


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
    assert report["sampled"] is False
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
        f"corpus failed validation: {len(validation.failures)} of 9 expectations not met"
    )
    for outcome in validation.failures:
        assert f"FAIL  {outcome.description}: observed" in message
        assert f"expected {outcome.bound}" in message
    assert (
        "vocabulary has between 10 and 500 distinct characters: observed 0; expected between 10 and 500"
        in message
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
    assert result == {"heavy": [], "attempts": [], "ran": 9}
    assert "Calculating Metrics" not in done.stderr  # progress bars are off
