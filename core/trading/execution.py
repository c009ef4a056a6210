"""Execute: the entry order of a claimed row, and the position its fill opens.

An intent is stored first (`orders.begin`), then sent, then its outcome recorded; the
exchange is never called inside a database transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import FinalExchangeError, InsufficientFunds, OrderOutcomeUnknown, RateLimited, UserError
from core.events import Event, OrderFilled
from core.models import (
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    SignalState,
    UserSignal,
)
from core.timeframes import timeframe_seconds
from core.trading.context import TradingContext
from core.trading.orders import fee_in_quote, held_quantity, submit_once

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Execution:
    position: Position
    order: OrderResult


def entry_client_order_id(user_signal_id: int) -> str:
    return f"atra-us{user_signal_id}-entry"


def entry_filled(result: OrderResult) -> bool:
    """Whether an entry's final account bought something: filled, or ended (expired, as a
    market order the book could only partly fill does on Binance) with a filled part."""
    ended = result.status in (OrderStatus.FILLED, OrderStatus.CANCELED)
    return ended and result.filled > 0 and bool(result.average_price)


def entry_request(row: UserSignal, price: float | None = None) -> OrderRequest:
    """The market entry of a row; `price` (just checked) is the reference of the
    exchange's minimum-notional check, never a limit."""
    return OrderRequest(
        client_order_id=entry_client_order_id(row.id),
        user_id=row.user_id,
        symbol=row.symbol,
        side=row.levels.side.entry_order_side,
        type=OrderType.MARKET,
        amount=row.quantity,
        price=price,
        purpose="entry",
    )


class Executor:
    """The execute step of the trading service."""

    def __init__(self, ctx: TradingContext) -> None:
        self._ctx = ctx

    async def execute_entry(self, row: UserSignal, price: float) -> Execution:
        """A market entry at `price` (just checked), sent once and never again: an entry the
        exchange did not take (refused by a rate limit, or provably never arrived) rejects
        the row; sending it later would be another trade at another price."""
        request = entry_request(row, price)
        result = await self.send_entry(row, request)
        if not entry_filled(result):
            await self.reject(row, f"entry order {result.status.value}")
            raise UserError("order_rejected", reason=result.status.value)
        if result.status is not OrderStatus.FILLED:
            log.warning(
                "entry %s filled %.8g of %.8g; the rest expired", request.client_order_id, result.filled, request.amount
            )
        return Execution(await self.open_position(row, result), result)

    async def send_entry(self, row: UserSignal, request: OrderRequest) -> OrderResult:
        """Send a claimed row's entry (market or limit) once, with the same client order id
        rules for both: never re-sent (core/trading/orders.py). What the exchange did not
        take rejects the row and raises the UserError to show; an answer that never came
        raises `entry_unconfirmed` and is resolved later."""
        try:
            result = await submit_once(self._ctx.exchange, self._ctx.orders, request, resend=False)
        except RateLimited as exc:
            await self.reject(row, f"refused by a rate limit: {exc}")
            raise UserError("entry_not_placed") from exc
        except InsufficientFunds as exc:
            await self.reject(row, f"insufficient funds: {exc}")
            raise UserError("insufficient_funds") from exc
        except OrderOutcomeUnknown as exc:  # the monitor resolves it and tells the user
            raise UserError("entry_unconfirmed") from exc
        except FinalExchangeError as exc:
            await self.reject(row, str(exc))
            raise UserError("order_rejected", reason=str(exc)) from exc
        if result.status is OrderStatus.UNKNOWN:
            await self.reject(row, "the exchange never received the entry")
            raise UserError("entry_not_placed")
        return result

    async def reject(self, row: UserSignal, reason: str) -> None:
        await self._ctx.signals.transition(
            row.id, row.user_id, SignalState.CONFIRMED, SignalState.REJECTED, self._ctx.clock.now(), reason=reason[:200]
        )

    async def open_position(self, row: UserSignal, fill: OrderResult, seen_until: datetime | None = None) -> Position:
        """Store the position the entry's fill opened, then let the manager protect it.
        Nothing that can fail (no network) stands between the fill and the row."""
        ctx = self._ctx
        assert fill.average_price is not None
        lv = row.levels
        held = held_quantity(fill, row.symbol)
        fee = fee_in_quote(fill, row.symbol, fill.average_price)
        # No network between a fill and its row: the candle seen last is the one closed before
        # now on the market's clock (the monitor starts with the one the fill happened in).
        period = timeframe_seconds(ctx.config.timeframe)
        last_candle_at = datetime.fromtimestamp((ctx.clock.now().timestamp() // period - 1) * period, tz=UTC)
        if seen_until is not None:  # filled on an earlier candle (a paper limit): followed from that one
            last_candle_at = seen_until
        position = Position(
            id=0,
            user_id=row.user_id,
            user_signal_id=row.id,
            symbol=row.symbol,
            side=lv.side,
            entry_price=fill.average_price,
            initial_quantity=held,
            quantity=held,
            stop_price=lv.stop,
            initial_stop=lv.stop,
            tp1=lv.tp1,
            tp2=lv.tp2,
            tp1_done=False,
            highest=fill.average_price,
            lowest=fill.average_price,
            atr=await ctx.signals.signal_atr(row.signal_id),
            realized_pnl=0.0,
            fees=fee,
            status=PositionStatus.OPEN,
            opened_at=fill.timestamp or ctx.clock.now(),
            last_candle_at=last_candle_at,
        )
        position = await ctx.positions.open(position, fill.client_order_id, fee, lambda p: _filled(p, row, fee))
        ctx.wake()
        log.info(
            "position %s opened: user %s %s %s %.8g @ %.8g",
            position.id,
            row.user_id,
            row.symbol,
            lv.side.value,
            held,
            fill.average_price,
        )
        async with ctx.position_locks[position.id]:  # the monitor leaves it alone meanwhile
            await ctx.manager.opened(position)
        return position


def _filled(p: Position, row: UserSignal, fee: float) -> list[Event]:
    return [
        OrderFilled(
            user_id=p.user_id,
            user_signal_id=row.id,
            position_id=p.id,
            symbol=p.symbol,
            side=p.side.value,
            quantity=p.quantity,
            price=p.entry_price,
            fee=fee,
            stop=p.stop_price,
            tp1=p.tp1,
            tp2=p.tp2,
        )
    ]
