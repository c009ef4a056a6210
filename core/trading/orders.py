"""Sending an order exactly once per client order id, and reading its fill.

Shared by the trading service (entries) and the position managers (exits, protection).
The intent is stored (`submitting`) before it is sent; a known id is resolved from the
record or the exchange and never sent again blindly.
"""

from __future__ import annotations

import logging

from core.errors import ExchangeError, FinalExchangeError, OrderOutcomeUnknown, RateLimited, RetryableExchangeError
from core.logcontext import log_context
from core.models import ExitReason, OrderRequest, OrderResult, OrderStatus, Position
from core.ports import Exchange, OrderRepository

log = logging.getLogger(__name__)


def exit_client_order_id(position_id: int, reason: ExitReason) -> str:
    """The id of the order that closes (part of) a position for `reason`."""
    return f"atra-p{position_id}-{reason.value}"


async def send_once(
    exchange: Exchange, orders: OrderRepository, request: OrderRequest, *, resend: bool = True
) -> OrderResult:
    """`_send_once`, with the order's id, user and symbol bound to every log line on the way."""
    with log_context(order_id=request.client_order_id, user_id=request.user_id, symbol=request.symbol):
        return await _send_once(exchange, orders, request, resend)


async def _send_once(exchange: Exchange, orders: OrderRepository, request: OrderRequest, resend: bool) -> OrderResult:
    """Store the intent, send it once and return the exchange's account of it, WITHOUT
    recording a success: the caller records it (with what it changes, in one transaction).
    The moment the request leaves (after any wait in the rate limiter) is stored on its row.

    A known client order id is resolved, never re-sent: its record if it has one, else the
    exchange's. With `resend`, a send the exchange provably did not take (429: refused before
    it was processed; UNKNOWN: not found a receive window after it left) is sent once more,
    with the same client order id, after looking it up once more; without it (entries) such
    an order is reported as it is (rejected, or UNKNOWN: not placed), never sent again. A send
    whose outcome stays unknown raises and leaves the intent `submitting` for reconciliation.
    A refusal is recorded as rejected and raised.
    """
    known = await orders.begin(request)
    if known is not None and known.status is not OrderStatus.SUBMITTING:
        return known
    if known is not None:
        found = await exchange.fetch_order(request)
        if found is not None:
            return found
        if not resend:
            raise OrderOutcomeUnknown(request.client_order_id, "sent before and not found yet")
    try:
        result = await _send(exchange, orders, request, resend)
        if result.status is OrderStatus.UNKNOWN and resend:  # provably not placed: the intent stands
            log.warning("order %s was not placed; sending it once more", request.client_order_id)
            result = await _send(exchange, orders, request, resend)
    except RateLimited:  # refused before it was processed, and not to be sent again
        await orders.record(_refused(request))
        raise
    except RetryableExchangeError as unanswered:
        try:
            found = await exchange.fetch_order(request)
        except ExchangeError:  # not even a lookup goes through: its outcome stays unknown
            found = None
        if found is None:  # not on the exchange (yet): the intent stays `submitting` for reconciliation
            raise unanswered from None
        result = found
    except FinalExchangeError as exc:
        await orders.record(_refused(request))
        log.warning("order %s rejected: %s", request.client_order_id, exc)
        raise
    return result


def _refused(request: OrderRequest) -> OrderResult:
    return OrderResult(request.client_order_id, None, OrderStatus.REJECTED, request.amount, 0.0, None)


async def _send(exchange: Exchange, orders: OrderRepository, request: OrderRequest, resend: bool) -> OrderResult:
    async def on_sent() -> None:
        await orders.mark_sent(request.client_order_id)

    try:
        return await exchange.create_order(request, on_sent=on_sent)
    except RateLimited:
        if not resend:
            raise
        # Refused before it was processed. The limiter now holds every call until the
        # Retry-After has passed; look it up after the pause, then send it once more.
        found = await exchange.fetch_order(request)
        if found is not None:
            return found
        log.warning("order %s was refused by a rate limit; sending it once more", request.client_order_id)
        return await exchange.create_order(request, on_sent=on_sent)


async def submit_once(
    exchange: Exchange, orders: OrderRepository, request: OrderRequest, *, resend: bool = True
) -> OrderResult:
    """`send_once`, then record the outcome."""
    result = await send_once(exchange, orders, request, resend=resend)
    await orders.record(result)
    return result


def base_currency(symbol: str) -> str:
    return symbol.split("/")[0]


def held_quantity(fill: OrderResult, symbol: str) -> float:
    """What a buy put in the account: the filled quantity less a fee charged in the base
    asset (Binance spot charges a buyer's fee in what was bought, unless paid in BNB)."""
    if fill.fee_currency == base_currency(symbol):
        return max(0.0, fill.filled - fill.fee)
    return fill.filled


def fee_in_quote(fill: OrderResult, symbol: str, price: float | None) -> float:
    """The fee in the quote currency: a fee charged in the base asset is valued at `price`;
    one in the quote (or unlabelled: paper's) is taken as it is. The exchange adapter values
    a fee paid in a third currency (BNB) in the quote; one it could not value is not added
    as if it were quote (0.001 BNB is not 0.001 USDT): it is left out, with a warning."""
    if fill.fee_currency == base_currency(symbol) and price:
        return fill.fee * price
    if fill.fee_currency not in (None, symbol.split("/")[1]) and fill.fee:
        label, fee, currency = fill.client_order_id, fill.fee, fill.fee_currency
        log.warning("order %s: a fee of %s %s could not be valued; not booked", label, fee, currency)
        return 0.0
    return fill.fee


def mean_exit_price(position: Position, sold: float) -> float | None:
    """The quantity-weighted mean price of the exits that sold `sold` of the position, from
    its gross realised P&L (sum of (price - entry) x quantity x side); None if nothing sold."""
    if sold <= 0:
        return None
    return position.entry_price + position.realized_pnl / (sold * position.side.sign)
