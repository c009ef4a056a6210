"""The fake Binance's public endpoints: exchangeInfo, klines, tickers."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.fakes.binance_model import (
    INTERVAL_SECONDS,
    ApiError,
    FakeAccount,
    FakeBudgets,
    SymbolSpec,
    dec,
    kline,
    now_ms,
    symbol_info,
    text,
)


class PublicApi:
    """Market data as Binance serves it (a mixin of FakeBinance)."""

    budgets: FakeBudgets
    specs: dict[str, SymbolSpec]
    prices: dict[str, Decimal]
    market_clock: Callable[[], float]

    def _spec(self, params: dict[str, str]) -> SymbolSpec:
        spec = self.specs.get(params.get("symbol", ""))
        if spec is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return spec

    def _exchange_info(self, _account: FakeAccount | None, _params: dict[str, str]) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
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
            "symbols": [symbol_info(spec) for spec in self.specs.values()],
        }

    def _klines(self, _account: FakeAccount | None, params: dict[str, str]) -> list[list[Any]]:
        spec = self._spec(params)
        interval = params.get("interval", "1h")
        if interval not in INTERVAL_SECONDS:
            raise ApiError(400, -1120, "Invalid interval.")
        step = INTERVAL_SECONDS[interval] * 1000
        limit = min(int(params.get("limit", "500")), 1000)
        forming = int(self.market_clock() * 1000) // step * step
        if "startTime" in params:
            first = -(-int(params["startTime"]) // step) * step
            opens = [t for t in range(first, forming + 1, step)][:limit]
        else:
            opens = [forming - i * step for i in range(limit - 1, -1, -1)]
        base = dec(spec.price)
        return [kline(base, t, step) for t in opens]

    def _ticker_price(self, _account: FakeAccount | None, params: dict[str, str]) -> dict[str, str]:
        spec = self._spec(params)
        return {"symbol": spec.symbol, "price": text(self.prices[spec.symbol])}

    def _ticker_24hr(self, _account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        spec = self._spec(params)
        price = self.prices[spec.symbol]
        now = int(self.market_clock() * 1000)
        return {
            "symbol": spec.symbol,
            "priceChange": "0.00000000",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": text(price),
            "prevClosePrice": text(price),
            "lastPrice": text(price),
            "lastQty": "0.01000000",
            "bidPrice": text(price),
            "bidQty": "1.00000000",
            "askPrice": text(price),
            "askQty": "1.00000000",
            "openPrice": text(price),
            "highPrice": text(price),
            "lowPrice": text(price),
            "volume": "1000.00000000",
            "quoteVolume": text(price * 1000),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1,
            "lastId": 1000,
            "count": 1000,
        }
