"""Base strategies and the playbooks that bundle a strategy with its filters, stops and
position management.

A strategy looks at a prepared frame (core.signals.indicators.add_indicators) and says, for
every row at once, whether there is a long (+1) or short (-1) candidate, how strong it
is (0..1), or why there is none. Vectorised and causal: row i uses rows <= i only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from core.models import Limits
from core.rules.exits import ManagementRules
from core.rules.stops import StopConfig, StopType
from core.signals.filters import (
    PASS,
    AdxFilter,
    CandidateFilter,
    HigherTimeframeFilter,
    RegimeFilter,
    TimeOfDayFilter,
    VolumeFilter,
)
from core.signals.indicators import WARMUP, sma
from core.signals.regime import AdaptiveStrategy, RegimeConfig


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def warmup(self) -> int:
        """Candles needed before the strategy can produce a candidate."""

    def signals(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row: side (int8 +1/-1/0), strength (0..1, NaN without a candidate) and
        reason ('' with a candidate, else why there is none)."""


def _setup(index: pd.Index, side: np.ndarray, strength: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    strength = np.where(side != 0, strength, np.nan)
    return pd.DataFrame({"side": side.astype(np.int8), "strength": strength, "reason": reason}, index=index)


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
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

    @property
    def warmup(self) -> int:
        return WARMUP

    def signals(self, frame: pd.DataFrame) -> pd.DataFrame:
        close, ema50, ema200 = _col(frame, "close"), _col(frame, "ema_50"), _col(frame, "ema_200")
        hist, rsi, atr = _col(frame, "macd_hist"), _col(frame, "rsi_14"), _col(frame, "atr_14")
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
        adx_part = np.clip((_col(frame, "adx_14") - 15.0) / 25.0, 0.0, 1.0)
        volume_part = np.clip(_col(frame, "volume_ratio") / 2.0, 0.0, 1.0)
        strength = np.nan_to_num(0.4 * trend_part + 0.3 * adx_part + 0.3 * volume_part, nan=0.0)
        return _setup(frame.index, side, strength, reason)


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

    @property
    def warmup(self) -> int:
        return self.slow  # first row whose previous row has SMA(slow)

    def signals(self, frame: pd.DataFrame) -> pd.DataFrame:
        close = _col(frame, "close")
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        prev_fast = np.concatenate([[np.nan], fast[:-1]])
        prev_slow = np.concatenate([[np.nan], slow[:-1]])
        valid = np.isfinite(prev_slow) & np.isfinite(slow)
        side = np.select([(prev_fast < prev_slow) & (fast > slow), (prev_fast > prev_slow) & (fast < slow)], [1, -1], 0)
        reason = np.select([~valid, side == 0], ["warmup", "no_cross"], default=PASS).astype(object)
        return _setup(frame.index, side, np.ones(len(frame)), reason)


@dataclass(frozen=True, slots=True)
class Playbook:
    """Everything that decides and manages a trade: the strategy, its filters in order,
    the regime detector, stops and targets, position management, and the risk limits a
    backtest uses by default."""

    name: str
    strategy: Strategy
    filters: tuple[CandidateFilter, ...] = ()
    adaptive: AdaptiveStrategy | None = None  # regime-chosen stop multiplier when set
    regime: RegimeConfig = field(default_factory=RegimeConfig)
    stops: StopConfig = field(default_factory=StopConfig)
    management: ManagementRules = field(default_factory=ManagementRules)
    uses_higher_timeframe: bool = False
    limits: Limits = field(default_factory=Limits)

    @property
    def warmup(self) -> int:
        regime_warmup = self.regime.vol_window + 15 if self.adaptive is not None else 0
        return max(self.strategy.warmup, regime_warmup)


def hybrid_playbook() -> Playbook:
    """The product's engine: trend-momentum candidates; MTF, ADX, volume, time-of-day and
    regime filters; regime-dependent ATR stops, TP1 1.5 R (half), TP2 2.5 R; break-even
    after TP1, then a 2 x ATR trail."""
    adaptive = AdaptiveStrategy()
    return Playbook(
        name="hybrid",
        strategy=TrendMomentumStrategy(),
        filters=(
            HigherTimeframeFilter(),
            AdxFilter(),
            VolumeFilter(),
            TimeOfDayFilter(),
            RegimeFilter(adaptive),
        ),
        adaptive=adaptive,
        uses_higher_timeframe=True,
    )


def sma_cross_playbook(fast: int = 10, slow: int = 30, stop_pct: float = 2.0, take_profit_pct: float = 4.0) -> Playbook:
    """Reference: SMA cross, fixed-percent stop and one take-profit, no filters, no
    trailing; up to 5 positions of 20% of equity each. Proves the accounting."""
    target_r = take_profit_pct / stop_pct
    return Playbook(
        name="sma_cross",
        strategy=SmaCrossStrategy(fast, slow),
        stops=StopConfig(mode=StopType.FIXED, fallback_stop_pct=stop_pct, tp1_r=target_r, tp2_r=target_r),
        management=ManagementRules(tp1_fraction=1.0, breakeven_after_tp1=False, trail_atr_multiplier=0.0),
        limits=Limits(
            max_open_positions=5,
            risk_per_trade_pct=100.0,
            max_position_pct=20.0,
            max_total_risk_pct=100.0,
            max_correlation=1.0,
            max_daily_loss_pct=100.0,
            max_drawdown_pct=100.0,
            kelly_fraction=0.0,
        ),
    )


PLAYBOOKS: dict[str, Callable[[], Playbook]] = {"hybrid": hybrid_playbook, "sma_cross": sma_cross_playbook}


def playbook(name: str) -> Playbook:
    """The playbook registered under `name`."""
    if name not in PLAYBOOKS:
        raise ValueError(f"unknown strategy {name!r}; choose one of {sorted(PLAYBOOKS)}")
    return PLAYBOOKS[name]()
