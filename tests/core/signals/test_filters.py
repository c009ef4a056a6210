import numpy as np
import pandas as pd
import pytest

from core.signals.filters import (
    AdxFilter,
    HigherTimeframeFilter,
    RegimeFilter,
    TimeOfDayFilter,
    VolumeFilter,
    apply_filters,
)
from core.signals.regime import Regime

NAN = np.nan


def frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))


LONGS = np.array([1, 1, 1, 1])
STRENGTH = np.array([0.5, 0.5, 0.5, 0.5])


def test_higher_timeframe_must_agree():
    f = frame(htf_trend=[1.0, -1.0, NAN, 0.0])
    assert list(HigherTimeframeFilter().check(f, LONGS, STRENGTH)) == [
        "",
        "mtf_disagrees",
        "mtf_unavailable",
        "mtf_disagrees",
    ]
    assert list(HigherTimeframeFilter().check(f, -LONGS, STRENGTH)) == [
        "mtf_disagrees",
        "",
        "mtf_unavailable",
        "mtf_disagrees",
    ]


def test_adx_must_reach_the_minimum():
    f = frame(adx_14=[25.0, 19.9, 20.0, NAN])
    assert list(AdxFilter(min_adx=20.0).check(f, LONGS, STRENGTH)) == ["", "adx_weak", "", "adx_weak"]


def test_volume_ratio_must_reach_the_minimum():
    f = frame(volume_ratio=[1.2, 0.99, 1.0, NAN])
    assert list(VolumeFilter(min_ratio=1.0).check(f, LONGS, STRENGTH)) == ["", "volume_low", "", "volume_low"]


def test_time_of_day_blocks_utc_hours():
    f = frame(close=[1.0, 1.0, 1.0, 1.0])  # candles open 00:00, 01:00, 02:00, 03:00 UTC
    result = TimeOfDayFilter(blocked_hours=frozenset({0, 1})).check(f, LONGS, STRENGTH)
    assert list(result) == ["time_blocked", "time_blocked", "", ""]
    assert list(TimeOfDayFilter().check(f, LONGS, STRENGTH)) == ["", "", "", ""]
    with pytest.raises(ValueError):
        TimeOfDayFilter(blocked_hours=frozenset({24}))


def test_regime_filter_asks_the_adaptive_strategy_per_candidate():
    f = frame(regime=[Regime.TRENDING_UP, Regime.TRENDING_UP, Regime.RANGING, Regime.UNKNOWN, Regime.RANGING])
    side = np.array([1, -1, 1, 1, 0])
    strength = np.array([0.3, 0.9, 0.45, 1.0, NAN])
    # long in an up-trend at the 0.3 minimum: pass; short against it; 0.45 < 0.5 when ranging;
    # no trading without a known regime; no candidate on the last row
    assert list(RegimeFilter().check(f, side, strength)) == [
        "",
        "regime_against_trend",
        "regime_weak_signal",
        "regime_no_trade",
        "",
    ]


def test_apply_filters_keeps_the_first_rejection_and_skips_non_candidates():
    f = frame(adx_14=[10.0, 30.0, 30.0, 10.0], volume_ratio=[0.5, 0.5, 2.0, 0.5])
    side = np.array([1, -1, 1, 0])
    start = np.array(["", "", "", "no_trend"], dtype=object)
    reasons = apply_filters(f, side, STRENGTH, start, [AdxFilter(), VolumeFilter()])
    assert list(reasons) == ["adx_weak", "volume_low", "", "no_trend"]
