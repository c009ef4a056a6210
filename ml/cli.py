"""Small parsing helpers shared by the ML command lines."""

from __future__ import annotations

import pandas as pd


def parse_time(text: str | None, end: bool = False) -> pd.Timestamp | None:
    """An ISO time as a UTC timestamp (naive means UTC). With `end`, a date alone means
    the end of that day (as `python -m core.backtest.simulation --end` reads it)."""
    if text is None:
        return None
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if end and len(text.strip()) == 10:
        stamp += pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return stamp


def parse_symbols(text: str) -> tuple[str, ...]:
    """`BTC/USD, ETH/USD` -> ("BTC/USD", "ETH/USD"); empty items dropped."""
    return tuple(s.strip() for s in text.split(",") if s.strip())
