"""Validate a training corpus with Great Expectations before any training starts: every byte of it.

The corpus is read once, in chunks of a few MB (:class:`rnn.corpus_scan.CorpusScan`), and turned into
two small pandas tables, each validated against a GX expectation suite kept as JSON in
``include/expectations/`` (GX's own suite shape, one file per table):

``characters`` (``corpus_characters.json``)
    one row per *distinct* character of the whole corpus: ``code_point``, ``count`` (occurrences),
    ``share`` (count / all characters), ``is_printable``, ``valid_utf8``. The bytes are decoded with
    ``errors="surrogateescape"``, so every byte that is not valid UTF-8 becomes a lone surrogate
    U+DC80..U+DCFF and shows up as a ``valid_utf8 == False`` row (counted, not a crash).
    Expectations: not empty and at least ``min_chars`` characters (sum of ``count``), no invalid
    byte (sum of ``count`` where not ``valid_utf8``), share of printable characters (sum of
    ``share`` where ``is_printable``), vocabulary size (distinct ``code_point``).
``lines`` (``corpus_lines.json``)
    the line-length histogram of the whole corpus: one row per distinct line length, with how many
    lines have it and how many of those are distinct (by hash), and the shares that add up to the
    statistics the suite bounds. Expectations: mean line length (sum of ``length_share``), median and
    99th percentile (the shortest length whose ``cumulative_share`` reaches 0.5 / 0.99), longest line
    (max ``length_chars``) and the share of distinct non-empty lines (sum of ``distinct_share``).

Memory is one chunk plus the distinct-character table and the histogram, whatever the corpus size: no
table has a row per line or per character, and nothing is sampled. A failed expectation says what it
saw and, for bad bytes and control characters, where and what they look like. GX runs as
:mod:`toolkit.gx` sets it up: an ephemeral, in-memory context, no progress bars, no analytics.

Great Expectations, pandas and numpy are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn.corpus import CorpusSource, utf8_pieces
from rnn.corpus_scan import CorpusScan
from toolkit import storage
from toolkit.gx import validate_tables
from toolkit.paths import INCLUDE_DIR

DEFAULT_SUITE_DIR = INCLUDE_DIR / "expectations"

# suite file per table; a custom suite_dir must hold both
SUITE_FILES = {"characters": "corpus_characters.json", "lines": "corpus_lines.json"}

# characters that are not str.isprintable() but belong in plain text
LAYOUT_CHARS = "\n\r\t"

# GX's SUMMARY result format: counts plus up to 20 example rows for column-map expectations
_RESULT_FORMAT = "SUMMARY"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, flattened from the GX validation result."""

    expectation: str  # GX expectation type, e.g. "expect_column_values_to_be_in_set"
    description: str  # the suite's meta.description, e.g. "corpus is valid UTF-8"
    column: str | None  # column the expectation is about; None for table-level expectations
    success: bool
    observed_value: object  # JSON-serialisable: a number, GX's quantile dict, or unexpected counts
    bound: str = ""  # the expected range in words, e.g. "between 10 and 500"
    suite: str = ""  # name of the suite it came from, e.g. "corpus_characters"
    unit: str = ""  # what the observed number counts (the suite's meta.observed_unit), e.g. "invalid bytes"
    detail: str = ""  # where and what, for a failure: "first at byte 250,000 (0xe9); it looks like ..."
    percent: bool = False  # the observed number is a share, shown as a percentage (meta.observed_as_percent)

    def line(self) -> str:
        """``FAIL  corpus is valid UTF-8: observed 2 invalid bytes (detail); expected ... [type(column)]``."""
        status = "PASS" if self.success else "FAIL"
        target = f"{self.expectation}({self.column})" if self.column else self.expectation
        observed = _format_observed(self.observed_value, percent=self.percent)
        observed += f" {self.unit}" if self.unit else ""
        if self.detail:
            observed += f" ({self.detail})"
        return f"{status}  {self.description}: observed {observed}; expected {self.bound} [{target}]"


