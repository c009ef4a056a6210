"""Turning an OrderRequest into ccxt arguments, and a ccxt order into an OrderResult.

Pure functions over a ccxt client's loaded markets: no I/O. An order that cannot meet the
market's precision and limits is refused here with OrderRejected, before anything is sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt

from core.errors import OrderRejected
from core.models import Balance, OrderRequest, OrderResult, OrderStatus, OrderType

log = logging.getLogger(__name__)

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """The arguments of ccxt's create_order, already within the market's rules."""

    ccxt_type: str  # "market" or "limit"; params turn them into stop / take-profit types
    amount: float
    price: float | None
    params: dict[str, Any] = field(default_factory=dict)
    exchange_type: str = "MARKET"  # what the exchange will see, for logs and tests


@dataclass(frozen=True, slots=True)
class OcoPlan:
    """Binance POST /api/v3/orderList/oco parameters for a stop and a take-profit leg."""

    params: dict[str, Any]
    list_client_order_id: str


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _limit(market: Mapping[str, Any], kind: str, bound: str) -> Decimal | None:
    value = _dec(((market.get("limits") or {}).get(kind) or {}).get(bound))
    return value if value else None  # 0 and None both mean "no limit"


def _reject(request: OrderRequest, reason: str) -> OrderRejected:
    return OrderRejected(f"{request.symbol} {request.side} {request.type.value} {request.client_order_id}: {reason}")


def precise_amount(client: Any, market: Mapping[str, Any], request: OrderRequest, amount: float) -> Decimal:
    """`amount` truncated to the lot step and checked against the amount limits."""
    try:
        text = client.amount_to_precision(request.symbol, amount)
    except ccxt.InvalidOrder as exc:
        raise _reject(request, f"amount {amount} is below the lot step") from exc
    value = Decimal(text)
    kinds = ("amount", "market") if request.type is OrderType.MARKET else ("amount",)
    for kind in kinds:
        low, high = _limit(market, kind, "min"), _limit(market, kind, "max")
        if low is not None and value < low:
            raise _reject(request, f"amount {value} is below the minimum {low}")
        if high is not None and value > high:
            raise _reject(request, f"amount {value} is above the maximum {high}")
    return value


def precise_price(client: Any, market: Mapping[str, Any], request: OrderRequest, price: float, what: str) -> Decimal:
    """`price` rounded to the tick size and checked against the price limits."""
    if price <= 0:
        raise _reject(request, f"{what} {price} must be positive")
    try:
        value = Decimal(client.price_to_precision(request.symbol, price))
    except ccxt.InvalidOrder as exc:
        raise _reject(request, f"{what} {price} is below the tick size") from exc
    low, high = _limit(market, "price", "min"), _limit(market, "price", "max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise _reject(request, f"{what} {value} is outside [{low}, {high}]")
    return value


def check_notional(market: Mapping[str, Any], request: OrderRequest, amount: Decimal, price: Decimal) -> None:
    """Refuse an order worth less than the market's minimum notional (or more than its max)."""
    notional = amount * price
    low, high = _limit(market, "cost", "min"), _limit(market, "cost", "max")
    if low is not None and notional < low:
        raise _reject(request, f"notional {notional:f} is below the minimum {low}")
    if high is not None and notional > high:
        raise _reject(request, f"notional {notional:f} is above the maximum {high}")


def supports(market: Mapping[str, Any], exchange_type: str) -> bool:
    """Whether the market lists this order type (Binance: exchangeInfo orderTypes)."""
    types = (market.get("info") or {}).get("orderTypes")
    return types is None or exchange_type in types


def plan_order(
    client: Any,
    market: Mapping[str, Any],
    request: OrderRequest,
    reference_price: float | None,
    stop_limit_slippage_pct: float,
) -> OrderPlan:
    """The ccxt arguments for `request`, or OrderRejected with the reason.

    Mapping on Binance spot:
    MARKET -> MARKET (quantity, never quoteOrderQty: ccxt would turn a price into one);
    LIMIT -> LIMIT GTC; STOP_MARKET -> STOP_LOSS at stop_price (STOP_LOSS_LIMIT with
    `price`, or stop -/+ slippage, when the market lacks STOP_LOSS); TAKE_PROFIT -> LIMIT at
    `price`, or TAKE_PROFIT_LIMIT when a `stop_price` trigger is given.
    """
    amount = precise_amount(client, market, request, request.amount)
    params: dict[str, Any] = {"clientOrderId": request.client_order_id}
    if request.type is OrderType.MARKET:
        reference = request.price or reference_price
        if reference is None:
            raise _reject(request, "no reference price to check the minimum notional")
        check_notional(market, request, amount, Decimal(str(reference)))
        return OrderPlan("market", float(amount), None, params, "MARKET")
    if request.type is OrderType.LIMIT:
        if request.price is None:
            raise _reject(request, "a limit order needs a price")
        price = precise_price(client, market, request, request.price, "price")
        check_notional(market, request, amount, price)
        return OrderPlan("limit", float(amount), float(price), params, "LIMIT")
    if request.type is OrderType.STOP_MARKET:
        return _plan_stop(client, market, request, amount, params, stop_limit_slippage_pct)
    return _plan_take_profit(client, market, request, amount, params)


