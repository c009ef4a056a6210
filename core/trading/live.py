"""Live positions on a spot account: protection rests on the exchange, the monitor follows it.

`LivePositions` is the PositionManager of live trading. It is built from three parts:

- the ledger (core/trading/live_ledger.py) books what the exchange did to the position's
  orders: fills, partial fills, fees, lists that vanished;
- the guard (core/trading/live_guard.py) keeps the position covered: OCO lists placed,
  stops moved by cancel-then-place, levels already crossed executed at market;
- the notices (core/trading/live_notices.py) tell the user and the admins, once per
  episode, what needs their attention.

Protection that vanished (cancelled in the exchange's app) is placed again, and the user
and the admins are told. If the exchange refuses a moved stop, the old stop goes back at
once; if that fails too, the user and the admins are told the position is unprotected and
every monitor run retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pandas as pd

from core.errors import ExchangeError, FinalExchangeError, RetryableExchangeError, UserError
from core.events import Event, PositionClosed
from core.models import ExitReason, OrderResult, OrderStatus, Position, PositionStatus, Side, StoredOrder, UserSignal
from core.ports import (
    Clock,
    OrderRepository,
    OutboxRepository,
    PositionRepository,
    SystemRepository,
    UserRepository,
)
from core.rules.exits import ManagementRules
from core.trading.accounts import live_balance
from core.trading.episodes import Episodes
from core.trading.live_audit import HoldingsAudit
from core.trading.live_book import EPS, same_state, trail_stop
from core.trading.live_guard import LiveGuard
from core.trading.live_ledger import LiveLedger
from core.trading.live_notices import LiveNotices
from core.trading.live_ports import Keyring, LiveExchange
from core.trading.orders import send_once
from core.trading.protection import current_slots, exit_request, parse_leg

__all__ = ["Keyring", "LiveConfig", "LiveExchange", "LivePositions"]

log = logging.getLogger(__name__)

#: A position whose orders were read this long ago at most counts in the holdings audit.
FRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class LiveConfig:
    admin_ids: frozenset[int]
    settle_seconds: float = 6.0  # the exchange's receive window and a margin: then "not found" is final
    min_stop_move_pct: float = 0.1  # a smaller trail step is not worth a cancel-then-place (of the stop)
    balance_max_age: float = 5.0  # seconds an account's balance, as read before an entry, is reused


class LivePositions:
    """The PositionManager of live trading on a spot exchange."""

    def __init__(
        self,
        *,
        config: LiveConfig,
        clock: Clock,
        exchange: LiveExchange,
        keys: Keyring,
        users: UserRepository,
        orders: OrderRepository,
        positions: PositionRepository,
        outbox: OutboxRepository,
        system: SystemRepository,
        rules: ManagementRules,
        wake_delivery: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._users = users
        self._monotonic = monotonic
        self._balance_read: dict[int, float] = {}  # user -> when their balance was last read
        self._synced: dict[int, float] = {}  # position -> when its orders were last read
        self._troubled: set[int] = set()  # positions whose last follow did not get through
        self.vouched: Callable[[int], bool] = lambda _: False  # current without a read (a stream is up)
        self._clock = clock
        self._exchange = exchange
        self._keys = keys
        self._orders = orders
        self._positions = positions
        self._rules = rules
        self._wake = wake_delivery
        self._sleep = sleep
        self._notices = LiveNotices(
            admin_ids=config.admin_ids, clock=clock, outbox=outbox, system=system, wake_delivery=wake_delivery
        )
        self._ledger = LiveLedger(
            clock=clock,
            exchange=exchange,
            orders=orders,
            positions=positions,
            notices=self._notices,
            rules=rules,
            settle_seconds=config.settle_seconds,
            wake_delivery=wake_delivery,
        )
        self._audit = HoldingsAudit(
            exchange=exchange,
            positions=positions,
            episodes=Episodes(system, outbox, clock, wake_delivery),
            admin_ids=config.admin_ids,
        )
        self._guard = LiveGuard(
            exchange=exchange,
            orders=orders,
            positions=positions,
            ledger=self._ledger,
            notices=self._notices,
            rules=rules,
            min_stop_move_pct=config.min_stop_move_pct,
        )

    # ------------------------------------------------------------------ the port

    async def admit(self, row: UserSignal) -> None:
        if row.levels.side is not Side.LONG:
            raise UserError("live_spot_long_only")  # spot: selling what one does not hold is borrowing
        if not await self._keys.has(row.user_id):
            raise UserError("live_connect_first")

    async def refresh_balance(self, user_id: int, quote: str) -> None:
        """Read the account's `quote` balance (through the shared limiter) unless it was read
        a moment ago; between reads the booked balance follows this process's own fills.
        What differs from the booked balance is a deposit or a withdrawal: not P&L."""
        read_at = self._balance_read.get(user_id)
        if read_at is not None and self._monotonic() - read_at < self._config.balance_max_age:
            return
        account = await self._exchange.fetch_balance(user_id, quote)
        balance = await live_balance(self._positions, user_id, account.total)
        flow = await self._users.record_balance(user_id, balance)
        self._balance_read[user_id] = self._monotonic()
        if abs(flow) > 1e-6:
            log.info(
                "user %s: balance %.2f %s read from the exchange (%+.2f not booked here)", user_id, balance, quote, flow
            )

    async def opened(self, position: Position) -> None:
        try:
            await self._guard.cover(position, await self._orders.for_position(position.id))
        except ExchangeError as exc:
            log.error("position %s: protection not placed: %s", position.id, exc)
            await self._notices.flag_unprotected(position, str(exc))

    async def follow(self, position: Position, candles: pd.DataFrame) -> bool:
        try:
            changed = await self._ledger.sync(position)
            self._synced[position.id] = self._monotonic()
            if position.status is PositionStatus.CLOSED:
                self._synced.pop(position.id, None)
                return True
            before = (position.last_candle_at, position.highest, position.lowest)
            moved = await self._guard.enforce(position, trail_stop(position, candles, self._rules))
            if moved:
                self._wake()
            if (position.last_candle_at, position.highest, position.lowest) != before:
                await self._positions.save(position, 0.0, lambda _: [])
            self._troubled.discard(position.id)
            return changed or moved or (position.last_candle_at, position.highest, position.lowest) != before
        except RetryableExchangeError as exc:  # the next run looks again; what rests keeps resting
            log.warning("position %s: exchange unavailable while following it: %s", position.id, exc)
            self._troubled.add(position.id)
            return False
        except FinalExchangeError as exc:
            log.error("position %s: cannot follow or protect it: %s", position.id, exc)
            self._troubled.add(position.id)
            await self._notices.flag_unprotected(position, str(exc))
            return False

    async def needs_care(self, position_id: int) -> bool:
        """Its last follow did not get through, or it is flagged unprotected: the monitor
        follows it on every run, whatever its account's stream says."""
        return position_id in self._troubled or await self._notices.flagged(position_id)

    async def move_stop(self, position: Position, stop: float) -> list[Event]:
        """Replace the stop resting on the exchange (the guard keeps the old one until the
        new one is placed, and saves a moved stop at once); nothing more to tell."""
        if not await self._guard.enforce(position, stop):
            raise UserError("break_even_not_moved", stop=position.stop_price)
        return []

    async def close(self, position: Position, price: float) -> PositionClosed:
        await self._ledger.sync(position)
        if position.status is PositionStatus.CLOSED:
            raise UserError("position_already_closed")
        resting = {n for n, s in current_slots(await self._orders.for_position(position.id)).items() if s.alive}
        for name in resting:
            slot = current_slots(await self._orders.for_position(position.id))[name]
            if not slot.unresolved:
                await self._exchange.cancel_order(slot.stop.request)  # cancels the list
        await self._ledger.sync(position, cancelling=resting)  # books what filled before the cancel
        if position.status is PositionStatus.CLOSED:
            raise UserError("position_already_closed")
        return await self._sell_rest(position, price)

    async def _sell_rest(self, position: Position, price: float) -> PositionClosed:
        """Sell what the position holds at market (nothing rests any more)."""
        stored = await self._orders.for_position(position.id)
        attempt = 1 + sum(o.request.purpose == ExitReason.MANUAL.value for o in stored)
        amount = await self._exchange.tradable_amount(position.symbol, position.quantity, price)
        request = exit_request(position, f"atra-p{position.id}-close{attempt}", amount)
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
        events = await self._ledger.book(position, fresh, force_close=amount <= 0)
        closed = [e for e in events if isinstance(e, PositionClosed)]
        if not closed:  # a partial fill: what is left is protected again
            await self.opened(position)
            raise UserError("order_rejected", reason="partially filled")
        return closed[0]

    async def lookup(self, order: StoredOrder) -> OrderResult | None:
        return await self._ledger.lookup(order)

    async def audit(self, full: bool) -> int:
        """Hold accounts' coins against their open positions; flag (never guess) a shortfall.
        Only positions whose orders were read a moment ago, or whose account's stream has
        been up since they were, count (what filled since the last look is not booked yet
        in the others)."""
        now = self._monotonic()
        fresh = {pid for pid, at in self._synced.items() if now - at < FRESH_SECONDS or self.vouched(pid)}
        return await self._audit.run(fresh, full)

    async def settle(self) -> None:
        young = [o for o in await self._orders.active() if o.result.status is OrderStatus.SUBMITTING]
        if not young:
            return
        latest = max(o.in_flight_since for o in young)  # the last moment one of them could have left
        wait = (latest - self._clock.now()).total_seconds() + self._config.settle_seconds
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

    # ------------------------------------------------------------------ orphans

    async def _resolve_orphan(self, order: StoredOrder) -> int:
        """An order no open position follows: record what the exchange says; a protective
        leg still resting for a closed position is cancelled (it would lock the funds)."""
        result = await self._ledger.lookup(order)
        if result is None:
            return 0
        if result.status is OrderStatus.OPEN and parse_leg(order.request.client_order_id):
            log.warning("order %s rests for a closed position; cancelling it", order.request.client_order_id)
            result = await self._exchange.cancel_order(order.request)
        if same_state(result, order.result):
            return 0
        await self._orders.record(result)
        return 1
