"""The front page says what the code does: its counts of pricing options and of DAGs are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DAG_FILES = sorted(p for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))

_NUMBER_WORDS_IN_ORDER = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
NUMBER_WORDS = {word: value for value, word in enumerate(_NUMBER_WORDS_IN_ORDER.split())}
NUMBER = r"(?P<number>\d[\d,]*|" + "|".join(NUMBER_WORDS) + r")"
# A total of pricing options may carry one adjective ("13 serving alternatives", "nine pricing options").
OPTIONS_STATEMENT = re.compile(rf"\b{NUMBER}\s+(?:[\w-]+\s+)?(?:alternatives|options)\b", re.IGNORECASE)
# A total of DAGs is "<number> DAGs" ("the six DAGs"); a qualified count is a subset ("four real DAGs", the demo's).
DAGS_STATEMENT = re.compile(rf"\b{NUMBER}\s+DAGs\b", re.IGNORECASE)


def value_of(number: str) -> int:
    number = number.lower()
    return NUMBER_WORDS[number] if number in NUMBER_WORDS else int(number.replace(",", ""))


def stated(pattern: re.Pattern[str], text: str) -> list[tuple[str, int]]:
    """Every match of ``pattern`` in ``text``, with the number it states."""
    return [(match.group(0), value_of(match.group("number"))) for match in pattern.finditer(text)]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("on nine alternatives is recomputed", [("nine alternatives", 9)]),
        ("on 13 serving alternatives", [("13 serving alternatives", 13)]),
        ("Thirteen pricing options", [("Thirteen pricing options", 13)]),
        ("runs four real DAGs with", []),
    ],
)
def test_statements_are_read_in_words_and_digits(sentence: str, expected: list[tuple[str, int]]) -> None:
    assert stated(OPTIONS_STATEMENT, sentence) + stated(DAGS_STATEMENT, sentence) == expected


def test_the_readme_counts_the_pricing_options_there_are() -> None:
    from costing.choices import OPTION_LABELS, OPTIONS

    statements = stated(OPTIONS_STATEMENT, README.read_text(encoding="utf-8"))
    assert statements, "the README no longer says how many pricing options the cost model compares"
    assert [text for text, value in statements if value != len(OPTIONS)] == [], (
        f"costing.choices.OPTIONS has {len(OPTIONS)}"
    )
    # the sample output shows every option once, under its label
    readme = README.read_text(encoding="utf-8")
    assert [label for label in OPTION_LABELS.values() if label not in readme] == []


def test_the_readme_counts_the_dags_there_are_and_names_each() -> None:
    readme = README.read_text(encoding="utf-8")
    statements = stated(DAGS_STATEMENT, readme)
    assert statements, "the README no longer says how many DAGs there are"
    assert [text for text, value in statements if value != len(DAG_FILES)] == [], (
        f"dags/ has {len(DAG_FILES)} DAG files"
    )
    assert [p.stem for p in DAG_FILES if p.stem not in readme] == []
