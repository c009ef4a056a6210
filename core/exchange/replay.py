"""Replay market data: candles from CSV files, visible only once the replay clock has
closed them (no look-ahead).

File layout (see data/README.md): `<SYMBOL without slash>-<timeframe>.csv` with header
`timestamp,open,high,low,close,volume`, timestamps the candle's open time in UTC. A
timeframe without its own file is resampled from a finer one (only complete candles).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from core.errors import UnknownSymbol
from core.ports import Clock
from core.precision import MarketPrecision, inferred_precision
from core.timeframes import timeframe_delta, timeframe_seconds

COLUMNS = ["open", "high", "low", "close", "volume"]


def symbol_file_stem(symbol: str, timeframe: str) -> str:
    return f"{symbol.replace('/', '')}-{timeframe}"


def load_csv(path: Path) -> pd.DataFrame:
    """Read one candle file: UTC DatetimeIndex of open times, float columns, sorted,
    duplicate timestamps dropped (gaps are kept as gaps)."""
    frame = pd.read_csv(path)
    missing = {"timestamp", *COLUMNS} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True), name="timestamp")
    out = frame[COLUMNS].astype("float64").set_axis(index)
    out = out[~out.index.duplicated(keep="first")].sort_index()
    return out


def resample(candles: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Aggregate to a coarser timeframe: open first, high max, low min, close last,
    volume sum. Buckets with no candle at all are dropped."""
    rule = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    grouped = candles.resample(rule, origin="epoch", label="left", closed="left")
    out = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return out.dropna(subset=["open", "close"])


class ReplayMarketData:
    """Serves candles from CSV files as of the replay clock."""

    def __init__(self, directory: Path, clock: Clock, symbols: Sequence[str], base_timeframe: str) -> None:
        self._directory = directory
        self._clock = clock
        self._base_timeframe = base_timeframe
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}
        self._precisions: dict[str, MarketPrecision | None] = {}
        self._symbols = [s for s in symbols if self._path(s, base_timeframe) is not None]

    def symbols(self) -> Sequence[str]:
        return list(self._symbols)

    def data_end(self) -> datetime | None:
        """When the last candle of the data closes (the latest of the symbols'); None
        without data. A replay clock past it would trade on the last price forever."""
        ends = [
            frame.index[-1].to_pydatetime() + timeframe_delta(self._base_timeframe)
            for frame in (self._frame(symbol, self._base_timeframe) for symbol in self._symbols)
            if len(frame)
        ]
        return max(ends, default=None)

    def _path(self, symbol: str, timeframe: str) -> Path | None:
        path = self._directory / f"{symbol_file_stem(symbol, timeframe)}.csv"
        return path if path.is_file() else None

    def _frame(self, symbol: str, timeframe: str) -> pd.DataFrame:
        key = (symbol, timeframe)
        if key not in self._frames:
            path = self._path(symbol, timeframe)
            if path is not None:
                self._frames[key] = load_csv(path)
            elif timeframe_seconds(timeframe) > timeframe_seconds(self._base_timeframe) and self._path(
                symbol, self._base_timeframe
            ):
                self._frames[key] = resample(self._frame(symbol, self._base_timeframe), timeframe)
            else:
                raise UnknownSymbol(f"no replay data for {symbol} {timeframe}")
        return self._frames[key]

    def _closed(self, symbol: str, timeframe: str) -> pd.DataFrame:
        if symbol not in self._symbols:
            raise UnknownSymbol(f"no replay data for {symbol}")
        frame = self._frame(symbol, timeframe)
        # A candle is closed once its open time plus one timeframe has passed.
        cutoff = pd.Timestamp(self._clock.now() - timeframe_delta(timeframe))
        end = frame.index.searchsorted(cutoff, side="right")
        return frame.iloc[:end]

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        return self._closed(symbol, timeframe).iloc[-limit:]

    async def last_price(self, symbol: str) -> float:
        closed = self._closed(symbol, self._base_timeframe)
        if closed.empty:
            raise UnknownSymbol(f"no replayed candle for {symbol} yet")
        return float(closed["close"].iloc[-1])

    def precision(self, symbol: str) -> MarketPrecision | None:
        """Inferred from the symbol's whole file (core.precision.inferred_precision): CSV history
        names no tick or lot. The file's range, not the replay clock's: a tick is no signal."""
        if symbol not in self._symbols:
            return None
        if symbol not in self._precisions:
            frame = self._frame(symbol, self._base_timeframe)
            prices = frame[["open", "high", "low", "close"]].to_numpy().ravel()
            typical = float(frame["close"].median()) if len(frame) else float("nan")
            self._precisions[symbol] = inferred_precision(prices.tolist(), typical)
        return self._precisions[symbol]
