"""Small argparse pieces for every command line: a parser whose errors are one line, and typed values.

Every bad value on the command line becomes ``error: argument --length: must be an integer >= 1,
got '0' (see 'python -m rnn generate --help')`` and exit status 2: no usage block, no traceback.
``python -m rnn`` and ``python -m costing`` both build their parsers from here.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

EXIT_USAGE = 2  # bad input: the message says what to change


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad argument as one ``error:`` line (subparsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text.replace("_", "").replace(",", ""))
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any number except nan and +-inf."""
    return float(_number(text, float))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def sha256_hex(text: str) -> str:
    """64 hexadecimal digits (a corpus's sha256)."""
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(f"must be 64 hexadecimal digits (a sha256), got {text!r}")
    return value


def existing_dir(text: str) -> Path:
    """A folder that exists."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    return path


def bounded_number(
    *,
    minimum: float,
    maximum: float,
    integer: bool = False,
    exclusive_minimum: bool = False,
    what: str = "",
) -> Callable[[str], float | int]:
    """An argparse type: a finite number (commas and underscores allowed) within its bounds.

    ``bounded_number(minimum=0, maximum=120, exclusive_minimum=True)("0")`` ->
    ``must be a number > 0 and <= 120, got '0'``.
    """
    kind = int if integer else float

    def parse(text: str) -> float | int:
        value = _number(text, kind)
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        low_ok = value > minimum if exclusive_minimum else value >= minimum
        if not low_ok or value > maximum:
            noun = "an integer" if integer else "a number"
            low = f"> {_plain(minimum)}" if exclusive_minimum else f">= {_plain(minimum)}"
            of = f" ({what})" if what else ""
            raise argparse.ArgumentTypeError(
                f"must be {noun} {low} and <= {_plain(maximum)}{of}, got {text!r}"
            )
        return value

    return parse


def _plain(value: float) -> str:
    """10000000000 -> "10,000,000,000", 0.5 -> "0.5" (no exponents in messages)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def utc_date(text: str) -> datetime:
    """A day, YYYY-MM-DD, as midnight UTC."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date (YYYY-MM-DD), got {text!r}") from None
    return day.replace(tzinfo=UTC)
