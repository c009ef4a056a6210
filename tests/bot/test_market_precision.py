"""Over the wire: a signal's card, /positions and /balance write prices on the market's tick
and quantities on its lot, in English and in Russian. The market: XRP/USDT quoted on a
0.0001 tick with a 0.1 lot (Binance's kind of small coin), at 0.51236.

Worked by hand: the admin's signal enters at the last price 0.51236 -> "0.5124"; its stop
0.49 risks 0.02236 a coin, so 1 % of 10,000 buys 100 / 0.02236 = 4,472.27 coins (the 25 %
cap would allow 2,500 / 0.51236 = 4,879.4), cut to the lot: 4,472.2."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.precision import MarketPrecision
from tests.bot.harness import ALICE, BOB, RunningBot, make_settings, running_bot
from tests.bot.test_flow import buttons, press, publish
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData, binance_precisions, candles_frame

HOUR = timedelta(hours=1)
NBSP = "\u00a0"
SIGNAL = "/signal XRP/USDT long sl=0.49 tp=0.55,0.6"


@pytest.fixture
def market() -> FakeMarketData:
    precisions = {**binance_precisions(), "XRP/USDT": MarketPrecision(Decimal("0.0001"), Decimal("0.1"))}
    data = FakeMarketData({"BTC/USDT": 100.0, "XRP/USDT": 0.51236}, precisions)
    data.add_candles("XRP/USDT", candles_frame(T0 - HOUR, [(0.51, 0.515, 0.505, 0.51236)], HOUR))
    return data


@pytest.fixture
async def bot(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> AsyncIterator[RunningBot]:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", symbols="BTC/USDT,XRP/USDT")
    async with running_bot(fake, settings, clock, market) as running:
        yield running


def caption(bot: RunningBot, user: int, message_id: int) -> str:
    message = next(m for m in bot.fake.messages(user) if m["message_id"] == message_id)
    return str(message.get("caption") or message.get("text"))


async def test_card_positions_and_balance_in_english(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start")
    ids = await publish(bot, (ALICE,), SIGNAL)
    card = caption(bot, ALICE, ids[ALICE])
    for fragment in ("Entry: 0.5124", "Stop-loss: 0.4900", "TP1: 0.5500", "TP2: 0.6000", "Size: 4,472.2 "):
        assert fragment in card, card
    assert "0.51236" not in card and "4472.27" not in card
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    positions = await bot.reply_to(ALICE, "/positions")
    assert "XRP/USDT LONG 4,472.2 @ 0.5124" in positions, positions
    assert "Stop 0.4900 · TP1 0.5500 · TP2 0.6000" in positions and "Price 0.5124" in positions
    # 10,000 less the entry's 0.1 % fee (4,472.27 x 0.51236 = 2,291.40, fee 2.29) = 9,997.71 in all,
    # of which 2,291.40 is in the position: 7,706.31 free (to the cent; the rest is P&L rounding)
    balance = await bot.reply_to(ALICE, "/balance")
    assert "USDT: 7,706.3" in balance and "9,997.7" in balance, balance


async def test_card_positions_and_balance_in_russian(bot: RunningBot) -> None:
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (BOB,), SIGNAL)
    card = caption(bot, BOB, ids[BOB])
    for fragment in ("Вход: 0,5124", "Стоп-лосс: 0,4900", "TP1: 0,5500", "TP2: 0,6000", f"позиции: 4{NBSP}472,2 "):
        assert fragment in card, card
    await press(bot, BOB, buttons(bot, BOB, ids[BOB])[0], ids[BOB])
    positions = await bot.reply_to(BOB, "/positions")
    assert f"XRP/USDT ЛОНГ 4{NBSP}472,2 @ 0,5124" in positions, positions
    assert "Стоп 0,4900" in positions and "TP2 0,6000" in positions
    balance = await bot.reply_to(BOB, "/balance")
    assert f"USDT: 7{NBSP}706,3" in balance and f"9{NBSP}997,7" in balance, balance
