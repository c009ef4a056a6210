import numpy as np
import pandas as pd
import pytest

from core.signals.playbooks import playbook
from core.signals.strategy import SmaCrossStrategy, TrendMomentumStrategy


def indexed(columns: dict) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))


def test_trend_momentum_candidates_and_reasons():
    f = indexed(
        {
            "close": [90.0, 90.0, 110.0, 110.0, 104.0, 110.0],
            "ema_50": [95.0, 95.0, 105.0, 105.0, 105.0, 105.0],
            "ema_200": [100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
            "macd_hist": [0.5, -0.5, 0.2, 0.3, -0.1, 0.4],
            "rsi_14": [40.0, 40.0, 75.0, 60.0, 60.0, 60.0],
            "atr_14": [5.0, 5.0, 2.5, 2.5, 2.5, 2.5],
            "adx_14": [15.0, 15.0, 30.0, 30.0, 30.0, 30.0],
            "volume_ratio": [2.5, 2.5, 1.5, 1.5, 1.5, 1.5],
        }
    )
    out = TrendMomentumStrategy().signals(f)
    # 0: no previous histogram; 1: down-trend and the histogram turns negative, RSI 40 in [30, 50];
    # 2: turn up in an up-trend but RSI 75 > 70; 3: no turn (0.2 -> 0.3); 4: close below EMA50 above
    # EMA200; 5: up-trend, turn up (-0.1 -> 0.4), RSI 60
    assert list(out["reason"]) == ["warmup", "", "rsi_out_of_band", "no_momentum", "no_trend", ""]
    assert list(out["side"]) == [0, -1, 0, 0, 0, 1]
    # row 1: trend |90 - 95| / (2 x 5) = 0.5; ADX (15 - 15)/25 = 0; volume 2.5/2 -> 1
    #        0.4 x 0.5 + 0.3 x 0 + 0.3 x 1 = 0.5
    # row 5: trend 5 / 5 = 1; ADX (30 - 15)/25 = 0.6; volume 1.5/2 = 0.75
    #        0.4 + 0.18 + 0.225 = 0.805
    assert out["strength"].iloc[1] == pytest.approx(0.5)
    assert out["strength"].iloc[5] == pytest.approx(0.805)
    assert np.isnan(out["strength"].iloc[2])


def test_sma_cross_by_hand():
    closes = [5.0, 4.0, 3.0, 4.0, 5.0, 6.0, 5.0, 4.0, 3.0]
    out = SmaCrossStrategy(fast=2, slow=3).signals(indexed({"close": closes}))
    # SMA2: -, 4.5, 3.5, 3.5, 4.5, 5.5, 5.5, 4.5, 3.5
    # SMA3: -, -, 4, 3.67, 4, 5, 5.33, 5, 4
    # row 4: 3.5 < 3.67 then 4.5 > 4 -> long; row 7: 5.5 > 5.33 then 4.5 < 5 -> short
    assert list(out["side"]) == [0, 0, 0, 0, 1, 0, 0, -1, 0]
    assert list(out["reason"]) == ["warmup"] * 3 + ["no_cross", "", "no_cross", "no_cross", "", "no_cross"]


def test_playbooks_by_name():
    assert playbook("hybrid").uses_higher_timeframe
    reference = playbook("sma_cross")
    assert reference.filters == () and reference.management.tp1_fraction == 1.0
    with pytest.raises(ValueError):
        playbook("moon")
