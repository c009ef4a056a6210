"""Trend-following strategies of the two families with the longest public record in
futures and crypto markets: the channel breakout (Donchian, the Turtles' rule) and
time-series momentum (the sign of the return over the last N days).

Their windows are spans of time, converted to candles of the frame's timeframe, so the
same playbook means the same thing on 30m, 1h, 4h and 1d candles. Both are events: a
candidate appears on the candle where the condition becomes true, not on every candle
while it holds (the bot publishes each candidate as a signal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.signals.filters import PASS
from core.signals.strategy import column, setup_frame
from core.timeframes import candles_in

_ATR_WARMUP = 15  # ATR(14) is defined from the 15th candle


def _previous(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[np.nan], values[:-1]])


@dataclass(frozen=True, slots=True)
class DonchianBreakoutStrategy:
    """A long when the close rises above the highest high of the previous
    `channel_days` (this candle excluded) and the previous close was not above its own
    channel; a short mirrored below the lowest low. Strength 0.5 + 0.5 x the breakout's
    size in ATRs, capped at 1: (close - channel) / ATR(14)."""

    channel_days: float = 20.0
    name: str = "donchian"

    def warmup(self, timeframe: str) -> int:
        return max(candles_in(self.channel_days, timeframe) + 1, _ATR_WARMUP)

    def signals(self, frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
        n = candles_in(self.channel_days, timeframe)
        close, atr = column(frame, "close"), column(frame, "atr_14")
        upper = frame["high"].rolling(n, min_periods=n).max().shift(1).to_numpy(dtype=np.float64)
        lower = frame["low"].rolling(n, min_periods=n).min().shift(1).to_numpy(dtype=np.float64)
        prev_close, prev_upper, prev_lower = _previous(close), _previous(upper), _previous(lower)
        valid = np.isfinite(np.column_stack([close, upper, lower, prev_upper, prev_lower, atr])).all(axis=1)
        up = (close > upper) & ~(prev_close > prev_upper)
        down = (close < lower) & ~(prev_close < prev_lower)
        side = np.select([valid & up, valid & down], [1, -1], 0)
        reason = np.select([~valid, side == 0], ["warmup", "no_breakout"], default=PASS).astype(object)
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(side > 0, close - upper, lower - close) / atr
        strength = 0.5 + 0.5 * np.clip(np.nan_to_num(size, nan=0.0), 0.0, 1.0)
        return setup_frame(frame.index, side, strength, reason)


@dataclass(frozen=True, slots=True)
class TimeSeriesMomentumStrategy:
    """A long when the return over the last `lookback_days` turns positive on this
    candle (it was at or below zero on the previous one), a short when it turns negative.
    Strength: the return over its own volatility over the same span (the per-candle log
    return's standard deviation times the square root of the candles), capped at 1.

    The size is volatility-scaled by the playbook's ATR stop: the position risks a fixed
    share of equity to a stop k x ATR away, so its notional falls as volatility rises."""

    lookback_days: float = 30.0
    name: str = "tsmom"

    def warmup(self, timeframe: str) -> int:
        return max(candles_in(self.lookback_days, timeframe) + 2, _ATR_WARMUP)

    def signals(self, frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
        n = candles_in(self.lookback_days, timeframe)
        close = frame["close"]
        momentum = (close / close.shift(n) - 1.0).to_numpy(dtype=np.float64)
        previous = _previous(momentum)
        log_returns = np.log(close).diff()
        volatility = (log_returns.rolling(n, min_periods=n).std() * np.sqrt(n)).to_numpy(dtype=np.float64)
        atr = column(frame, "atr_14")
        valid = np.isfinite(np.column_stack([momentum, previous, atr])).all(axis=1)
        turned_up = valid & (momentum > 0) & (previous <= 0)
        turned_down = valid & (momentum < 0) & (previous >= 0)
        side = np.select([turned_up, turned_down], [1, -1], 0)
        reason = np.select([~valid, side == 0], ["warmup", "no_momentum_turn"], default=PASS).astype(object)
        with np.errstate(divide="ignore", invalid="ignore"):
            strength = np.clip(np.nan_to_num(np.abs(np.log1p(momentum)) / volatility, nan=0.0), 0.0, 1.0)
        return setup_frame(frame.index, side, strength, reason)
