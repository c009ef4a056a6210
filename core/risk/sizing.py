"""Position sizing.

Fixed-fractional: risk `risk_per_trade_pct` of equity between entry and stop, capped so
the notional stays within `max_position_pct` of equity.

Kelly: f = (p*b - q)/b from closed-trade statistics (p win rate, q = 1 - p, b payoff
ratio = average win / average loss), scaled by `kelly_fraction` (1/4 by default) and
used as the percent of equity at risk. It never exceeds the fixed-fractional risk, never
goes below `kelly_min_risk_pct`, and with fewer than `kelly_min_trades` closed trades
(or `kelly_fraction` 0) sizing falls back to fixed-fractional.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from core.models import Limits


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Win/loss statistics of closed trades (a trade at exactly zero counts as a loss)."""

    count: int
    wins: int
    avg_win: float  # mean of the winning P&Ls
    avg_loss: float  # mean size of the losing P&Ls, positive

    @classmethod
    def from_pnls(cls, pnls: Iterable[float]) -> TradeStats:
        values = list(pnls)
        won = [p for p in values if p > 0]
        lost = [-p for p in values if p <= 0]
        return cls(
            count=len(values),
            wins=len(won),
            avg_win=sum(won) / len(won) if won else 0.0,
            avg_loss=sum(lost) / len(lost) if lost else 0.0,
        )

    @property
    def win_rate(self) -> float:
        """p, the share of winning trades (0 with no trades)."""
        return self.wins / self.count if self.count else 0.0

    @property
    def payoff_ratio(self) -> float:
        """b, average win over average loss: inf with wins and no loss, 0 without wins."""
        if self.avg_loss == 0:
            return math.inf if self.avg_win > 0 else 0.0
        return self.avg_win / self.avg_loss


def kelly_fraction(win_rate: float, payoff_ratio: float) -> float:
    """Full Kelly f = (p*b - q)/b; -1 (do not bet) when b is 0, p when b is infinite."""
    if not 0.0 <= win_rate <= 1.0 or payoff_ratio < 0:
        raise ValueError("win_rate must be in [0, 1] and payoff_ratio >= 0")
    if payoff_ratio == 0:
        return -1.0
    if math.isinf(payoff_ratio):
        return win_rate
    return (win_rate * payoff_ratio - (1.0 - win_rate)) / payoff_ratio


@dataclass(frozen=True, slots=True)
class SizeDecision:
    quantity: float
    method: Literal["fixed", "kelly"]
    risk_pct: float  # percent of equity lost if the stop is hit (before the notional cap)
    risk_amount: float  # quote currency lost at the stop with `quantity`
    notional: float  # quantity x entry
    kelly_f: float | None = None  # full Kelly fraction when Kelly decided the size


def fixed_fractional_quantity(
    equity: float, entry: float, stop: float, risk_pct: float, max_position_pct: float
) -> float:
    """Quantity that loses `risk_pct` of `equity` if the stop is hit, capped so the
    position's notional stays within `max_position_pct` of equity."""
    if equity <= 0 or entry <= 0:
        return 0.0
    risk_per_unit = abs(entry - stop)
    if risk_per_unit == 0:
        raise ValueError("stop equals entry: the risk per unit is zero")
    by_risk = equity * risk_pct / 100.0 / risk_per_unit
    by_cap = equity * max_position_pct / 100.0 / entry
    return min(by_risk, by_cap)


def _decision(
    equity: float,
    entry: float,
    stop: float,
    risk_pct: float,
    limits: Limits,
    method: str,
    kelly_f: float | None,
) -> SizeDecision:
    quantity = fixed_fractional_quantity(equity, entry, stop, risk_pct, limits.max_position_pct)
    return SizeDecision(
        quantity=quantity,
        method="kelly" if method == "kelly" else "fixed",
        risk_pct=risk_pct,
        risk_amount=quantity * abs(entry - stop),
        notional=quantity * entry,
        kelly_f=kelly_f,
    )


def calculate_kelly_position_size(
    equity: float, entry: float, stop: float, win_rate: float, payoff_ratio: float, limits: Limits
) -> SizeDecision:
    """Fractional-Kelly size, between `kelly_min_risk_pct` and the fixed-fractional risk."""
    full = kelly_fraction(win_rate, payoff_ratio)
    risk_pct = limits.kelly_fraction * full * 100.0
    risk_pct = min(limits.risk_per_trade_pct, max(limits.kelly_min_risk_pct, risk_pct))
    return _decision(equity, entry, stop, risk_pct, limits, "kelly", full)


def position_quantity(
    equity: float, entry: float, stop: float, limits: Limits, stats: TradeStats | None = None
) -> SizeDecision:
    """The size to trade: Kelly from `stats` when there are enough closed trades and
    Kelly is enabled, fixed-fractional otherwise."""
    if stats is None or stats.count < limits.kelly_min_trades or limits.kelly_fraction <= 0:
        return _decision(equity, entry, stop, limits.risk_per_trade_pct, limits, "fixed", None)
    return calculate_kelly_position_size(equity, entry, stop, stats.win_rate, stats.payoff_ratio, limits)
