"""Risk limits, checked before every execution (pure: the caller supplies the account).

`check_new_position` runs the checks in a fixed order and returns the first breach:

1. `max_drawdown`: equity is `max_drawdown_pct` or more below its peak (halts the user);
2. `max_daily_loss`: equity is `max_daily_loss_pct` or more below the day's start (halts
   the user for the rest of the UTC day);
3. `already_open`: the user holds a position in this symbol;
4. `max_open_positions`;
5. `max_position_size`: notional over `max_position_pct` of equity;
6. `max_total_risk`: open risk plus this trade's risk over `max_total_risk_pct` of equity.
   A position's open risk is what its stop still loses against the entry (zero once the
   stop is at break-even or beyond);
7. `max_correlation`: return correlation with an open position above `max_correlation`
   (signed by direction: a long and a short of correlated coins offset each other). A
   correlation that cannot be computed (NaN: too little common history) does not block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.models import Limits, Position, Side

#: Reasons that stop all new trades for the user until the condition clears.
HALTING_REASONS = frozenset({"max_drawdown", "max_daily_loss"})

#: Tolerance for comparisons of sizes that were computed to sit exactly on a limit.
_EPS = 1e-9
#: A position sized at the cap when the signal went out may sit a hair above it when the
#: user confirms (an earlier fill's fee lowered equity): allow this share of the limit.
SIZE_TOLERANCE = 0.01

Correlation = Callable[[str, str], float] | Mapping[tuple[str, str], float]


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """A user's (or the whole system's) account as of now."""

    equity: float  # balance plus unrealised P&L
    peak_equity: float  # highest equity seen
    day_start_equity: float  # equity at 00:00 UTC today
    open_positions: Sequence[Position] = ()


@dataclass(frozen=True, slots=True)
class Proposal:
    """A position about to be opened."""

    symbol: str
    side: Side
    entry: float
    stop: float
    quantity: float

    @property
    def notional(self) -> float:
        return self.entry * self.quantity

    @property
    def risk(self) -> float:
        return abs(self.entry - self.stop) * self.quantity


@dataclass(frozen=True, slots=True)
class RiskDecision:
    allowed: bool
    reason: str | None = None  # machine key of the breached limit
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def halts(self) -> bool:
        """True when the breach stops all new trades (tell the user and the admins)."""
        return self.reason in HALTING_REASONS


def open_risk(position: Position) -> float:
    """Quote currency the position still loses against its entry if the stop is hit."""
    at_stake = position.side.sign * (position.entry_price - position.stop_price)
    return max(0.0, at_stake) * position.quantity


def _pct(part: float, whole: float) -> float:
    return part / whole * 100.0 if whole > 0 else math.inf


def _breach(reason: str, **detail: Any) -> RiskDecision:
    return RiskDecision(False, reason, detail)


def _drawdown(limits: Limits, account: AccountSnapshot) -> RiskDecision | None:
    drawdown = _pct(account.peak_equity - account.equity, account.peak_equity)
    if drawdown >= limits.max_drawdown_pct:
        return _breach("max_drawdown", drawdown_pct=drawdown, limit=limits.max_drawdown_pct)
    return None


def _daily_loss(limits: Limits, account: AccountSnapshot) -> RiskDecision | None:
    loss = _pct(account.day_start_equity - account.equity, account.day_start_equity)
    if loss >= limits.max_daily_loss_pct:
        return _breach("max_daily_loss", daily_loss_pct=loss, limit=limits.max_daily_loss_pct)
    return None


def _already_open(account: AccountSnapshot, proposal: Proposal) -> RiskDecision | None:
    if any(p.symbol == proposal.symbol for p in account.open_positions):
        return _breach("already_open", symbol=proposal.symbol)
    return None


def _open_positions(limits: Limits, account: AccountSnapshot) -> RiskDecision | None:
    count = len(account.open_positions)
    if count >= limits.max_open_positions:
        return _breach("max_open_positions", open_positions=count, limit=limits.max_open_positions)
    return None


def _position_size(limits: Limits, account: AccountSnapshot, proposal: Proposal) -> RiskDecision | None:
    size = _pct(proposal.notional, account.equity)
    if size > limits.max_position_pct * (1 + SIZE_TOLERANCE) + _EPS:
        return _breach("max_position_size", position_pct=size, limit=limits.max_position_pct)
    return None


def _total_risk(limits: Limits, account: AccountSnapshot, proposal: Proposal) -> RiskDecision | None:
    total = sum(open_risk(p) for p in account.open_positions) + proposal.risk
    total_pct = _pct(total, account.equity)
    if total_pct > limits.max_total_risk_pct + _EPS:
        return _breach("max_total_risk", total_risk_pct=total_pct, limit=limits.max_total_risk_pct)
    return None


def _lookup(correlation: Correlation, a: str, b: str) -> float:
    if callable(correlation):
        return correlation(a, b)
    if (a, b) in correlation:
        return correlation[(a, b)]
    return correlation[(b, a)]


def _correlation(
    limits: Limits, account: AccountSnapshot, proposal: Proposal, correlation: Correlation
) -> RiskDecision | None:
    for position in account.open_positions:
        raw = _lookup(correlation, proposal.symbol, position.symbol)
        effective = raw if position.side is proposal.side else -raw
        if effective > limits.max_correlation:
            return _breach(
                "max_correlation", symbol=position.symbol, correlation=effective, limit=limits.max_correlation
            )
    return None


def check_new_position(
    limits: Limits, account: AccountSnapshot, proposal: Proposal, correlation: Correlation
) -> RiskDecision:
    """Whether `proposal` may be opened on `account` under `limits` (first breach wins)."""
    checks = (
        lambda: _drawdown(limits, account),
        lambda: _daily_loss(limits, account),
        lambda: _already_open(account, proposal),
        lambda: _open_positions(limits, account),
        lambda: _position_size(limits, account, proposal),
        lambda: _total_risk(limits, account, proposal),
        lambda: _correlation(limits, account, proposal, correlation),
    )
    for check in checks:
        breach = check()
        if breach is not None:
            return breach
    return RiskDecision(True)


def return_correlation(closes_a: pd.Series, closes_b: pd.Series, window: int = 168) -> float:
    """Pearson correlation of the two symbols' simple returns over their last `window`
    common candles (timestamps present in both). NaN with fewer than 3 common returns
    or a flat series."""
    both = pd.concat([closes_a, closes_b], axis=1, join="inner").iloc[-(window + 1) :]
    values = both.to_numpy(dtype=np.float64)
    returns = values[1:] / values[:-1] - 1.0
    returns = returns[np.isfinite(returns).all(axis=1)]
    if len(returns) < 3:
        return math.nan
    a, b = returns[:, 0], returns[:, 1]
    if a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
