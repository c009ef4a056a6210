"""The backtester applies the bot's risk rules: the day starts at 00:00 UTC whatever the
index's time unit, the entry is refused past the allowed drift, the size comes from
the price seen at confirmation."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from core.backtest.simulation import BacktestConfig, run_backtest, utc_days
from core.models import Limits
from core.rules.exits import ManagementRules
from core.rules.fills import FillModel
from core.rules.stops import StopConfig, StopType
from core.signals.filters import PASS
from core.signals.playbooks import Playbook
from core.signals.strategy import setup_frame


@dataclass(frozen=True)
class ScriptedStrategy:
    """A long candidate exactly at the given candle open times."""

    times: tuple[pd.Timestamp, ...]
    name: str = "scripted"

    def warmup(self, timeframe: str) -> int:
        return 0

    def signals(self, frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
        side = np.where(frame.index.isin(pd.DatetimeIndex(self.times)), 1, 0)
        reason = np.where(side != 0, PASS, "no_setup").astype(object)
        return setup_frame(frame.index, side, np.ones(len(frame)), reason)


def scripted_playbook(*times: str) -> Playbook:
    """Longs at `times` with a 10 % stop, one far target, no trailing; 10 % of equity at
    risk (so a stop-out loses 10 %) and a 5 % daily-loss limit."""
    return Playbook(
        name="scripted",
        strategy=ScriptedStrategy(tuple(pd.Timestamp(t, tz="UTC") for t in times)),
        stops=StopConfig(mode=StopType.FIXED, fallback_stop_pct=10.0, tp1_r=5.0, tp2_r=5.0),
        management=ManagementRules(tp1_fraction=1.0, breakeven_after_tp1=False, trail_atr_multiplier=0.0),
        limits=Limits(
            max_open_positions=5, risk_per_trade_pct=10.0, max_position_pct=100.0, max_total_risk_pct=100.0,
            max_correlation=1.0, max_daily_loss_pct=5.0, max_drawdown_pct=100.0, kelly_fraction=0.0,
        ),  # fmt: skip
    )


def crash_day(unit: str) -> pd.DataFrame:
    """Two days of hourly candles at 100; at 03:00 on the first day the price falls
    through a 10 % stop (low 85), then stays at 100."""
    index = pd.date_range("2024-03-01", periods=48, freq="h", tz="UTC").as_unit(unit)
    frame = pd.DataFrame({"open": 100.0, "high": 100.5, "low": 99.5, "close": 100.0, "volume": 1.0}, index=index)
    frame.loc[index[3], ["low", "close"]] = [85.0, 95.0]
    frame.loc[index[4:], ["open", "high", "low", "close"]] = [100.0, 100.5, 99.5, 100.0]
    return frame


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_the_daily_loss_limit_resets_at_midnight_utc_in_every_time_unit(unit):
    # 01:00 signal -> filled 02:00 at 100, stopped at 90 at 03:00: -10 % of equity that day.
    # 22:00 signal -> fill at 23:00 is refused (still the losing day);
    # 23:00 signal -> fill at 00:00 of the next day is taken: the day starts anew at 00:00 UTC.
    strategy = scripted_playbook("2024-03-01 01:00", "2024-03-01 22:00", "2024-03-01 23:00")
    config = BacktestConfig(fills=FillModel(fee_rate=0.0, slippage_pct=0.0))
    result = run_backtest({"X/USD": crash_day(unit)}, strategy, config)

    assert result.rejections["risk_max_daily_loss"] == 1
    entries = [pd.Timestamp(t.entry_time) for t in result.trades]
    assert entries == [pd.Timestamp("2024-03-01 02:00", tz="UTC"), pd.Timestamp("2024-03-02 00:00", tz="UTC")]
    assert result.trades[0].exit_reason == "stop_loss" and result.trades[0].pnl == pytest.approx(-1000.0)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_utc_days_count_whole_days_since_the_epoch(unit):
    stamps = pd.DatetimeIndex(
        ["1970-01-01 23:59:59", "1970-01-02 00:00:00", "2024-03-01 23:00", "2024-03-02 00:00"], tz="UTC"
    ).as_unit(unit)
    # 2024-03-01 is day 19 783 since 1970-01-01 (54 years, 13 of them leap: 54 x 365 + 13 + 60 days)
    assert utc_days(stamps).tolist() == [0, 1, 19_783, 19_784]
    other_zone = stamps.tz_convert("Asia/Tokyo")  # the same instants: the same UTC days
    assert utc_days(other_zone).tolist() == [0, 1, 19_783, 19_784]


def flat_then_jump(open_after_signal: float) -> pd.DataFrame:
    index = pd.date_range("2024-03-01", periods=6, freq="h", tz="UTC")
    frame = pd.DataFrame({"open": 100.0, "high": 100.5, "low": 99.5, "close": 100.0, "volume": 1.0}, index=index)
    frame.loc[index[2], ["open", "high", "low", "close"]] = [open_after_signal, open_after_signal + 0.5,
                                                           open_after_signal - 0.5, open_after_signal]  # fmt: skip
    return frame


def test_an_entry_that_drifted_past_the_allowed_move_is_refused():
    strategy = scripted_playbook("2024-03-01 01:00")  # entry 100, stop 90, target 150
    # R = 10: a quarter of R allows 2.5 from the entry; 102.6 is 0.26 R away, 100.8 is 0.08 R
    refused = run_backtest({"X/USD": flat_then_jump(102.6)}, strategy, BacktestConfig(max_entry_drift_r=0.25))
    assert refused.trades == [] and refused.rejections["price_drift"] == 1
    taken = run_backtest({"X/USD": flat_then_jump(100.8)}, strategy, BacktestConfig(max_entry_drift_r=0.25))
    assert len(taken.trades) == 1 and "price_drift" not in taken.rejections


def test_the_size_comes_from_the_price_seen_at_confirmation():
    # the open after the signal is 100.8: risk 10 % of 10 000 over 100.8 - 90 = 10.8 -> 92.59 units
    # (capped at 100 % of equity: 10 000 / 100.8 = 99.2, not binding); the fill pays 0.05 % slippage
    strategy = scripted_playbook("2024-03-01 01:00")
    config = BacktestConfig(fills=FillModel(fee_rate=0.0, slippage_pct=0.05))
    [trade] = run_backtest({"X/USD": flat_then_jump(100.8)}, strategy, config).trades
    assert trade.quantity == pytest.approx(1_000.0 / 10.8)
    assert trade.entry_price == pytest.approx(100.8 * 1.0005)
