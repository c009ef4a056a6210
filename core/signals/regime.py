"""Market regime detection and the adaptive strategy that sets parameters per regime.

Regimes, checked in this order on every candle:
- `high_volatility`: ATR as a percent of price is at least `vol_ratio` times its own
  rolling median over the last `vol_window_days` (30 days: 720 candles of 1h, 180 of 4h,
  30 of 1d), defined once `vol_min_days` of history are there (the window grows until full);
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
from core.timeframes import candles_in


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
    vol_window_days: float = 30.0  # span of the volatility baseline (a time, not a candle count)
    vol_min_days: float = 10.0  # history the baseline needs before it is defined
    vol_ratio: float = 1.8  # ATR% over its baseline at or above this is high volatility

    def __post_init__(self) -> None:
        if not 0 < self.vol_min_days <= self.vol_window_days or self.vol_ratio <= 1.0 or self.adx_trend <= 0:
            raise ValueError("0 < vol_min_days <= vol_window_days, vol_ratio > 1 and adx_trend > 0 are required")

    def baseline_candles(self, timeframe: str) -> tuple[int, int]:
        """(window, minimum) of the baseline median in candles of `timeframe`, each >= 2."""
        window = max(2, candles_in(self.vol_window_days, timeframe))
        return window, min(window, max(2, candles_in(self.vol_min_days, timeframe)))

    def warmup(self, timeframe: str) -> int:
        """Candles before the first known regime: the baseline's minimum plus ATR(14)'s."""
        return self.baseline_candles(timeframe)[1] + 15


def classify_regimes(frame: pd.DataFrame, config: RegimeConfig, timeframe: str) -> np.ndarray:
    """Regime of every row (an object array of `Regime`) of a `timeframe` frame, from the
    columns adx_14, plus_di, minus_di and atr_pct. Causal: the baseline median uses past
    rows only."""
    adx = frame["adx_14"].to_numpy(dtype=np.float64)
    plus_di = frame["plus_di"].to_numpy(dtype=np.float64)
    minus_di = frame["minus_di"].to_numpy(dtype=np.float64)
    atr_pct = frame["atr_pct"]
    window, minimum = config.baseline_candles(timeframe)
    baseline = atr_pct.rolling(window, min_periods=minimum).median().to_numpy()
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


def detect_regime(frame: pd.DataFrame, config: RegimeConfig, timeframe: str) -> Regime:
    """Regime of the last row of `frame`."""
    return Regime(classify_regimes(frame, config, timeframe)[-1])


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
