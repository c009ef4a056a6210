"""Numbers, money, percentages, durations and times as each language writes them.

English: 1,234.56 and 2024-01-31 13:00. Russian: 1 234,56 (a no-break space between
groups, so a number never breaks across lines; a decimal comma) and 31.01.2024 13:00.
Every figure a user reads goes through here; the minus sign stays ASCII '-' and the
percent sign follows the number without a space in both languages.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from core.precision import MarketPrecision

NBSP = "\u00a0"
_GROUP = {"en": ",", "ru": NBSP}
_DECIMAL = {"en": ".", "ru": ","}
_SECONDS = {"en": "s", "ru": NBSP + "с"}
_DATE_TIME = {"en": "%Y-%m-%d %H:%M", "ru": "%d.%m.%Y %H:%M"}
_DAY_TIME = {"en": "%m-%d %H:%M", "ru": "%d.%m %H:%M"}
MISSING = "—"


def _localise(text: str, language: str) -> str:
    """'-12345.678' (Python's plain notation) in `language`: groups of three, its decimal mark."""
    sign = text[0] if text[:1] in "+-" else ""
    whole, _, fraction = text[len(sign) :].partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        whole, tail = whole[:-3], whole[-3:]
        groups.insert(0, tail)
    grouped = _GROUP.get(language, ",").join([whole, *groups])
    return sign + grouped + (_DECIMAL.get(language, ".") + fraction if fraction else "")


def number(value: float, language: str, decimals: int = 2, *, signed: bool = False) -> str:
    """`value` with exactly `decimals` decimals: 1,234.56 / 1 234,56."""
    if not math.isfinite(value):
        return MISSING if math.isnan(value) else ("-∞" if value < 0 else "∞")
    return _localise(f"{value:{'+' if signed else ''}.{decimals}f}", language)


def compact(value: float, language: str) -> str:
    """Up to 6 significant digits, trailing zeros dropped, never an exponent: 0.5 / 0,5."""
    text = format(Decimal(f"{value:.6g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _localise(text, language)


def price(value: float | None, language: str, market: MarketPrecision | None = None) -> str:
    """A price on its market's tick, with the tick's decimals (tick 0.01: 43,210.57; tick
    0.0001: 0.5123); for a market of unknown precision, the digits its size needs (63,250.50,
    1.23456, 0.000123456)."""
    if value is None or not math.isfinite(value):
        return MISSING
    if market is not None:
        return _localise(format(market.price(value), "f"), language)
    return number(value, language, 2) if abs(value) >= 1000 else compact(value, language)


def amount(value: float, language: str, market: MarketPrecision | None = None) -> str:
    """A quantity cut down to its market's lot, with the lot's decimals (lot 0.00001:
    0.02345); for a market of unknown precision, up to 8 decimals, trailing zeros dropped."""
    if market is not None and math.isfinite(value):
        return _localise(format(market.amount(value), "f"), language)
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return _localise(text or "0", language)


def money(value: float, language: str) -> str:
    """Money in the quote currency: two decimals, grouped."""
    return number(value, language, 2)


def signed_money(value: float, language: str) -> str:
    """Money with '+' before a gain."""
    return ("+" if value > 0 else "") + money(value, language)


def percent(value: float, language: str, signed: bool = False) -> str:
    """A percentage with two decimals: 12.50% / 12,50%."""
    return number(value, language, 2, signed=signed) + "%"


def seconds(value: float, language: str, decimals: int = 0) -> str:
    """A duration in seconds: 1.5s / 1,5 с."""
    return number(value, language, decimals) + _SECONDS.get(language, "s")


def date_time(moment: datetime, language: str) -> str:
    """A date and time to the minute (the caller says which zone): 2024-01-31 13:00 / 31.01.2024 13:00."""
    return moment.strftime(_DATE_TIME.get(language, _DATE_TIME["en"]))


def day_time(moment: datetime, language: str) -> str:
    """A short day and time for chart axes: 01-31 13:00 / 31.01 13:00."""
    return moment.strftime(_DAY_TIME.get(language, _DAY_TIME["en"]))
