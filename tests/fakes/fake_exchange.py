"""A fake Binance spot REST API on 127.0.0.1, good enough for the real ccxt binance client.

Serves: /api/v3/ping, /time, /exchangeInfo, /klines, /ticker/price, /ticker/24hr (public);
/account, /order (POST/GET/DELETE), /openOrders, /myTrades, /orderList/oco (POST),
/orderList (GET/DELETE) (signed: HMAC-SHA256 checked against the account's secret,
timestamp checked against recvWindow). Anything else answers 404 and is recorded in
`unexpected`, so a test can assert ccxt made no call we did not plan for.

Behaviour copied from Binance: per-account balances (orders lock funds, cancels release
them), market orders fill at once at the current price with a 0.1% commission, other
orders rest until `set_price` moves the market through them (stops trigger at the new
price, limits fill at their own; `fill_partially` fills part of one), a
`newClientOrderId` equal to one of the account's OPEN orders is refused with -2010
"Duplicate order sent.", an OCO locks its quantity once for both legs, cancelling one leg
cancels the list, and when one leg fills (even partly) the other expires.
`cancel_externally` is a cancel from outside (the user in the exchange's app). Budgets
are counted in fixed windows aligned to the epoch, like Binance's: request weight per IP
and orders per account; going over answers 429 with Retry-After. Every answer carries
X-MBX-USED-WEIGHT-1M, order answers also X-MBX-ORDER-COUNT-10S and X-MBX-ORDER-COUNT-1D
(the names stay when windows are scaled).

Faults are queued per (method, path) with `inject`.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

COMMISSION = Decimal("0.001")
INTERVAL_SECONDS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}
ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A spot market with its filters, as in exchangeInfo."""

    symbol: str
    base: str
    quote: str
    tick_size: str
    step_size: str
    min_qty: str
    max_qty: str
    min_notional: str
    price: str  # starting price


