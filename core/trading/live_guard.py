"""Keeping a live position covered on the exchange: OCO lists placed, stops moved, levels
already crossed executed at market.

Spot locks a quantity for one resting order only, so stop and target rest as one OCO list
per slot (core/trading/protection.py): the TP1 share with stop + TP1, the rest with stop +
TP2; a share too small to be an order alone makes it one list (stop + TP1) for everything.
Both legs are stored `submitting` before the list is sent.

Moving a stop (break-even after TP1, the ATR trail) replaces the covering list. Spot
cannot hold a second stop on the same quantity, so it is cancel-then-place: the new pair
is checked first, the old list cancelled, the new one sent at once; if the exchange
refuses it the old stop is placed again and the user told. A stop the price has already
crossed is executed at market instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from core.errors import FinalExchangeError, InsufficientFunds, OrderRejected, RateLimited
from core.events import Event, StopMoved
from core.models import (
    ExitReason,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    StoredOrder,
)
from core.ports import OrderRepository, PositionRepository
from core.rules.exits import ManagementRules
from core.trading.live_book import EPS
from core.trading.live_ledger import LiveLedger
from core.trading.live_notices import LiveNotices
from core.trading.live_ports import LiveExchange
from core.trading.orders import send_once
from core.trading.protection import (
    LIVE_STATUSES,
    SLOT_TP1,
    SLOT_TP2,
    Slot,
    current_slots,
    exit_request,
    leg_id,
    list_id,
    next_generation,
    slot_exit_id,
    stop_reason,
    target_of,
    target_reason,
)

log = logging.getLogger(__name__)


class ListNotPlaced(OrderRejected):
    """The exchange never received the list (not found a receive window after it left)."""


#: The most the wallet may hold less than a position before it is flagged instead of believed.
WALLET_TOLERANCE = 0.02


class LiveGuard:
    def __init__(
        self,
        *,
        exchange: LiveExchange,
        orders: OrderRepository,
        positions: PositionRepository,
        ledger: LiveLedger,
        notices: LiveNotices,
        rules: ManagementRules,
        min_stop_move_pct: float,
    ) -> None:
        self._exchange = exchange
        self._orders = orders
        self._positions = positions
        self._ledger = ledger
        self._notices = notices
        self._rules = rules
        self._min_stop_move_pct = min_stop_move_pct

    async def enforce(self, position: Position, wanted: float) -> bool:
        """Make the exchange hold what the position should have: its stop at `wanted`,
        every tradable unit covered. A moved stop is saved at once (with its event), so what
        fails later in the run cannot leave the stored stop behind the one that rests.
        True if a stop moved."""
        moved = False
        for slot in current_slots(await self._orders.for_position(position.id)).values():
            step = abs(slot.stop_price - wanted)
            to_break_even = wanted == position.entry_price
            if not slot.alive or slot.unresolved or step <= EPS:
                continue
            if not to_break_even and step < slot.stop_price * self._min_stop_move_pct / 100:
                continue
            old = position.stop_price
            if await self._move(position, slot, wanted) and position.status is PositionStatus.OPEN:
                position.stop_price = wanted
                announced = old != position.entry_price and wanted == position.entry_price  # with TP1
                event = StopMoved(position.user_id, position.id, position.symbol, old_stop=old, new_stop=wanted)
                await self._positions.save(position, 0.0, _queue([] if announced else [event]))
                moved = True
        if position.status is PositionStatus.OPEN:
            await self.cover(position, await self._orders.for_position(position.id))
        return moved

    async def _move(self, position: Position, slot: Slot, wanted: float) -> bool:
        """Replace the slot's list with one at `wanted`: cancel, then place (spot locks the
        quantity once). False when the exchange refused it: the old stop is placed again
        at once and the user told (once per refused level)."""
        price = await self._exchange.last_price(position.symbol)
        if position.side.sign * (price - wanted) <= 0:  # the new stop is already crossed: it fires now
            await self._exit_slot(position, slot, stop_reason(position, wanted))
            return True
        await self._exchange.cancel_order(slot.stop.request)
        await self._ledger.sync(position, cancelling={slot.name})  # records the cancel, books a fill that beat it
        cancelled = current_slots(await self._orders.for_position(position.id))[slot.name]
        if position.status is PositionStatus.CLOSED or cancelled.done:
            return True
        amount = cancelled.amount - cancelled.booked
        generation = next_generation(await self._orders.for_position(position.id), slot.name)
        try:
            await self._place(position, slot.name, generation, amount, wanted, price)
            return True
        except FinalExchangeError as exc:
            log.warning("position %s: the exchange refused the stop at %s: %s", position.id, wanted, exc)
        await self._place(position, slot.name, generation + 1, amount, slot.stop_price)  # the old stop, at once
        if await self._notices.once(f"stop_refused:{position.id}:{wanted}"):
            await self._notices.notify(position, "stops_rejected", stop=wanted, old=slot.stop_price)
        return False

    async def cover(self, position: Position, stored: Sequence[StoredOrder]) -> None:
        """Place lists for whatever tradable quantity no resting list covers. Refused for
        want of coins, the wallet decides when it is a hair short (a fee paid in the coin
        the exchange did not report as such); anything more is not guessed (it raises)."""
        try:
            await self._cover(position, stored)
        except InsufficientFunds:
            if not await self._fit_to_wallet(position):
                raise
            await self._cover(position, await self._orders.for_position(position.id))

    async def _fit_to_wallet(self, position: Position) -> bool:
        """The position holds what the wallet holds when that is at most `WALLET_TOLERANCE`
        less (freqtrade does the same): saved, logged, True. Else False (flag, not guess)."""
        slots = current_slots(await self._orders.for_position(position.id))
        needed = position.quantity - sum(s.covers for s in slots.values())
        free = (await self._exchange.fetch_balance(position.user_id, position.symbol.split("/")[0])).free
        short = needed - free
        if short <= EPS or short > position.quantity * WALLET_TOLERANCE:
            return False
        log.warning(
            "position %s: the wallet holds %.8g free, %.8g less than the position (a fee paid in the coin?);"
            " the position now holds what the wallet has",
            position.id,
            free,
            short,
        )
        position.quantity -= short
        await self._positions.save(position, 0.0, lambda _: [])
        return True

    async def _cover(self, position: Position, stored: Sequence[StoredOrder]) -> None:
        slots = current_slots(stored)
        if any(s.unresolved for s in slots.values()):
            return  # a list is being sent or resolved: decide after it is known
        alive = {name for name, s in slots.items() if s.alive}
        uncovered = position.quantity - sum(s.covers for s in slots.values())
        stop = position.stop_price
        amount = await self._exchange.tradable_amount(position.symbol, uncovered, stop)
        if amount <= 0:
            await self._notices.clear_flag(position)
            return
        free = [
            name for name in (SLOT_TP1, SLOT_TP2) if name not in alive and not (slots.get(name) and slots[name].done)
        ]
        if position.tp1_done or SLOT_TP1 not in free:
            plan = [(SLOT_TP2, amount)] if SLOT_TP2 in free else []
        elif SLOT_TP2 not in free:
            plan = [(SLOT_TP1, amount)]
        else:
            plan = await self._split(position, amount, stop)
        if not plan:
            log.error("position %s: %.8g uncovered and no slot free for it", position.id, uncovered)
            return
        price = await self._exchange.last_price(position.symbol)
        for name, part in plan:
            generation = next_generation(await self._orders.for_position(position.id), name)
            if (
                position.side.sign * (price - stop) <= 0
                or position.side.sign * (price - target_of(position, name)) >= 0
            ):
                await self._exit_amount(position, name, generation, part, price)
                continue
            try:
                await self._place(position, name, generation, part, stop, price)
            except ListNotPlaced:  # it provably never arrived (a 5xx before the exchange took it): once more
                log.warning("position %s: list %s%s never arrived; sending it once more", position.id, name, generation)
                await self._place(position, name, generation + 1, part, stop)
        await self._notices.clear_flag(position)

    async def _split(self, position: Position, amount: float, stop: float) -> list[tuple[str, float]]:
        """TP1's share and the rest, when both can be orders; else one list at TP1."""
        fraction = self._rules.tp1_fraction
        first = await self._exchange.tradable_amount(position.symbol, amount * fraction, stop) if fraction < 1 else 0.0
        rest = await self._exchange.tradable_amount(position.symbol, amount - first, stop) if first else 0.0
        if first and rest:
            return [(SLOT_TP1, first), (SLOT_TP2, rest)]
        return [(SLOT_TP1, amount)]

    async def _place(
        self, position: Position, slot: str, generation: int, amount: float, stop: float, price: float | None = None
    ) -> None:
        """Store both legs, then send the list once (once more after a 429, which the
        exchange refused unprocessed); record what came back."""
        stop_leg, target_leg = _legs(position, slot, generation, amount, stop)
        for leg in (stop_leg, target_leg):
            if await self._orders.begin(leg) is not None:
                raise RuntimeError(f"protective leg {leg.client_order_id} exists already")
        name = list_id(position.id, slot, generation)

        async def on_sent() -> None:
            await self._orders.mark_sent(stop_leg.client_order_id, target_leg.client_order_id)

        try:
            try:
                placed = await self._exchange.create_protective_oco(stop_leg, target_leg, name, price, on_sent)
            except RateLimited:
                log.warning("list %s refused by a rate limit; sending it once more", name)
                placed = await self._exchange.create_protective_oco(stop_leg, target_leg, name, on_sent=on_sent)
        except (FinalExchangeError, RateLimited) as exc:
            status = OrderStatus.REJECTED if isinstance(exc, FinalExchangeError) else OrderStatus.UNKNOWN
            for leg in (stop_leg, target_leg):
                await self._orders.record(OrderResult(leg.client_order_id, None, status, amount, 0.0, None))
            raise
        await self._orders.record(placed.stop)
        await self._orders.record(placed.take_profit)
        if not all(r.status in LIVE_STATUSES or r.filled for r in (placed.stop, placed.take_profit)):
            raise ListNotPlaced(f"list {name} was not placed")
        log.info(
            "position %s: %s %.8g protected at stop %s / target %s", position.id, name, amount, stop, target_leg.price
        )

    async def _exit_slot(self, position: Position, slot: Slot, reason: ExitReason) -> None:
        """Cancel the slot's list and sell its quantity at market."""
        await self._exchange.cancel_order(slot.stop.request)
        await self._ledger.sync(position, cancelling={slot.name})
        cancelled = current_slots(await self._orders.for_position(position.id))[slot.name]
        if position.status is PositionStatus.CLOSED or cancelled.done:
            return
        price = await self._exchange.last_price(position.symbol)
        amount = await self._exchange.tradable_amount(position.symbol, cancelled.amount - cancelled.booked, price)
        generation = next_generation(await self._orders.for_position(position.id), slot.name)
        await self._exit_amount(position, slot.name, generation, amount, price, reason)

    async def _exit_amount(
        self,
        position: Position,
        slot: str,
        generation: int,
        amount: float,
        price: float,
        reason: ExitReason | None = None,
    ) -> None:
        """Sell `amount` at market now: the level of the slot was crossed before its list
        could rest (a stop or a target in the past)."""
        if reason is None:
            crossed_stop = position.side.sign * (price - position.stop_price) <= 0
            reason = stop_reason(position, position.stop_price) if crossed_stop else target_reason(slot)
        request = exit_request(position, slot_exit_id(position.id, slot, generation), amount, reason)
        result = await send_once(self._exchange, self._orders, request)
        await self._ledger.book(position, {request.client_order_id: result})


def _queue(events: list[Event]) -> Callable[[float], list[Event]]:
    return lambda _balance: events


def _legs(
    position: Position, slot: str, generation: int, amount: float, stop: float
) -> tuple[OrderRequest, OrderRequest]:
    """The stop leg and the target leg of one list."""
    common = {
        "user_id": position.user_id,
        "symbol": position.symbol,
        "side": position.side.exit_order_side,
        "amount": amount,
        "reduce_only": True,
        "position_id": position.id,
    }
    stop_leg = OrderRequest(
        client_order_id=leg_id(position.id, slot, generation, "sl"),
        type=OrderType.STOP_MARKET,
        stop_price=stop,
        purpose=f"{slot}-stop",
        **common,  # type: ignore[arg-type]
    )
    target_leg = OrderRequest(
        client_order_id=leg_id(position.id, slot, generation, "tp"),
        type=OrderType.TAKE_PROFIT,
        price=target_of(position, slot),
        purpose=f"{slot}-tp",
        **common,  # type: ignore[arg-type]
    )
    return stop_leg, target_leg
