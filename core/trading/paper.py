"""Paper positions: protective levels watched as if they rested on an exchange.

The monitor hands each open position the candles closed since its last look;
`core/rules/exits.apply_candle` (shared with the backtester) says what triggered. Then the
latest price is checked (`apply_price`): a stop or target the price has reached between
candle closes triggers at once, as a resting order would. Each exit is an order on the
paper exchange with its own client order id (one per reason), so an exit seen by both
paths is booked once; each is stamped with the market time of its trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from core.events import Event, PositionClosed, StopMoved, TakeProfitHit
from core.models import (
    ExitReason,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    StoredOrder,
    UserSignal,
)
from core.ports import Clock, Exchange, MarketData, OrderRepository, PositionRepository
from core.rules.exits import Candle, CandleOutcome, ManagementRules, Trigger, apply_candle, apply_price
from core.trading.orders import exit_client_order_id, mean_exit_price, submit_once

log = logging.getLogger(__name__)


class PaperPositions:
    """The PositionManager of paper trading."""

    def __init__(
        self,
        *,
        clock: Clock,
        exchange: Exchange,
        orders: OrderRepository,
        positions: PositionRepository,
        rules: ManagementRules,
        wake_delivery: Callable[[], None] = lambda: None,
        market_data: MarketData | None = None,
    ) -> None:
        self._clock = clock
        self._exchange = exchange
        self._orders = orders
        self._positions = positions
        self._rules = rules
        self._wake = wake_delivery
        self._market_data = market_data  # None: closed candles only (no intrabar check)
        self._seen: dict[int, float] = {}  # position id -> the last price this process saw it at
        self._tp1_intrabar: dict[int, datetime] = {}  # position id -> when its TP1 filled between candles

    async def admit(self, row: UserSignal) -> None:
        """Every user can paper-trade every signal, long or short."""

    async def opened(self, position: Position) -> None:
        """Nothing rests anywhere: the levels are in the position row. The entry fill is
        the first price seen on the safe side of the stop."""
        self._seen[position.id] = position.entry_price

    async def lookup(self, order: StoredOrder) -> OrderResult | None:
        """Paper orders fill at once: one the paper exchange does not know was never placed."""
        found = await self._exchange.fetch_order(order.request)
        if found is not None:
            return found
        request = order.request
        return OrderResult(request.client_order_id, None, OrderStatus.UNKNOWN, request.amount, 0.0, None)

    async def refresh_balance(self, user_id: int, quote: str) -> None:
        """The paper balance is the database's: always up to date."""

    async def audit(self, full: bool) -> int:
        """Paper positions hold nothing anywhere but in the database."""
        return 0

    async def settle(self) -> None:
        """Paper orders fill at once: nothing can be in flight after a restart."""

    async def reconcile(self) -> int:
        """The paper exchange has no state of its own beyond the database."""
        return 0

    async def move_stop(self, position: Position, stop: float) -> list[Event]:
        """The stored stop is the paper stop; the position is saved by the caller."""
        old = position.stop_price
        position.stop_price = stop
        return [self._stop_moved_event(position, old)(0.0)]

    async def close(self, position: Position, price: float) -> PositionClosed:
        """Close what is left at market. What would have rested on an exchange goes first:
        a stop the price has crossed fills as that stop (at its level, never worse), a
        target the price has reached fills at the target; only what is left is sold at
        market."""
        closed = await self._check_price(position, price)
        if closed is not None:
            return closed
        held = position.quantity
        outcome = CandleOutcome([Trigger(ExitReason.MANUAL, price, held)], closed=True)
        position.quantity = 0.0
        closed = await self._book(position, outcome, held, self._clock.now())
        assert closed is not None
        return closed

    async def follow(self, position: Position, candles: pd.DataFrame) -> bool:
        """Apply the candles closed since the last look, then the latest price."""
        changed = await self._follow_candles(position, candles)
        if position.status is PositionStatus.OPEN and self._market_data is not None:
            before = position.quantity
            await self._check_price(position, await self._market_data.last_price(position.symbol))
            changed = changed or position.quantity != before
        return changed

    async def _follow_candles(self, position: Position, candles: pd.DataFrame) -> bool:
        if candles.empty:
            return False
        if position.id not in self._seen:  # a first look (after a restart): the last close was the last price
            self._seen[position.id] = float(candles["close"].iloc[-1])
        if position.last_candle_at is not None:
            candles = candles[candles.index > pd.Timestamp(position.last_candle_at)]
        changed = unsaved = False
        tp1_at = self._tp1_intrabar.get(position.id)
        for stamp, row in zip(candles.index, candles.itertuples(index=False), strict=True):
            opened = stamp.to_pydatetime()
            held = position.quantity  # before this candle's exits (apply_candle takes them all at once)
            # a TP1 filled between closes within this candle moved the stop there: tested from the next one
            test_stop = tp1_at is None or tp1_at < opened
            outcome = apply_candle(position, Candle(row.open, row.high, row.low, row.close), self._rules, test_stop)
            position.last_candle_at = opened
            self._seen[position.id] = row.close  # the latest price seen, with the stop this candle left
            unsaved = True
            if not outcome.triggers and outcome.stop_moved_from is None:
                continue
            # the market time of the trigger: within this candle, stamped at its open as the backtester does
            await self._book(position, outcome, held, max(opened, position.opened_at))
            changed, unsaved = True, False
            if outcome.closed:
                break
        if unsaved:  # extremes and the last candle seen must survive a restart too
            await self._positions.save(position, 0.0, lambda _: [])
        return changed

    async def _check_price(self, position: Position, price: float) -> PositionClosed | None:
        """Trigger what rests at `price` (a stop crossed, a target reached) now, stamped now
        (the market clock: the replay clock in replay). Returns the close, if it closed."""
        seen = self._seen.get(position.id)
        safe = seen is not None and position.side.sign * (seen - position.stop_price) > 0
        self._seen[position.id] = price
        held = position.quantity
        outcome = apply_price(position, price, self._rules, stop_seen_safe=safe)
        if not outcome.triggers:
            return None
        now = self._clock.now()
        if any(t.reason is ExitReason.TP1 for t in outcome.triggers):
            self._tp1_intrabar[position.id] = now
        log.info("paper position %s: %s at %s between candle closes", position.id, outcome.triggers[0].reason, price)
        return await self._book(position, outcome, held, now)

    async def _book(
        self, position: Position, outcome: CandleOutcome, held: float, at: datetime
    ) -> PositionClosed | None:
        """Execute the outcome's exits and save the position with their events in one
        transaction; a close is stamped `at`. Returns the close, if it closed."""
        events: list[Callable[[float], Event]] = []
        balance_delta = 0.0
        for trigger in outcome.triggers:
            held -= trigger.quantity
            delta, event = await self._exit(position, trigger, remaining=held)
            balance_delta += delta
            events.append(event)
        if outcome.stop_moved_from is not None and not outcome.triggers:
            events.append(self._stop_moved_event(position, outcome.stop_moved_from))
        if outcome.closed:
            position.quantity = 0.0
            position.status = PositionStatus.CLOSED
            position.closed_at = at
            events = events[-1:]  # TP1 and the close at once: one message, the close (P&L over all)
            self._seen.pop(position.id, None)
            self._tp1_intrabar.pop(position.id, None)
        closed: list[PositionClosed] = []

        def made(balance: float) -> list[Event]:
            out = [make(balance) for make in events]
            closed.extend(e for e in out if isinstance(e, PositionClosed))
            return out

        await self._positions.save(position, balance_delta, made)
        self._wake()
        return closed[0] if closed else None

    def _stop_moved_event(self, position: Position, old_stop: float) -> Callable[[float], Event]:
        return lambda _: StopMoved(
            user_id=position.user_id,
            position_id=position.id,
            symbol=position.symbol,
            old_stop=old_stop,
            new_stop=position.stop_price,
        )

    async def _exit(
        self, position: Position, trigger: Trigger, remaining: float
    ) -> tuple[float, Callable[[float], Event]]:
        """Execute one exit (`remaining`: what the position holds after it); return the
        balance change and the event to queue."""
        if trigger.reason is ExitReason.MANUAL:
            order_type = OrderType.MARKET
        elif trigger.reason in (ExitReason.TP1, ExitReason.TP2):
            order_type = OrderType.TAKE_PROFIT
        else:
            order_type = OrderType.STOP_MARKET
        request = OrderRequest(
            client_order_id=exit_client_order_id(position.id, trigger.reason),
            user_id=position.user_id,
            symbol=position.symbol,
            side=position.side.exit_order_side,
            type=order_type,
            amount=trigger.quantity,
            price=trigger.price,
            reduce_only=True,
            position_id=position.id,
            purpose=trigger.reason.value,
        )
        fill = await submit_once(self._exchange, self._orders, request)
        price = fill.average_price or trigger.price
        gross = (price - position.entry_price) * fill.filled * position.side.sign
        position.realized_pnl += gross
        position.fees += fill.fee
        p = position.copy()
        if trigger.reason is ExitReason.TP1:
            return gross - fill.fee, lambda _: TakeProfitHit(
                user_id=p.user_id,
                position_id=p.id,
                symbol=p.symbol,
                side=p.side.value,
                quantity=fill.filled,
                price=price,
                pnl=gross - fill.fee,
                new_stop=p.stop_price,
                remaining=remaining,
            )
        position.exit_price = mean_exit_price(position, position.initial_quantity) or price  # paper sells it all
        position.exit_reason = trigger.reason
        p = position.copy()
        notional = p.entry_price * p.initial_quantity
        return gross - fill.fee, lambda balance: PositionClosed(
            user_id=p.user_id,
            position_id=p.id,
            symbol=p.symbol,
            side=p.side.value,
            quantity=p.initial_quantity,
            entry_price=p.entry_price,
            exit_price=p.exit_price or price,
            reason=trigger.reason.value,
            pnl=p.net_pnl,
            pnl_pct=p.net_pnl / notional * 100 if notional else 0.0,
            balance=balance,
        )
