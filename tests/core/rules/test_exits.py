from datetime import UTC, datetime

import pytest

from core.models import ExitReason, Position, PositionStatus, Side
from core.rules.exits import Candle, ManagementRules, apply_candle


def position(
    side: Side, entry: float, stop: float, tp1: float, tp2: float, atr: float | None = 2.0
) -> Position:
    return Position(
        id=1, user_id=1, user_signal_id=None, symbol="BTC/USD", side=side, entry_price=entry,
        initial_quantity=10.0, quantity=10.0, stop_price=stop, initial_stop=stop, tp1=tp1, tp2=tp2,
        tp1_done=False, highest=entry, lowest=entry, atr=atr, realized_pnl=0.0, fees=0.0,
        status=PositionStatus.OPEN, opened_at=datetime(2024, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_tp1_break_even_then_atr_trail_then_trailing_stop_exit():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0, atr=2.0)
    rules = ManagementRules(tp1_fraction=0.5, breakeven_after_tp1=True, trail_atr_multiplier=2.0)  # trail 4

    out = apply_candle(pos, Candle(100.0, 103.0, 99.0, 102.0), rules)
    assert out.triggers == [] and pos.stop_price == 96.0  # no trail before TP1

    out = apply_candle(pos, Candle(102.0, 107.0, 101.0, 105.0), rules)
    # TP1 at 106 closes 10 x 0.5 = 5; stop to break-even 100, then trail min(107 - 4, 105) = 103
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.TP1, 106.0, 5.0)]
    assert (pos.quantity, pos.stop_price, out.stop_moved_from) == (5.0, 103.0, 96.0)

    out = apply_candle(pos, Candle(105.0, 109.0, 104.0, 108.0), rules)
    # low 104 stays above 103; new high 109 -> min(109 - 4, 108) = 105
    assert out.triggers == [] and pos.stop_price == 105.0 and out.stop_moved_from == 103.0

    out = apply_candle(pos, Candle(107.0, 108.0, 104.5, 105.0), rules)
    # low 104.5 reaches the stop 105: the remaining 5 exit at 105
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.TRAILING_STOP, 105.0, 5.0)]
    assert out.closed and pos.quantity == 0.0


def test_stop_moved_on_a_candle_is_not_tested_on_that_candle():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0)
    # TP1 at 106 moves the stop to 100 (trail: min(107 - 4, 101) = 101); the low of 99 is
    # not checked against the new stop on this same candle
    out = apply_candle(pos, Candle(102.0, 107.0, 99.0, 101.0), ManagementRules())
    assert not out.closed and pos.stop_price == 101.0


def test_gap_through_the_stop_fills_at_the_open():
    pos = position(Side.SHORT, entry=100.0, stop=104.0, tp1=94.0, tp2=90.0)
    out = apply_candle(pos, Candle(105.0, 106.0, 103.0, 104.0), ManagementRules())
    assert [(t.reason, t.price) for t in out.triggers] == [(ExitReason.STOP_LOSS, 105.0)]


def test_stop_before_targets_when_both_are_in_one_candle():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0)
    out = apply_candle(pos, Candle(100.0, 111.0, 95.0, 100.0), ManagementRules())
    assert [t.reason for t in out.triggers] == [ExitReason.STOP_LOSS]


def test_break_even_exit_reason_after_tp1_without_trailing():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0)
    rules = ManagementRules(trail_atr_multiplier=0.0)
    apply_candle(pos, Candle(101.0, 106.5, 100.5, 105.0), rules)  # TP1, stop -> 100
    out = apply_candle(pos, Candle(104.0, 104.5, 99.0, 99.5), rules)
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.BREAK_EVEN, 100.0, 5.0)]


def test_single_target_closes_everything_at_tp1():
    pos = position(Side.SHORT, entry=100.0, stop=102.0, tp1=96.0, tp2=96.0)
    rules = ManagementRules(tp1_fraction=1.0, breakeven_after_tp1=False, trail_atr_multiplier=0.0)
    out = apply_candle(pos, Candle(99.0, 99.5, 95.0, 95.5), rules)
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.TP1, 96.0, 10.0)]
    assert out.closed and pos.quantity == 0.0


def test_tp1_fraction_must_be_in_zero_one():
    with pytest.raises(ValueError):
        ManagementRules(tp1_fraction=0.0)
    with pytest.raises(ValueError):
        ManagementRules(tp1_fraction=1.5)


def test_no_trailing_without_a_usable_atr():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0, atr=float("nan"))
    apply_candle(pos, Candle(102.0, 107.0, 101.0, 105.0), ManagementRules())
    assert pos.stop_price == 100.0  # break-even after TP1, no trail from a NaN ATR
