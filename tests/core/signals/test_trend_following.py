"""The trend-following strategies and playbooks, worked by hand on tiny frames."""

import numpy as np
import pandas as pd
import pytest

from core.models import ExitReason, Position, PositionStatus, Side
from core.rules.exits import Candle, apply_candle
from core.signals.engine import SignalPipeline
from core.signals.playbooks import donchian_playbook, playbook, tsmom_playbook
from core.signals.trend_following import DonchianBreakoutStrategy, TimeSeriesMomentumStrategy


def daily(closes, highs=None, lows=None) -> pd.DataFrame:
    closes = np.asarray(closes, dtype=float)
    highs = closes if highs is None else np.asarray(highs, dtype=float)
    lows = closes if lows is None else np.asarray(lows, dtype=float)
    index = pd.date_range("2024-01-01", periods=len(closes), freq="D", tz="UTC")
    return pd.DataFrame({"open": closes, "high": highs, "low": lows, "close": closes, "atr_14": 1.0}, index=index)


def test_donchian_breaks_out_above_the_previous_days_high_once():
    # a 3-day channel on daily candles (the channel and the previous row's channel both known from row 4):
    # row 4 closes 12 above the last three highs (max 11); row 5 closes 13 above its channel 12, but the
    # previous close was already above its own: not a new breakout; row 6 closes 8 below the lows' 9
    closes = [10, 10, 11, 10, 12, 13, 8]
    frame = daily(closes, highs=closes, lows=[9, 9, 10, 9, 11, 12, 7])
    out = DonchianBreakoutStrategy(channel_days=3).signals(frame, "1d")
    assert list(out["reason"]) == ["warmup"] * 4 + ["", "no_breakout", ""]
    assert list(out["side"]) == [0, 0, 0, 0, 1, 0, -1]
    # strength 0.5 + 0.5 x min(1, (12 - 11) / ATR 1) = 1.0
    assert out["strength"].iloc[4] == pytest.approx(1.0)


def test_donchian_channel_is_counted_in_days():
    assert DonchianBreakoutStrategy(channel_days=10).warmup("1h") == 241  # 240 candles + the one deciding
    assert DonchianBreakoutStrategy(channel_days=10).warmup("4h") == 61
    assert DonchianBreakoutStrategy(channel_days=10).warmup("1d") == 15  # ATR(14) needs longer


def test_momentum_turns_when_the_lookback_return_changes_sign():
    # 2-day returns from row 2: 9/10 < 1, 8/10 < 1, 9/9 = 1 (zero), 11/8 > 1 (turns up),
    # 12/9 > 1, 10/11 < 1 (turns down)
    frame = daily([10, 10, 9, 8, 9, 11, 12, 10])
    out = TimeSeriesMomentumStrategy(lookback_days=2).signals(frame, "1d")
    assert list(out["side"]) == [0, 0, 0, 0, 0, 1, 0, -1]
    assert list(out["reason"])[:3] == ["warmup"] * 3
    # row 5: log(11/8) = 0.318; volatility of the last two 1-day log returns (log 9/8, log 11/9) x sqrt 2
    log_returns = np.log([9 / 8, 11 / 9])
    expected = np.log(11 / 8) / (log_returns.std(ddof=1) * np.sqrt(2))
    assert out["strength"].iloc[5] == pytest.approx(min(1.0, expected))


def test_playbooks_are_long_only_by_default_and_say_their_variant():
    chosen = donchian_playbook(channel_days=5.0, atr_multiplier=3.0, filters=("mtf",), exit="trail")
    assert chosen.long_only and chosen.uses_higher_timeframe
    assert chosen.label == "donchian(channel_days=5.0, atr=3.0, filters=mtf, exit=trail)"
    assert chosen.describe()["name"] == "donchian"
    assert not tsmom_playbook().uses_higher_timeframe
    assert playbook("sma_cross").long_only is False  # the reference trades both ways (backtesting.py parity)


def test_a_short_candidate_is_rejected_when_long_only():
    closes = np.concatenate([np.full(20, 100.0), [90.0]])  # the last close breaks below the channel
    frame = daily(closes, highs=closes + 1.0, lows=closes - 1.0).drop(columns="atr_14").assign(volume=1.0)
    spot = SignalPipeline(donchian_playbook(channel_days=5.0, atr_multiplier=3.0, filters=()), "1d").decide(frame)
    assert (spot["side"].iloc[-1], spot["reason"].iloc[-1]) == (-1, "long_only")
    both = donchian_playbook(channel_days=5.0, atr_multiplier=3.0, filters=(), long_only=False)
    decided = SignalPipeline(both, "1d").decide(frame)
    assert decided["reason"].iloc[-1] == "" and decided["stop"].iloc[-1] > 90.0


def test_a_stop_beyond_zero_rejects_the_candidate_instead_of_failing():
    closes = np.concatenate([np.full(30, 100.0), [101.0]])
    index = pd.date_range("2024-01-01", periods=len(closes), freq="D", tz="UTC")
    swings = np.where(np.arange(len(closes)) % 2 == 0, 40.0, -40.0)  # true ranges of 80: ATR ~ 80 per day
    frame = pd.DataFrame(
        {"open": closes + swings / 2, "high": closes + 45.0, "low": closes - 45.0, "close": closes, "volume": 1.0},
        index=index,
    )
    frame.loc[index[-1], "high"] = 150.0  # a breakout above the channel's 145
    frame.loc[index[-1], "close"] = 146.0
    decided = SignalPipeline(donchian_playbook(channel_days=5.0, atr_multiplier=8.0, filters=()), "1d").decide(frame)
    assert decided["reason"].iloc[-1] == "stop_out_of_range"  # 146 - 8 x ~90 < 0


def test_the_trailing_exit_trails_from_the_entry_and_takes_a_third_at_tp1():
    chosen = donchian_playbook(atr_multiplier=2.0, exit="trail")
    rules = chosen.management
    position = Position(
        id=1, user_id=0, user_signal_id=None, symbol="X", side=Side.LONG, entry_price=100.0, initial_quantity=3.0,
        quantity=3.0, stop_price=96.0, initial_stop=96.0, tp1=108.0, tp2=140.0, tp1_done=False, highest=100.0,
        lowest=100.0, atr=2.0, realized_pnl=0.0, fees=0.0, status=PositionStatus.OPEN,
        opened_at=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime(),
    )  # fmt: skip
    # up to 104 before TP1: the stop trails to 104 - 2 x 2 = 100 (no TP1 yet)
    out = apply_candle(position, Candle(100.0, 104.0, 99.5, 103.0), rules)
    assert out.triggers == [] and position.stop_price == 100.0 and out.stop_moved_from == 96.0
    # TP1 108 reached: a third closes; no break-even jump, the trail goes on: 109 - 4 = 105
    out = apply_candle(position, Candle(103.0, 109.0, 102.5, 108.5), rules)
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.TP1, 108.0, 1.0)]
    assert position.stop_price == 105.0 and position.quantity == 2.0
    # the rest trails until the stop: a stop above the initial one is a trailing stop
    out = apply_candle(position, Candle(106.0, 106.5, 104.0, 104.5), rules)
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.TRAILING_STOP, 105.0, 2.0)]
