"""Portfolio metrics for /stats and the backtester.

Trade metrics come from closed trades' net P&L (fees included); risk metrics from an
equity curve sampled at regular periods (the backtester's per-candle curve) or at trade
closes (/stats, where Sharpe and Sortino are then per trade, not annualised).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.models import Position, PositionStatus


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip, entry to last exit."""

    symbol: str
    side: str
    entry_time: datetime
    entry_price: float
    exit_time: datetime
    exit_price: float  # quantity-weighted mean of the exit fills
    quantity: float
    pnl: float  # net of all fees
    pnl_pct: float  # pnl over the entry notional, percent
    exit_reason: str  # the reason of the last exit fill
    fees: float
    tp1_hit: bool = False

    @classmethod
    def from_position(cls, position: Position) -> ClosedTrade:
        """A closed `Position` as a trade. Assumes `realized_pnl` excludes fees and
        `fees` holds every fee paid on the position (entry and exits)."""
        if position.status is not PositionStatus.CLOSED or position.closed_at is None:
            raise ValueError(f"position {position.id} is not closed")
        notional = position.entry_price * position.initial_quantity
        pnl = position.realized_pnl - position.fees
        return cls(
            symbol=position.symbol,
            side=position.side.value,
            entry_time=position.opened_at,
            entry_price=position.entry_price,
            exit_time=position.closed_at,
            exit_price=position.exit_price if position.exit_price is not None else math.nan,
            quantity=position.initial_quantity,
            pnl=pnl,
            pnl_pct=pnl / notional * 100.0 if notional else 0.0,
            exit_reason=position.exit_reason.value if position.exit_reason else "unknown",
            fees=position.fees,
            tp1_hit=position.tp1_done,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["entry_time"] = self.entry_time.isoformat()
        out["exit_time"] = self.exit_time.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class PortfolioMetrics:
    initial_equity: float
    equity: float
    total_return_pct: float
    realized_pnl: float
    unrealized_pnl: float
    n_trades: int
    win_rate: float  # percent
    avg_win: float
    avg_loss: float  # positive
    avg_win_pct: float
    avg_loss_pct: float  # positive
    profit_factor: float  # gross profit / gross loss; inf without losses, nan without trades
    expectancy: float  # mean net P&L per trade
    expectancy_pct: float  # mean pnl_pct per trade
    max_drawdown_pct: float  # positive
    sharpe: float
    sortino: float
    var_95_pct: float  # historical 95% VaR of one period's return, positive percent

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready: inf and nan become None."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def drawdown_pct_series(equity: Sequence[float] | pd.Series) -> np.ndarray:
    """Each point's fall from the running peak so far, in percent of that peak (>= 0)."""
    values = np.asarray(equity, dtype=np.float64)
    if len(values) == 0:
        return values
    peaks = np.maximum.accumulate(values)
    return (peaks - values) / peaks * 100.0


def max_drawdown_pct(equity: pd.Series) -> float:
    """Largest fall from a running peak, in percent of that peak (0 for a flat curve)."""
    drawdowns = drawdown_pct_series(equity)
    return float(np.max(drawdowns)) if len(drawdowns) else 0.0


def period_returns(equity: pd.Series) -> np.ndarray:
    values = equity.to_numpy(dtype=np.float64)
    return values[1:] / values[:-1] - 1.0 if len(values) > 1 else np.array([])


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Mean over standard deviation (ddof 1) of period returns, times sqrt(periods)."""
    if len(returns) < 2:
        return math.nan
    std = returns.std(ddof=1)
    return float(returns.mean() / std * math.sqrt(periods_per_year)) if std > 0 else math.nan


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Mean over downside deviation sqrt(mean(min(r, 0)^2)), times sqrt(periods)."""
    if len(returns) < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return float(returns.mean() / downside * math.sqrt(periods_per_year)) if downside > 0 else math.nan


def value_at_risk_pct(returns: np.ndarray, level: float = 0.95) -> float:
    """Historical VaR: the loss not exceeded in `level` of periods, positive percent."""
    if len(returns) == 0:
        return math.nan
    return float(-np.quantile(returns, 1.0 - level) * 100.0)


def compute_metrics(
    pnls: Sequence[float],
    equity: pd.Series,
    *,
    pnl_pcts: Sequence[float] | None = None,
    unrealized_pnl: float = 0.0,
    periods_per_year: float = 1.0,
) -> PortfolioMetrics:
    """Metrics of closed trades' net `pnls` (and their `pnl_pcts`) and an `equity`
    curve whose first value is the starting equity. `periods_per_year` annualises Sharpe
    and Sortino (8760 for an hourly curve of a 24/7 market; 1 leaves them per period)."""
    if equity.empty:
        raise ValueError("the equity curve needs at least the starting equity")
    pcts = list(pnl_pcts) if pnl_pcts is not None else []
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p <= 0]
    gross_win, gross_loss = sum(wins), sum(losses)
    if not pnls:
        profit_factor = math.nan
    elif gross_loss == 0:
        profit_factor = math.inf
    else:
        profit_factor = gross_win / gross_loss
    returns = period_returns(equity)
    initial, final = float(equity.iloc[0]), float(equity.iloc[-1])
    return PortfolioMetrics(
        initial_equity=initial,
        equity=final,
        total_return_pct=(final / initial - 1.0) * 100.0,
        realized_pnl=float(sum(pnls)),
        unrealized_pnl=unrealized_pnl,
        n_trades=len(pnls),
        win_rate=len(wins) / len(pnls) * 100.0 if pnls else math.nan,
        avg_win=_mean(wins),
        avg_loss=_mean(losses),
        avg_win_pct=_mean([p for p in pcts if p > 0]),
        avg_loss_pct=_mean([-p for p in pcts if p <= 0]),
        profit_factor=profit_factor,
        expectancy=_mean(list(pnls)),
        expectancy_pct=_mean(pcts),
        max_drawdown_pct=max_drawdown_pct(equity),
        sharpe=sharpe_ratio(returns, periods_per_year),
        sortino=sortino_ratio(returns, periods_per_year),
        var_95_pct=value_at_risk_pct(returns),
    )


def trade_metrics(
    trades: Sequence[ClosedTrade], initial_equity: float, unrealized_pnl: float = 0.0
) -> PortfolioMetrics:
    """Metrics for /stats: the equity curve steps at each trade's close (in close order),
    so Sharpe, Sortino and VaR are per trade; `equity` adds the open positions'
    unrealised P&L to the realised curve's end, and the drawdown counts that end too."""
    ordered = sorted(trades, key=lambda t: t.exit_time)
    pnls = [t.pnl for t in ordered]
    curve = pd.Series(initial_equity + np.concatenate([[0.0], np.cumsum(pnls)]))
    metrics = compute_metrics(
        pnls,
        curve,
        pnl_pcts=[t.pnl_pct for t in ordered],
        unrealized_pnl=unrealized_pnl,
        periods_per_year=1.0,
    )
    marked = pd.Series([*curve, float(curve.iloc[-1]) + unrealized_pnl])  # the open positions at market now
    return dataclasses.replace(
        metrics, equity=metrics.equity + unrealized_pnl, max_drawdown_pct=max_drawdown_pct(marked)
    )
