"""Sending an order exactly once per client order id, and reading its fill.

Shared by the trading service (entries) and the position managers (exits, protection).
The intent is stored (`submitting`) before it is sent; a known id is resolved from the
record or the exchange and never sent again blindly.
"""

from __future__ import annotations

import logging

from core.errors import FinalExchangeError, RateLimited, RetryableExchangeError
from core.logcontext import log_context
from core.models import ExitReason, OrderRequest, OrderResult, OrderStatus
from core.ports import Exchange, OrderRepository

log = logging.getLogger(__name__)


def exit_client_order_id(position_id: int, reason: ExitReason) -> str:
    """The id of the order that closes (part of) a position for `reason`."""
    return f"atra-p{position_id}-{reason.value}"


async def send_once(exchange: Exchange, orders: OrderRepository, request: OrderRequest) -> OrderResult:
    """`_send_once`, with the order's id, user and symbol bound to every log line on the way."""
    with log_context(order_id=request.client_order_id, user_id=request.user_id, symbol=request.symbol):
        return await _send_once(exchange, orders, request)


async def _send_once(exchange: Exchange, orders: OrderRepository, request: OrderRequest) -> OrderResult:
    """Store the intent, send it once and return the exchange's account of it, WITHOUT
    recording a success: the caller records it (with what it changes, in one transaction).

    A known client order id is resolved, never re-sent: its record if it has one, else the
    exchange's. Only a send the exchange provably did not take (429: refused before it was
    processed; UNKNOWN: not found after the exchange's receive window) is sent once more,
    with the same client order id, after looking it up once more. A send whose outcome
    stays unknown raises and leaves the intent `submitting` for reconciliation. A refusal
    is recorded as rejected and raised.
    """
    known = await orders.begin(request)
    if known is not None and known.status is not OrderStatus.SUBMITTING:
        return known
    if known is not None:
        found = await exchange.fetch_order(request)
        if found is not None:
            return found
    try:
        result = await _send(exchange, request)
        if result.status is OrderStatus.UNKNOWN:  # provably not placed: the intent stands
            log.warning("order %s was not placed; sending it once more", request.client_order_id)
            result = await _send(exchange, request)
    except RetryableExchangeError as unanswered:
        try:
            found = await exchange.fetch_order(request)
        except RetryableExchangeError:
            found = None
        if found is None:  # not on the exchange (yet): the intent stays `submitting` for reconciliation
            raise unanswered from None
        result = found
    except FinalExchangeError as exc:
        await orders.record(OrderResult(request.client_order_id, None, OrderStatus.REJECTED, request.amount, 0.0, None))
        log.warning("order %s rejected: %s", request.client_order_id, exc)
        raise
    return result


async def _send(exchange: Exchange, request: OrderRequest) -> OrderResult:
    try:
        return await exchange.create_order(request)
    except RateLimited:
        # Refused before it was processed. The limiter now holds every call until the
        # Retry-After has passed; look it up after the pause, then send it once more.
        found = await exchange.fetch_order(request)
        if found is not None:
            return found
        log.warning("order %s was refused by a rate limit; sending it once more", request.client_order_id)
        return await exchange.create_order(request)


async def submit_once(exchange: Exchange, orders: OrderRepository, request: OrderRequest) -> OrderResult:
    """`send_once`, then record the outcome."""
    result = await send_once(exchange, orders, request)
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
    any other currency is taken as it is (paper fees are in the quote already)."""
    if fill.fee_currency == base_currency(symbol) and price:
        return fill.fee * price
    return fill.fee
