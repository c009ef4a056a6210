"""Fixtures of the live trading tests: the fake Binance on 127.0.0.1 with Alice's account,
and processes (`start`) built over the test's database, restartable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.clock import ManualClock
from db.database import Database
from tests.core.trading.live_world import ALICE, KEY, SECRET, LiveWorld, Start, start_process
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.loopback import loopback_session
from tests.fakes.market import FakeMarketData


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance(stall_seconds=3.0)
    await server.start()
    server.add_account(KEY, SECRET, {"USDT": "10000"})
    yield server
    await server.stop()


@pytest.fixture
async def start(db: Database, clock: ManualClock, fake: FakeBinance) -> AsyncIterator[Start]:
    session = loopback_session()
    market = FakeMarketData({"BTC/USDT": 60_000.0, "ETH/USDT": 3_000.0})
    worlds: list[LiveWorld] = []

    def make(**options: Any) -> LiveWorld:
        world = start_process(db, clock, fake, market, session, **options)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        await world.close()
    await session.close()


@pytest.fixture
async def live(start: Start) -> LiveWorld:
    world = start()
    await world.trading.register(ALICE, "en")
    await world.keys.save(ALICE, KEY, SECRET)
    return world
