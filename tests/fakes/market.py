"""A hand-driven market: candles and prices set by the test."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd

from core.errors import UnknownSymbol


def candles_frame(start: datetime, rows: Sequence[tuple[float, float, float, float]], step: timedelta) -> pd.DataFrame:
    """OHLC rows (volume 1) from `start`, one per `step`."""
    index = pd.DatetimeIndex([start + i * step for i in range(len(rows))], name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index, dtype="float64")
    frame["volume"] = 1.0
    return frame


class FakeMarketData:
    def __init__(self, prices: dict[str, float]) -> None:
        self.prices = dict(prices)
        self.frames: dict[str, pd.DataFrame] = {}

    def symbols(self) -> Sequence[str]:
        return list(self.prices)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        if symbol not in self.prices:
            raise UnknownSymbol(symbol)
        frame = self.frames.get(symbol)
        if frame is None:
            return candles_frame(datetime(2024, 1, 1), [], timedelta(hours=1))
        return frame.iloc[-limit:]

    async def last_price(self, symbol: str) -> float:
        if symbol not in self.prices:
            raise UnknownSymbol(symbol)
        return self.prices[symbol]

    def add_candles(self, symbol: str, frame: pd.DataFrame) -> None:
        existing = self.frames.get(symbol)
        self.frames[symbol] = frame if existing is None else pd.concat([existing, frame])
        self.prices[symbol] = float(self.frames[symbol]["close"].iloc[-1])
