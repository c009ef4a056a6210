"""Fixtures of the ccxt adapter tests: the fake Binance on 127.0.0.1 with two accounts, and
`build`, which makes a gateway and an exchange on a loopback-only session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import (
    CcxtGateway,
    CcxtSettings,
    RetryPolicy,
)
from core.exchange.limiter import ExchangeBudgets, ExchangeLimiter
from tests.core.exchange.ccxt_world import KEY, OTHER, SECRET, USER, Build, Credentials, api_urls
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.loopback import loopback_session


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance(stall_seconds=3.0)
    await server.start()
    server.add_account(KEY, SECRET, {"USDT": "10000", "BTC": "0"})
    server.add_account("key-2", "secret-2", {"USDT": "10000", "BTC": "1"})
    yield server
    await server.stop()


@pytest.fixture
async def build(fake: FakeBinance) -> AsyncIterator[Build]:
    session = loopback_session()
    made: list[CcxtGateway] = []

    async def make(
        keys: dict[int, tuple[str, str]] | None = None,
        timeout_ms: int = 2000,
        limiter: ExchangeLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sandbox: bool = False,
    ) -> tuple[CcxtExchange, CcxtGateway]:
        settings = CcxtSettings(
            api_base_url=fake.base_url,
            sandbox=sandbox,
            timeout_ms=timeout_ms,
            recv_window_ms=1000,
            retry=retry or RetryPolicy(attempts=3, first_delay=0.01, factor=2.0),
        )
        gateway = CcxtGateway(
            settings,
            Credentials(keys if keys is not None else {USER: (KEY, SECRET), OTHER: ("key-2", "secret-2")}),
            limiter or ExchangeLimiter(ExchangeBudgets.binance_spot(), sleep=sleep),
            session=session,
            sleep=sleep,
        )
        for url in api_urls(gateway.public.urls["api"]):
            assert url.startswith(fake.base_url + "/"), url
        made.append(gateway)
        exchange = CcxtExchange(
            gateway, lookup=RetryPolicy(attempts=4, first_delay=0.02), settle_margin=0.2, sleep=sleep
        )
        return exchange, gateway

    yield make
    for gateway in made:
        await gateway.close()
    await session.close()
