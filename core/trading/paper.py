"""Paper positions: protective levels watched on closed candles.

The monitor hands each open position the candles closed since its last look;
`core/position_rules.apply_candle` (shared with the backtester) says what triggered, and
each exit is an order on the paper exchange with its own client order id.
"""

from __future__ import annotations

from collections.abc import Callable

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
from core.ports import Clock, Exchange, OrderRepository, PositionRepository
from core.rules.exits import Candle, ManagementRules, Trigger, apply_candle
from core.trading.orders import exit_client_order_id, mean_exit_price, submit_once
from core.trading.step_events import close_of_step


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
    ) -> None:
        self._clock = clock
        self._exchange = exchange
        self._orders = orders
        self._positions = positions
        self._rules = rules
        self._wake = wake_delivery

    async def admit(self, row: UserSignal) -> None:
        """Every user can paper-trade every signal, long or short."""

    async def opened(self, position: Position) -> None:
        """Nothing rests anywhere: the levels are in the position row."""

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
        delta, make_event = await self._exit(position, Trigger(ExitReason.MANUAL, price, position.quantity), 0.0)
        position.quantity = 0.0
        position.status = PositionStatus.CLOSED
        position.closed_at = self._clock.now()
        closed: list[PositionClosed] = []

        def events(balance: float) -> list[Event]:
            event = make_event(balance)
            assert isinstance(event, PositionClosed)
            closed.append(event)
            return [event]

        await self._positions.save(position, delta, events)
        return closed[0]

    async def follow(self, position: Position, candles: pd.DataFrame) -> bool:
        if position.last_candle_at is not None:
            candles = candles[candles.index > pd.Timestamp(position.last_candle_at)]
        changed = unsaved = False
        for stamp, row in zip(candles.index, candles.itertuples(index=False), strict=True):
            held = position.quantity  # before this candle's exits (apply_candle takes them all at once)
            outcome = apply_candle(position, Candle(row.open, row.high, row.low, row.close), self._rules)
            position.last_candle_at = stamp.to_pydatetime()
            unsaved = True
            if not outcome.triggers and outcome.stop_moved_from is None:
                continue
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
                position.status = PositionStatus.CLOSED
                position.closed_at = self._clock.now()
                events = [close_of_step(events)]  # TP1 and the close at once: one message, the close saying both
            await self._positions.save(position, balance_delta, lambda bal, ev=events: [e(bal) for e in ev])  # type: ignore[misc]
            self._wake()
            changed, unsaved = True, False
            if outcome.closed:
                break
        if unsaved:  # extremes and the last candle seen must survive a restart too
            await self._positions.save(position, 0.0, lambda _: [])
        return changed

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
        if trigger.reason is ExitReason.TP1 and remaining > 0:  # a TP1 that takes it all is the close
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
