import numpy as np
import pandas as pd

from core.signals.indicators import add_indicators, align_closed, higher_timeframe_trend, volume_ratio


def hourly(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h", tz="UTC")


def test_volume_ratio_is_volume_over_its_mean_including_this_candle():
    ratio = volume_ratio(np.array([1.0, 2.0, 3.0, 6.0]), period=3)
    # mean(1,2,3) = 2 -> 3/2 = 1.5; mean(2,3,6) = 11/3 -> 6 / (11/3) = 18/11
    np.testing.assert_allclose(ratio, [np.nan, np.nan, 1.5, 18 / 11])


def test_volume_ratio_is_nan_where_the_mean_volume_is_zero():
    ratio = volume_ratio(np.array([0.0, 0.0, 0.0, 5.0]), period=3)
    # mean(0,0,0) = 0 -> undefined; mean(0,0,5) = 5/3 -> 5 / (5/3) = 3
    np.testing.assert_allclose(ratio, [np.nan, np.nan, np.nan, 3.0])


def test_atr_pct_and_band_width_on_a_flat_market():
    n = 40
    candles = pd.DataFrame(
        {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1.0}, index=hourly(n)
    )
    frame = add_indicators(candles)
    # every true range is 101 - 99 = 2, so ATR(14) = 2 and ATR% = 2 / 100 * 100 = 2
    assert frame["atr_14"].iloc[-1] == 2.0
    assert frame["atr_pct"].iloc[-1] == 2.0
    # a constant close has zero deviation: the bands collapse onto the middle
    assert frame["bb_width"].iloc[-1] == 0.0
    assert frame["volume_ratio"].iloc[-1] == 1.0


def test_align_closed_uses_only_higher_candles_closed_by_the_base_close():
    base = hourly(9)  # opens 00:00..08:00, closes 01:00..09:00
    higher = pd.date_range("2024-01-01", periods=3, freq="4h", tz="UTC")  # closes 04:00, 08:00, 12:00
    values = np.array([10.0, 20.0, 30.0])
    aligned = align_closed(base, "1h", higher, "4h", values)
    # base 03:00 closes at 04:00 with the first 4h candle: 10; base 07:00 closes at 08:00: 20;
    # the 08:00 4h candle closes at 12:00, after every base candle here.
    np.testing.assert_array_equal(aligned, [np.nan, np.nan, np.nan, 10, 10, 10, 10, 20, 20])


def test_higher_timeframe_trend_sign_of_fast_minus_slow_ema():
    higher_index = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC")
    higher = pd.DataFrame({"close": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, index=higher_index)
    base = hourly(24)
    trend = higher_timeframe_trend(base, "1h", higher, "4h", fast=2, slow=3)
    # EMA(3) exists from the 3rd 4h candle (closes 12:00); on rising closes EMA(2) > EMA(3): +1.
    # Base candle 11:00 closes at 12:00: first defined value.
    assert np.isnan(trend[10])
    assert trend[11] == 1.0
    assert trend[23] == 1.0