def _plan_stop(
    client: Any,
    market: Mapping[str, Any],
    request: OrderRequest,
    amount: Decimal,
    params: dict[str, Any],
    slippage_pct: float,
) -> OrderPlan:
    if request.stop_price is None:
        raise _reject(request, "a stop order needs a stop_price")
    stop = precise_price(client, market, request, request.stop_price, "stop_price")
    check_notional(market, request, amount, stop)
    params["stopLossPrice"] = float(stop)
    if request.price is None and supports(market, "STOP_LOSS"):
        return OrderPlan("market", float(amount), None, params, "STOP_LOSS")
    if request.price is not None:
        limit = request.price
    else:
        sign = -1 if request.side == "sell" else 1
        limit = float(stop) * (1 + sign * slippage_pct / 100.0)
    price = precise_price(client, market, request, limit, "stop limit price")
    return OrderPlan("limit", float(amount), float(price), params, "STOP_LOSS_LIMIT")


def _plan_take_profit(
    client: Any, market: Mapping[str, Any], request: OrderRequest, amount: Decimal, params: dict[str, Any]
) -> OrderPlan:
    if request.price is None:
        raise _reject(request, "a take-profit order needs a price")
    price = precise_price(client, market, request, request.price, "price")
    check_notional(market, request, amount, price)
    if request.stop_price is None:
        return OrderPlan("limit", float(amount), float(price), params, "LIMIT")
    trigger = precise_price(client, market, request, request.stop_price, "stop_price")
    params["takeProfitPrice"] = float(trigger)
    return OrderPlan("limit", float(amount), float(price), params, "TAKE_PROFIT_LIMIT")


def plan_oco(
    client: Any,
    market: Mapping[str, Any],
    stop: OrderRequest,
    take_profit: OrderRequest,
    list_client_order_id: str,
    current_price: float | None = None,
) -> OcoPlan:
    """One OCO order list: a STOP_LOSS (or STOP_LOSS_LIMIT when `stop.price` is given)
    leg and a LIMIT_MAKER take-profit leg on the same quantity, locked once."""
    if stop.type is not OrderType.STOP_MARKET or stop.stop_price is None:
        raise _reject(stop, "the stop leg must be STOP_MARKET with a stop_price")
    if take_profit.type is not OrderType.TAKE_PROFIT or take_profit.price is None:
        raise _reject(take_profit, "the take-profit leg must be TAKE_PROFIT with a price")
    same = (stop.user_id, stop.symbol, stop.side, stop.amount)
    if same != (take_profit.user_id, take_profit.symbol, take_profit.side, take_profit.amount):
        raise _reject(take_profit, "both legs need the same user, symbol, side and amount")
    amount = precise_amount(client, market, stop, stop.amount)
    stop_price = precise_price(client, market, stop, stop.stop_price, "stop_price")
    target = precise_price(client, market, take_profit, take_profit.price, "price")
    check_notional(market, stop, amount, stop_price)
    check_notional(market, take_profit, amount, target)
    selling = stop.side == "sell"
    if (target <= stop_price) if selling else (target >= stop_price):
        raise _reject(take_profit, f"take-profit {target} and stop {stop_price} are on the wrong sides")
    if current_price is not None:
        low, high = (stop_price, target) if selling else (target, stop_price)
        if not low < Decimal(str(current_price)) < high:
            raise _reject(stop, f"the price {current_price} is not between {low} and {high}")
    stop_leg: dict[str, Any] = {
        "Type": "STOP_LOSS",
        "StopPrice": f"{stop_price:f}",
        "ClientOrderId": stop.client_order_id,
    }
    if stop.price is not None:
        limit = precise_price(client, market, stop, stop.price, "stop limit price")
        stop_leg.update(Type="STOP_LOSS_LIMIT", Price=f"{limit:f}", TimeInForce="GTC")
    tp_leg = {"Type": "LIMIT_MAKER", "Price": f"{target:f}", "ClientOrderId": take_profit.client_order_id}
    above, below = (tp_leg, stop_leg) if selling else (stop_leg, tp_leg)
    params: dict[str, Any] = {
        "symbol": market["id"],
        "side": stop.side.upper(),
        "quantity": f"{amount:f}",
        "listClientOrderId": list_client_order_id,
        "newOrderRespType": "FULL",
    }
    params.update({f"above{k}": v for k, v in above.items()})
    params.update({f"below{k}": v for k, v in below.items()})
    return OcoPlan(params, list_client_order_id)


