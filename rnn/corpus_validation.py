"""Validate a training corpus with Great Expectations before any training starts.

The corpus bytes are turned into two pandas tables and each is validated against a GX expectation
suite kept as JSON in ``include/expectations/`` (GX's own suite shape, one file per table):

``characters`` (``corpus_characters.json``)
    one row per character: ``code_point``, ``is_printable``, ``valid_utf8``. The bytes are decoded with
    ``errors="surrogateescape"``, so every byte that is not valid UTF-8 becomes a lone surrogate
    U+DC80..U+DCFF and shows up as ``valid_utf8 == False`` instead of crashing the decode.
    Expectations: not empty, at least ``min_chars`` characters, valid UTF-8, share of printable
    characters, vocabulary size.
``lines`` (``corpus_lines.json``)
    one row per line: ``line``, ``length_chars``. Expectations: line-length distribution (mean,
    median and 99th percentile, longest line) and the duplicate-line ratio of non-empty lines.

Corpora above :data:`SAMPLE_CHARS` characters are validated on a deterministic sample of
:data:`SAMPLE_CHUNKS` evenly spaced chunks (``CorpusValidation.sampled`` says so). GX runs in an
ephemeral, in-memory context with progress bars off; GX 1.24 ships no usage-statistics client, and
``GX_ANALYTICS_ENABLED=False`` plus ``analytics_enabled=False`` keep older 1.x releases quiet too.

Great Expectations and pandas are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn import storage
from rnn.paths import INCLUDE_DIR

DEFAULT_SUITE_DIR = INCLUDE_DIR / "expectations"

# suite file per table; a custom suite_dir must hold both
SUITE_FILES = {"characters": "corpus_characters.json", "lines": "corpus_lines.json"}

# corpora longer than this many characters are validated on a sample of this size
SAMPLE_CHARS = 5_000_000
# the sample is this many evenly spaced chunks, so it sees the beginning, middle and end
SAMPLE_CHUNKS = 100

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

    def line(self) -> str:
        """``FAIL  corpus is valid UTF-8: observed ...; expected ... [type(column)]``."""
        status = "PASS" if self.success else "FAIL"
        target = f"{self.expectation}({self.column})" if self.column else self.expectation
        return (
            f"{status}  {self.description}: observed {_format_observed(self.observed_value)}; "
            f"expected {self.bound} [{target}]"
        )


@dataclass(frozen=True)
class CorpusValidation:
    """The outcome of :func:`validate_corpus`: a verdict per expectation plus the raw GX results."""

    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    sampled: bool  # True if per-character and per-line expectations saw a sample of the corpus
    gx_results: list[dict] = field(default_factory=list)  # ExpectationSuiteValidationResult.to_json_dict()
    corpus_chars: int = 0  # characters in the whole corpus (an invalid byte counts as one)
    validated_chars: int = 0  # characters the tables were built from (== corpus_chars unless sampled)

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.success)

    def summary(self) -> str:
        """Multi-line report: a header, then one PASS/FAIL line per expectation."""
        verdict = "passed" if self.success else "FAILED"
        header = (
            f"corpus validation {verdict}: {len(self.outcomes) - len(self.failures)} of "
            f"{len(self.outcomes)} expectations met"
        )
        if self.sampled:
            header += (
                f" (sampled: {self.validated_chars:,} of {self.corpus_chars:,} characters in "
                f"{SAMPLE_CHUNKS} evenly spaced chunks)"
            )
        else:
            header += f" ({self.corpus_chars:,} characters)"
        return "\n".join([header, *(outcome.line() for outcome in self.outcomes)])

    def to_json_dict(self) -> dict:
        return {
            "success": self.success,
            "sampled": self.sampled,
            "corpus_chars": self.corpus_chars,
            "validated_chars": self.validated_chars,
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
            f"corpus failed validation: {len(failures)} of {len(validation.outcomes)} expectations "
            "not met" + (" (on a sample of the corpus)" if validation.sampled else "") + ":"
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
    sample_chars: int = SAMPLE_CHARS,
) -> CorpusValidation:
    """Validate raw corpus bytes against the suites in ``suite_dir``.

    A bad corpus gives a failed :class:`CorpusValidation`, not an exception (see :func:`require_valid`).

    ``min_chars`` overrides the suite's ``min_chars`` parameter (its default lives in the
    characters suite's ``meta.parameter_defaults``). Corpora longer than ``sample_chars``
    characters (or ``min_chars``, if larger) are validated on a deterministic sample.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"validate_corpus takes the corpus as bytes, got {type(data).__name__}")
    if min_chars is not None and (
        isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 0
    ):
        raise ValueError(f"min_chars must be a non-negative integer, got {min_chars!r}")
    if sample_chars < SAMPLE_CHUNKS:
        raise ValueError(f"sample_chars must be at least {SAMPLE_CHUNKS}, got {sample_chars!r}")

    suite_docs = {table: _read_suite_json(Path(suite_dir), table) for table in SUITE_FILES}
    parameters: dict[str, Any] = {}
    for doc in suite_docs.values():
        parameters.update(doc.get("meta", {}).get("parameter_defaults", {}))
    if min_chars is not None:
        parameters["min_chars"] = min_chars

    text = bytes(data).decode("utf-8", errors="surrogateescape")
    chunks = _sample_chunks(len(text), max(sample_chars, int(parameters.get("min_chars") or 0)))
    sampled = len(chunks) > 1
    pieces = [text[start:end] for start, end in chunks]

    tables = {"characters": _characters_table("".join(pieces)), "lines": _lines_table(pieces)}
    gx_results = _run_gx(suite_docs, tables, parameters)

    outcomes: list[ExpectationOutcome] = []
    for table, result in zip(SUITE_FILES, gx_results, strict=True):
        outcomes += [_outcome(table, result["suite_name"], r, tables[table]) for r in result["results"]]
    return CorpusValidation(
        success=all(result["success"] for result in gx_results) and all(o.success for o in outcomes),
        outcomes=tuple(outcomes),
        sampled=sampled,
        gx_results=gx_results,
        corpus_chars=len(text),
        validated_chars=sum(end - start for start, end in chunks),
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


def _sample_chunks(n_chars: int, limit: int) -> list[tuple[int, int]]:
    """(start, end) ranges to validate: the whole text, or SAMPLE_CHUNKS evenly spaced chunks."""
    chunk_len = math.ceil(limit / SAMPLE_CHUNKS)
    if n_chars <= chunk_len * SAMPLE_CHUNKS:
        return [(0, n_chars)]
    # first chunk at the start, last at the end; the stride exceeds chunk_len, so no overlap
    stride = (n_chars - chunk_len) / (SAMPLE_CHUNKS - 1)
    return [(round(i * stride), round(i * stride) + chunk_len) for i in range(SAMPLE_CHUNKS)]


def _characters_table(text: str):
    import numpy as np
    import pandas as pd

    # Code points rather than 1-char strings: GX fingerprints every DataFrame with
    # pandas.util.hash_pandas_object, which under pandas 3 turns object strings into an Arrow
    # string Index and fails on the lone surrogates that stand for invalid bytes. Integers also
    # make the vocabulary count fast.
    code_points = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")
    distinct, row_to_distinct = np.unique(code_points, return_inverse=True)
    printable = np.array([chr(c).isprintable() or chr(c) in LAYOUT_CHARS for c in distinct], dtype=bool)
    valid_utf8 = (distinct < 0xDC80) | (distinct > 0xDCFF)
    return pd.DataFrame(
        {
            "code_point": pd.Series(code_points, dtype="int64"),
            "is_printable": pd.Series(printable[row_to_distinct], dtype=bool),
            "valid_utf8": pd.Series(valid_utf8[row_to_distinct], dtype=bool),
        }
    )


# invalid bytes (lone surrogates) -> U+FFFD, one for one so line lengths are unchanged
_REPLACE_INVALID_BYTES = {code: 0xFFFD for code in range(0xDC80, 0xDD00)}
_INVALID_BYTE = re.compile(r"[\udc80-\udcff]")


def _lines_table(pieces: list[str]):
    import pandas as pd

    # each sampled chunk is split on its own so no line is glued across a gap
    lines = [line for piece in pieces for line in piece.splitlines()]
    if any(_INVALID_BYTE.search(piece) for piece in pieces):
        # lone surrogates cannot be hashed by GX under pandas 3 (see _characters_table)
        lines = [line.translate(_REPLACE_INVALID_BYTES) for line in lines]
    return pd.DataFrame(
        {
            "line": pd.Series(lines, dtype=object),
            "length_chars": pd.Series([len(line) for line in lines], dtype="int64"),
        }
    )


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


def _import_gx():
    # GX 1.24 has no analytics client; earlier 1.x releases read this variable at import time
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    return gx


def _run_gx(suite_docs: dict[str, dict], tables: dict, parameters: dict[str, Any]) -> list[dict]:
    gx = _import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False),
            analytics_enabled=False,
        ),
    )
    datasource = context.data_sources.add_pandas("corpus")
    results = []
    for table, doc in suite_docs.items():
        suite = gx.ExpectationSuite(**doc)
        batch = (
            datasource.add_dataframe_asset(table)
            .add_batch_definition_whole_dataframe(table)
            .get_batch(batch_parameters={"dataframe": tables[table]})
        )
        result = batch.validate(suite, result_format=_RESULT_FORMAT, expectation_parameters=parameters)
        results.append(_plain_json(result.to_json_dict()))
    return results


def _plain_json(value: Any) -> Any:
    """GX's to_json_dict() can leave numpy scalars behind (e.g. a numpy.bool ``success`` in
    expect_column_quantile_values_to_be_between results); turn them into plain Python values."""
    if isinstance(value, dict):
        return {str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _plain_json(value.item())
    return str(value)


def _outcome(table: str, suite_name: str, result: dict, frame) -> ExpectationOutcome:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
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
    return ExpectationOutcome(
        expectation=config["type"],
        description=(config.get("meta") or {}).get("description") or config["type"],
        column=kwargs.get("column"),
        success=bool(result["success"]),
        observed_value=observed,
        bound=_format_bound(kwargs),
        suite=suite_name,
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


def _format_bound(kwargs: dict) -> str:
    parts = []
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        parts.append(f"between {_number(low)} and {_number(high)}")
    elif low is not None:
        parts.append(f"at least {_number(low)}")
    elif high is not None:
        parts.append(f"at most {_number(high)}")
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


def _format_observed(observed: object) -> str:
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
            observed=esc(_format_observed(o.observed_value)),
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
