"""Recover: confirmations a crash (or a silent exchange) interrupted, finished or undone."""

from __future__ import annotations

import logging

from core.errors import RetryableExchangeError
from core.events import Alert
from core.models import OrderResult, OrderStatus, SignalState, UserSignal
from core.trading.context import TradingContext
from core.trading.execution import Executor, entry_request

log = logging.getLogger(__name__)


class Recovery:
    """The recovery step of the trading service."""

    def __init__(self, ctx: TradingContext, executor: Executor) -> None:
        self._ctx = ctx
        self._executor = executor

    async def recover(self) -> int:
        """After a restart: finish or undo confirmations a crash interrupted, then let the
        position manager bring orders and positions in line with the exchange. Returns how
        many rows, orders and positions were resolved."""
        await self._ctx.manager.settle()
        resolved = await self.resolve_interrupted()
        return resolved + await self._ctx.manager.reconcile()

    async def resolve_interrupted(self) -> int:
        """Confirmed rows whose entry never got an answer (a crash, or the exchange silent
        past every lookup): a fill becomes a position; an order never placed rejects the
        row and tells the user. Under the user's lock, so a confirmation in progress is
        never taken for an interrupted one."""
        ctx = self._ctx
        resolved = 0
        for stuck in await ctx.signals.stuck_confirmed():
            lock = ctx.user_locks[stuck.user_id]
            if lock.locked():  # a confirmation of this user is running: it is not interrupted
                continue
            async with lock:
                row = await ctx.signals.get_user_signal(stuck.id)
                if row is None or row.state is not SignalState.CONFIRMED:
                    continue
                try:
                    await self._resolve_entry(row)
                except RetryableExchangeError as exc:
                    log.warning("interrupted confirmation %s still unresolved: %s", row.id, exc)
                    continue
            resolved += 1
        return resolved

    async def _resolve_entry(self, row: UserSignal) -> None:
        ctx = self._ctx
        request = entry_request(row)
        recorded = await ctx.orders.get(request.client_order_id)
        result = recorded
        if recorded is None or recorded.status is OrderStatus.SUBMITTING:
            result = await ctx.exchange.fetch_order(request)
            if result is not None:
                await ctx.orders.record(result)
        if result is not None and result.status is OrderStatus.FILLED and result.average_price:
            await self._executor.open_position(row, result)
            return
        if recorded is not None and result is None:
            await ctx.orders.record(
                OrderResult(request.client_order_id, None, OrderStatus.UNKNOWN, request.amount, 0.0, None)
            )
        await self._executor.reject(row, "interrupted before the order was placed")
        await ctx.outbox.enqueue(
            [Alert(user_id=row.user_id, key="confirm_interrupted", params={"symbol": row.symbol})],
            ctx.clock.now(),
        )
        ctx.wake()
