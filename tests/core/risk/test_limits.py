import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from core.models import Limits, Position, PositionStatus, Side
from core.risk.limits import AccountSnapshot, Proposal, check_new_position, open_risk, return_correlation

LIMITS = Limits(
    max_open_positions=2,
    max_position_pct=25.0,
    max_total_risk_pct=3.0,
    max_correlation=0.8,
    max_daily_loss_pct=5.0,
    max_drawdown_pct=20.0,
)


def held(
    symbol: str, side: Side = Side.LONG, entry: float = 100.0, stop: float = 95.0, qty: float = 20.0
) -> Position:
    return Position(
        id=1, user_id=1, user_signal_id=None, symbol=symbol, side=side, entry_price=entry,
        initial_quantity=qty, quantity=qty, stop_price=stop, initial_stop=stop, tp1=0.0, tp2=0.0,
        tp1_done=False, highest=entry, lowest=entry, atr=None, realized_pnl=0.0, fees=0.0,
        status=PositionStatus.OPEN, opened_at=datetime(2024, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def account(equity=10_000.0, peak=10_000.0, day_start=10_000.0, positions=()) -> AccountSnapshot:
    return AccountSnapshot(equity, peak, day_start, list(positions))


# a 1,000 notional long risking 5 x 10 = 50 (0.5% of 10,000)
PROPOSAL = Proposal("ETH/USD", Side.LONG, entry=100.0, stop=95.0, quantity=10.0)
UNCORRELATED = {("ETH/USD", "BTC/USD"): 0.0, ("ETH/USD", "LTC/USD"): 0.0}


def test_allowed_when_every_limit_holds():
    decision = check_new_position(LIMITS, account(positions=[held("BTC/USD")]), PROPOSAL, UNCORRELATED)
    assert decision.allowed and decision.reason is None


def test_max_drawdown_halts():
    # peak 12,500, equity 10,000: (12,500 - 10,000) / 12,500 = 20% >= 20%
    decision = check_new_position(LIMITS, account(peak=12_500.0), PROPOSAL, UNCORRELATED)
    assert (decision.allowed, decision.reason, decision.halts) == (False, "max_drawdown", True)
    assert decision.detail["drawdown_pct"] == pytest.approx(20.0)


def test_just_below_max_drawdown_is_allowed():
    # peak 12,400: 2,400 / 12,400 = 19.35% < 20%
    assert check_new_position(LIMITS, account(peak=12_400.0), PROPOSAL, UNCORRELATED).allowed


def test_max_daily_loss_halts():
    # day start 10,600, now 10,000: 600 / 10,600 = 5.66% >= 5%
    decision = check_new_position(LIMITS, account(peak=10_600.0, day_start=10_600.0), PROPOSAL, UNCORRELATED)
    assert (decision.reason, decision.halts) == ("max_daily_loss", True)


def test_one_position_per_symbol():
    decision = check_new_position(LIMITS, account(positions=[held("ETH/USD")]), PROPOSAL, UNCORRELATED)
    assert (decision.reason, decision.halts) == ("already_open", False)


def test_max_open_positions():
    positions = [held("BTC/USD", qty=1.0), held("LTC/USD", qty=1.0)]
    decision = check_new_position(LIMITS, account(positions=positions), PROPOSAL, UNCORRELATED)
    assert decision.reason == "max_open_positions" and decision.detail == {"open_positions": 2, "limit": 2}


def test_max_position_size():
    # 26 x 100 = 2,600 = 26% of 10,000 > 25%
    big = Proposal("ETH/USD", Side.LONG, 100.0, 99.0, 26.0)
    assert check_new_position(LIMITS, account(), big, UNCORRELATED).reason == "max_position_size"
    exactly = Proposal("ETH/USD", Side.LONG, 100.0, 99.0, 25.0)  # 25% is allowed
    assert check_new_position(LIMITS, account(), exactly, UNCORRELATED).allowed
    # Sized at the cap on 10,000, confirmed after a 10 fee: 2,500 / 9,990 = 25.025% <= 25 x 1.01
    assert check_new_position(LIMITS, account(equity=9_990.0), exactly, UNCORRELATED).allowed
    # 25.3 x 100 = 2,530 = 25.3% > 25.25%: over the tolerance
    over = Proposal("ETH/USD", Side.LONG, 100.0, 99.0, 25.3)
    assert check_new_position(LIMITS, account(), over, UNCORRELATED).reason == "max_position_size"


def test_max_total_risk_counts_open_risk():
    # open: (100 - 95) x 50 = 250; new: 50 -> 300 = 3% of 10,000: allowed at the limit
    at_limit = [held("BTC/USD", qty=50.0)]
    assert check_new_position(LIMITS, account(positions=at_limit), PROPOSAL, UNCORRELATED).allowed
    # open 5 x 51 = 255 + 50 = 305 = 3.05% > 3%
    over = [held("BTC/USD", qty=51.0)]
    decision = check_new_position(LIMITS, account(positions=over), PROPOSAL, UNCORRELATED)
    assert decision.reason == "max_total_risk"
    assert decision.detail["total_risk_pct"] == pytest.approx(3.05)


def test_open_risk_is_zero_once_the_stop_protects_the_entry():
    assert open_risk(held("BTC/USD", entry=100.0, stop=95.0, qty=2.0)) == 10.0  # 5 x 2
    assert open_risk(held("BTC/USD", entry=100.0, stop=100.0)) == 0.0  # break-even
    assert open_risk(held("BTC/USD", side=Side.SHORT, entry=100.0, stop=97.0)) == 0.0  # trailed into profit
    assert open_risk(held("BTC/USD", side=Side.SHORT, entry=100.0, stop=104.0, qty=3.0)) == 12.0  # 4 x 3


def test_max_correlation_same_direction():
    correlation = {("ETH/USD", "BTC/USD"): 0.9}
    decision = check_new_position(LIMITS, account(positions=[held("BTC/USD")]), PROPOSAL, correlation)
    assert decision.reason == "max_correlation" and decision.detail["symbol"] == "BTC/USD"


def test_opposite_directions_offset_correlation():
    # long ETH against a short BTC with +0.9 correlation is a hedge: effective -0.9
    positions = [held("BTC/USD", side=Side.SHORT, stop=105.0)]
    assert check_new_position(
        LIMITS, account(positions=positions), PROPOSAL, {("BTC/USD", "ETH/USD"): 0.9}
    ).allowed


def test_correlation_as_a_function_and_nan_does_not_block():
    positions = [held("BTC/USD")]
    assert check_new_position(LIMITS, account(positions=positions), PROPOSAL, lambda a, b: math.nan).allowed
    assert not check_new_position(LIMITS, account(positions=positions), PROPOSAL, lambda a, b: 0.81).allowed


def test_return_correlation_of_constructed_series():
    index = pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")
    rng = np.random.default_rng(7)
    a = pd.Series(100.0 * np.cumprod(1 + rng.normal(0, 0.01, 50)), index=index)
    doubled = pd.Series(a.to_numpy() * 2.0, index=index)  # same returns exactly
    inverse = pd.Series(1_000.0 / a.to_numpy(), index=index)  # return 1/(1+r) - 1, close to -r
    assert return_correlation(a, doubled, window=48) == pytest.approx(1.0)
    assert return_correlation(a, inverse, window=48) < -0.99
    assert math.isnan(return_correlation(a.iloc[:2], doubled.iloc[:2]))  # one return only


def test_return_correlation_uses_common_timestamps_and_the_last_window():
    index = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    a = pd.Series([1.0, 2.0, 1.0, 2.0, 4.0, 8.0], index=index)
    b = pd.Series([5.0, 1.0, 5.0, 3.0, 6.0, 3.0], index=index)
    # the last 3 returns of a are +100% each: a flat series has no correlation (NaN);
    # the last 4 (-50%, +100%, +100%, +100%) vary, so the correlation is defined
    assert math.isnan(return_correlation(a, b, window=3))
    assert not math.isnan(return_correlation(a, b, window=4))
