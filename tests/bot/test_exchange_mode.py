"""MARKET_DATA=exchange: the bot's engine and prices come through the real ccxt client
from the fake Binance server on 127.0.0.1 (EXCHANGE_API_BASE_URL points ccxt at it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.clock import SystemClock
from tests.bot.harness import ADMIN, ALICE, RunningBot, make_settings, running_bot
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.fake_exchange import FakeBinance


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeBotApi, binance: FakeBinance, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        fake,
        tmp_path / "atra.sqlite3",
        market_data="exchange",
        exchange_api_base_url=binance.base_url,
        symbols="BTC/USDT,ETH/USDT,NOPE/USDT",
    )
    async with running_bot(fake, settings, SystemClock()) as running:
        yield running


async def test_prices_and_scans_come_from_the_exchange(bot: RunningBot, binance: FakeBinance) -> None:
    status = await bot.reply_to(ADMIN, "/status")
    assert "market data: exchange" in status
    assert "Symbols (2): BTC/USDT, ETH/USDT" in status  # NOPE/USDT is not listed there
    binance.set_price("BTCUSDT", 60_000)
    await bot.reply_to(ALICE, "/start")
    reply = await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=58800 tp=61800,63000")
    assert "published at 60,000.00 to 1 subscriber" in reply
    scan = await bot.reply_to(ADMIN, "/scan")
    assert "Scanned 2 symbol(s)" in scan and "errors" not in scan
    assert not binance.unexpected
    assert all(r.path.startswith("/api/v3/") for r in binance.requests)