@dataclass(frozen=True)
class CorpusValidation:
    """The outcome of :func:`validate_corpus`: a verdict per expectation plus the raw GX results."""

    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    gx_results: list[dict] = field(default_factory=list)  # ExpectationSuiteValidationResult.to_json_dict()
    corpus_chars: int = 0  # characters in the corpus (an invalid byte counts as one), all validated
    corpus_bytes: int = 0
    sha256: str = ""  # of the bytes validated

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.success)

    def summary(self) -> str:
        """Multi-line report: a header, then one PASS/FAIL line per expectation."""
        verdict = "passed" if self.success else "FAILED"
        header = (
            f"corpus validation {verdict}: {len(self.outcomes) - len(self.failures)} of "
            f"{len(self.outcomes)} expectations met (every one of {self.corpus_chars:,} characters, "
            f"{self.corpus_bytes:,} bytes)"
        )
        return "\n".join([header, *(outcome.line() for outcome in self.outcomes)])

    def to_json_dict(self) -> dict:
        return {
            "success": self.success,
            "corpus_chars": self.corpus_chars,
            "corpus_bytes": self.corpus_bytes,
            "sha256": self.sha256,
            "failures": [outcome.description for outcome in self.failures],
            "outcomes": [
                {
                    "expectation": o.expectation,
                    "description": o.description,
                    "column": o.column,
                    "success": o.success,
                    "observed_value": o.observed_value,
                    "bound": o.bound,
                    "suite": o.suite,
                    "unit": o.unit,
                    "detail": o.detail,
                    "percent": o.percent,
                }
                for o in self.outcomes
            ],
            "gx_results": self.gx_results,
        }


class CorpusValidationError(ValueError):
    """The corpus failed its expectation suite; the message lists each failure with its values."""

    def __init__(self, validation: CorpusValidation):
        self.validation = validation
        failures = validation.failures
        lines = [
            f"corpus failed validation: {len(failures)} of {len(validation.outcomes)} expectations not met:"
        ]
        lines += [f"  - {outcome.line()}" for outcome in failures]
        lines.append(
            "Fix the corpus; or, if a bound does not fit your data, edit the expectation suites "
            "(include/expectations/ by default) or set the minimum size per run with min_chars."
        )
        super().__init__("\n".join(lines))