DEFAULT_SYMBOLS = (
    SymbolSpec(
        "BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "0.00001", "9000.00000000", "5.00000000", "60000"
    ),
    SymbolSpec("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "0.0001", "100000.00000000", "5.00000000", "3000"),
)


@dataclass(frozen=True, slots=True)
class FakeBudgets:
    """Binance spot budgets; `enforce=False` only counts."""

    weight_limit: int = 6000
    weight_window: float = 60.0
    orders_limit: int = 50
    orders_window: float = 10.0
    orders_per_day: int = 160_000
    day_window: float = 86_400.0
    enforce: bool = True


class Fault(enum.Enum):
    STALL_AFTER_ACCEPT = "stall_after_accept"  # record the order, then answer after the client gave up
    ERROR_5XX = "error_5xx"  # answer 5xx without doing anything
    ERROR_5XX_AFTER_ACCEPT = "error_5xx_after_accept"  # do it, then answer 5xx
    RATE_LIMIT = "rate_limit"  # answer 429 with Retry-After
    INSUFFICIENT_BALANCE = "insufficient_balance"  # -2010
    INVALID_KEY = "invalid_key"  # -2015


_AFTER_ACCEPT = (Fault.STALL_AFTER_ACCEPT, Fault.ERROR_5XX_AFTER_ACCEPT)


@dataclass(frozen=True, slots=True)
class _FaultSpec:
    fault: Fault
    retry_after: int
    status: int


@dataclass(slots=True)
class FakeOrder:
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    time_in_force: str | None
    time_ms: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    order_list_id: int = -1
    fills: list[dict[str, Any]] = field(default_factory=list)
    locked_asset: str | None = None
    locked_amount: Decimal = Decimal(0)

    def report(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
            "price": _s(self.price),
            "origQty": _s(self.orig_qty),
            "executedQty": _s(self.executed_qty),
            "cummulativeQuoteQty": _s(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force or "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": _s(self.stop_price),
            "icebergQty": "0.00000000",
            "time": self.time_ms,
            "updateTime": self.time_ms,
            "isWorking": True,
            "workingTime": self.time_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def full(self) -> dict[str, Any]:
        body = self.report()
        body["transactTime"] = self.time_ms
        body["fills"] = list(self.fills)
        return body


@dataclass(slots=True)
class FakeAccount:
    api_key: str
    secret: str
    free: dict[str, Decimal]
    locked: dict[str, Decimal] = field(default_factory=dict)
    orders: list[FakeOrder] = field(default_factory=list)
    client_ids: Counter[str] = field(default_factory=Counter)  # orders created per client order id
    order_windows: Counter[int] = field(default_factory=Counter)
    order_days: Counter[int] = field(default_factory=Counter)
    order_lists: dict[int, dict[str, Any]] = field(default_factory=dict)

    def balance(self, asset: str) -> Decimal:
        return self.free.get(asset, Decimal(0))

    def lock(self, asset: str, amount: Decimal) -> None:
        if self.balance(asset) < amount:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        self.free[asset] = self.balance(asset) - amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, Decimal(0)) - amount
        self.free[asset] = self.balance(asset) + amount


@dataclass(slots=True)
class RecordedRequest:
    """One request as it arrived; `status` is set when it is answered (None: still stalled)."""

    method: str
    path: str
    api_key: str | None
    params: Mapping[str, str]
    status: int | None = None


class _ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


@dataclass(frozen=True, slots=True)
class _Route:
    handler: Callable[[FakeAccount | None, dict[str, str]], Any]
    weight: int
    signed: bool
    orders: int = 0


class FakeBinance:
    """The fake server. `start()` returns its base URL (http://127.0.0.1:PORT)."""

    def __init__(
        self,
        budgets: FakeBudgets | None = None,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        market_clock: Callable[[], float] = time.time,
        stall_seconds: float = 5.0,
    ) -> None:
        self.budgets = budgets or FakeBudgets()
        self.specs = {s.symbol: s for s in symbols}
        self.prices = {s.symbol: _d(s.price) for s in symbols}
        self.market_clock = market_clock  # klines and tickers; signatures use the real clock
        self.stall_seconds = stall_seconds
        self.accounts: dict[str, FakeAccount] = {}
        self.requests: list[RecordedRequest] = []
        self.unexpected: list[str] = []
        self.rate_limited_count = 0
        self.weight_windows: Counter[int] = Counter()
        self._faults: dict[tuple[str, str], deque[_FaultSpec]] = {}
        self._next_order_id = 1000
        self._next_list_id = 1
        self._next_trade_id = 1
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._routes: dict[tuple[str, str], _Route] = {
            ("GET", "/api/v3/ping"): _Route(lambda a, p: {}, 1, False),
            ("GET", "/api/v3/time"): _Route(lambda a, p: {"serverTime": _now_ms()}, 1, False),
            ("GET", "/api/v3/exchangeInfo"): _Route(self._exchange_info, 20, False),
            ("GET", "/api/v3/klines"): _Route(self._klines, 2, False),
            ("GET", "/api/v3/ticker/price"): _Route(self._ticker_price, 2, False),
            ("GET", "/api/v3/ticker/24hr"): _Route(self._ticker_24hr, 2, False),
            ("GET", "/api/v3/account"): _Route(self._account, 20, True),
            ("POST", "/api/v3/order"): _Route(self._new_order, 1, True, orders=1),
            ("GET", "/api/v3/order"): _Route(self._query_order, 4, True),
            ("DELETE", "/api/v3/order"): _Route(self._cancel_order, 1, True),
            ("GET", "/api/v3/openOrders"): _Route(self._open_orders, 6, True),
            ("GET", "/api/v3/myTrades"): _Route(self._my_trades, 20, True),
            ("POST", "/api/v3/orderList/oco"): _Route(self._new_oco, 1, True, orders=2),
            ("GET", "/api/v3/orderList"): _Route(self._query_list, 4, True),
            ("DELETE", "/api/v3/orderList"): _Route(self._cancel_list, 1, True),
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a free port; return the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Release stalled answers and stop listening."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --------------------------------------------------------------- test set-up

    def add_account(self, api_key: str, secret: str, balances: Mapping[str, float | str]) -> FakeAccount:
        account = FakeAccount(api_key, secret, {asset: _d(v) for asset, v in balances.items()})
        self.accounts[api_key] = account
        return account

    def set_price(self, symbol: str, price: float | str) -> None:
        """Move the market: resting orders the new price reaches fill (stops at the new
        price, limits at their own)."""
        self.prices[symbol] = _d(price)
        spec = self.specs[symbol]
        for account in self.accounts.values():
            for order in list(account.orders):
                if order.symbol == symbol and order.status in OPEN_STATUSES:
                    fill_price = self._reached(order, self.prices[symbol])
                    if fill_price is not None:
                        self._execute(account, spec, order, fill_price, order.orig_qty - order.executed_qty)

    def fill_partially(self, api_key: str, client_order_id: str, quantity: float | str) -> None:
        """Fill part of a resting order at its own price (a thin book)."""
        account = self.accounts[api_key]
        order = self._open_order(account, client_order_id)
        assert order is not None, f"no open order {client_order_id}"
        price = order.price or order.stop_price
        self._execute(account, self.specs[order.symbol], order, price, _d(quantity))

    def cancel_externally(self, api_key: str, client_order_id: str) -> None:
        """Cancel an open order (and its list) the way a user could in the exchange's app."""
        account = self.accounts[api_key]
        order = self._open_order(account, client_order_id)
        assert order is not None, f"no open order {client_order_id}"
        if order.order_list_id >= 0:
            self._cancel_list_orders(account, order.order_list_id)
        else:
            self._cancel(account, order)

    def open_orders(self, api_key: str) -> list[FakeOrder]:
        return [o for o in self.accounts[api_key].orders if o.status in OPEN_STATUSES]

    def inject(
        self,
        fault: Fault,
        *,
        method: str = "POST",
        path: str = "/api/v3/order",
        times: int = 1,
        retry_after: int = 1,
        status: int = 503,
    ) -> None:
        """Queue `fault` for the next `times` requests to (method, path)."""
        queue = self._faults.setdefault((method, path), deque())
        queue.extend(_FaultSpec(fault, retry_after, status) for _ in range(times))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    # ---------------------------------------------------------------- inspection

    def orders_of(self, api_key: str) -> list[FakeOrder]:
        return list(self.accounts[api_key].orders)

    def client_id_count(self, api_key: str, client_order_id: str) -> int:
        """How many orders this account created with this client order id."""
        return self.accounts[api_key].client_ids[client_order_id]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def order_windows(self, api_key: str) -> Counter[int]:
        return Counter(self.accounts[api_key].order_windows)

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, request: web.Request) -> web.Response:
        route = self._routes.get((request.method, request.path))
        api_key = request.headers.get("X-MBX-APIKEY")
        body = await request.text()
        raw_query = request.rel_url.raw_query_string
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        record = RecordedRequest(request.method, request.path, api_key, params)
        self.requests.append(record)
        if route is None:
            self.unexpected.append(f"{request.method} {request.path}")
            return self._answer(record, 404, {"code": -1, "msg": "not served by the fake"}, {})
        headers: dict[str, str] = {}
        try:
            account = self._authenticate(api_key, raw_query, body, params) if route.signed else None
            self._charge(route, account, headers)
            fault = self._next_fault(request.method, request.path)
            kind = fault.fault if fault is not None else None
            if fault is not None and kind not in _AFTER_ACCEPT:
                return self._faulty(record, fault, headers)
            payload = route.handler(account, params)
            if kind is Fault.STALL_AFTER_ACCEPT:
                await self._stall()
            if fault is not None and kind is Fault.ERROR_5XX_AFTER_ACCEPT:
                return self._answer(record, fault.status, {"code": -1001, "msg": "Internal error."}, headers)
        except _ApiError as err:
            return self._answer(record, err.status, {"code": err.code, "msg": err.msg}, headers)
        return self._answer(record, 200, payload, headers)

    def _answer(
        self, record: RecordedRequest, status: int, payload: Any, headers: dict[str, str]
    ) -> web.Response:
        record.status = status
        if status == 429:
            self.rate_limited_count += 1
        window = int(time.time() // self.budgets.weight_window)
        headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.weight_windows[window]))
        return web.json_response(payload, status=status, headers=headers)

    def _faulty(self, record: RecordedRequest, spec: _FaultSpec, headers: dict[str, str]) -> web.Response:
        if spec.fault is Fault.ERROR_5XX:
            return self._answer(record, spec.status, {"code": -1001, "msg": "Internal error."}, headers)
        if spec.fault is Fault.RATE_LIMIT:
            headers["Retry-After"] = str(spec.retry_after)
            body = {"code": -1003, "msg": "Too much request weight used; current limit exceeded."}
            return self._answer(record, 429, body, headers)
        if spec.fault is Fault.INSUFFICIENT_BALANCE:
            body = {"code": -2010, "msg": "Account has insufficient balance for requested action."}
            return self._answer(record, 400, body, headers)
        body = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        return self._answer(record, 401, body, headers)

    def _next_fault(self, method: str, path: str) -> _FaultSpec | None:
        queue = self._faults.get((method, path))
        return queue.popleft() if queue else None

    async def _stall(self) -> None:
        try:
            await asyncio.wait_for(self._release.wait(), self.stall_seconds)
        except TimeoutError:
            return

    def _authenticate(
        self, api_key: str | None, raw_query: str, body: str, params: dict[str, str]
    ) -> FakeAccount:
        account = self.accounts.get(api_key or "")
        if account is None:
            raise _ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.get("signature")
        if signature is None:
            raise _ApiError(
                400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        total = _strip_signature(raw_query) + _strip_signature(body)
        expected = hmac.new(account.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _ApiError(400, -1022, "Signature for this request is not valid.")
        now = _now_ms()
        timestamp = int(params.get("timestamp", "0"))
        recv_window = int(params.get("recvWindow", "5000"))
        if recv_window > 60_000:
            raise _ApiError(400, -1131, "recvWindow must be less than 60000")
        if timestamp > now + 1000 or now - timestamp > recv_window:
            raise _ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return account

    def _charge(self, route: _Route, account: FakeAccount | None, headers: dict[str, str]) -> None:
        b = self.budgets
        now = time.time()
        window = int(now // b.weight_window)
        if b.enforce and self.weight_windows[window] + route.weight > b.weight_limit:
            headers["Retry-After"] = str(max(1, math.ceil((window + 1) * b.weight_window - now)))
            raise _ApiError(
                429, -1003, f"Too much request weight used; current limit is {b.weight_limit} per window."
            )
        self.weight_windows[window] += route.weight
        headers["X-MBX-USED-WEIGHT-1M"] = str(self.weight_windows[window])
        if not route.orders or account is None:
            return
        ten, day = int(now // b.orders_window), int(now // b.day_window)
        over_ten = account.order_windows[ten] + route.orders > b.orders_limit
        if b.enforce and (over_ten or account.order_days[day] + route.orders > b.orders_per_day):
            end = (ten + 1) * b.orders_window if over_ten else (day + 1) * b.day_window
            headers["Retry-After"] = str(max(1, math.ceil(end - now)))
            raise _ApiError(
                429, -1015, f"Too many new orders; current limit is {b.orders_limit} orders per window."
            )
        account.order_windows[ten] += route.orders
        account.order_days[day] += route.orders
        headers["X-MBX-ORDER-COUNT-10S"] = str(account.order_windows[ten])
        headers["X-MBX-ORDER-COUNT-1D"] = str(account.order_days[day])

    # ------------------------------------------------------------------- public

    def _spec(self, params: dict[str, str]) -> SymbolSpec:
        spec = self.specs.get(params.get("symbol", ""))
        if spec is None:
            raise _ApiError(400, -1121, "Invalid symbol.")
        return spec

    def _exchange_info(self, _account: FakeAccount | None, _params: dict[str, str]) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": _now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.budgets.weight_limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": self.budgets.orders_limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "DAY",
                    "intervalNum": 1,
                    "limit": self.budgets.orders_per_day,
                },
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(spec) for spec in self.specs.values()],
        }

    def _klines(self, _account: FakeAccount | None, params: dict[str, str]) -> list[list[Any]]:
        spec = self._spec(params)
        interval = params.get("interval", "1h")
        if interval not in INTERVAL_SECONDS:
            raise _ApiError(400, -1120, "Invalid interval.")
        step = INTERVAL_SECONDS[interval] * 1000
        limit = min(int(params.get("limit", "500")), 1000)
        forming = int(self.market_clock() * 1000) // step * step
        if "startTime" in params:
            first = -(-int(params["startTime"]) // step) * step
            opens = [t for t in range(first, forming + 1, step)][:limit]
        else:
            opens = [forming - i * step for i in range(limit - 1, -1, -1)]
        base = _d(spec.price)
        return [_kline(base, t, step) for t in opens]

    def _ticker_price(self, _account: FakeAccount | None, params: dict[str, str]) -> dict[str, str]:
        spec = self._spec(params)
        return {"symbol": spec.symbol, "price": _s(self.prices[spec.symbol])}

    def _ticker_24hr(self, _account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        spec = self._spec(params)
        price = self.prices[spec.symbol]
        now = int(self.market_clock() * 1000)
        return {
            "symbol": spec.symbol,
            "priceChange": "0.00000000",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": _s(price),
            "prevClosePrice": _s(price),
            "lastPrice": _s(price),
            "lastQty": "0.01000000",
            "bidPrice": _s(price),
            "bidQty": "1.00000000",
            "askPrice": _s(price),
            "askQty": "1.00000000",
            "openPrice": _s(price),
            "highPrice": _s(price),
            "lowPrice": _s(price),
            "volume": "1000.00000000",
            "quoteVolume": _s(price * 1000),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1,
            "lastId": 1000,
            "count": 1000,
        }

    # ------------------------------------------------------------------ private

    def _account(self, account: FakeAccount | None, _params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        assets = sorted(set(account.free) | set(account.locked))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": _now_ms(),
            "accountType": "SPOT",
            "permissions": ["SPOT"],
            "uid": 1,
            "balances": [
                {"asset": a, "free": _s(account.balance(a)), "locked": _s(account.locked.get(a, Decimal(0)))}
                for a in assets
            ],
        }

    def _new_order(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        spec = self._spec(params)
        client_id = params.get("newClientOrderId") or f"fake-{self._next_order_id}"
        if self._open_order(account, client_id) is not None:
            raise _ApiError(400, -2010, "Duplicate order sent.")
        kind = params.get("type", "")
        if kind not in ORDER_TYPES:
            raise _ApiError(400, -1116, "Invalid orderType.")
        if "quantity" not in params:
            raise _ApiError(
                400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
            )
        order = self._make_order(spec, client_id, params.get("side", ""), kind, params)
        self._check_filters(spec, order)
        self._place(account, spec, order)
        return order.full() if params.get("newOrderRespType", "FULL") == "FULL" else order.report()

    def _make_order(
        self, spec: SymbolSpec, client_id: str, side: str, kind: str, params: Mapping[str, str]
    ) -> FakeOrder:
        if side not in ("BUY", "SELL"):
            raise _ApiError(400, -1117, "Invalid side.")
        needs_stop = kind in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        needs_price = kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        if needs_stop and "stopPrice" not in params:
            raise _ApiError(
                400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed."
            )
        if needs_price and "price" not in params:
            raise _ApiError(
                400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
            )
        self._next_order_id += 1
        return FakeOrder(
            symbol=spec.symbol,
            order_id=self._next_order_id,
            client_order_id=client_id,
            side=side,
            type=kind,
            orig_qty=_d(params["quantity"]),
            price=_d(params.get("price", "0")),
            stop_price=_d(params.get("stopPrice", "0")),
            time_in_force=params.get("timeInForce"),
            time_ms=_now_ms(),
        )

    def _check_filters(self, spec: SymbolSpec, order: FakeOrder) -> None:
        qty, step, min_qty = order.orig_qty, _d(spec.step_size), _d(spec.min_qty)
        if qty < min_qty or qty > _d(spec.max_qty) or (qty - min_qty) % step != 0:
            raise _ApiError(400, -1013, "Filter failure: LOT_SIZE")
        for price in (order.price, order.stop_price):
            if price and price % _d(spec.tick_size) != 0:
                raise _ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        reference = order.price or order.stop_price or self.prices[spec.symbol]
        if qty * reference < _d(spec.min_notional):
            raise _ApiError(400, -1013, "Filter failure: NOTIONAL")

    def _place(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder) -> None:
        if order.type == "MARKET":
            self._fill(account, spec, order)
        else:
            if order.side == "SELL":
                asset, amount = spec.base, order.orig_qty
            else:
                asset, amount = spec.quote, order.orig_qty * (order.price or order.stop_price)
            account.lock(asset, amount)
            order.locked_asset, order.locked_amount = asset, amount
        account.orders.append(order)
        account.client_ids[order.client_order_id] += 1

    def _fill(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder) -> None:
        self._trade(account, spec, order, self.prices[spec.symbol], order.orig_qty)

    def _trade(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder, price: Decimal, qty: Decimal) -> None:
        """Exchange `qty` of the order at `price` from free balances, with the commission."""
        cost = qty * price
        if order.side == "BUY":
            if account.balance(spec.quote) < cost:
                raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
            commission, commission_asset = (qty * COMMISSION).quantize(Decimal("1e-8"), ROUND_DOWN), spec.base
            account.free[spec.quote] = account.balance(spec.quote) - cost
            account.free[spec.base] = account.balance(spec.base) + qty - commission
        else:
            if account.balance(spec.base) < qty:
                raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
            commission, commission_asset = (
                (cost * COMMISSION).quantize(Decimal("1e-8"), ROUND_DOWN),
                spec.quote,
            )
            account.free[spec.base] = account.balance(spec.base) - qty
            account.free[spec.quote] = account.balance(spec.quote) + cost - commission
        order.executed_qty += qty
        order.quote_qty += cost
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.fills.append(
            {
                "price": _s(price),
                "qty": _s(qty),
                "commission": _s(commission),
                "commissionAsset": commission_asset,
                "tradeId": self._next_trade_id,
            }
        )
        self._next_trade_id += 1

    @staticmethod
    def _reached(order: FakeOrder, price: Decimal) -> Decimal | None:
        """The fill price if the market at `price` reaches this resting order, else None."""
        selling = order.side == "SELL"
        if order.type in ("STOP_LOSS", "STOP_LOSS_LIMIT"):
            hit = price <= order.stop_price if selling else price >= order.stop_price
            return (price if order.type == "STOP_LOSS" else order.price) if hit else None
        if order.type in ("TAKE_PROFIT", "TAKE_PROFIT_LIMIT"):
            hit = price >= order.stop_price if selling else price <= order.stop_price
            return (price if order.type == "TAKE_PROFIT" else order.price) if hit else None
        hit = price >= order.price if selling else price <= order.price  # LIMIT, LIMIT_MAKER
        return order.price if hit else None

    def _execute(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder, price: Decimal, qty: Decimal) -> None:
        """Fill `qty` of a resting order: its locks are released (an OCO's other leg expires),
        the trade is made, and what is left of the order is locked again."""
        if order.order_list_id >= 0:
            for other in account.orders:
                if other is not order and other.order_list_id == order.order_list_id and other.status in OPEN_STATUSES:
                    self._cancel(account, other, "EXPIRED")
        if order.locked_asset is not None:
            account.unlock(order.locked_asset, order.locked_amount)
            order.locked_asset, order.locked_amount = None, Decimal(0)
        self._trade(account, spec, order, price, qty)
        left = order.orig_qty - order.executed_qty
        if left > 0:
            asset, amount = (spec.base, left) if order.side == "SELL" else (spec.quote, left * price)
            account.lock(asset, amount)
            order.locked_asset, order.locked_amount = asset, amount

    def _find(self, account: FakeAccount, params: Mapping[str, str]) -> FakeOrder:
        symbol = params.get("symbol")
        for order in reversed(account.orders):  # the latest order with that client id
            same_id = (
                order.client_order_id == params["origClientOrderId"]
                if "origClientOrderId" in params
                else str(order.order_id) == params.get("orderId")
            )
            if same_id and order.symbol == symbol:
                return order
        raise _ApiError(400, -2013, "Order does not exist.")

    def _open_order(self, account: FakeAccount, client_id: str) -> FakeOrder | None:
        return next(
            (o for o in account.orders if o.client_order_id == client_id and o.status in OPEN_STATUSES), None
        )

    def _query_order(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        self._spec(params)
        return self._find(account, params).report()

    def _cancel_order(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        self._spec(params)
        try:
            order = self._find(account, params)
        except _ApiError as err:
            raise _ApiError(400, -2011, "Unknown order sent.") from err
        if order.status not in OPEN_STATUSES:
            raise _ApiError(400, -2011, "Unknown order sent.")
        if order.order_list_id >= 0:
            self._cancel_list_orders(account, order.order_list_id)
        else:
            self._cancel(account, order)
        body = order.report()
        body["origClientOrderId"] = order.client_order_id
        return body

    def _cancel(self, account: FakeAccount, order: FakeOrder, status: str = "CANCELED") -> None:
        order.status = status
        if order.locked_asset is not None:
            account.unlock(order.locked_asset, order.locked_amount)
            order.locked_asset, order.locked_amount = None, Decimal(0)

    def _open_orders(self, account: FakeAccount | None, params: dict[str, str]) -> list[dict[str, Any]]:
        assert account is not None
        symbol = params.get("symbol")
        return [
            o.report()
            for o in account.orders
            if o.status in OPEN_STATUSES and (symbol is None or o.symbol == symbol)
        ]

    def _my_trades(self, account: FakeAccount | None, params: dict[str, str]) -> list[dict[str, Any]]:
        assert account is not None
        spec = self._spec(params)
        trades = []
        for order in account.orders:
            if order.symbol != spec.symbol or (
                "orderId" in params and str(order.order_id) != params["orderId"]
            ):
                continue
            for fill in order.fills:
                trades.append(
                    {
                        "symbol": spec.symbol,
                        "id": fill["tradeId"],
                        "orderId": order.order_id,
                        "orderListId": -1,
                        "price": fill["price"],
                        "qty": fill["qty"],
                        "quoteQty": _s(_d(fill["price"]) * _d(fill["qty"])),
                        "commission": fill["commission"],
                        "commissionAsset": fill["commissionAsset"],
                        "time": order.time_ms,
                        "isBuyer": order.side == "BUY",
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
        return trades

    # --------------------------------------------------------------------- OCO

    def _new_oco(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        spec = self._spec(params)
        side = params.get("side", "")
        limit_like = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        stop_like = ("STOP_LOSS", "STOP_LOSS_LIMIT")
        above_ok, below_ok = (limit_like, stop_like) if side == "SELL" else (stop_like, limit_like)
        if params.get("aboveType") not in above_ok or params.get("belowType") not in below_ok:
            raise _ApiError(400, -1106, "Invalid combination of aboveType and belowType for this side.")
        legs = []
        for prefix in ("above", "below"):
            leg_id = params.get(f"{prefix}ClientOrderId") or f"fake-{prefix}-{self._next_order_id}"
            if self._open_order(account, leg_id) is not None:
                raise _ApiError(400, -2010, "Duplicate order sent.")
            leg_params = {"quantity": params["quantity"]}
            for name in ("Price", "StopPrice", "TimeInForce"):
                if f"{prefix}{name}" in params:
                    leg_params[name[0].lower() + name[1:]] = params[f"{prefix}{name}"]
            leg = self._make_order(spec, leg_id, side, params[f"{prefix}Type"], leg_params)
            self._check_filters(spec, leg)
            legs.append(leg)
        above, below = legs
        current = self.prices[spec.symbol]
        if not (above.price or above.stop_price) > current > (below.stop_price or below.price):
            raise _ApiError(400, -2010, "The relationship of the prices for the orders is not correct.")
        qty = _d(params["quantity"])
        if side == "SELL":
            asset, amount = spec.base, qty
        else:
            asset, amount = (
                spec.quote,
                qty * max(above.price, above.stop_price, below.price, below.stop_price),
            )
        account.lock(asset, amount)
        list_id = self._next_list_id
        self._next_list_id += 1
        for leg in legs:
            leg.order_list_id = list_id
            account.orders.append(leg)
            account.client_ids[leg.client_order_id] += 1
        above.locked_asset, above.locked_amount = asset, amount  # one lock for the list, held by one leg
        listing = {
            "orderListId": list_id,
            "contingencyType": "OCO",
            "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING",
            "listClientOrderId": params.get("listClientOrderId") or f"list-{list_id}",
            "transactionTime": _now_ms(),
            "symbol": spec.symbol,
            "orders": [
                {"symbol": spec.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                for o in legs
            ],
        }
        account.order_lists[list_id] = listing
        return {**listing, "orderReports": [o.full() for o in legs]}

    def _list_by(self, account: FakeAccount, params: Mapping[str, str]) -> dict[str, Any]:
        wanted = params.get("origClientOrderId") or params.get("listClientOrderId")
        for list_id, listing in account.order_lists.items():
            if listing["listClientOrderId"] == wanted or str(list_id) == params.get("orderListId"):
                return listing
        raise _ApiError(400, -2011, "Order list does not exist.")

    def _query_list(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        return self._list_by(account, params)

    def _cancel_list(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        listing = self._list_by(account, params)
        reports = self._cancel_list_orders(account, listing["orderListId"])
        listing.update(listStatusType="ALL_DONE", listOrderStatus="ALL_DONE")
        return {**listing, "orderReports": reports}

    def _cancel_list_orders(self, account: FakeAccount, list_id: int) -> list[dict[str, Any]]:
        reports = []
        for order in account.orders:
            if order.order_list_id == list_id and order.status in OPEN_STATUSES:
                self._cancel(account, order)
                reports.append(order.report())
        return reports


def _now_ms() -> int:
    return int(time.time() * 1000)


def _strip_signature(raw: str) -> str:
    """The signed payload: `raw` without its `signature=` parameter (always the last one)."""
    if not raw:
        return ""
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": spec.tick_size,
                "maxPrice": "1000000.00000000",
                "tickSize": spec.tick_size,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec.min_qty,
                "maxQty": spec.max_qty,
                "stepSize": spec.step_size,
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": spec.min_notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _kline(base: Decimal, open_ms: int, step: int) -> list[Any]:
    """A deterministic candle: the price follows a slow sine around `base`."""

    def price_at(t: int) -> Decimal:
        return (base * _d(1 + 0.02 * math.sin(t / (step * 7.0)))).quantize(Decimal("0.01"))

    o, c = price_at(open_ms), price_at(open_ms + step)
    h, lo = max(o, c) * _d("1.001"), min(o, c) * _d("0.999")
    volume = _d(10 + (open_ms // step) % 5)
    return [
        open_ms,
        _s(o),
        _s(h),
        _s(lo),
        _s(c),
        _s(volume),
        open_ms + step - 1,
        _s(volume * c),
        100,
        _s(volume / 2),
        _s(volume * c / 2),
        "0",
    ]
