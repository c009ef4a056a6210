"""Monitor: open positions followed each run, shown to their owner, closed on request."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from core.errors import RetryableExchangeError, UnknownSymbol, UserError
from core.events import PositionClosed
from core.models import Position, PositionStatus
from core.trading.context import TradingContext
from core.trading.recovery import Recovery

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PositionView:
    position: Position
    price: float | None
    unrealized_pnl: float | None


class Monitor:
    """The monitor step of the trading service."""

    def __init__(self, ctx: TradingContext, recovery: Recovery) -> None:
        self._ctx = ctx
        self._recovery = recovery

    async def monitor(self) -> int:
        """Apply every closed candle since the last look to each open position.
        Returns how many positions changed."""
        ctx = self._ctx
        async with ctx.monitor_lock:
            changed = await self._recovery.resolve_interrupted()
            frames: dict[str, pd.DataFrame] = {}
            for position in await ctx.positions.open_positions():
                if position.symbol not in frames:
                    frames[position.symbol] = await ctx.market_data.candles(
                        position.symbol, ctx.config.timeframe, ctx.config.monitor_candles
                    )
                if await ctx.manager.follow(position, frames[position.symbol]):
                    changed += 1
            return changed

    async def close_position(self, position_id: int, user_id: int) -> PositionClosed:
        """Close what is left of the user's position at market, now."""
        ctx = self._ctx
        async with ctx.monitor_lock:  # never at the same time as the monitor's own exits
            position = await ctx.positions.get(position_id)
            if position is None or position.user_id != user_id:
                raise UserError("position_not_found")
            if position.status is PositionStatus.CLOSED:
                raise UserError("position_already_closed")
            price = await ctx.market_data.last_price(position.symbol)
            closed = await ctx.manager.close(position, price)
            ctx.wake()
            return closed

    async def positions_view(self, user_id: int) -> list[PositionView]:
        views = []
        prices: dict[str, float | None] = {}
        for position in await self._ctx.positions.open_positions(user_id):
            if position.symbol not in prices:
                try:
                    prices[position.symbol] = await self._ctx.market_data.last_price(position.symbol)
                except (UnknownSymbol, RetryableExchangeError) as exc:
                    log.warning("no price for %s: %s", position.symbol, exc)
                    prices[position.symbol] = None
            price = prices[position.symbol]
            views.append(PositionView(position, price, position.unrealized_pnl(price) if price else None))
        return views
