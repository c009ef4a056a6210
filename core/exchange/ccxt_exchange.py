"""The `Exchange` port on a real exchange through ccxt's async client.

create_order is sent once. If the answer is lost (timeout, dropped connection, 5xx,
an unclassified error) the order is looked up by its client order id with backoff:

- found: the exchange's account of it is returned (filled, open, ...);
- not found, and the exchange's recvWindow has passed since the request LEFT (after any
  wait in the limiter; a request that arrives later is refused by the exchange, so it can
  no longer appear): an OrderResult with status UNKNOWN is RETURNED. It means "not
  placed": the caller may record it and, if it still wants the trade, send again with the
  same client order id;
- the lookups themselves keep failing, or are refused (a revoked key, a delisted pair):
  OrderOutcomeUnknown (a RetryableExchangeError) is RAISED. The order must stay
  "submitting" and be resolved later with fetch_order; it must not be sent again before
  that.

A refusal (OrderRejected, InsufficientFunds, AuthenticationFailed, UnknownSymbol,
RateLimited) means the order was not placed. A duplicate client order id is not an
error: the existing order is looked up and returned.

Built in the composition root from one shared gateway:

    limiter = ExchangeLimiter(ExchangeBudgets.binance_spot())
    gateway = CcxtGateway(CcxtSettings(exchange_id="binance", sandbox=..., api_base_url=...),
                          credentials, limiter)
    exchange = CcxtExchange(gateway)
    market_data = ExchangeMarketData(gateway, settings.symbols)
    ...
    await gateway.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from core.errors import (
    ExchangeError,
    ExchangeUnavailable,
    FinalExchangeError,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    RetryableExchangeError,
)
from core.exchange.ccxt_gateway import (
    CcxtGateway,
    CredentialsProvider,
    DuplicateClientOrderId,
    MissingCredentials,
    OrderNotFound,
    RetryPolicy,
)
from core.exchange.ccxt_orders import (
    OrderPlan,
    check_notional,
    holdings,
    list_client_id,
    order_fee,
    plan_oco,
    plan_order,
    precise_amount,
    sum_fees,
    to_result,
    unknown_result,
)
from core.models import Balance, OrderRequest, OrderResult, OrderStatus, OrderType, ProtectiveOrders
from core.ports import OnSent

__all__ = [
    "CcxtExchange",
    "CredentialsProvider",
    "MissingCredentials",
    "OrderOutcomeUnknown",
    "ProtectiveOrders",
]

log = logging.getLogger(__name__)


class CcxtExchange:
    """Orders on users' accounts through one shared `CcxtGateway` (one per exchange)."""

    def __init__(
        self,
        gateway: CcxtGateway,
        lookup: RetryPolicy | None = None,
        stop_limit_slippage_pct: float = 0.5,
        settle_margin: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`lookup`: the schedule of lookups after a lost answer; `settle_margin`: seconds
        added to the recvWindow before "not found" counts as "not placed"."""
        self._gw = gateway
        self._lookup = lookup or RetryPolicy(attempts=6, first_delay=0.25, factor=2.0, max_delay=4.0)
        self._slippage = stop_limit_slippage_pct
        recv_window_ms = gateway.profile.ccxt_options.get("recvWindow", gateway.settings.recv_window_ms)
        self._settle = float(recv_window_ms) / 1000.0 + settle_margin
        self._clock = clock
        self._sleep = sleep
        self._w = gateway.profile
        self.name = gateway.exchange_id

    # ------------------------------------------------------------------ the port

    async def create_order(self, request: OrderRequest, on_sent: OnSent | None = None) -> OrderResult:
        """Send the order once; see the module docstring for what a lost answer gives.
        `on_sent` is awaited right before the request leaves (after the limiter's wait)."""
        market = await self._gw.market(request.symbol)
        reference = None
        if request.type is OrderType.MARKET and request.price is None:
            reference = await self.last_price(request.symbol)
        plan = plan_order(self._gw.public, market, request, reference, self._slippage)
        log.info(
            "sending %s %s %s %s (%s)",
            plan.exchange_type,
            request.side,
            plan.amount,
            request.symbol,
            request.client_order_id,
        )
        return await self._send(request, plan, on_sent)

    async def fetch_order(self, request: OrderRequest) -> OrderResult | None:
        """The exchange's state of this client order id; None when it does not know it."""
        return await self._fetch(request, idempotent=True)

    async def cancel_order(self, request: OrderRequest) -> OrderResult:
        """Cancel by client order id. Idempotent: an order already gone is looked up and
        returned as it ended (filled, canceled), or UNKNOWN if it never existed. On
        Binance, cancelling one leg of an OCO cancels the whole list. A part filled before
        the cancel comes with its fee (read from its trades: the cancel answer has none)."""
        try:
            order = await self._gw.call(
                lambda c: c.cancel_order(None, request.symbol, {"clientOrderId": request.client_order_id}),
                weight=self._w.cancel_order,
                user_id=request.user_id,
                idempotent=True,
            )
        except OrderNotFound:
            found = await self.fetch_order(request)
            return found if found is not None else unknown_result(request)
        return await self._with_fee(request, order)  # a cancel answer carries no fills: a part filled has its fee read

    async def fetch_balance(self, user_id: int, currency: str) -> Balance:
        """Free and total of one currency on the user's account (zeros if absent)."""
        balances = await self._gw.call(
            lambda c: c.fetch_balance(), weight=self._w.balance, user_id=user_id, idempotent=True
        )
        entry = balances.get(currency) or {}
        return Balance(currency=currency, free=float(entry.get("free") or 0.0), total=float(entry.get("total") or 0.0))

    # ------------------------------------------------------------ beyond the port

    async def fetch_balances(self, user_id: int) -> list[Balance]:
        """Every currency the user's account holds (free or locked), sorted by name."""
        balances = await self._gw.call(
            lambda c: c.fetch_balance(), weight=self._w.balance, user_id=user_id, idempotent=True
        )
        return holdings(balances)

    async def check_credentials(self, api_key: str, secret: str) -> list[Balance]:
        """The holdings of the account these keys open, read with a client of their own that
        is closed at once. AuthenticationFailed when the exchange refuses the keys."""
        balances = await self._gw.call_with_keys(api_key, secret, lambda c: c.fetch_balance(), weight=self._w.balance)
        return holdings(balances)

    async def fetch_open_orders(self, user_id: int, symbol: str) -> list[OrderResult]:
        """The user's resting orders on `symbol` (one call, cheaper than a lookup per order)."""
        orders = await self._gw.call(
            lambda c: c.fetch_open_orders(symbol),
            weight=self._w.open_orders,
            user_id=user_id,
            idempotent=True,
        )
        results = []
        for order in orders:
            request = OrderRequest(
                str(order.get("clientOrderId") or ""),
                user_id,
                symbol,
                str(order.get("side") or ""),
                OrderType.LIMIT,
                float(order.get("amount") or 0.0),
            )
            results.append(to_result(request, order, order_fee(order, symbol)))
        return results

    async def tradable_amount(self, symbol: str, amount: float, price: float) -> float:
        """`amount` truncated to the lot step, or 0.0 when at `price` it cannot be an order
        (below the minimum quantity or notional)."""
        market = await self._gw.market(symbol)
        probe = OrderRequest("probe", 0, symbol, "sell", OrderType.LIMIT, amount)
        try:
            value = precise_amount(self._gw.public, market, probe, amount)
            check_notional(market, probe, value, Decimal(str(price)))
        except OrderRejected:
            return 0.0
        return float(value)

    async def last_price(self, symbol: str) -> float:
        """The last traded price (public ticker)."""
        await self._gw.market(symbol)
        ticker = await self._gw.call(lambda c: c.fetch_ticker(symbol), weight=self._w.ticker, idempotent=True)
        if ticker.get("last") is None:
            raise ExchangeUnavailable(f"{self.name} returned no last price for {symbol}")
        return float(ticker["last"])

    async def create_protective_oco(
        self,
        stop: OrderRequest,
        take_profit: OrderRequest,
        list_client_order_id: str | None = None,
        current_price: float | None = None,
        on_sent: OnSent | None = None,
    ) -> ProtectiveOrders:
        """Place stop-loss and take-profit on the same quantity as one OCO order list.

        On spot the quantity can be locked only once, so two separate protective orders
        cannot both rest; an OCO locks it once and the exchange cancels the other leg when
        one fills. Each leg keeps its own client order id (fetch_order/cancel_order work
        per leg). A lost answer is resolved like create_order's, leg by leg.
        `current_price` (a price just read) saves the ticker call of the price check.
        """
        if not self._w.supports_oco:
            raise OrderRejected(f"{self.name}: OCO order lists are not supported by this adapter")
        market = await self._gw.market(stop.symbol)
        list_id = list_client_order_id or list_client_id(stop.client_order_id, take_profit.client_order_id)
        current = current_price if current_price is not None else await self.last_price(stop.symbol)
        plan = plan_oco(self._gw.public, market, stop, take_profit, list_id, current)
        departure = _Departure(self._clock, on_sent)
        try:
            response = await self._gw.call(
                lambda c: c.private_post_orderlist_oco(dict(plan.params)),
                weight=self._w.create_oco,
                user_id=stop.user_id,
                orders=2,
                on_admitted=departure,
            )
        except DuplicateClientOrderId:
            log.warning("OCO %s: a leg exists already; looking it up", list_id)
        except (FinalExchangeError, RateLimited):
            raise
        except ExchangeError as exc:
            log.warning("OCO %s: answer lost (%s); looking the legs up", list_id, exc)
        else:
            reports = {r.get("clientOrderId"): r for r in response.get("orderReports") or []}
            legs = []
            for leg in (stop, take_profit):
                report = reports.get(leg.client_order_id)
                if report is None:  # an ACK-style answer: ask for the leg
                    legs.append(await self._resolve(leg, departure))
                    continue
                order = self._gw.public.parse_order(report, market)
                legs.append(to_result(leg, order, order_fee(order, leg.symbol)))
            return ProtectiveOrders(list_id, legs[0], legs[1])
        return ProtectiveOrders(
            list_id, await self._resolve(stop, departure), await self._resolve(take_profit, departure)
        )

    async def close(self) -> None:
        """Close every ccxt client of the gateway."""
        await self._gw.close()

    # ----------------------------------------------------------------- internals

    async def _send(self, request: OrderRequest, plan: OrderPlan, on_sent: OnSent | None) -> OrderResult:
        departure = _Departure(self._clock, on_sent)
        try:
            order = await self._gw.call(
                lambda c: c.create_order(
                    request.symbol, plan.ccxt_type, request.side, plan.amount, plan.price, dict(plan.params)
                ),
                weight=self._w.create_order,
                user_id=request.user_id,
                orders=1,
                on_admitted=departure,
            )
        except DuplicateClientOrderId:
            log.warning("order %s exists already; looking it up", request.client_order_id)
        except (FinalExchangeError, RateLimited):
            raise
        except ExchangeError as exc:  # timeout, dropped connection, 5xx: it may have been placed
            log.warning("order %s: answer lost (%s); looking it up", request.client_order_id, exc)
        else:
            return await self._with_fee(request, order)
        return await self._resolve(request, departure)

    async def _resolve(self, request: OrderRequest, departure: _Departure) -> OrderResult:
        """Look the order up after a lost answer until the exchange gives a definite one.
        "Not found" is final once the receive window has passed since the request LEFT
        (a wait in the limiter does not count: the exchange had not received it then)."""
        if departure.at is None:  # it never left: nothing can arrive
            log.warning("order %s was not sent", request.client_order_id)
            return unknown_result(request)
        sent_at = departure.at
        last_error: ExchangeError | None = None
        for delay in [0.0, *self._lookup.delays()]:
            await self._sleep(delay)
            asked = self._clock()  # the lookup sees the exchange as of this moment or later
            try:
                found = await self._fetch(request, idempotent=False)
            except RetryableExchangeError as exc:
                last_error = exc
                continue
            except FinalExchangeError as exc:  # the key refused, the pair gone: it cannot be looked up
                raise OrderOutcomeUnknown(request.client_order_id, str(exc)) from exc
            if found is not None:
                return found
            last_error = None
            if asked - sent_at >= self._settle:
                log.warning("order %s was not placed (unknown to the exchange)", request.client_order_id)
                return unknown_result(request)
        if last_error is not None:
            raise OrderOutcomeUnknown(request.client_order_id, str(last_error)) from last_error
        await self._sleep(max(0.0, sent_at + self._settle - self._clock()))
        try:
            found = await self._fetch(request, idempotent=True)
        except ExchangeError as exc:
            raise OrderOutcomeUnknown(request.client_order_id, str(exc)) from exc
        return found if found is not None else unknown_result(request)

    async def _fetch(self, request: OrderRequest, idempotent: bool) -> OrderResult | None:
        try:
            order = await self._gw.call(
                lambda c: c.fetch_order(None, request.symbol, {"clientOrderId": request.client_order_id}),
                weight=self._w.fetch_order,
                user_id=request.user_id,
                idempotent=idempotent,
            )
        except OrderNotFound:
            return None
        return await self._with_fee(request, order)

    async def _with_fee(self, request: OrderRequest, order: Mapping[str, Any]) -> OrderResult:
        """The result with its fee; an order looked up (no fills in the answer) that has
        filled gets its fee from its trades."""
        fee = order_fee(order, request.symbol)
        if fee is None and float(order.get("filled") or 0) > 0 and order.get("id") is not None:
            trades = await self._gw.call(
                lambda c: c.fetch_order_trades(str(order["id"]), request.symbol),
                weight=self._w.order_trades,
                user_id=request.user_id,
                idempotent=True,
            )
            fee = sum_fees(
                [t["fee"] for t in trades if t.get("fee") and t["fee"].get("cost") is not None],
                request.client_order_id,
                request.symbol,
            )
        result = to_result(request, order, await self.valued_fee(fee, request))
        if result.status is OrderStatus.FILLED:
            log.info("order %s filled %s at %s", result.client_order_id, result.filled, result.average_price)
        return result


    async def valued_fee(
        self, fee: tuple[float, str | None] | None, request: OrderRequest
    ) -> tuple[float, str | None] | None:
        """A fee paid in a third currency (BNB) valued in the market's quote at that
        currency's last price, so that it is booked; one that cannot be priced stays as it is
        (and `fee_in_quote` books nothing for it, with a warning)."""
        if fee is None or not fee[0] or fee[1] is None:
            return fee
        base, quote = request.symbol.split("/")
        if fee[1] in (base, quote):
            return fee
        try:
            price = await self.last_price(f"{fee[1]}/{quote}")
        except ExchangeError as exc:
            log.warning("order %s paid %s %s in fees, which cannot be valued in %s: %s",
                        request.client_order_id, fee[0], fee[1], quote, exc)
            return fee
        log.info("order %s paid %s %s in fees: booked as %.8f %s at %s",
                 request.client_order_id, fee[0], fee[1], fee[0] * price, quote, price)
        return fee[0] * price, quote


class _Departure:
    """When a request left for the exchange: set (on this monotonic clock) by the gateway
    once the limiter let it go, after `on_sent` has recorded it."""

    def __init__(self, clock: Callable[[], float], on_sent: OnSent | None) -> None:
        self._clock = clock
        self._on_sent = on_sent
        self.at: float | None = None

    async def __call__(self) -> None:
        if self._on_sent is not None:
            await self._on_sent()
        self.at = self._clock()

