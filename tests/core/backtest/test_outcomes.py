"""A signal's outcome under the bot's rules, worked by hand."""

import math

import pandas as pd
import pytest

from core.backtest.outcomes import trade_outcome
from core.models import Side, SignalLevels
from core.rules.exits import ManagementRules
from core.rules.fills import FillModel

LEVELS = SignalLevels(Side.LONG, entry=100.0, stop=98.0, tp1=103.0, tp2=105.0)


def candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(rows), freq="h", tz="UTC")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)


def test_fixed_targets_worked_by_hand():
    frame = candles([
        (100.0, 100.0, 100.0, 100.0),  # the decision candle
        (100.0, 103.5, 99.5, 103.0),  # fill at 100; TP1 103 takes half, stop to 100, then trails to 103.5 - 2 = 101.5
        (103.0, 105.5, 102.0, 105.0),  # TP2 105 closes the rest
        (105.0, 105.0, 105.0, 105.0),
    ])  # fmt: skip
    out = trade_outcome(frame, 0, LEVELS, atr=1.0, rules=ManagementRules(), fills=FillModel(0.001, 0.0))
    gross = 0.5 * 3.0 + 0.5 * 5.0
    fees = 0.001 * (100.0 + 0.5 * 103.0 + 0.5 * 105.0)
    assert out.entered and out.complete and out.exit_row == 2
    assert out.r == pytest.approx((gross - fees) / 2.0)  # risk 100 - 98 per unit
    assert out.return_pct == pytest.approx(gross - fees)  # per 100 of notional


def test_a_stop_is_a_market_exit_with_slippage():
    frame = candles([(100.0,) * 4, (100.0, 100.5, 97.0, 97.5), (97.5,) * 4])
    out = trade_outcome(frame, 0, LEVELS, atr=1.0, rules=ManagementRules(), fills=FillModel(0.0, 0.1))
    entry, exit_ = 100.0 * 1.001, 98.0 * 0.999
    assert out.r == pytest.approx((exit_ - entry) / (entry - 98.0))


def test_a_drifted_open_is_not_entered_and_an_open_end_is_not_complete():
    gap = candles([(100.0,) * 4, (101.5, 102.0, 101.0, 101.5)])
    refused = trade_outcome(gap, 0, LEVELS, atr=1.0, rules=ManagementRules(), fills=FillModel(), max_drift_r=0.25)
    assert not refused.entered and math.isnan(refused.r)
    still_open = candles([(100.0,) * 4, (100.0, 101.0, 99.0, 100.5), (100.5, 101.0, 100.0, 100.8)])
    out = trade_outcome(still_open, 0, LEVELS, atr=1.0, rules=ManagementRules(), fills=FillModel())
    assert out.entered and not out.complete and math.isnan(out.r)
