"""Base strategies: the seeds' trend-momentum entry and the SMA-cross reference (the
trend-following families live in core.signals.trend_following; playbooks bundle a
strategy with its filters, stops and exits in core.signals.playbooks).

A strategy looks at a prepared frame (core.signals.indicators.add_indicators) of one
timeframe and says, for every row at once, whether there is a long (+1) or short (-1)
candidate, how strong it is (0..1), or why there is none. Vectorised and causal: row i
uses rows <= i only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from core.signals.filters import PASS
from core.signals.indicators import WARMUP, sma


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    def warmup(self, timeframe: str) -> int:
        """Candles of `timeframe` needed before the strategy can produce a candidate."""

    def signals(self, frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
        """Per row: side (int8 +1/-1/0), strength (0..1, NaN without a candidate) and
        reason ('' with a candidate, else why there is none)."""


def setup_frame(index: pd.Index, side: np.ndarray, strength: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    """A strategy's answer: side, strength (NaN without a candidate) and reason per row."""
    strength = np.where(side != 0, strength, np.nan)
    return pd.DataFrame({"side": side.astype(np.int8), "strength": strength, "reason": reason}, index=index)


def column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TrendMomentumStrategy:
    """Trend plus momentum: a long when close > EMA50 > EMA200, the MACD histogram turns
    positive on this candle and RSI(14) is within [rsi_long_min, rsi_long_max]; a short
    mirrored. Strength = 0.4 x trend + 0.3 x ADX + 0.3 x volume, each part in 0..1:
    trend = |close - EMA50| / (2 ATR), ADX part = (ADX - 15) / 25, volume = ratio / 2."""

    rsi_long_min: float = 50.0
    rsi_long_max: float = 70.0
    rsi_short_min: float = 30.0
    rsi_short_max: float = 50.0
    name: str = "trend_momentum"

    def warmup(self, timeframe: str) -> int:
        return WARMUP

    def signals(self, frame: pd.DataFrame, timeframe: str = "1h") -> pd.DataFrame:
        close, ema50, ema200 = column(frame, "close"), column(frame, "ema_50"), column(frame, "ema_200")
        hist, rsi, atr = column(frame, "macd_hist"), column(frame, "rsi_14"), column(frame, "atr_14")
        prev_hist = np.concatenate([[np.nan], hist[:-1]])
        valid = np.isfinite(np.column_stack([close, ema50, ema200, hist, prev_hist, rsi, atr])).all(axis=1)
        trend = np.select([(close > ema50) & (ema50 > ema200), (close < ema50) & (ema50 < ema200)], [1, -1], 0)
        turn = np.select([(prev_hist <= 0) & (hist > 0), (prev_hist >= 0) & (hist < 0)], [1, -1], 0)
        rsi_ok = np.where(
            trend > 0,
            (rsi >= self.rsi_long_min) & (rsi <= self.rsi_long_max),
            (rsi >= self.rsi_short_min) & (rsi <= self.rsi_short_max),
        )
        reason = np.select(
            [~valid, trend == 0, turn != trend, ~rsi_ok],
            ["warmup", "no_trend", "no_momentum", "rsi_out_of_band"],
            default=PASS,
        ).astype(object)
        side = np.where(reason == PASS, trend, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            trend_part = np.clip(np.abs(close - ema50) / (2.0 * atr), 0.0, 1.0)
        adx_part = np.clip((column(frame, "adx_14") - 15.0) / 25.0, 0.0, 1.0)
        volume_part = np.clip(column(frame, "volume_ratio") / 2.0, 0.0, 1.0)
        strength = np.nan_to_num(0.4 * trend_part + 0.3 * adx_part + 0.3 * volume_part, nan=0.0)
        return setup_frame(frame.index, side, strength, reason)


@dataclass(frozen=True, slots=True)
class SmaCrossStrategy:
    """Reference strategy: long when SMA(fast) crosses above SMA(slow) on this candle
    (below on the previous one, above now), short on the opposite cross. Strength 1."""

    fast: int = 10
    slow: int = 30
    name: str = "sma_cross"

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError("need 0 < fast < slow")

    def warmup(self, timeframe: str) -> int:
        return self.slow  # first row whose previous row has SMA(slow)

    def signals(self, frame: pd.DataFrame, timeframe: str = "1h") -> pd.DataFrame:
        close = column(frame, "close")
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        prev_fast = np.concatenate([[np.nan], fast[:-1]])
        prev_slow = np.concatenate([[np.nan], slow[:-1]])
        valid = np.isfinite(prev_slow) & np.isfinite(slow)
        side = np.select([(prev_fast < prev_slow) & (fast > slow), (prev_fast > prev_slow) & (fast < slow)], [1, -1], 0)
        reason = np.select([~valid, side == 0], ["warmup", "no_cross"], default=PASS).astype(object)
        return setup_frame(frame.index, side, np.ones(len(frame)), reason)
