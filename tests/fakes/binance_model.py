"""The fake Binance's data: markets, orders, accounts, faults, and the wire formats of
exchangeInfo and klines (tests/fakes/fake_exchange.py serves them)."""

from __future__ import annotations

import enum
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

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


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def text(value: Decimal) -> str:
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
    SymbolSpec("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "0.00001", "9000.00000000", "5.00000000", "60000"),
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
    # Answer 503 -1007 ("execution status unknown") at once; the backend executes the request
    # `delay` seconds later, unless its recvWindow has passed by then (then it is refused).
    ACCEPT_LATE = "accept_late"


AFTER_ACCEPT = (Fault.STALL_AFTER_ACCEPT, Fault.ERROR_5XX_AFTER_ACCEPT)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    fault: Fault
    retry_after: int
    status: int
    delay: float = 0.0


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
            "price": text(self.price),
            "origQty": text(self.orig_qty),
            "executedQty": text(self.executed_qty),
            "cummulativeQuoteQty": text(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force or "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": text(self.stop_price),
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
    bnb_price: Decimal | None = None  # set: commissions are paid in BNB (25 % off) while it lasts

    def balance(self, asset: str) -> Decimal:
        return self.free.get(asset, Decimal(0))

    def lock(self, asset: str, amount: Decimal) -> None:
        if self.balance(asset) < amount:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
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


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


@dataclass(frozen=True, slots=True)
class Route:
    handler: Callable[[FakeAccount | None, dict[str, str]], Any]
    weight: int
    signed: bool
    orders: int = 0


def now_ms() -> int:
    return int(time.time() * 1000)


def strip_signature(raw: str) -> str:
    """The signed payload: `raw` without its `signature=` parameter (always the last one)."""
    if not raw:
        return ""
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def _filters(spec: SymbolSpec) -> list[dict[str, Any]]:
    return [
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
    ]


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
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
        "filters": _filters(spec),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def kline(base: Decimal, open_ms: int, step: int) -> list[Any]:
    """A deterministic candle: the price follows a slow sine around `base`."""

    def price_at(t: int) -> Decimal:
        return (base * dec(1 + 0.02 * math.sin(t / (step * 7.0)))).quantize(Decimal("0.01"))

    o, c = price_at(open_ms), price_at(open_ms + step)
    h, lo = max(o, c) * dec("1.001"), min(o, c) * dec("0.999")
    volume = dec(10 + (open_ms // step) % 5)
    return [
        open_ms,
        text(o),
        text(h),
        text(lo),
        text(c),
        text(volume),
        open_ms + step - 1,
        text(volume * c),
        100,
        text(volume / 2),
        text(volume * c / 2),
        "0",
    ]
