"""Recover: confirmations a crash (or a silent exchange) interrupted, finished or undone."""

from __future__ import annotations

import logging

from core.errors import ExchangeError, RetryableExchangeError
from core.events import Alert
from core.models import OrderResult, OrderStatus, SignalState, UserSignal
from core.trading.context import TradingContext
from core.trading.episodes import Episodes, short_reason
from core.trading.execution import Executor, entry_filled, entry_request

log = logging.getLogger(__name__)


class Recovery:
    """The recovery step of the trading service."""

    def __init__(self, ctx: TradingContext, executor: Executor, episodes: Episodes) -> None:
        self._ctx = ctx
        self._executor = executor
        self._episodes = episodes

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
        never taken for an interrupted one. A row that meets a final error (the user's key
        is gone, the pair delisted) is flagged and told once, never sent again, and tried
        again next run; the other rows are resolved meanwhile."""
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
                    done = await self._resolve_entry(row)
                except RetryableExchangeError as exc:
                    log.warning("interrupted confirmation %s still unresolved: %s", row.id, exc)
                    continue
                except Exception as exc:  # one row's trouble is its own: flag it, serve the others
                    await self._unresolved(row, exc)
                    continue
                await self._episodes.succeeded(f"confirm:{row.id}")
            resolved += done
        return resolved

    async def _unresolved(self, row: UserSignal, exc: Exception) -> None:
        reason = short_reason(exc)
        alerts = [Alert(row.user_id, "confirm_unresolved", {"symbol": row.symbol, "reason": reason})]
        params = {"row": row.id, "user": row.user_id, "symbol": row.symbol, "reason": reason}
        alerts += [Alert(a, "confirm_unresolved_admin", params) for a in sorted(self._ctx.config.admin_ids)]
        started = await self._episodes.failed(f"confirm:{row.id}", alerts)
        level = logging.ERROR if started else logging.WARNING  # loud once per episode
        log.log(
            level,
            "interrupted confirmation %s cannot be resolved: %s",
            row.id,
            exc,
            exc_info=not isinstance(exc, ExchangeError),
        )

    async def _resolve_entry(self, row: UserSignal) -> bool:
        """Open the position of a filled entry, or reject the row of one never placed.
        False while the entry may still arrive (sent less than a receive window ago)."""
        ctx = self._ctx
        request = entry_request(row)
        stored = await ctx.orders.stored(request.client_order_id)
        if stored is None:  # the claim was stored, the intent never was: nothing was sent
            result: OrderResult | None = await ctx.exchange.fetch_order(request)
        elif stored.result.status is OrderStatus.SUBMITTING:
            result = await ctx.manager.lookup(stored)
            if result is None:
                return False
            await ctx.orders.record(result)
        else:
            result = stored.result
        if result is not None and entry_filled(result):
            await self._executor.open_position(row, result)
            return True
        await self._executor.reject(row, "interrupted before the order was placed")
        await ctx.outbox.enqueue(
            [Alert(user_id=row.user_id, key="confirm_interrupted", params={"symbol": row.symbol})],
            ctx.clock.now(),
        )
        ctx.wake()
        return True
