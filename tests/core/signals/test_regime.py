import numpy as np
import pandas as pd
import pytest

from core.models import Side
from core.signals.indicators import add_indicators
from core.signals.regime import (
    DEFAULT_REGIME_PARAMS,
    AdaptiveStrategy,
    Regime,
    RegimeConfig,
    RegimeParams,
    classify_regimes,
    detect_regime,
)

# a 50-candle baseline on 1h candles, defined once full
CONFIG = RegimeConfig(adx_trend=25.0, vol_window_days=50 / 24, vol_min_days=50 / 24, vol_ratio=1.8)


def frame_from_closes(closes: np.ndarray, half_range: float = 0.5) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(closes), freq="h", tz="UTC")
    candles = pd.DataFrame(
        {
            "open": closes,
            "high": closes + half_range,
            "low": closes - half_range,
            "close": closes,
            "volume": 1.0,
        },
        index=index,
    )
    return add_indicators(candles)


def test_steady_rise_is_trending_up():
    # every high and low 1 above the previous: +DM 1, -DM 0 -> +DI > 0 = -DI, ADX -> 100;
    # ATR is constant while the price rises, so ATR% falls below its median: not volatile
    regimes = classify_regimes(frame_from_closes(100.0 + np.arange(150.0)), CONFIG, "1h")
    assert set(regimes[80:]) == {Regime.TRENDING_UP}


def test_steady_fall_is_trending_down():
    regimes = classify_regimes(frame_from_closes(400.0 - np.arange(150.0)), CONFIG, "1h")
    assert set(regimes[80:]) == {Regime.TRENDING_DOWN}


def test_zigzag_is_ranging():
    # closes 100, 101, 100, 101 ...: +DM and -DM alternate, so +DI ~ -DI and ADX stays low
    closes = 100.0 + np.arange(150) % 2
    regimes = classify_regimes(frame_from_closes(closes), CONFIG, "1h")
    assert set(regimes[80:]) == {Regime.RANGING}


def test_volatility_burst_is_high_volatility_and_beats_trend():
    # 150 calm zigzag candles (true range 1.5), then 20 swinging 5 up and down (true range 5.5):
    # ATR climbs to ~4.6 while the 50-candle median of ATR% stays ~1.5%: ratio ~3 >= 1.8
    closes = np.concatenate([100.0 + np.arange(150) % 2, 100.0 + 5.0 * (np.arange(20) % 2)])
    frame = frame_from_closes(closes)
    regimes = classify_regimes(frame, CONFIG, "1h")
    assert regimes[149] is Regime.RANGING
    assert set(regimes[160:]) == {Regime.HIGH_VOLATILITY}
    assert detect_regime(frame, CONFIG, "1h") is Regime.HIGH_VOLATILITY


def test_unknown_during_warm_up():
    regimes = classify_regimes(frame_from_closes(100.0 + np.arange(150.0)), CONFIG, "1h")
    # ATR(14) first exists at row 14 (TA-Lib's lookback), the 50-value median of ATR% at
    # row 14 + 49 = 63 (ADX(14) is already there from row 27)
    assert set(regimes[:63]) == {Regime.UNKNOWN}
    assert regimes[63] is Regime.TRENDING_UP


def policy(regime: Regime):
    return AdaptiveStrategy().for_regime(regime)


def test_should_take_trade_per_regime():
    assert policy(Regime.TRENDING_UP).should_take_trade(0.5, Side.LONG).allowed
    assert policy(Regime.TRENDING_UP).should_take_trade(0.9, Side.SHORT).reason == "regime_against_trend"
    assert policy(Regime.TRENDING_DOWN).should_take_trade(0.9, Side.LONG).reason == "regime_against_trend"
    assert policy(Regime.RANGING).should_take_trade(0.4, Side.LONG).reason == "regime_weak_signal"  # < 0.5
    assert policy(Regime.RANGING).should_take_trade(0.5, Side.SHORT).allowed
    assert policy(Regime.HIGH_VOLATILITY).should_take_trade(0.6, Side.LONG).allowed  # at the minimum
    assert policy(Regime.UNKNOWN).should_take_trade(1.0, Side.LONG).reason == "regime_no_trade"


def test_regime_sets_the_stop_multiplier_and_counter_trend_can_be_allowed():
    assert policy(Regime.RANGING).params.stop_atr_multiplier == 1.5
    assert policy(Regime.HIGH_VOLATILITY).params.stop_atr_multiplier == 3.0
    params = dict(DEFAULT_REGIME_PARAMS)
    params[Regime.TRENDING_UP] = RegimeParams(
        trade=True, stop_atr_multiplier=2.0, min_strength=0.3, counter_trend=True
    )
    assert AdaptiveStrategy(params).for_regime(Regime.TRENDING_UP).should_take_trade(0.5, Side.SHORT).allowed


def test_adaptive_strategy_needs_every_regime():
    with pytest.raises(ValueError):
        AdaptiveStrategy({Regime.RANGING: DEFAULT_REGIME_PARAMS[Regime.RANGING]})
