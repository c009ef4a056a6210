"""Market regime detection and the adaptive strategy that sets parameters per regime.

Regimes, checked in this order on every candle:
- `high_volatility`: ATR as a percent of price is at least `vol_ratio` times its own
  rolling median over `vol_window` candles;
- `trending_up` / `trending_down`: ADX at least `adx_trend`, direction from +DI vs -DI;
- `ranging`: everything else;
- `unknown`: the indicators are not defined yet (warm-up).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from core.models import Side


class Regime(enum.StrEnum):
    """Market regime of one candle."""

    TRENDING_UP = "trending_up"
    TRENDING_DOWN = "trending_down"
    RANGING = "ranging"
    HIGH_VOLATILITY = "high_volatility"
    UNKNOWN = "unknown"


_BY_CODE = np.array(
    [Regime.UNKNOWN, Regime.HIGH_VOLATILITY, Regime.TRENDING_UP, Regime.TRENDING_DOWN, Regime.RANGING],
    dtype=object,
)


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    adx_trend: float = 25.0  # ADX at or above this is a trend
    vol_window: int = 720  # candles in the volatility baseline (30 days of 1h)
    vol_ratio: float = 1.8  # ATR% over its baseline at or above this is high volatility

    def __post_init__(self) -> None:
        if self.vol_window < 2 or self.vol_ratio <= 1.0 or self.adx_trend <= 0:
            raise ValueError("vol_window >= 2, vol_ratio > 1 and adx_trend > 0 are required")


def classify_regimes(frame: pd.DataFrame, config: RegimeConfig) -> np.ndarray:
    """Regime of every row (an object array of `Regime`), from the columns adx_14,
    plus_di, minus_di and atr_pct. Causal: the baseline median uses past rows only."""
    adx = frame["adx_14"].to_numpy(dtype=np.float64)
    plus_di = frame["plus_di"].to_numpy(dtype=np.float64)
    minus_di = frame["minus_di"].to_numpy(dtype=np.float64)
    atr_pct = frame["atr_pct"]
    baseline = atr_pct.rolling(config.vol_window, min_periods=config.vol_window).median().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_ratio = atr_pct.to_numpy(dtype=np.float64) / baseline
    known = np.isfinite(adx) & np.isfinite(plus_di) & np.isfinite(minus_di) & np.isfinite(vol_ratio)
    trending = adx >= config.adx_trend
    codes = np.select(
        [
            ~known,
            vol_ratio >= config.vol_ratio,
            trending & (plus_di > minus_di),
            trending & (minus_di > plus_di),
        ],
        [0, 1, 2, 3],
        default=4,
    )
    return _BY_CODE[codes]


def detect_regime(frame: pd.DataFrame, config: RegimeConfig) -> Regime:
    """Regime of the last row of `frame`."""
    return Regime(classify_regimes(frame, config)[-1])


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """What the adaptive strategy does in one regime."""

    trade: bool  # False: no new trades at all in this regime
    stop_atr_multiplier: float  # k in stop = entry -/+ k x ATR(14)
    min_strength: float  # candidates weaker than this are rejected
    counter_trend: bool = False  # allow trades against a trending regime's direction


@dataclass(frozen=True, slots=True)
class TradeVerdict:
    allowed: bool
    reason: str | None = None  # a short key when not allowed

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class RegimePolicy:
    """The adaptive strategy's parameters for one regime, with its trade decision."""

    regime: Regime
    params: RegimeParams

    def should_take_trade(self, signal_confidence: float, signal_direction: Side) -> TradeVerdict:
        """Whether a candidate with this confidence (strength) and direction may trade."""
        if not self.params.trade:
            return TradeVerdict(False, "regime_no_trade")
        against = (self.regime is Regime.TRENDING_UP and signal_direction is Side.SHORT) or (
            self.regime is Regime.TRENDING_DOWN and signal_direction is Side.LONG
        )
        if against and not self.params.counter_trend:
            return TradeVerdict(False, "regime_against_trend")
        if signal_confidence < self.params.min_strength:
            return TradeVerdict(False, "regime_weak_signal")
        return TradeVerdict(True)


DEFAULT_REGIME_PARAMS: Mapping[Regime, RegimeParams] = MappingProxyType(
    {
        Regime.TRENDING_UP: RegimeParams(trade=True, stop_atr_multiplier=2.0, min_strength=0.3),
        Regime.TRENDING_DOWN: RegimeParams(trade=True, stop_atr_multiplier=2.0, min_strength=0.3),
        Regime.RANGING: RegimeParams(trade=True, stop_atr_multiplier=1.5, min_strength=0.5),
        Regime.HIGH_VOLATILITY: RegimeParams(trade=True, stop_atr_multiplier=3.0, min_strength=0.6),
        Regime.UNKNOWN: RegimeParams(trade=False, stop_atr_multiplier=2.0, min_strength=1.0),
    }
)


@dataclass(frozen=True, slots=True)
class AdaptiveStrategy:
    """Per-regime parameters: stop multiplier, minimum strength, whether to trade."""

    params: Mapping[Regime, RegimeParams] = field(default_factory=lambda: DEFAULT_REGIME_PARAMS)

    def __post_init__(self) -> None:
        missing = set(Regime) - set(self.params)
        if missing:
            raise ValueError(f"no parameters for regimes {sorted(missing)}")

    def for_regime(self, regime: Regime) -> RegimePolicy:
        return RegimePolicy(regime, self.params[regime])
