"""Indicators, computed once per frame, vectorised and causal: the value at a row uses
only that row and earlier ones, so the last row of a long frame equals the last row of
the same frame cut there.

TA-Lib does the work; the only hand-written pieces are what TA-Lib has no function for
(the volume ratio, ATR as a percent of price, the higher-timeframe alignment).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from core.timeframes import timeframe_delta

#: Candles the base indicators need before their values are defined (EMA 200 plus slack).
WARMUP = 210

FloatArray = np.ndarray


def _values(series: pd.Series) -> FloatArray:
    return series.to_numpy(dtype=np.float64)


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average."""
    return talib.SMA(values, timeperiod=period)


def ema(values: FloatArray, period: int) -> FloatArray:
    """Exponential moving average (TA-Lib seeds it with the SMA of the first `period`)."""
    return talib.EMA(values, timeperiod=period)


def rsi(close: FloatArray, period: int = 14) -> FloatArray:
    """Wilder's relative strength index, 0..100."""
    return talib.RSI(close, timeperiod=period)


def macd(
    close: FloatArray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram."""
    line, signal_line, hist = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return line, signal_line, hist


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Wilder's average true range."""
    return talib.ATR(high, low, close, timeperiod=period)


def adx(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ADX with the +DI and -DI it is built from."""
    return (
        talib.ADX(high, low, close, timeperiod=period),
        talib.PLUS_DI(high, low, close, timeperiod=period),
        talib.MINUS_DI(high, low, close, timeperiod=period),
    )


def bollinger(close: FloatArray, period: int = 20, width: float = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Upper, middle and lower Bollinger band (population standard deviation)."""
    upper, middle, lower = talib.BBANDS(
        close, timeperiod=period, nbdevup=width, nbdevdn=width, matype=talib.MA_Type.SMA
    )
    return upper, middle, lower


def volume_ratio(volume: FloatArray, period: int = 20) -> FloatArray:
    """This candle's volume over the mean volume of the last `period` candles (this one
    included). NaN where the mean is not defined or is zero."""
    mean = sma(volume, period)
    out = np.full_like(volume, np.nan, dtype=np.float64)
    np.divide(volume, mean, out=out, where=np.isfinite(mean) & (mean > 0))
    return out


def add_indicators(candles: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `candles` with every indicator column the strategies, filters
    and the regime detector read."""
    close, high, low = _values(candles["close"]), _values(candles["high"]), _values(candles["low"])
    volume = _values(candles["volume"])
    columns: dict[str, FloatArray] = {
        "ema_20": ema(close, 20),
        "ema_50": ema(close, 50),
        "ema_200": ema(close, 200),
        "rsi_14": rsi(close, 14),
        "atr_14": atr(high, low, close, 14),
        "volume_ratio": volume_ratio(volume, 20),
    }
    columns["macd"], columns["macd_signal"], columns["macd_hist"] = macd(close)
    columns["adx_14"], columns["plus_di"], columns["minus_di"] = adx(high, low, close, 14)
    columns["bb_upper"], columns["bb_middle"], columns["bb_lower"] = bollinger(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["atr_pct"] = columns["atr_14"] / close * 100.0
        columns["bb_width"] = (columns["bb_upper"] - columns["bb_lower"]) / columns["bb_middle"]
    return candles.assign(**columns)


def higher_timeframe_trend(
    index: pd.DatetimeIndex,
    timeframe: str,
    higher: pd.DataFrame,
    higher_timeframe: str,
    fast: int = 20,
    slow: int = 50,
) -> FloatArray:
    """Trend of the higher timeframe as seen at the close of each base candle:
    +1 when its EMA(fast) is above its EMA(slow), -1 below, 0 equal, NaN unknown.

    Only higher-timeframe candles that had closed by the base candle's close are used,
    so a 4h candle still forming never leaks into a 1h decision.
    """
    higher_close = _values(higher["close"])
    trend = np.sign(ema(higher_close, fast) - ema(higher_close, slow))
    return align_closed(index, timeframe, higher.index, higher_timeframe, trend)


def align_closed(
    index: pd.DatetimeIndex,
    timeframe: str,
    higher_index: pd.DatetimeIndex,
    higher_timeframe: str,
    higher_values: FloatArray,
) -> FloatArray:
    """For each base candle, the value of the last higher-timeframe candle whose close
    time is at or before the base candle's close time (NaN if there is none)."""
    base_close = (index + timeframe_delta(timeframe)).as_unit("ns").asi8
    higher_close = (higher_index + timeframe_delta(higher_timeframe)).as_unit("ns").asi8
    position = np.searchsorted(higher_close, base_close, side="right") - 1
    out = np.full(len(index), np.nan)
    known = position >= 0
    out[known] = np.asarray(higher_values, dtype=np.float64)[position[known]]
    return out