def validate_corpus(
    data: bytes,
    *,
    min_chars: int | None = None,
    suite_dir: Path = DEFAULT_SUITE_DIR,
) -> CorpusValidation:
    """Validate raw corpus bytes, all of them, against the suites in ``suite_dir``.

    A bad corpus gives a failed :class:`CorpusValidation`, not an exception (see :func:`require_valid`).
    ``min_chars`` overrides the suite's ``min_chars`` parameter (its default lives in the
    characters suite's ``meta.parameter_defaults``).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"validate_corpus takes the corpus as bytes, got {type(data).__name__}")
    return validate_corpus_source(
        CorpusSource.of_bytes("<bytes>", bytes(data)), min_chars=min_chars, suite_dir=suite_dir
    )


def validate_corpus_source(
    source: CorpusSource,
    *,
    min_chars: int | None = None,
    suite_dir: Path = DEFAULT_SUITE_DIR,
    chunk_bytes: int | None = None,
) -> CorpusValidation:
    """:func:`validate_corpus` for a corpus read in chunks of ``chunk_bytes`` (default
    :data:`rnn.corpus.CHUNK_BYTES`): a local file is never held whole."""
    if min_chars is not None and (
        isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 0
    ):
        raise ValueError(f"min_chars must be a non-negative integer, got {min_chars!r}")

    suite_docs = {table: _read_suite_json(Path(suite_dir), table) for table in SUITE_FILES}
    parameters: dict[str, Any] = {}
    for doc in suite_docs.values():
        parameters.update(doc.get("meta", {}).get("parameter_defaults", {}))
    if min_chars is not None:
        parameters["min_chars"] = min_chars

    scan = CorpusScan()
    for _, piece in utf8_pieces(source.chunks(chunk_bytes)):
        scan.add(piece)
    result = scan.finish()
    tables = {
        "characters": _characters_table(result.counts, result.chars),
        "lines": _lines_table(result.lines),
    }
    gx_results = validate_tables(
        "corpus",
        {table: (tables[table], suite_docs[table]) for table in SUITE_FILES},
        result_format=_RESULT_FORMAT,
        expectation_parameters=parameters,
    )
    details = _failure_details(result, tables["characters"])

    outcomes: list[ExpectationOutcome] = []
    for table, result_of_table in zip(SUITE_FILES, gx_results, strict=True):
        outcomes += [
            _outcome(table, result_of_table["suite_name"], r, tables[table], details)
            for r in result_of_table["results"]
        ]
    return CorpusValidation(
        success=all(r["success"] for r in gx_results) and all(o.success for o in outcomes),
        outcomes=tuple(outcomes),
        gx_results=gx_results,
        corpus_chars=result.chars,
        corpus_bytes=result.size_bytes,
        sha256=result.sha256,
    )


def require_valid(validation: CorpusValidation) -> None:
    """Raise :class:`CorpusValidationError` (naming every failed expectation) unless it passed."""
    if not validation.success:
        raise CorpusValidationError(validation)


def write_validation_report(validation: CorpusValidation, out_dir: Path) -> list[Path]:
    """Write ``validation.json`` (everything, GX results included) and ``validation.html``.

    The HTML is a small self-contained table; GX's own Data Docs page pulls its styles, scripts and
    logo from CDNs and GX's S3 bucket when opened, which an offline artifact should not do.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_text = json.dumps(validation.to_json_dict(), indent=2, sort_keys=False) + "\n"
    paths = [
        _write_atomic(out_dir / "validation.json", json_text),
        _write_atomic(out_dir / "validation.html", _render_html(validation)),
    ]
    return paths


# --- building the tables ---------------------------------------------------------------------


def _characters_table(counts, chars: int):
    """One row per distinct character of the whole corpus, with its count and share."""
    import numpy as np
    import pandas as pd

    # Code points rather than 1-char strings: GX fingerprints every DataFrame with
    # pandas.util.hash_pandas_object, which under pandas 3 turns object strings into an Arrow
    # string Index and fails on the lone surrogates that stand for invalid bytes.
    distinct = np.flatnonzero(counts)
    printable = np.array([chr(c).isprintable() or chr(c) in LAYOUT_CHARS for c in distinct], dtype=bool)
    occurrences = counts[distinct].astype("int64")
    return pd.DataFrame(
        {
            "code_point": pd.Series(distinct, dtype="int64"),
            "count": pd.Series(occurrences, dtype="int64"),
            "share": pd.Series(occurrences / max(chars, 1), dtype="float64"),
            "is_printable": pd.Series(printable, dtype=bool),
            "valid_utf8": pd.Series((distinct < 0xDC80) | (distinct > 0xDCFF), dtype=bool),
        }
    )


def _lines_table(histogram):
    """One row per distinct line length (:class:`rnn.corpus_scan.LineHistogram`), with the shares whose
    sums are the statistics: ``length_share`` adds up to the mean line length, ``distinct_share``
    (non-empty lengths only) to the share of distinct non-empty lines."""
    import numpy as np
    import pandas as pd

    total, non_empty = max(histogram.total, 1), max(histogram.non_empty, 1)
    lengths, lines = histogram.lengths, histogram.lines
    return pd.DataFrame(
        {
            "length_chars": pd.Series(lengths, dtype="int64"),
            "lines": pd.Series(lines, dtype="int64"),
            "distinct_lines": pd.Series(histogram.distinct, dtype="int64"),
            "share": pd.Series(lines / total, dtype="float64"),
            "cumulative_share": pd.Series(np.cumsum(lines) / total, dtype="float64"),
            "length_share": pd.Series(lengths * lines / total, dtype="float64"),
            "distinct_share": pd.Series(
                _exact_shares(np.where(lengths > 0, histogram.distinct, 0).tolist(), non_empty),
                dtype="float64",
            ),
        }
    )


