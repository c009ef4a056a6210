"""What a user (or the dashboard) does to open positions: close one or all, move a stop
to break-even. Under the monitor's lock and the position's own, like the monitor's exits."""

from __future__ import annotations

from core.errors import UserError
from core.events import PositionClosed, StopMoved
from core.models import Position, PositionStatus
from core.trading.context import TradingContext
from core.trading.monitor import Monitor


class PositionActions:
    def __init__(self, ctx: TradingContext, monitor: Monitor) -> None:
        self._ctx = ctx
        self._monitor = monitor

    async def close_all(self, user_id: int) -> list[PositionClosed]:
        """Close every open position of the user at market; [] when there is none."""
        closed = []
        for position in await self._ctx.positions.open_positions(user_id):
            try:
                closed.append(await self._monitor.close_position(position.id, user_id))
            except UserError as exc:
                if exc.key != "position_already_closed":  # the monitor closed it meanwhile
                    raise
        return closed

    async def stop_to_break_even(self, position_id: int, user_id: int) -> StopMoved:
        """Move the position's stop to its entry price. Refused when the stop is already at
        or past the entry, or when the price has not moved past the entry (the stop would
        sit beyond the price and fill at once)."""
        ctx = self._ctx
        async with ctx.monitor_lock:
            position = await self._own_open(position_id, user_id)
            async with ctx.position_locks[position.id]:
                position = await self._own_open(position_id, user_id)
                entry, sign = position.entry_price, position.side.sign
                if sign * (position.stop_price - entry) >= 0:
                    raise UserError("break_even_already")
                price = await ctx.market_data.last_price(position.symbol)
                if sign * (price - entry) <= 0:
                    raise UserError("break_even_not_past_entry", price=price, entry=entry)
                old = position.stop_price
                events = await ctx.manager.move_stop(position, entry)
                await ctx.positions.save(position, 0.0, lambda _: events)
            ctx.wake()
            return StopMoved(position.user_id, position.id, position.symbol, old, position.stop_price)

    async def _own_open(self, position_id: int, user_id: int) -> Position:
        position = await self._ctx.positions.get(position_id)
        if position is None or position.user_id != user_id:
            raise UserError("position_not_found")
        if position.status is PositionStatus.CLOSED:
            raise UserError("position_already_closed")
        return position
