"""Candle timeframes: `1m`, `30m`, `1h`, `4h`, `1d` ..."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^(\d+)([mhdw])$")


def timeframe_seconds(timeframe: str) -> int:
    match = _PATTERN.match(timeframe)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"unknown timeframe {timeframe!r} (expected e.g. 30m, 1h, 4h, 1d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def timeframe_delta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_seconds(timeframe))


def candles_in(days: float, timeframe: str) -> int:
    """Candles of `timeframe` that span `days` (rounded up, at least 1): 30 days are 720
    candles of 1h, 180 of 4h, 30 of 1d."""
    if days <= 0:
        raise ValueError("days must be positive")
    return max(1, math.ceil(days * 86400 / timeframe_seconds(timeframe) - 1e-9))
