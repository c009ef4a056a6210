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

Faults are queued per (method, path) with `inject`. The WebSocket API for account streams
(`ws_url`: a signed user-data subscription, an executionReport for every order change, and
its test hooks) is tests/fakes/binance_ws.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.binance_account import AccountApi
from tests.fakes.binance_faults import FaultsApi
from tests.fakes.binance_model import (
    AFTER_ACCEPT,
    DEFAULT_SYMBOLS,
    OPEN_STATUSES,
    ApiError,
    FakeAccount,
    FakeBudgets,
    FakeOrder,
    Fault,
    FaultSpec,
    RecordedRequest,
    Route,
    SymbolSpec,
    dec,
    now_ms,
    strip_signature,
)
from tests.fakes.binance_public import PublicApi
from tests.fakes.binance_ws import WS_PATH, WsApi

__all__ = [
    "DEFAULT_SYMBOLS",
    "FakeAccount",
    "FakeBinance",
    "FakeBudgets",
    "FakeOrder",
    "Fault",
    "RecordedRequest",
    "SymbolSpec",
]


class FakeBinance(PublicApi, AccountApi, FaultsApi, WsApi):
    """The fake server. `start()` returns its base URL (http://127.0.0.1:PORT); `ws_url` is
    its WebSocket API (tests/fakes/binance_ws.py)."""

    def __init__(
        self,
        budgets: FakeBudgets | None = None,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        market_clock: Callable[[], float] = time.time,
        stall_seconds: float = 5.0,
    ) -> None:
        self.budgets = budgets or FakeBudgets()
        self.specs = {s.symbol: s for s in symbols}
        self.prices = {s.symbol: dec(s.price) for s in symbols}
        self.liquidity: dict[str, Decimal] = {}
        self.time_offset = 0.0  # seconds the exchange's clock (as /time tells it) is ahead of ours
        self.fills_per_market_order = 1
        self.market_clock = market_clock  # klines and tickers; signatures use the real clock
        self.stall_seconds = stall_seconds
        self.accounts: dict[str, FakeAccount] = {}
        self.requests: list[RecordedRequest] = []
        self.unexpected: list[str] = []
        self.rate_limited_count = 0
        self._late: list[asyncio.Future[None]] = []
        self._slow: dict[tuple[str, str], float] = {}
        self.late_refused = 0  # ACCEPT_LATE requests the backend refused (their recvWindow had passed)
        self.weight_windows: Counter[int] = Counter()
        self._faults: dict[tuple[str, str], deque[FaultSpec]] = {}
        self._chaos: dict[tuple[str, str], list[tuple[FaultSpec, float]]] = {}
        self.rng = random.Random(0)  # draws the chances of `chaos`
        self.revoked: set[str] = set()
        self.faults_met: Counter[str] = Counter()  # faults answered, by kind
        self._next_order_id = 1000
        self._next_list_id = 1
        self._next_trade_id = 1
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._ws_init()
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v3/ping"): Route(lambda a, p: {}, 1, False),
            ("GET", "/api/v3/time"): Route(
                lambda a, p: {"serverTime": now_ms() + int(self.time_offset * 1000)}, 1, False
            ),
            ("GET", "/api/v3/exchangeInfo"): Route(self._exchange_info, 20, False),
            ("GET", "/api/v3/klines"): Route(self._klines, 2, False),
            ("GET", "/api/v3/ticker/price"): Route(self._ticker_price, 2, False),
            ("GET", "/api/v3/ticker/24hr"): Route(self._ticker_24hr, 2, False),
            ("GET", "/api/v3/account"): Route(self._account, 20, True),
            ("POST", "/api/v3/order"): Route(self._new_order, 1, True, orders=1),
            ("GET", "/api/v3/order"): Route(self._query_order, 4, True),
            ("DELETE", "/api/v3/order"): Route(self._cancel_order, 1, True),
            ("GET", "/api/v3/openOrders"): Route(self._open_orders, 6, True),
            ("GET", "/api/v3/myTrades"): Route(self._my_trades, 20, True),
            ("POST", "/api/v3/orderList/oco"): Route(self._new_oco, 1, True, orders=2),
            ("GET", "/api/v3/orderList"): Route(self._query_list, 4, True),
            ("DELETE", "/api/v3/orderList"): Route(self._cancel_list, 1, True),
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a free port; return the base URL."""
        app = web.Application()
        app.router.add_get(WS_PATH, self._ws_handler)
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
        await self._ws_close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --------------------------------------------------------------- test set-up

    def add_account(self, api_key: str, secret: str, balances: Mapping[str, float | str]) -> FakeAccount:
        account = FakeAccount(api_key, secret, {asset: dec(v) for asset, v in balances.items()})
        self.accounts[api_key] = account
        return account

    def set_price(self, symbol: str, price: float | str) -> None:
        """Move the market: resting orders the new price reaches fill (stops at the new
        price, limits at their own)."""
        self.prices[symbol] = dec(price)
        spec = self.specs[symbol]
        for account in self.accounts.values():
            for order in list(account.orders):
                if order.symbol == symbol and order.status in OPEN_STATUSES:
                    fill_price = self._reached(order, self.prices[symbol])
                    if fill_price is not None:
                        self._execute(account, spec, order, fill_price, order.orig_qty - order.executed_qty)

    def withdraw(self, api_key: str, asset: str, amount: float | str) -> None:
        """Take free `amount` of `asset` out of the account (a withdrawal; negative: a deposit)."""
        account = self.accounts[api_key]
        if account.balance(asset) < dec(amount):
            raise ValueError(f"{api_key} holds only {account.balance(asset)} free {asset}")
        account.free[asset] = account.balance(asset) - dec(amount)

    def delist(self, symbol: str) -> None:
        """The exchange stops listing `symbol`: every call about it answers -1121 Invalid symbol."""
        self.specs.pop(symbol)

    def pay_fees_in_bnb(self, api_key: str, bnb: float | str, bnb_price: float | str) -> None:
        """The account holds `bnb` BNB and pays commissions with it (25 % off) while it lasts."""
        account = self.accounts[api_key]
        account.free["BNB"] = account.balance("BNB") + dec(bnb)
        account.bnb_price = dec(bnb_price)
        if "BNBUSDT" not in self.specs:  # listed, so that a client can value the fees
            self.specs["BNBUSDT"] = SymbolSpec(
                "BNBUSDT", "BNB", "USDT", "0.01", "0.001", "0.001", "9000000.00000000", "5.00000000", str(bnb_price)
            )
        self.prices["BNBUSDT"] = dec(bnb_price)

    def thin_book(self, symbol: str, quantity: float | str) -> None:
        """A market order on `symbol` fills at most `quantity`; the rest EXPIRES (as on Binance)."""
        self.liquidity[symbol] = dec(quantity)

    def fill_partially(self, api_key: str, client_order_id: str, quantity: float | str) -> None:
        """Fill part of a resting order at its own price (a thin book)."""
        account = self.accounts[api_key]
        order = self._open_order(account, client_order_id)
        assert order is not None, f"no open order {client_order_id}"
        price = order.price or order.stop_price
        self._execute(account, self.specs[order.symbol], order, price, dec(quantity))

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
        if self._slow.get((request.method, request.path)):
            await asyncio.sleep(self._slow[(request.method, request.path)])
        try:
            account = self._authenticate(api_key, raw_query, body, params) if route.signed else None
            self._charge(route, account, headers)
            fault = self._next_fault(request.method, request.path)
            kind = fault.fault if fault is not None else None
            if kind is Fault.ACCEPT_LATE:
                assert fault is not None
                self._execute_late(route, account, params, fault.delay)
                body = {"code": -1007, "msg": "Timeout waiting for response from backend server."}
                return self._answer(record, 503, body, headers)
            if fault is not None and kind not in AFTER_ACCEPT:
                return self._faulty(record, fault, headers)
            with self._ws_batched():  # what the request changed is streamed once it succeeded
                payload = route.handler(account, params)
            if kind is Fault.STALL_AFTER_ACCEPT:
                await self._stall()
            if fault is not None and kind is Fault.ERROR_5XX_AFTER_ACCEPT:
                return self._answer(record, fault.status, {"code": -1001, "msg": "Internal error."}, headers)
        except ApiError as err:
            return self._answer(record, err.status, {"code": err.code, "msg": err.msg}, headers)
        return self._answer(record, 200, payload, headers)

    def _answer(self, record: RecordedRequest, status: int, payload: Any, headers: dict[str, str]) -> web.Response:
        record.status = status
        if status == 429:
            self.rate_limited_count += 1
        window = int(time.time() // self.budgets.weight_window)
        headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.weight_windows[window]))
        return web.json_response(payload, status=status, headers=headers)

    def _faulty(self, record: RecordedRequest, spec: FaultSpec, headers: dict[str, str]) -> web.Response:
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

    def _authenticate(self, api_key: str | None, raw_query: str, body: str, params: dict[str, str]) -> FakeAccount:
        account = self.accounts.get(api_key or "")
        if account is None or api_key in self.revoked:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.get("signature")
        if signature is None:
            raise ApiError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        total = strip_signature(raw_query) + strip_signature(body)
        expected = hmac.new(account.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        now = now_ms()
        timestamp = int(params.get("timestamp", "0"))
        recv_window = int(params.get("recvWindow", "5000"))
        if recv_window > 60_000:
            raise ApiError(400, -1131, "recvWindow must be less than 60000")
        if timestamp > now + 1000 or now - timestamp > recv_window:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return account

    def _charge(self, route: Route, account: FakeAccount | None, headers: dict[str, str]) -> None:
        b = self.budgets
        now = time.time()
        window = int(now // b.weight_window)
        if b.enforce and self.weight_windows[window] + route.weight > b.weight_limit:
            headers["Retry-After"] = str(max(1, math.ceil((window + 1) * b.weight_window - now)))
            raise ApiError(429, -1003, f"Too much request weight used; current limit is {b.weight_limit} per window.")
        self.weight_windows[window] += route.weight
        headers["X-MBX-USED-WEIGHT-1M"] = str(self.weight_windows[window])
        if not route.orders or account is None:
            return
        ten, day = int(now // b.orders_window), int(now // b.day_window)
        over_ten = account.order_windows[ten] + route.orders > b.orders_limit
        if b.enforce and (over_ten or account.order_days[day] + route.orders > b.orders_per_day):
            end = (ten + 1) * b.orders_window if over_ten else (day + 1) * b.day_window
            headers["Retry-After"] = str(max(1, math.ceil(end - now)))
            raise ApiError(429, -1015, f"Too many new orders; current limit is {b.orders_limit} orders per window.")
        account.order_windows[ten] += route.orders
        account.order_days[day] += route.orders
        headers["X-MBX-ORDER-COUNT-10S"] = str(account.order_windows[ten])
        headers["X-MBX-ORDER-COUNT-1D"] = str(account.order_days[day])
