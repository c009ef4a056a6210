"""Fixtures of the bot tests: the fake Bot API server, a hand-driven market, and the real
bot (paper mode) running against both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from tests.bot.harness import RunningBot, make_settings, running_bot
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
def market() -> FakeMarketData:
    """BTC/USDT at 100 with one closed candle, ETH/USDT at 50 with none."""
    data = FakeMarketData({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    data.add_candles("BTC/USDT", candles_frame(T0 - HOUR, [(99, 101, 98, 100)], HOUR))
    return data


@pytest.fixture
async def bot(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> AsyncIterator[RunningBot]:
    async with running_bot(fake, make_settings(fake, tmp_path / "atra.sqlite3"), clock, market) as running:
        yield running
