"""A user's equity marked to market, and the marks the risk limits measure it against.

Equity is the balance plus the unrealised P&L of the open positions at the latest prices.
Each mark raises the peak (for the drawdown limit) and, the first time on a UTC day, sets
that day's opening (for the daily-loss limit). The monitor marks every user with open
positions on each run, so the peak follows prices and the day's opening is taken within
one run of 00:00 UTC; a confirmation marks its user too (a user without open positions has
no P&L between marks: their equity is their balance).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.errors import ExchangeError
from core.models import Position
from core.ports import Clock, MarketData, PositionRepository, UserRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EquityMark:
    equity: float
    peak: float
    day_start: float


class EquityMarks:
    def __init__(
        self, users: UserRepository, positions: PositionRepository, market_data: MarketData, clock: Clock
    ) -> None:
        self._users = users
        self._positions = positions
        self._market_data = market_data
        self._clock = clock

    async def mark(self, user_id: int, open_positions: Sequence[Position], prices: Mapping[str, float]) -> EquityMark:
        """Mark the user's equity now (`prices`: one per open position's symbol)."""
        balance = await self._users.balance(user_id) or 0.0
        equity = balance + sum(p.unrealized_pnl(prices[p.symbol]) for p in open_positions)
        peak, day_start = await self._users.mark_equity(user_id, equity, self._clock.now().strftime("%Y-%m-%d"))
        return EquityMark(equity, peak, day_start)

    async def mark_all(self) -> int:
        """Mark every user with open positions to market; returns how many were marked. A
        symbol without a price leaves its users unmarked this time."""
        by_user: defaultdict[int, list[Position]] = defaultdict(list)
        for position in await self._positions.open_positions():
            by_user[position.user_id].append(position)
        prices: dict[str, float] = {}
        for symbol in {p.symbol for positions in by_user.values() for p in positions}:
            try:
                prices[symbol] = await self._market_data.last_price(symbol)
            except ExchangeError as exc:
                log.warning("no price for %s to mark equity: %s", symbol, exc)
        marked = 0
        for user_id, positions in by_user.items():
            if all(p.symbol in prices for p in positions):
                await self.mark(user_id, positions, prices)
                marked += 1
        return marked
