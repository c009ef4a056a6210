"""A hand-driven market: candles and prices set by the test."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd

from core.errors import UnknownSymbol
from core.precision import MarketPrecision
from tests.fakes.binance_model import DEFAULT_SYMBOLS


def binance_precisions() -> dict[str, MarketPrecision]:
    """The fake Binance's ticks and lots (tests/fakes/binance_model.py), by ccxt symbol: the
    hand-driven market describes its markets as the fake exchange does."""
    return {
        f"{spec.base}/{spec.quote}": MarketPrecision(Decimal(spec.tick_size), Decimal(spec.step_size))
        for spec in DEFAULT_SYMBOLS
    }


def candles_frame(start: datetime, rows: Sequence[tuple[float, float, float, float]], step: timedelta) -> pd.DataFrame:
    """OHLC rows (volume 1) from `start`, one per `step`."""
    index = pd.DatetimeIndex([start + i * step for i in range(len(rows))], name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index, dtype="float64")
    frame["volume"] = 1.0
    return frame


class FakeMarketData:
    def __init__(self, prices: dict[str, float], precisions: dict[str, MarketPrecision] | None = None) -> None:
        self.prices = dict(prices)
        self.frames: dict[str, pd.DataFrame] = {}
        self.precisions = binance_precisions() if precisions is None else dict(precisions)

    def precision(self, symbol: str) -> MarketPrecision | None:
        return self.precisions.get(symbol) if symbol in self.prices else None

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
