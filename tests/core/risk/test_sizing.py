import math

import pytest

from core.models import Limits
from core.risk.sizing import (
    TradeStats,
    calculate_kelly_position_size,
    fixed_fractional_quantity,
    kelly_fraction,
    position_quantity,
)


def test_fixed_fractional_by_risk():
    # risk 1% of 10,000 = 100; stop 5 away -> 20 units (notional 2,000 = 20% < 25% cap)
    assert fixed_fractional_quantity(10_000, 100.0, 95.0, risk_pct=1.0, max_position_pct=25.0) == 20.0


def test_fixed_fractional_capped_by_max_position():
    # risk 1% = 100 over a 0.5 stop -> 200 units = 20,000 notional; cap 25% = 2,500 -> 25 units
    assert fixed_fractional_quantity(10_000, 100.0, 99.5, risk_pct=1.0, max_position_pct=25.0) == 25.0


def test_fixed_fractional_zero_without_equity_and_error_on_zero_risk():
    assert fixed_fractional_quantity(0.0, 100.0, 95.0, 1.0, 25.0) == 0.0
    with pytest.raises(ValueError):
        fixed_fractional_quantity(10_000, 100.0, 100.0, 1.0, 25.0)


def test_trade_stats_from_pnls():
    stats = TradeStats.from_pnls([30.0, -10.0, 50.0, -20.0, 0.0])
    # wins 30, 50 -> avg 40; losses 10, 20, 0 -> avg 10; p = 2/5; b = 40/10 = 4
    assert (stats.count, stats.wins, stats.avg_win, stats.avg_loss) == (5, 2, 40.0, 10.0)
    assert stats.win_rate == 0.4 and stats.payoff_ratio == 4.0


def test_kelly_fraction_formula():
    # p = 0.6, b = 2: (0.6 x 2 - 0.4) / 2 = 0.4
    assert kelly_fraction(0.6, 2.0) == pytest.approx(0.4)
    # p = 0.4, b = 1: (0.4 - 0.6) / 1 = -0.2 (no edge)
    assert kelly_fraction(0.4, 1.0) == pytest.approx(-0.2)
    assert kelly_fraction(0.7, math.inf) == 0.7  # no losses: f = p
    assert kelly_fraction(0.0, 0.0) == -1.0  # no wins


def test_kelly_below_the_fixed_cap_sizes_by_kelly():
    limits = Limits(risk_per_trade_pct=1.0, kelly_fraction=0.25)
    # p = 0.4, b = 1.6: f = (0.64 - 0.6) / 1.6 = 0.025; quarter Kelly 0.00625 -> risk 0.625%
    # = 62.5 over a stop 5 away -> 12.5 units
    size = calculate_kelly_position_size(10_000, 100.0, 95.0, 0.4, 1.6, limits)
    assert size.method == "kelly"
    assert size.risk_pct == pytest.approx(0.625)
    assert size.quantity == pytest.approx(12.5)
    assert size.risk_amount == pytest.approx(62.5)
    assert size.kelly_f == pytest.approx(0.025)


def test_kelly_never_above_fixed_fractional():
    limits = Limits(risk_per_trade_pct=1.0, kelly_fraction=0.25)
    # p = 0.6, b = 2: f = 0.4, quarter 0.1 -> 10% risk, capped at the fixed 1% -> 20 units
    size = calculate_kelly_position_size(10_000, 100.0, 95.0, 0.6, 2.0, limits)
    assert size.risk_pct == 1.0 and size.quantity == pytest.approx(20.0)


def test_kelly_without_edge_uses_the_floor():
    limits = Limits(risk_per_trade_pct=1.0, kelly_fraction=0.25, kelly_min_risk_pct=0.25)
    # f < 0 -> floor 0.25% = 25 over 5 -> 5 units
    size = calculate_kelly_position_size(10_000, 100.0, 95.0, 0.4, 1.0, limits)
    assert size.risk_pct == 0.25 and size.quantity == pytest.approx(5.0)
    no_floor = limits.replace(kelly_min_risk_pct=0.0)
    assert calculate_kelly_position_size(10_000, 100.0, 95.0, 0.4, 1.0, no_floor).quantity == 0.0


def test_position_quantity_falls_back_to_fixed_with_too_few_trades():
    limits = Limits(kelly_min_trades=30)
    stats = TradeStats.from_pnls([-1.0] * 29)  # 29 losers would make Kelly size at the floor
    size = position_quantity(10_000, 100.0, 95.0, limits, stats)
    assert size.method == "fixed" and size.quantity == 20.0 and size.kelly_f is None
    assert position_quantity(10_000, 100.0, 95.0, limits, None).method == "fixed"


def test_position_quantity_uses_kelly_with_enough_trades():
    limits = Limits(kelly_min_trades=5, kelly_fraction=0.25, risk_per_trade_pct=1.0)
    stats = TradeStats.from_pnls([16.0, 16.0, -10.0, -10.0, -10.0])  # p = 0.4, b = 16/10 = 1.6
    size = position_quantity(10_000, 100.0, 95.0, limits, stats)
    assert size.method == "kelly" and size.quantity == pytest.approx(12.5)  # as worked above


def test_kelly_disabled_by_zero_fraction():
    stats = TradeStats.from_pnls([16.0, 16.0, -10.0, -10.0, -10.0])
    size = position_quantity(10_000, 100.0, 95.0, Limits(kelly_min_trades=5, kelly_fraction=0.0), stats)
    assert size.method == "fixed"


def test_kelly_respects_the_max_position_cap():
    limits = Limits(risk_per_trade_pct=1.0, max_position_pct=10.0, kelly_fraction=0.25)
    # Kelly 0.625% = 62.5 over a 0.5 stop -> 125 units = 12,500 notional; cap 10% -> 1,000 -> 10 units
    size = calculate_kelly_position_size(10_000, 100.0, 99.5, 0.4, 1.6, limits)
    assert size.quantity == pytest.approx(10.0) and size.notional == pytest.approx(1_000.0)
