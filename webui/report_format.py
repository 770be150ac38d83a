"""Report figures as a reader of the agency's locale expects them (Babel): grouped numbers, money
with its currency, percentages, dates; and how a report's column is formatted and sorted.

The locale is ``[reports] locale`` of ``definitions/rates.toml`` (default ``en_GB``).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

DEFAULT_LOCALE = "en_GB"
PERCENT_COLUMNS = ("share", "burn", "compliance", "load", "utilisation", "rate", "win_rate")
MONEY_COLUMNS = ("cost", "budget", "value", "spend", "margin", "allotted", "budget_added")
DATE_COLUMNS = ("forecast_overrun", "forecast", "expected", "earliest", "latest")


@cache
def agency_locale(definitions_dir: Path) -> str:
    """The agency's locale, from ``[reports] locale`` of its rate card file.

    Raises:
        ValueError: not a locale Babel knows.
    """
    with open(definitions_dir / "rates.toml", "rb") as fh:
        name = (tomllib.load(fh).get("reports") or {}).get("locale", DEFAULT_LOCALE)
    try:
        Locale.parse(name)
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError(f"rates.toml: [reports] locale '{name}' is not a known locale") from exc
    return str(name)


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(value: Any, locale: str, places: int | None = None) -> str:
    """``12,345`` or ``1,234.5`` (``-`` for None)."""
    if not _real(value):
        return "-" if value is None else str(value)
    if places is None:
        places = 0 if float(value).is_integer() else 2
    return format_decimal(value, format=f"#,##0{'.' + '0' * places if places else ''}", locale=locale)


def money(value: Any, currency: str, locale: str) -> str:
    """``£1,234.50`` in the locale's way (``-`` for None)."""
    if not _real(value):
        return "-" if value is None else str(value)
    return format_currency(value, currency or "GBP", locale=locale)


def percent(value: Any, locale: str) -> str:
    """A share 0-1 as ``23.5%`` (``-`` for None)."""
    if not _real(value):
        return "-" if value is None else str(value)
    return format_percent(value, format="#,##0.#%", locale=locale)


def day(value: Any, locale: str) -> str:
    """A date (or ISO date text) as ``3 Dec 2026`` (``-`` for None)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="medium", locale=locale)


def column_kind(column: str) -> str:
    """How a report column reads: ``percent``, ``money``, ``hours``, ``date``, ``number`` or ``text``."""
    if column in ("key", "currency", "section", "measure", "unit", "change", "name"):
        return "text"
    if column.endswith(DATE_COLUMNS) or column in DATE_COLUMNS:
        return "date"
    if column.endswith(PERCENT_COLUMNS):
        return "percent"
    if column.endswith(MONEY_COLUMNS):
        return "money"
    if column.endswith("hours"):
        return "hours"
    return "number"


def cell(row: dict[str, Any], column: str, locale: str) -> str:
    """One cell of a report table, formatted for its column."""
    value = row.get(column)
    kind = column_kind(column)
    if kind == "percent":
        return percent(value, locale)
    if kind == "money":
        return money(value, str(row.get("currency") or "GBP"), locale)
    if kind == "hours":
        return number(value, locale, 1) if _real(value) else number(value, locale)
    if kind == "date":
        return day(value, locale)
    if kind == "number":
        return number(value, locale)
    return "" if value is None else str(value)


def sort_key(value: Any) -> str:
    """What a sortable table sorts a cell by: the raw number, else the text (the page's script
    compares numbers as numbers)."""
    if value is None:
        return ""
    return repr(float(value)) if _real(value) else str(value)