def order_fee(order: Mapping[str, Any], symbol: str | None = None) -> tuple[float, str | None] | None:
    """(fee, currency) from a ccxt order's `fees`/`fee`; None when the order carries none.
    `symbol`: the order's market, whose base currency is preferred (see `sum_fees`)."""
    fees = [f for f in (order.get("fees") or []) if f and f.get("cost") is not None]
    if not fees and order.get("fee") and order["fee"].get("cost") is not None:
        fees = [order["fee"]]
    return sum_fees(fees, order.get("clientOrderId"), symbol)


def sum_fees(
    fees: list[Mapping[str, Any]], label: Any, symbol: str | None = None
) -> tuple[float, str | None] | None:
    """Total of ccxt fee structures in one currency: the base currency of `symbol` when any
    fee was paid in it (a buy's fee in the coin is coins not held: the one part that changes
    what the position holds), else the first one's. Fees in other currencies (BNB) cannot be
    held in one figure: they are logged, not booked."""
    if not fees:
        return None
    currencies = [f.get("currency") for f in fees]
    base = symbol.split("/")[0] if symbol else None
    currency = base if base in currencies else currencies[0]
    total = sum(float(f["cost"]) for f in fees if f.get("currency") == currency)
    others = [f for f in fees if f.get("currency") != currency and float(f["cost"])]
    if others:
        log.warning("order %s paid fees in several currencies; booking the %s part only: %s", label, currency, others)
    return total, currency


def to_result(request: OrderRequest, order: Mapping[str, Any], fee: tuple[float, str | None] | None) -> OrderResult:
    """A ccxt order structure as the project's OrderResult."""
    amount = float(order.get("amount") or request.amount)
    filled = float(order.get("filled") or 0.0)
    status = _STATUS.get(order.get("status") or "")
    if status is None:
        status = OrderStatus.FILLED if amount and filled >= amount else OrderStatus.OPEN
    timestamp = order.get("timestamp") or order.get("lastTradeTimestamp")
    return OrderResult(
        client_order_id=order.get("clientOrderId") or request.client_order_id,
        exchange_order_id=str(order["id"]) if order.get("id") is not None else None,
        status=status,
        amount=amount,
        filled=filled,
        average_price=float(order["average"]) if order.get("average") else None,
        fee=fee[0] if fee else 0.0,
        fee_currency=fee[1] if fee else None,
        timestamp=datetime.fromtimestamp(timestamp / 1000, tz=UTC) if timestamp else None,
    )


def unknown_result(request: OrderRequest) -> OrderResult:
    """The exchange does not know this client order id: the order was not placed."""
    return OrderResult(
        client_order_id=request.client_order_id,
        exchange_order_id=None,
        status=OrderStatus.UNKNOWN,
        amount=request.amount,
        filled=0.0,
        average_price=None,
    )


def holdings(balances: Mapping[str, Any]) -> list[Balance]:
    """Every currency the account holds, with what is free of it, by name."""
    out = []
    for currency, entry in (balances.get("total") or {}).items():
        total = float(entry or 0.0)
        if total > 0:
            free = float((balances.get("free") or {}).get(currency) or 0.0)
            out.append(Balance(currency=str(currency), free=free, total=total))
    return sorted(out, key=lambda b: b.currency)


def list_client_id(stop_id: str, take_profit_id: str) -> str:
    """A deterministic list client order id for a pair of legs (Binance: <= 36 chars)."""
    digest = hashlib.sha1(f"{stop_id}|{take_profit_id}".encode()).hexdigest()[:30]
    return f"oco-{digest}"
