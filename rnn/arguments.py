"""Small argparse pieces for ``python -m rnn``: a parser whose errors are one line, and typed values.

Every bad value on the command line becomes ``error: argument --length: must be an integer >= 1,
got '0' (see 'python -m rnn generate --help')`` and exit status 2: no usage block, no traceback.
Twin: ``costing/arguments.py`` (``rnn`` and ``costing`` may not import each other): same rules.
"""

from __future__ import annotations

import argparse
import math
import sys
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
