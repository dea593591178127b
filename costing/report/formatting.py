"""How numbers, dates and volumes read in the report: shared by the HTML filters and the text part."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from costing.report.tables import requests_label, usd

# -- formatting (shared by the HTML filters and the text part) -----------------------------------------------


def usd_text(value: float | None) -> str:
    """ "$1,234.56", "$0.0014", "$0.000033" (never an exponent), "n/a"."""
    if not is_number(value):
        return "n/a"
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    if 0 < magnitude < 1e-4:
        return f"{sign}${_positional(magnitude, 2)}"
    return f"{sign}${usd(magnitude)}"


def rate_text(value: float | None) -> str:
    """A unit price with the digits AWS publishes: "$0.0208", "$0.00000018", "$1.33334e-05" -> "$0.0000133334"."""
    if not is_number(value):
        return "n/a"
    return ("-$" if value < 0 else "$") + _positional(abs(value), 6)


def _positional(value: float, digits: int) -> str:
    from decimal import Decimal

    if value == 0:
        return "0"
    return format(Decimal(f"{value:.{digits}g}"), "f")


def requests_short(requests_per_day: float) -> str:
    """100 -> "100/day", 10,000 -> "10k/day", 1,000,000 -> "1M/day", 264,561 -> "265k/day"."""
    value = float(requests_per_day)
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        scaled = float(f"{value / divisor:.3g}")  # rounded first, so 999,999 reads "1M", not "1e+03k"
        if abs(scaled) >= 1:
            return f"{scaled:g}{suffix}/day"
    return f"{float(f'{value:.3g}'):g}/day"


def requests_long(requests_per_day: float) -> str:
    return requests_label(requests_per_day)


def pct_text(value: float | None, digits: int = 0) -> str:
    return "n/a" if not is_number(value) else f"{value:.{digits}f} %"


def signed_usd_text(value: float | None) -> str:
    """ "+$3.50", "-$1.50", "+$0" - for changes."""
    if not is_number(value):
        return "n/a"
    return ("-" if value < 0 else "+") + usd_text(abs(value))


def signed_pct_text(value: float | None) -> str:
    return "n/a" if not is_number(value) else f"{value:+.1f} %"


def datetime_text(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"


def number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:g}"
    return str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def iso_or_none(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def humanise(key: str) -> str:
    return key.replace("_", " ").replace(".", " ")


def safe_url(url: Any) -> str:
    """The URL when it is http(s), else "" (a link never runs script: no javascript: or data: URLs)."""
    text = str(url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else ""
