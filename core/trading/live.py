"""Live positions on a spot account: protection rests on the exchange, the monitor follows it.

Protection. Once the entry fills, the quantity held (less a fee paid in the base asset)
is covered by OCO lists, because spot can lock a quantity for one resting order only
(core/trading/protection.py): the TP1 share with stop + TP1, the rest with stop + TP2; a share too
small to be an order alone makes it one list (stop + TP1) for everything. Both legs are
stored `submitting` before the list is sent.

Following. Each monitor run asks for the user's open orders on the symbol (one call) and
looks up only the orders that are no longer open. A fill is booked (P&L, fee, balance,
event) in the same transaction that records it, so what an order row says it filled is
exactly what the position has booked of it: a restart can neither lose nor repeat a fill.
A leg partly filled (its OCO partner expires on the exchange) is cancelled and its rest
covered again.

Moving a stop (break-even after TP1, the ATR trail) replaces the covering list. Spot
cannot hold a second stop on the same quantity, so it is cancel-then-place: the new pair
is checked first, the old list cancelled, the new one sent at once; if the exchange
refuses it the old stop is placed again and the user told; if that fails too, the user
and the admins are told the position is unprotected and every monitor run retries. A stop
the price has already crossed is executed at market instead.

Protection that vanished (cancelled in the exchange's app) is placed again, and the user
and the admins are told.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import pandas as pd

from core.errors import (
    ExchangeError,
    FinalExchangeError,
    OrderRejected,
    RateLimited,
    RetryableExchangeError,
    UserError,
)
from core.events import Alert, Event, PositionClosed, StopMoved
from core.models import (
    ExitReason,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    ProtectiveOrders,
    Side,
    StoredOrder,
    UserSignal,
)
from core.ports import Clock, Exchange, OrderRepository, OutboxRepository, PositionRepository, SystemRepository
from core.rules.exits import ManagementRules
from core.rules.stops import update_stop
from core.trading.live_book import EPS, Batch, book_fill, break_even_stop, close, same_state
from core.trading.orders import send_once
from core.trading.protection import (
    LIVE_STATUSES,
    SLOT_TP1,
    SLOT_TP2,
    Slot,
    current_slots,
    leg_id,
    list_id,
    next_generation,
    parse_leg,
    slot_exit_id,
    stop_reason,
    target_of,
    target_reason,
)

log = logging.getLogger(__name__)


class LiveExchange(Exchange, Protocol):
    """What live positions need of the exchange beyond the Exchange port."""

    async def create_protective_oco(
        self,
        stop: OrderRequest,
        take_profit: OrderRequest,
        list_client_order_id: str | None = None,
        current_price: float | None = None,
    ) -> ProtectiveOrders: ...

    async def fetch_open_orders(self, user_id: int, symbol: str) -> list[OrderResult]: ...

    async def tradable_amount(self, symbol: str, amount: float, price: float) -> float: ...

    async def last_price(self, symbol: str) -> float: ...


class Keyring(Protocol):
    async def has(self, user_id: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class LiveConfig:
    admin_ids: frozenset[int]
    settle_seconds: float = 6.0  # the exchange's receive window and a margin: then "not found" is final
    min_stop_move_pct: float = 0.1  # a smaller trail step is not worth a cancel-then-place (of the stop)


class LivePositions:
    """The PositionManager of live trading on a spot exchange."""

    def __init__(
        self,
        *,
        config: LiveConfig,
        clock: Clock,
        exchange: LiveExchange,
        keys: Keyring,
        orders: OrderRepository,
        positions: PositionRepository,
        outbox: OutboxRepository,
        system: SystemRepository,
        rules: ManagementRules,
        wake_delivery: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._clock = clock
        self._exchange = exchange
        self._keys = keys
        self._orders = orders
        self._positions = positions
        self._outbox = outbox
        self._system = system
        self._rules = rules
        self._wake = wake_delivery
        self._sleep = sleep

    # ------------------------------------------------------------------ the port

    async def admit(self, row: UserSignal) -> None:
        if row.levels.side is not Side.LONG:
            raise UserError("live_spot_long_only")  # spot: selling what one does not hold is borrowing
        if not await self._keys.has(row.user_id):
            raise UserError("live_connect_first")

    async def opened(self, position: Position) -> None:
        try:
            await self._cover(position, await self._orders.for_position(position.id))
        except ExchangeError as exc:
            log.error("position %s: protection not placed: %s", position.id, exc)
            await self._flag_unprotected(position, str(exc))

    async def follow(self, position: Position, candles: pd.DataFrame) -> bool:
        try:
            changed = await self._sync(position)
            if position.status is PositionStatus.CLOSED:
                return True
            before = (position.last_candle_at, position.stop_price, position.highest, position.lowest)
            events = await self._enforce(position, self._trail(position, candles))
            if events or (position.last_candle_at, position.stop_price, position.highest, position.lowest) != before:
                await self._positions.save(position, 0.0, lambda _: events)
                self._wake()
                changed = True
            return changed
        except RetryableExchangeError as exc:  # the next run looks again; what rests keeps resting
            log.warning("position %s: exchange unavailable while following it: %s", position.id, exc)
            return False
        except FinalExchangeError as exc:
            log.error("position %s: cannot follow or protect it: %s", position.id, exc)
            await self._flag_unprotected(position, str(exc))
            return False

    async def close(self, position: Position, price: float) -> PositionClosed:
        await self._sync(position)
        if position.status is PositionStatus.CLOSED:
            raise UserError("position_already_closed")
        resting = {n for n, s in current_slots(await self._orders.for_position(position.id)).items() if s.alive}
        for name in resting:
            slot = current_slots(await self._orders.for_position(position.id))[name]
            if not slot.unresolved:
                await self._exchange.cancel_order(slot.stop.request)  # cancels the list
        await self._sync(position, cancelling=resting)  # books what filled before the cancel
        if position.status is PositionStatus.CLOSED:
            raise UserError("position_already_closed")
        stored = await self._orders.for_position(position.id)
        attempt = 1 + sum(o.request.purpose == ExitReason.MANUAL.value for o in stored)
        amount = await self._exchange.tradable_amount(position.symbol, position.quantity, price)
        request = self._exit_request(position, f"atra-p{position.id}-close{attempt}", amount)
        fresh: dict[str, OrderResult] = {}
        if amount > 0:
            try:
                result = await send_once(self._exchange, self._orders, request)
            except FinalExchangeError as exc:
                log.error("position %s: market close refused (%s); protecting it again", position.id, exc)
                await self.opened(position)
                raise UserError("order_rejected", reason=str(exc)[:160]) from exc
            if result.filled <= EPS:
                await self._orders.record(result)
                await self.opened(position)
                raise UserError("order_rejected", reason=result.status.value)
            fresh[request.client_order_id] = result
        events = await self._book(position, fresh, force_close=amount <= 0)
        closed = [e for e in events if isinstance(e, PositionClosed)]
        if not closed:  # a partial fill: what is left is protected again
            await self.opened(position)
            raise UserError("order_rejected", reason="partially filled")
        return closed[0]

    async def settle(self) -> None:
        young = [o for o in await self._orders.active() if o.result.status is OrderStatus.SUBMITTING]
        if not young:
            return
        wait = (max(o.created_at for o in young) - self._clock.now()).total_seconds() + self._config.settle_seconds
        if wait > 0:
            log.info("waiting %.1f s until orders sent before the restart can no longer arrive", wait)
            await self._sleep(wait)

    async def reconcile(self) -> int:
        changed = 0
        open_positions = await self._positions.open_positions()
        for position in open_positions:
            if await self.follow(position, pd.DataFrame()):
                changed += 1
        followed = {p.id for p in open_positions}
        for order in await self._orders.active():
            if order.request.position_id in followed:
                continue
            try:
                changed += await self._resolve_orphan(order)
            except ExchangeError as exc:
                log.warning("order %s: cannot look it up: %s", order.request.client_order_id, exc)
        return changed

    # ------------------------------------------------------------ sync and book

    async def _sync(self, position: Position, cancelling: frozenset[str] | set[str] = frozenset()) -> bool:
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
            result = resting.get(order.request.client_order_id) or await self._lookup(order)
            if result is None:
                continue
            if result.status is OrderStatus.OPEN and result.filled > EPS and parse_leg(result.client_order_id):
                # Partly filled: its OCO partner has expired, so the rest has no stop. Cancel
                # it; _enforce covers the rest again.
                result = await self._exchange.cancel_order(order.request)
                await self._notify(
                    position, "live_partial_fill", quantity=result.filled, price=result.average_price or 0.0
                )
            if not same_state(result, order.result):
                fresh[order.request.client_order_id] = result
        vanished = [name for name in self._vanished(stored, fresh) if name not in cancelling]
        await self._book(position, fresh)
        for name in vanished:
            log.warning("position %s: protective list %s vanished from the exchange", position.id, name)
            await self._notify(position, "protection_vanished", admins=True)
        return bool(fresh)

    async def _lookup(self, order: StoredOrder) -> OrderResult | None:
        """The exchange's account of an order missing from the open ones; None while an
        order being sent may still arrive; UNKNOWN once it provably never did."""
        found = await self._exchange.fetch_order(order.request)
        if found is not None:
            return found
        age = self._clock.now() - order.created_at
        if order.result.status is OrderStatus.SUBMITTING and age < timedelta(seconds=self._config.settle_seconds):
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

    async def _book(self, position: Position, fresh: dict[str, OrderResult], force_close: bool = False) -> list[Event]:
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
            close(position, batch, self._clock.now())
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

    # ------------------------------------------------------------- trail and enforce

    def _trail(self, position: Position, candles: pd.DataFrame) -> float:
        """Where the stop should be: break-even after TP1, then the ATR trail over the
        candles closed since the last look (as the paper rules do it). Updates the
        extremes; the position's stop stays where it rests until _enforce moves it."""
        wanted = break_even_stop(position, self._rules)
        if candles.empty:
            return wanted
        if position.last_candle_at is not None:
            candles = candles[candles.index > pd.Timestamp(position.last_candle_at)]
        atr = position.atr
        trail = atr is not None and math.isfinite(atr) and atr > 0 and self._rules.trail_atr_multiplier > 0
        for stamp, row in zip(candles.index, candles.itertuples(index=False), strict=True):
            position.highest = max(position.highest, row.high)
            position.lowest = min(position.lowest, row.low)
            position.last_candle_at = stamp.to_pydatetime()
            if position.tp1_done and trail:
                assert atr is not None
                wanted = update_stop(
                    position.side,
                    wanted,
                    position.highest,
                    position.lowest,
                    row.close,
                    atr,
                    self._rules.trail_atr_multiplier,
                )
        return wanted

    async def _enforce(self, position: Position, wanted: float) -> list[Event]:
        """Make the exchange hold what the position should have: its stop at `wanted`,
        every tradable unit covered. Returns the events to queue."""
        events: list[Event] = []
        for slot in current_slots(await self._orders.for_position(position.id)).values():
            step = abs(slot.stop_price - wanted)
            to_break_even = wanted == position.entry_price
            if not slot.alive or slot.unresolved or step <= EPS:
                continue
            if not to_break_even and step < slot.stop_price * self._config.min_stop_move_pct / 100:
                continue
            old = position.stop_price
            if await self._move(position, slot, wanted) and position.status is PositionStatus.OPEN:
                position.stop_price = wanted
                announced = old != position.entry_price and wanted == position.entry_price  # with TP1
                if not announced:
                    events.append(
                        StopMoved(position.user_id, position.id, position.symbol, old_stop=old, new_stop=wanted)
                    )
        if position.status is PositionStatus.OPEN:
            await self._cover(position, await self._orders.for_position(position.id))
        return events

    async def _move(self, position: Position, slot: Slot, wanted: float) -> bool:
        """Replace the slot's list with one at `wanted`: cancel, then place (spot locks the
        quantity once). False when the exchange refused it: the old stop is placed again
        at once and the user told (once per refused level)."""
        price = await self._exchange.last_price(position.symbol)
        if position.side.sign * (price - wanted) <= 0:  # the new stop is already crossed: it fires now
            await self._exit_slot(position, slot, stop_reason(position, wanted))
            return True
        await self._exchange.cancel_order(slot.stop.request)
        await self._sync(position, cancelling={slot.name})  # records the cancel, books a fill that beat it
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
        key = f"stop_refused:{position.id}:{wanted}"
        if not await self._system.get_value(key):
            await self._system.set_value(key, "1")
            await self._notify(position, "stops_rejected", stop=wanted, old=slot.stop_price)
        return False

    async def _cover(self, position: Position, stored: Sequence[StoredOrder]) -> None:
        """Place lists for whatever tradable quantity no resting list covers."""
        slots = current_slots(stored)
        if any(s.unresolved for s in slots.values()):
            return  # a list is being sent or resolved: decide after it is known
        alive = {name for name, s in slots.items() if s.alive}
        uncovered = position.quantity - sum(s.covers for s in slots.values())
        stop = position.stop_price
        amount = await self._exchange.tradable_amount(position.symbol, uncovered, stop)
        if amount <= 0:
            await self._clear_flag(position)
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
            await self._place(position, name, generation, part, stop, price)
        await self._clear_flag(position)

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
        stop_leg = OrderRequest(
            client_order_id=leg_id(position.id, slot, generation, "sl"),
            user_id=position.user_id,
            symbol=position.symbol,
            side=position.side.exit_order_side,
            type=OrderType.STOP_MARKET,
            amount=amount,
            stop_price=stop,
            reduce_only=True,
            position_id=position.id,
            purpose=f"{slot}-stop",
        )
        target_leg = OrderRequest(
            client_order_id=leg_id(position.id, slot, generation, "tp"),
            user_id=position.user_id,
            symbol=position.symbol,
            side=position.side.exit_order_side,
            type=OrderType.TAKE_PROFIT,
            amount=amount,
            price=target_of(position, slot),
            reduce_only=True,
            position_id=position.id,
            purpose=f"{slot}-tp",
        )
        for leg in (stop_leg, target_leg):
            if await self._orders.begin(leg) is not None:
                raise RuntimeError(f"protective leg {leg.client_order_id} exists already")
        name = list_id(position.id, slot, generation)
        try:
            try:
                placed = await self._exchange.create_protective_oco(stop_leg, target_leg, name, price)
            except RateLimited:
                log.warning("list %s refused by a rate limit; sending it once more", name)
                placed = await self._exchange.create_protective_oco(stop_leg, target_leg, name)
        except (FinalExchangeError, RateLimited) as exc:
            status = OrderStatus.REJECTED if isinstance(exc, FinalExchangeError) else OrderStatus.UNKNOWN
            for leg in (stop_leg, target_leg):
                await self._orders.record(OrderResult(leg.client_order_id, None, status, amount, 0.0, None))
            raise
        await self._orders.record(placed.stop)
        await self._orders.record(placed.take_profit)
        if not all(r.status in LIVE_STATUSES or r.filled for r in (placed.stop, placed.take_profit)):
            raise OrderRejected(f"list {name} was not placed")
        log.info(
            "position %s: %s %.8g protected at stop %s / target %s", position.id, name, amount, stop, target_leg.price
        )

    async def _exit_slot(self, position: Position, slot: Slot, reason: ExitReason) -> None:
        """Cancel the slot's list and sell its quantity at market."""
        await self._exchange.cancel_order(slot.stop.request)
        await self._sync(position, cancelling={slot.name})
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
        request = self._exit_request(position, slot_exit_id(position.id, slot, generation), amount, reason)
        result = await send_once(self._exchange, self._orders, request)
        await self._book(position, {request.client_order_id: result})

    @staticmethod
    def _exit_request(
        position: Position, client_order_id: str, amount: float, reason: ExitReason = ExitReason.MANUAL
    ) -> OrderRequest:
        return OrderRequest(
            client_order_id=client_order_id,
            user_id=position.user_id,
            symbol=position.symbol,
            side=position.side.exit_order_side,
            type=OrderType.MARKET,
            amount=amount,
            reduce_only=True,
            position_id=position.id,
            purpose=reason.value,
        )

    # ------------------------------------------------------------------ orphans

    async def _resolve_orphan(self, order: StoredOrder) -> int:
        """An order no open position follows: record what the exchange says; a protective
        leg still resting for a closed position is cancelled (it would lock the funds)."""
        result = await self._lookup(order)
        if result is None:
            return 0
        if result.status is OrderStatus.OPEN and parse_leg(order.request.client_order_id):
            log.warning("order %s rests for a closed position; cancelling it", order.request.client_order_id)
            result = await self._exchange.cancel_order(order.request)
        if same_state(result, order.result):
            return 0
        await self._orders.record(result)
        return 1

    # ------------------------------------------------------------------- notices

    async def _notify(self, position: Position, key: str, admins: bool = False, **params: object) -> None:
        base = {"symbol": position.symbol, "id": position.id}
        alerts = [Alert(user_id=position.user_id, key=key, params={**base, **params})]
        if admins:
            admin_params = {**base, "user": position.user_id, **params}
            alerts += [
                Alert(user_id=a, key=f"{key}_admin", params=admin_params) for a in sorted(self._config.admin_ids)
            ]
        await self._outbox.enqueue(alerts, self._clock.now())
        self._wake()

    async def _flag_unprotected(self, position: Position, reason: str) -> None:
        """Tell the user and the admins once that the position is not protected."""
        key = f"unprotected:{position.id}"
        if await self._system.get_value(key):
            return
        await self._system.set_value(key, "1")
        await self._notify(position, "protection_failed", admins=True, reason=reason[:160])

    async def _clear_flag(self, position: Position) -> None:
        key = f"unprotected:{position.id}"
        if await self._system.get_value(key):
            await self._system.set_value(key, "")
            await self._notify(position, "protection_restored", admins=True)
