"""A user's closed trades (/history) and their statistics with the equity curve (/stats).

P&L follows the project's one convention (core/models.Position): `realized_pnl` is gross,
`fees` holds every fee paid, so a closed trade's P&L is `realized_pnl - fees`
(`ClosedTrade.from_position`). The starting equity is not read from the settings (it may
have changed since the user registered) but derived: today's balance minus everything
realised since, fees included, open positions' partial exits and entry fees too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from core.errors import RetryableExchangeError, UnknownSymbol, UserError
from core.models import Position, SignalState, UserSignal
from core.ports import Clock, MarketData, PositionRepository, SignalRepository, UserRepository
from core.risk.portfolio import ClosedTrade, PortfolioMetrics, trade_metrics
from core.trading.profit import DayPnl, Profit, daily_pnl, profit

HISTORY_PAGE_SIZE = 8


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    position_id: int
    trade: ClosedTrade


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]  # newest first
    page: int  # 0-based
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    """A signal no longer active and what became of it: the position it opened (open or
    closed), or None when it was skipped, expired or rejected."""

    row: UserSignal
    state: SignalState  # `expired` for a row still pending past its expiry
    position: Position | None


@dataclass(frozen=True, slots=True)
class UserStats:
    metrics: PortfolioMetrics
    fees: float  # paid on the closed trades
    balance: float
    open_positions: int
    curve_times: list[datetime]  # the start, then each close
    curve_equity: list[float]

    def marked_curve(self, now: datetime) -> tuple[list[datetime], list[float]]:
        """The curve with its last point now, open positions at market: where the /stats
        caption's equity is (the curve alone ends at the last close)."""
        times, equity = list(self.curve_times), list(self.curve_equity)
        if self.open_positions and times:
            times.append(max(now, times[-1]))
            equity.append(self.metrics.equity)
        return times, equity


class HistoryService:
    def __init__(
        self,
        positions: PositionRepository,
        users: UserRepository,
        market_data: MarketData,
        signals: SignalRepository,
        clock: Clock,
        page_size: int = HISTORY_PAGE_SIZE,
    ) -> None:
        self._positions = positions
        self._users = users
        self._market_data = market_data
        self._signals = signals
        self._clock = clock
        self._page_size = page_size

    async def page(self, user_id: int, page: int) -> HistoryPage:
        """One page of the user's closed trades, newest first (a page past the end shows the last)."""
        closed = await self._positions.closed_positions(user_id)
        pages = max(1, math.ceil(len(closed) / self._page_size))
        page = min(max(page, 0), pages - 1)
        chunk = closed[page * self._page_size : (page + 1) * self._page_size]
        entries = [HistoryEntry(p.id, ClosedTrade.from_position(p)) for p in chunk]
        return HistoryPage(entries, page, pages, len(closed))

    async def trades(
        self, user_id: int, symbol: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[HistoryEntry]:
        """The user's closed trades, newest first: of one symbol, closed in [since, until)."""
        entries = []
        for position in await self._positions.closed_positions(user_id):
            closed_at = position.closed_at
            assert closed_at is not None
            outside = (since and closed_at < since) or (until and closed_at >= until)
            if outside or (symbol and position.symbol != symbol):
                continue
            entries.append(HistoryEntry(position.id, ClosedTrade.from_position(position)))
        return entries

    async def recent_signals(self, user_id: int, limit: int = 20) -> list[SignalOutcome]:
        """The user's signals no longer active, newest first, with their outcome."""
        now = self._clock.now()
        rows = await self._signals.recent_for_user(user_id, now, limit)
        if not rows:
            return []
        positions = [*await self._positions.open_positions(user_id), *await self._positions.closed_positions(user_id)]
        by_row = {p.user_signal_id: p for p in positions if p.user_signal_id is not None}
        out = []
        for row in rows:
            state = SignalState.EXPIRED if row.state is SignalState.PENDING else row.state
            out.append(SignalOutcome(row, state, by_row.get(row.id)))
        return out

    async def stats(self, user_id: int) -> UserStats:
        balance = await self._users.balance(user_id)
        if balance is None:
            raise UserError("not_registered")
        closed = await self._positions.closed_positions(user_id)
        trades = sorted((ClosedTrade.from_position(p) for p in closed), key=lambda t: t.exit_time)
        open_positions = await self._positions.open_positions(user_id)
        open_net = sum(p.realized_pnl - p.fees for p in open_positions)  # partial exits, entry fees
        initial = balance - sum(t.pnl for t in trades) - open_net
        unrealized = 0.0
        for position in open_positions:
            try:
                unrealized += position.unrealized_pnl(await self._market_data.last_price(position.symbol))
            except (UnknownSymbol, RetryableExchangeError):
                continue  # shown at what is known: the price comes back next time
        metrics = trade_metrics(trades, initial, unrealized_pnl=open_net + unrealized)
        start = min([t.entry_time for t in trades], default=None)
        times = ([start] if start else []) + [t.exit_time for t in trades]
        equity = [initial]
        for trade in trades:
            equity.append(equity[-1] + trade.pnl)
        return UserStats(
            metrics=metrics,
            fees=sum(t.fees for t in trades),
            balance=balance,
            open_positions=len(open_positions),
            curve_times=times,
            curve_equity=equity if trades else [],
        )

    async def daily(self, user_id: int, days: int = 14) -> list[DayPnl]:
        """Realised P&L per UTC day over the last `days` days, newest first."""
        balance = await self._users.balance(user_id)
        if balance is None:
            raise UserError("not_registered")
        trades = [ClosedTrade.from_position(p) for p in await self._positions.closed_positions(user_id)]
        return daily_pnl(trades, balance, self._clock.now().date(), days)

    async def profit(self, user_id: int) -> Profit:
        """Closed trades' results and the open positions' P&L marked to market."""
        balance = await self._users.balance(user_id)
        if balance is None:
            raise UserError("not_registered")
        trades = [ClosedTrade.from_position(p) for p in await self._positions.closed_positions(user_id)]
        unrealised = 0.0
        for position in await self._positions.open_positions(user_id):
            try:
                unrealised += position.unrealized_pnl(await self._market_data.last_price(position.symbol))
            except (UnknownSymbol, RetryableExchangeError):
                continue
        return profit(trades, balance, unrealised)
