"""`apply_price` and `reached`: a price seen between candle closes against resting levels
(paper's intrabar check), long and short; figures by hand."""

from core.models import ExitReason, Side
from core.rules.exits import Candle, ManagementRules, apply_candle, apply_price, reached
from tests.core.rules.test_exits import position


def test_a_short_stop_crossed_fills_at_the_level_or_at_the_price_first_seen_beyond_it():
    seen = position(Side.SHORT, entry=100.0, stop=104.0, tp1=94.0, tp2=90.0)
    out = apply_price(seen, 106.0, ManagementRules(), stop_seen_safe=True)
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.STOP_LOSS, 104.0, 10.0)]
    assert out.closed and seen.quantity == 0.0
    gap = position(Side.SHORT, entry=100.0, stop=104.0, tp1=94.0, tp2=90.0)
    out = apply_price(gap, 106.0, ManagementRules(), stop_seen_safe=False)
    assert [(t.reason, t.price) for t in out.triggers] == [(ExitReason.STOP_LOSS, 106.0)]


def test_targets_fill_at_their_level_never_better_tp1_then_tp2_at_once():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0)
    out = apply_price(pos, 112.0, ManagementRules(tp1_fraction=0.5), stop_seen_safe=True)
    # 5 at 106 then the other 5 at 110; 112 is never the fill of a resting limit
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [
        (ExitReason.TP1, 106.0, 5.0),
        (ExitReason.TP2, 110.0, 5.0),
    ]
    assert out.closed


def test_tp1_moves_the_stop_to_break_even_and_nothing_trails_on_a_price():
    pos = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0, atr=2.0)
    out = apply_price(pos, 107.0, ManagementRules(trail_atr_multiplier=2.0), stop_seen_safe=True)
    assert [(t.reason, t.price, t.quantity) for t in out.triggers] == [(ExitReason.TP1, 106.0, 5.0)]
    assert pos.stop_price == 100.0 and pos.tp1_done and not out.closed  # not 107 - 4 = 103: trails on candles
    assert (pos.highest, pos.lowest) == (100.0, 100.0)
    assert apply_price(pos, 104.0, ManagementRules(), stop_seen_safe=True).triggers == []


def test_a_candle_need_not_test_a_stop_moved_within_it():
    pos = position(Side.LONG, entry=100.0, stop=100.0, tp1=106.0, tp2=110.0, atr=None)
    pos.tp1_done, pos.quantity = True, 5.0
    assert apply_candle(pos, Candle(104.0, 107.0, 99.0, 105.0), ManagementRules(), test_stop=False).triggers == []
    out = apply_candle(pos, Candle(104.0, 107.0, 99.0, 105.0), ManagementRules())
    assert [(t.reason, t.price) for t in out.triggers] == [(ExitReason.BREAK_EVEN, 100.0)]


def test_reached_names_the_level_being_executed():
    long = position(Side.LONG, entry=100.0, stop=96.0, tp1=106.0, tp2=110.0)
    assert [reached(long, p) for p in (95.0, 96.0, 100.0, 106.0, 120.0)] == [
        ExitReason.STOP_LOSS,
        ExitReason.STOP_LOSS,
        None,
        ExitReason.TP1,
        ExitReason.TP1,  # TP1 rests first; TP2 only once TP1 is done
    ]
    long.tp1_done, long.stop_price = True, 100.0
    assert [reached(long, p) for p in (99.0, 108.0, 110.0)] == [ExitReason.BREAK_EVEN, None, ExitReason.TP2]
    short = position(Side.SHORT, entry=100.0, stop=104.0, tp1=94.0, tp2=90.0)
    assert [reached(short, p) for p in (105.0, 100.0, 93.0)] == [ExitReason.STOP_LOSS, None, ExitReason.TP1]
