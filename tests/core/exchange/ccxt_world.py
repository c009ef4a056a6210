"""What the ccxt adapter tests share: users and keys on the fake Binance, small fakes (a
credentials provider, a recording sleep, a hand-driven clock), order requests, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import (
    CcxtGateway,
)
from core.models import OrderRequest, OrderType
from tests.fakes.fake_exchange import FakeBinance

USER, OTHER, NOBODY = 1, 2, 3
KEY, SECRET = "key-1", "secret-1"


async def eventually(predicate: Callable[[], bool], within: float = 5.0, interval: float = 0.005) -> None:
    """Poll `predicate` until it holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def api_urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from api_urls(item)
    elif isinstance(value, str):
        yield value


class Credentials:
    def __init__(self, keys: dict[int, tuple[str, str]]) -> None:
        self.keys = keys

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        return self.keys.get(user_id)


class RecordingSleep:
    """asyncio.sleep that remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(seconds)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def order(
    cid: str,
    type_: OrderType = OrderType.MARKET,
    amount: float = 0.001,
    side: str = "buy",
    user: int = USER,
    symbol: str = "BTC/USDT",
    **kw: Any,
) -> OrderRequest:
    return OrderRequest(cid, user, symbol, side, type_, amount, **kw)


Build = Callable[..., Awaitable[tuple[CcxtExchange, CcxtGateway]]]


def posts(fake: FakeBinance) -> list[Any]:
    return fake.requests_to("POST", "/api/v3/order")