def _exact_shares(parts: list[int], whole: int) -> list[float]:
    """``part / whole`` for each part, as multiples of 2**-52 that add up, in any order, to exactly
    ``sum(parts) / whole`` rounded down to such a multiple (every partial sum is then a float): shares
    of all of a whole add up to 1. Plain divisions need not: 10/74 + 8/74 + 6/74 + 9/74 + 10/74 +
    14/74 + 17/74 is 1.0000000000000002 in floating point, which "at most 1" would refuse. The units
    lost rounding each part down go to the parts that lost the most (largest remainders)."""
    unit = 1 << 52
    floors = [(part * unit) // whole for part in parts]
    missing = (sum(parts) * unit) // whole - sum(floors)
    by_remainder = sorted(range(len(parts)), key=lambda i: (parts[i] * unit) % whole, reverse=True)
    for i in by_remainder[:missing]:
        floors[i] += 1
    return [units / unit for units in floors]


def _failure_details(scan, characters) -> dict[str, str]:
    """Where and what, for the condition columns of the characters table: ``valid_utf8``, ``is_printable``."""
    details: dict[str, str] = {}
    if scan.first_invalid_byte is not None:
        first = scan.first_invalid_byte
        details["valid_utf8"] = (
            f"first at byte {first:,}: 0x{scan.first_invalid_value:02X}; {scan.invalid_byte_hint}"
        )
    unprintable = characters[~characters["is_printable"] & characters["valid_utf8"]]
    if len(unprintable):
        top = unprintable.sort_values("count", ascending=False).head(5)
        details["is_printable"] = "most frequent: " + ", ".join(
            f"{_char_label(chr(int(row.code_point)))} x{int(row.count):,}" for row in top.itertuples()
        )
    return details


# --- running GX ------------------------------------------------------------------------------


def _read_suite_json(suite_dir: Path, table: str) -> dict:
    path = suite_dir / SUITE_FILES[table]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"expectation suite for the {table} table not found at {path}; suite_dir must hold "
            f"{', '.join(SUITE_FILES.values())}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"expectation suite {path} is not valid JSON: {exc}") from exc


def _outcome(
    table: str, suite_name: str, result: dict, frame, failure_details: dict[str, str]
) -> ExpectationOutcome:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
    meta = config.get("meta") or {}
    details = result.get("result") or {}
    exception = result.get("exception_info") or {}
    if "observed_value" in details:
        observed: object = details["observed_value"]
    elif "unexpected_count" in details:
        observed = {
            "unexpected_count": details.get("unexpected_count"),
            "element_count": details.get("element_count"),
            "unexpected_percent": details.get("unexpected_percent"),
            "examples": _examples(details, frame),
            "unit": table,  # "characters" or "lines"
        }
    elif exception.get("raised_exception"):
        observed = {"error": exception.get("exception_message")}
    else:
        observed = None
    success = bool(result["success"])
    percent = bool(meta.get("observed_as_percent"))
    condition = kwargs.get("row_condition")
    condition_column = condition["column"]["name"] if isinstance(condition, dict) else None
    return ExpectationOutcome(
        expectation=config["type"],
        description=meta.get("description") or config["type"],
        column=kwargs.get("column"),
        success=success,
        observed_value=observed,
        bound=_format_bound(kwargs, percent=percent),
        suite=suite_name,
        unit=meta.get("observed_unit", ""),
        percent=percent,
        detail="" if success else failure_details.get(condition_column or "", ""),
    )


def _examples(details: dict, frame) -> list[str]:
    """Readable examples of unexpected rows: the offending characters when the table has them."""
    indices = details.get("partial_unexpected_index_list") or []
    if "code_point" in frame.columns and indices:
        code_points = frame["code_point"].to_numpy()
        labels = [
            _char_label(chr(code_points[i]))
            for i in indices
            if isinstance(i, int) and 0 <= i < len(code_points)
        ]
        return list(dict.fromkeys(labels))[:10]
    return [str(value) for value in details.get("partial_unexpected_list") or []][:10]


def _char_label(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02X}"
    if char.isprintable():
        return repr(char)
    return f"U+{code:04X}"


# --- wording ---------------------------------------------------------------------------------


def _number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _percent(value: object) -> str:
    return (
        f"{100 * value:.4g}%"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def _format_bound(kwargs: dict, *, percent: bool = False) -> str:
    parts = []
    show = _percent if percent else _number
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        parts.append(f"between {show(low)} and {show(high)}")
    elif low is not None:
        parts.append(f"at least {show(low)}")
    elif high is not None:
        parts.append(f"at most {show(high)}")
    if "value_set" in kwargs:
        mostly = kwargs.get("mostly")
        share = "all values" if mostly in (None, 1, 1.0) else f"at least {mostly:.0%} of values"
        parts.append(f"{share} in {kwargs['value_set']}")
    if "quantile_ranges" in kwargs:
        ranges = kwargs["quantile_ranges"]
        parts.append(
            ", ".join(
                f"q{q:g} in [{_number(lo)}, {_number(hi)}]"
                for q, (lo, hi) in zip(ranges["quantiles"], ranges["value_ranges"], strict=True)
            )
        )
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and condition.get("type") == "comparison":
        parts.append(
            f"where {condition['column']['name']} {condition['operator']} {condition['parameter']!r}"
        )
    elif condition:
        parts.append(f"where {condition}")
    return " ".join(parts) or "(see kwargs)"


def _format_observed(observed: object, *, percent: bool = False) -> str:
    if percent:
        return _percent(observed)
    if isinstance(observed, dict) and "unexpected_count" in observed:
        percent = observed.get("unexpected_percent")
        text = (
            f"{_number(percent) if percent is not None else 'n/a'}% unexpected "
            f"({_number(observed.get('unexpected_count'))} of {_number(observed.get('element_count'))} "
            f"{observed.get('unit', 'rows')})"
        )
        if observed.get("examples"):
            text += ", e.g. " + ", ".join(observed["examples"])
        return text
    if isinstance(observed, dict) and "quantiles" in observed:
        return ", ".join(
            f"q{q:g}={_number(v)}" for q, v in zip(observed["quantiles"], observed["values"], strict=False)
        )
    if isinstance(observed, dict) and "error" in observed:
        return f"error: {observed['error']}"
    return _number(observed)


# --- report files ----------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> Path:
    storage.write_text_atomic(str(path), text)
    return path


def _render_html(validation: CorpusValidation) -> str:
    esc = html.escape
    header = validation.summary().splitlines()[0]
    rows = "\n".join(
        "<tr class='{cls}'><td>{status}</td><td>{desc}</td><td>{observed}</td><td>{bound}</td>"
        "<td><code>{exp}</code></td><td>{col}</td><td>{suite}</td></tr>".format(
            cls="pass" if o.success else "fail",
            status="PASS" if o.success else "FAIL",
            desc=esc(o.description),
            observed=esc(
                " ".join(filter(None, [_format_observed(o.observed_value, percent=o.percent), o.unit]))
                + (f" ({o.detail})" if o.detail else "")
            ),
            bound=esc(o.bound),
            exp=esc(o.expectation),
            col=esc(o.column or ""),
            suite=esc(o.suite),
        )
        for o in validation.outcomes
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Corpus validation</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.pass td:first-child {{ color: #1a7f37; font-weight: bold; }}
tr.fail td:first-child {{ color: #cf222e; font-weight: bold; }}
</style></head><body>
<h1>Corpus validation: {"passed" if validation.success else "FAILED"}</h1>
<p>{esc(header)}</p>
<p>Great Expectations results are in <code>validation.json</code> (<code>gx_results</code>).</p>
<table>
<tr><th>status</th><th>expectation</th><th>observed</th><th>expected</th><th>GX type</th>
<th>column</th><th>suite</th></tr>
{rows}
</table>
</body></html>
"""
