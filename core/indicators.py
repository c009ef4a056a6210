"""Indicators, computed once per frame with TA-Lib (vectorised, causal: the value at a
row uses only that row and earlier ones)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

#: How many candles the indicators need before their values settle.
WARMUP = 210


def add_indicators(candles: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `candles` with the indicator columns the engine uses."""
    frame = candles.copy()
    close = frame["close"].to_numpy(dtype=np.float64)
    high = frame["high"].to_numpy(dtype=np.float64)
    low = frame["low"].to_numpy(dtype=np.float64)
    volume = frame["volume"].to_numpy(dtype=np.float64)

    frame["ema_20"] = talib.EMA(close, timeperiod=20)
    frame["ema_50"] = talib.EMA(close, timeperiod=50)
    frame["ema_200"] = talib.EMA(close, timeperiod=200)
    frame["rsi_14"] = talib.RSI(close, timeperiod=14)
    frame["atr_14"] = talib.ATR(high, low, close, timeperiod=14)
    macd, macd_signal, macd_hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    frame["macd"] = macd
    frame["macd_signal"] = macd_signal
    frame["macd_hist"] = macd_hist
    frame["adx_14"] = talib.ADX(high, low, close, timeperiod=14)
    frame["volume_sma_20"] = talib.SMA(volume, timeperiod=20)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["volume_ratio"] = volume / frame["volume_sma_20"].to_numpy()
    return frame
