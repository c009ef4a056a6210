"""TRADING_MODE=live with account streams: the real bot, the fake Bot API and the fake
Binance on 127.0.0.1, an in-memory order stream that sends what the fake exchange shows.
No monitor job runs here: the stop's fill reaches the user through the stream alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters import StreamFactory
from core.clock import SystemClock
from core.exchange.ccxt_gateway import CredentialsProvider
from core.trading.live_ports import OrderStream
from tests.bot.harness import ALICE, make_settings, running_bot
from tests.bot.test_live_mode import ENCRYPTION_KEY, KEY, SECRET, confirm_data, press, signal_for
from tests.core.trading.memory_stream import MemoryOrderStream
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.fake_exchange import FakeBinance


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    server.add_account(KEY, SECRET, {"USDT": "10000"})
    yield server
    await server.stop()


def memory_streams(binance: FakeBinance, made: list[MemoryOrderStream]) -> StreamFactory:
    def build(keys: CredentialsProvider) -> OrderStream:
        async def key_of(user_id: int) -> str | None:
            creds = await keys.credentials(user_id)
            return creds[0] if creds else None

        made.append(MemoryOrderStream(binance, key_of))
        return made[-1]

    return build


@pytest.mark.parametrize("kind", ["memory", "ccxt.pro"])
async def test_a_stop_fill_reaches_the_user_through_the_stream_without_a_monitor_run(
    fake: FakeBotApi, binance: FakeBinance, tmp_path: Path, kind: str
) -> None:
    """`ccxt.pro`: the bot's own streams, the real ccxt.pro client over a WebSocket to the
    fake Binance; `memory`: the in-memory stream of the tests."""
    settings = make_settings(
        fake,
        tmp_path / "atra.sqlite3",
        trading_mode="live",
        encryption_key=ENCRYPTION_KEY,
        market_data="exchange",
        exchange_api_base_url=binance.base_url,
        exchange_ws_api_url=binance.ws_url,
    )
    made: list[MemoryOrderStream] = []
    seam = memory_streams(binance, made) if kind == "memory" else None
    async with running_bot(fake, settings, SystemClock(), order_stream=seam) as bot:
        await bot.reply_to(ALICE, "/start")
        await bot.reply_to(ALICE, f"/connect binance {KEY} {SECRET}")
        message_id = await signal_for(bot, ALICE)
        assert "Filled" in (await press(bot, ALICE, confirm_data(bot, ALICE, message_id), message_id))["text"]
        await bot.fake.wait_for(lambda: _subscribed(binance, made))  # its watcher is subscribed
        binance.set_price("BTCUSDT", 58_000)  # through the stop: the exchange sells both halves
        closed = await bot.fake.wait_for(
            lambda: next((c for c in bot.fake.sent(ALICE) if "closed (stop-loss)" in str(c.params.get("text"))), None)
        )
        assert "58,000.00" in closed.params["text"]
        positions = await bot.services.trading.positions_view(ALICE)
        assert positions == [] and binance.open_orders(KEY) == []
        told = [c for c in bot.fake.sent(ALICE) if "closed (stop-loss)" in str(c.params.get("text"))]
        assert len(told) == 1


def _subscribed(binance: FakeBinance, made: list[MemoryOrderStream]) -> bool:
    if made:
        return bool(made[0].subscriptions.get(ALICE))
    return binance.subscribed(KEY) > 0
