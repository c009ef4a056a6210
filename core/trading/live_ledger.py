"""What the exchange did to a live position's orders, booked into the position.

Each monitor run asks for the user's open orders on the symbol (one call) and looks up
only the orders that are no longer open. A fill is booked (P&L, fee, balance, event) in
the same transaction that records it, so what an order row says it filled is exactly what
the position has booked of it: a restart can neither lose nor repeat a fill. A leg partly
filled (its OCO partner expires on the exchange) is cancelled here and its rest covered
again by the guard (core/trading/live_guard.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from core.events import Event
from core.models import OrderResult, OrderStatus, Position, StoredOrder
from core.ports import Clock, OrderRepository, PositionRepository
from core.rules.exits import ManagementRules
from core.trading.live_book import EPS, Batch, book_fill, close, same_state
from core.trading.live_notices import LiveNotices
from core.trading.live_ports import LiveExchange
from core.trading.protection import LIVE_STATUSES, current_slots, parse_leg

log = logging.getLogger(__name__)


class LiveLedger:
    def __init__(
        self,
        *,
        clock: Clock,
        exchange: LiveExchange,
        orders: OrderRepository,
        positions: PositionRepository,
        notices: LiveNotices,
        rules: ManagementRules,
        settle_seconds: float,
        wake_delivery: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._exchange = exchange
        self._orders = orders
        self._positions = positions
        self._notices = notices
        self._rules = rules
        self._settle_seconds = settle_seconds
        self._wake = wake_delivery

    async def sync(self, position: Position, cancelling: frozenset[str] | set[str] = frozenset()) -> bool:
        """Look up every order of the position that may have changed; book the fills.
        `cancelling`: slots this process has just cancelled (not vanished)."""
        stored = await self._orders.for_position(position.id)
        pending = [o for o in stored if o.result.status in LIVE_STATUSES]
        if not pending:
            return False
        resting = {
            r.client_order_id: r for r in await self._exchange.fetch_open_orders(position.user_id, position.symbol)
        }
        fresh: dict[str, OrderResult] = {}
        for order in pending:
            result = resting.get(order.request.client_order_id) or await self.lookup(order)
            if result is None:
                continue
            if result.status is OrderStatus.OPEN and result.filled > EPS and parse_leg(result.client_order_id):
                # Partly filled: its OCO partner has expired, so the rest has no stop. Cancel
                # it; the guard covers the rest again.
                result = await self._exchange.cancel_order(order.request)
                await self._notices.notify(
                    position, "live_partial_fill", quantity=result.filled, price=result.average_price or 0.0
                )
            if not same_state(result, order.result):
                fresh[order.request.client_order_id] = result
        vanished = [name for name in self._vanished(stored, fresh) if name not in cancelling]
        await self.book(position, fresh)
        for name in vanished:
            log.warning("position %s: protective list %s vanished from the exchange", position.id, name)
            await self._notices.notify(position, "protection_vanished", admins=True)
        return bool(fresh)

    async def lookup(self, order: StoredOrder) -> OrderResult | None:
        """The exchange's account of an order missing from the open ones; None while an
        order being sent may still arrive; UNKNOWN once it provably never did."""
        found = await self._exchange.fetch_order(order.request)
        if found is not None:
            return found
        age = self._clock.now() - order.in_flight_since
        if order.result.status is OrderStatus.SUBMITTING and age < timedelta(seconds=self._settle_seconds):
            return None
        return OrderResult(order.request.client_order_id, None, OrderStatus.UNKNOWN, order.request.amount, 0.0, None)

    @staticmethod
    def _vanished(stored: Sequence[StoredOrder], fresh: dict[str, OrderResult]) -> list[str]:
        """Slots that were resting and are gone without a fill (cancelled from outside)."""
        gone = []
        for slot in current_slots(stored).values():
            if not slot.alive or slot.unresolved:
                continue
            now = [fresh.get(leg.request.client_order_id, leg.result) for leg in slot.legs]
            if all(r.status in (OrderStatus.CANCELED, OrderStatus.UNKNOWN) for r in now) and not any(
                r.filled > EPS for r in now
            ):
                gone.append(slot.name)
        return gone

    async def book(self, position: Position, fresh: dict[str, OrderResult], force_close: bool = False) -> list[Event]:
        """Record fresh results; book the new fills into the position, with the records
        of the orders that made them, in one transaction. The position closes when
        nothing rests any more and what is left cannot be sold (`force_close`: close it
        regardless). Returns the events queued."""
        stored = {o.request.client_order_id: o for o in await self._orders.for_position(position.id)}
        batch = Batch()
        for client_order_id, result in fresh.items():
            order = stored[client_order_id]
            if result.filled - order.result.filled > EPS:
                book_fill(position, order, result, batch, self._rules)
            else:
                await self._orders.record(result)
        if not batch.results and not force_close:
            return []
        if force_close or await self._only_dust_left(position, fresh, stored):
            sold = sum(fresh.get(cid, o.result).filled for cid, o in stored.items() if o.request.purpose != "entry")
            close(position, batch, self._clock.now(), sold)
        built: list[Event] = []

        def events(balance: float) -> list[Event]:
            built.extend(batch.events(balance))
            return built

        await self._positions.save(position, batch.balance_delta, events, batch.results)
        self._wake()
        return built

    async def _only_dust_left(
        self, position: Position, fresh: dict[str, OrderResult], stored: dict[str, StoredOrder]
    ) -> bool:
        """Nothing resting any more and what is left cannot be sold (below the lot step)."""
        for client_order_id, order in stored.items():
            status = fresh.get(client_order_id, order.result).status
            if status in LIVE_STATUSES:
                return False
        price = position.stop_price if position.stop_price > 0 else position.entry_price
        return await self._exchange.tradable_amount(position.symbol, position.quantity, price) <= 0
