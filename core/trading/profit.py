"""/daily and /profit in freqtrade's spirit: realised P&L per UTC day, and the account's
results at a glance (closed trades, win rate, best and worst, open P&L marked to market)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from core.risk.portfolio import ClosedTrade


@dataclass(frozen=True, slots=True)
class DayPnl:
    day: date  # UTC
    pnl: float  # realised, fees included, of the trades closed that day
    trades: int
    pnl_pct: float  # of the balance at the start of the day


@dataclass(frozen=True, slots=True)
class Profit:
    closed: int
    wins: int
    losses: int
    realised: float  # net of fees
    realised_pct: float  # of the starting balance
    unrealised: float  # open positions, marked to market
    fees: float
    best: ClosedTrade | None
    worst: ClosedTrade | None
    avg_duration: timedelta | None
    first_trade: date | None

    @property
    def win_rate(self) -> float:
        return self.wins / self.closed * 100 if self.closed else 0.0


def daily_pnl(trades: Sequence[ClosedTrade], balance_now: float, today: date, days: int = 14) -> list[DayPnl]:
    """The last `days` UTC days, newest first, every day listed (0 when nothing closed).
    A day's percentage is of the balance at its start (the balance now less what closed
    since, that day included)."""
    by_day: dict[date, list[float]] = {}
    for trade in trades:
        by_day.setdefault(trade.exit_time.date(), []).append(trade.pnl)
    out = []
    later = sum(t.pnl for t in trades if t.exit_time.date() > today)
    balance_after = balance_now - later
    for offset in range(days):
        day = today - timedelta(days=offset)
        pnls = by_day.get(day, [])
        pnl = sum(pnls)
        start = balance_after - pnl
        out.append(DayPnl(day, pnl, len(pnls), pnl / start * 100 if start > 0 else 0.0))
        balance_after = start
    return out


def profit(trades: Sequence[ClosedTrade], balance_now: float, unrealised: float) -> Profit:
    realised = sum(t.pnl for t in trades)
    start = balance_now - realised
    durations = [t.exit_time - t.entry_time for t in trades]
    return Profit(
        closed=len(trades),
        wins=sum(1 for t in trades if t.pnl > 0),
        losses=sum(1 for t in trades if t.pnl <= 0),
        realised=realised,
        realised_pct=realised / start * 100 if start > 0 else 0.0,
        unrealised=unrealised,
        fees=sum(t.fees for t in trades),
        best=max(trades, key=lambda t: t.pnl_pct, default=None),
        worst=min(trades, key=lambda t: t.pnl_pct, default=None),
        avg_duration=sum(durations, timedelta()) / len(durations) if durations else None,
        first_trade=min((t.entry_time.date() for t in trades), default=None),
    )
