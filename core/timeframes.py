"""Candle timeframes: `1m`, `30m`, `1h`, `4h`, `1d` ..."""

from __future__ import annotations

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
