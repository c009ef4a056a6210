"""Candles for backtests and research: the sample CSV files, resampled when a timeframe
has no file of its own (only what the replay market data would serve)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from core.exchange.replay import load_csv, resample, symbol_file_stem
from core.timeframes import timeframe_seconds

#: The repository's sample markets (data/README.md).
SAMPLE_SYMBOLS = ("BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD", "EOS/USD")
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "ohlcv"


def load_candles(directory: Path, symbol: str, timeframe: str) -> pd.DataFrame:
    """`<SYMBOL>-<timeframe>.csv` from `directory`, or the coarsest finer file that
    divides the timeframe, resampled."""
    exact = directory / f"{symbol_file_stem(symbol, timeframe)}.csv"
    if exact.is_file():
        return load_csv(exact)
    target = timeframe_seconds(timeframe)
    finer = []
    for path in directory.glob(f"{symbol.replace('/', '')}-*.csv"):
        base = path.stem.rsplit("-", 1)[1]
        seconds = timeframe_seconds(base)
        if seconds < target and target % seconds == 0:
            finer.append((seconds, path))
    if not finer:
        raise FileNotFoundError(f"no candle file for {symbol} at or below {timeframe} in {directory}")
    return resample(load_csv(max(finer)[1]), timeframe)


def load_markets(directory: Path, symbols: Sequence[str], timeframe: str) -> dict[str, pd.DataFrame]:
    """`load_candles` for each symbol."""
    return {symbol: load_candles(directory, symbol, timeframe) for symbol in symbols}


def parse_time(text: str | None, end: bool) -> pd.Timestamp | None:
    """An ISO time as UTC; with `end`, a date alone means through the end of that day."""
    if text is None:
        return None
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if end and len(text.strip()) == 10:  # a date alone: through the end of that day
        stamp += pd.Timedelta(days=1) - pd.Timedelta(1, "us")
    return stamp
