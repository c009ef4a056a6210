import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.models import ExitReason, Position, PositionStatus, Side
from core.risk.portfolio import ClosedTrade, compute_metrics, max_drawdown_pct, trade_metrics

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_trade_and_curve_metrics_by_hand():
    pnls = [100.0, -50.0, 200.0, -100.0]
    equity = pd.Series([100.0, 110.0, 99.0, 99.0, 108.9])  # returns +10%, -10%, 0%, +10%
    m = compute_metrics(pnls, equity, pnl_pcts=[1.0, -0.5, 2.0, -1.0], unrealized_pnl=5.0)
    assert m.n_trades == 4 and m.win_rate == 50.0
    assert m.realized_pnl == 150.0 and m.unrealized_pnl == 5.0
    assert (m.avg_win, m.avg_loss) == (150.0, 75.0)  # (100 + 200) / 2, (50 + 100) / 2
    assert m.profit_factor == 2.0  # 300 / 150
    assert m.expectancy == 37.5  # 150 / 4
    assert (m.avg_win_pct, m.avg_loss_pct, m.expectancy_pct) == (1.5, 0.75, 0.375)
    assert m.total_return_pct == pytest.approx(8.9)  # 108.9 / 100 - 1
    assert m.max_drawdown_pct == pytest.approx(10.0)  # 110 -> 99
    # mean 0.025; squared deviations .005625 + .015625 + .000625 + .005625 = .0275; /3 -> std .0957427
    assert m.sharpe == pytest.approx(0.025 / 0.0957427, rel=1e-6)
    # downside deviation sqrt(0.01 / 4) = 0.05 -> 0.025 / 0.05
    assert m.sortino == pytest.approx(0.5)
    # sorted -0.1, 0, 0.1, 0.1; 5% quantile at position 0.15: -0.1 + 0.15 x 0.1 = -0.085
    assert m.var_95_pct == pytest.approx(8.5)


def test_annualisation_scales_by_the_square_root_of_periods():
    equity = pd.Series([100.0, 110.0, 99.0, 99.0, 108.9])
    per_period = compute_metrics([], equity).sharpe
    assert compute_metrics([], equity, periods_per_year=4.0).sharpe == pytest.approx(2 * per_period)


def test_no_trades_and_no_losses():
    flat = pd.Series([100.0, 100.0])
    m = compute_metrics([], flat)
    assert math.isnan(m.profit_factor) and math.isnan(m.win_rate) and m.max_drawdown_pct == 0.0
    assert compute_metrics([10.0], pd.Series([100.0, 110.0])).profit_factor == math.inf
    assert m.to_dict()["profit_factor"] is None


def test_max_drawdown_takes_the_deepest_fall_from_a_running_peak():
    # 100 -> 80 is 20%; 120 -> 90 is 25%
    assert max_drawdown_pct(pd.Series([100.0, 80.0, 120.0, 90.0, 130.0])) == pytest.approx(25.0)


def closed(pnl_gross: float, fees: float, closed_at: datetime) -> Position:
    return Position(
        id=7, user_id=1, user_signal_id=3, symbol="BTC/USD", side=Side.LONG, entry_price=100.0,
        initial_quantity=10.0, quantity=0.0, stop_price=95.0, initial_stop=95.0, tp1=106.0, tp2=110.0,
        tp1_done=True, highest=111.0, lowest=99.0, atr=2.0, realized_pnl=pnl_gross, fees=fees,
        status=PositionStatus.CLOSED, opened_at=T0, closed_at=closed_at, exit_price=110.0,
        exit_reason=ExitReason.TP2,
    )  # fmt: skip


def test_closed_trade_from_position_nets_fees():
    trade = ClosedTrade.from_position(closed(100.0, 2.0, T0 + timedelta(hours=5)))
    # 100 - 2 = 98 on a 100 x 10 = 1,000 entry notional -> 9.8%
    assert (trade.pnl, trade.pnl_pct, trade.exit_reason, trade.tp1_hit) == (98.0, 9.8, "tp2", True)


def test_trade_metrics_orders_trades_by_close_for_stats():
    later = ClosedTrade.from_position(closed(52.0, 2.0, T0 + timedelta(hours=9)))  # +50
    earlier = ClosedTrade.from_position(closed(-18.0, 2.0, T0 + timedelta(hours=3)))  # -20
    m = trade_metrics([later, earlier], initial_equity=1_000.0, unrealized_pnl=10.0)
    # curve 1,000 -> 980 -> 1,030: drawdown 20 / 1,000 = 2%; equity 1,030 + 10 unrealised
    assert m.max_drawdown_pct == pytest.approx(2.0)
    assert m.equity == pytest.approx(1_040.0)
    assert m.realized_pnl == pytest.approx(30.0)


def test_stats_drawdown_counts_the_open_positions_at_market() -> None:
    from datetime import UTC, datetime

    from core.risk.portfolio import ClosedTrade, trade_metrics

    won = ClosedTrade(
        "BTC/USDT",
        "long",
        datetime(2024, 1, 1, tzinfo=UTC),
        100.0,
        datetime(2024, 1, 2, tzinfo=UTC),
        110.0,
        10.0,
        100.0,
        10.0,
        "tp2",
        0.0,
    )
    # closed: 1 000 -> 1 100; an open position is 220 down now: equity 880, 20 % below the 1 100 peak
    metrics = trade_metrics([won], 1_000.0, unrealized_pnl=-220.0)
    assert metrics.equity == pytest.approx(880.0)
    assert metrics.max_drawdown_pct == pytest.approx(20.0)
