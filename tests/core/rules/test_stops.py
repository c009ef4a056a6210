import math

import pytest

from core.models import Side
from core.rules.stops import StopConfig, StopType, calculate_initial_stop, update_stop


def test_atr_stop_for_a_long_with_targets_at_r_multiples():
    stop = calculate_initial_stop(100.0, Side.LONG, atr=2.0, config=StopConfig(), atr_multiplier=2.0)
    # distance = 2 x 2 = 4 -> stop 96, TP1 = 100 + 1.5 x 4 = 106, TP2 = 100 + 2.5 x 4 = 110
    assert (stop.stop_price, stop.levels.tp1, stop.levels.tp2) == (96.0, 106.0, 110.0)
    assert stop.stop_distance == 4.0
    assert stop.stop_percentage == 4.0  # 4 / 100
    assert stop.risk_reward == 2.5
    assert (stop.stop_type, stop.atr_value, stop.atr_multiplier) == (StopType.ATR, 2.0, 2.0)


def test_atr_stop_for_a_short_uses_the_regime_multiplier():
    stop = calculate_initial_stop(200.0, Side.SHORT, atr=4.0, config=StopConfig(), atr_multiplier=3.0)
    # distance = 3 x 4 = 12 -> stop 212, TP1 = 200 - 18 = 182, TP2 = 200 - 30 = 170; 12/200 = 6%
    assert (stop.stop_price, stop.levels.tp1, stop.levels.tp2) == (212.0, 182.0, 170.0)
    assert stop.stop_percentage == 6.0


def test_config_multiplier_when_no_regime_chooses_one():
    stop = calculate_initial_stop(100.0, Side.LONG, atr=1.0, config=StopConfig(atr_multiplier=1.5))
    assert stop.stop_price == 98.5  # 100 - 1.5 x 1


@pytest.mark.parametrize("atr", [None, math.nan, 0.0, -1.0])
def test_fixed_percent_fallback_when_atr_is_unavailable(atr):
    stop = calculate_initial_stop(50.0, Side.LONG, atr=atr, config=StopConfig(fallback_stop_pct=2.0))
    # 2% of 50 = 1 -> stop 49, TP1 = 50 + 1.5 = 51.5, TP2 = 50 + 2.5 = 52.5
    assert (stop.stop_price, stop.levels.tp1, stop.levels.tp2) == (49.0, 51.5, 52.5)
    assert stop.stop_type is StopType.FIXED
    assert stop.atr_multiplier is None


def test_fixed_mode_ignores_a_known_atr():
    config = StopConfig(mode=StopType.FIXED, fallback_stop_pct=2.0, tp1_r=2.0, tp2_r=2.0)
    stop = calculate_initial_stop(100.0, Side.SHORT, atr=5.0, config=config)
    # 2% of 100 = 2 -> stop 102, single target 100 - 2 x 2 = 96
    assert (stop.stop_price, stop.levels.tp1, stop.levels.tp2) == (102.0, 96.0, 96.0)


def test_trailing_long_follows_the_highest_high():
    # highest 110, 2 x ATR 1.5 = 3 -> 107, below the close 108 and above the stop 100
    assert (
        update_stop(Side.LONG, 100.0, highest=110.0, lowest=95.0, close=108.0, atr=1.5, multiplier=2.0)
        == 107.0
    )


def test_trailing_long_never_above_the_close():
    # 110 - 3 = 107 but the close is 106: the stop goes to 106
    assert (
        update_stop(Side.LONG, 100.0, highest=110.0, lowest=95.0, close=106.0, atr=1.5, multiplier=2.0)
        == 106.0
    )


def test_trailing_never_moves_against_the_position():
    # long: 104 - 3 = 101 is below the current stop 102 -> stays 102
    assert (
        update_stop(Side.LONG, 102.0, highest=104.0, lowest=95.0, close=103.0, atr=1.5, multiplier=2.0)
        == 102.0
    )
    # short: 96 + 3 = 99 is above the current stop 98 -> stays 98
    assert (
        update_stop(Side.SHORT, 98.0, highest=110.0, lowest=96.0, close=97.0, atr=1.5, multiplier=2.0) == 98.0
    )


def test_trailing_short_follows_the_lowest_low():
    # lowest 90 + 2 x 1 = 92, above the close 91 and below the stop 100
    assert (
        update_stop(Side.SHORT, 100.0, highest=105.0, lowest=90.0, close=91.0, atr=1.0, multiplier=2.0)
        == 92.0
    )


def test_stop_config_rejects_targets_out_of_order():
    with pytest.raises(ValueError):
        StopConfig(tp1_r=3.0, tp2_r=2.5)
