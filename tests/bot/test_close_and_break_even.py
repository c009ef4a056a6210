"""/close with a choice of one position or all, and a stop to break-even from /positions
(issue 11), over the Bot API wire in English and Russian."""

from __future__ import annotations

from core.models import PositionStatus
from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_actionable_signals import card
from tests.bot.test_flow import buttons, press, publish
from tests.bot.test_user_settings import keyboard
from tests.fakes.market import FakeMarketData


async def open_btc(bot: RunningBot, user: int) -> None:
    ids = await publish(bot, (user,))
    await press(bot, user, buttons(bot, user, ids[user])[0], ids[user])


async def test_stop_to_break_even_from_positions(bot: RunningBot, market: FakeMarketData) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await open_btc(bot, ALICE)  # long 10 @ 100, stop 90
    (view,) = await bot.services.trading.positions_view(ALICE)
    await bot.reply_to(ALICE, "/positions")
    listing = bot.fake.messages(ALICE)[-1]
    data = dict((d, text) for text, d in keyboard(listing))
    be = f"pos:b:{view.position.id}"
    assert be in data and "break-even" in data[be]
    refused = await press(bot, ALICE, be, listing["message_id"])  # price 100: not past the entry
    assert "not past the entry" in refused["text"]
    market.prices["BTC/USDT"] = 105.0
    done = await press(bot, ALICE, be, listing["message_id"])
    assert "stop moved to the entry, 100" in done["text"]
    (after,) = await bot.services.trading.positions_view(ALICE)
    assert after.position.stop_price == 100.0 and after.position.status is PositionStatus.OPEN
    assert "already at or past the entry" in (await press(bot, ALICE, be, listing["message_id"]))["text"]
    await bot.fake.wait_for(lambda: card(bot, ALICE, "stop moved 90.00 → 100.00"))  # the event message too
    await bot.reply_to(ALICE, "/positions")
    assert be not in [d for _, d in keyboard(bot.fake.messages(ALICE)[-1])]  # nothing left to move


async def test_close_offers_one_or_all(bot: RunningBot, market: FakeMarketData) -> None:
    await bot.reply_to(BOB, "/start", language_code="ru")
    assert "Открытых позиций нет" in await bot.reply_to(BOB, "/close")
    await open_btc(bot, BOB)
    await bot.reply_to(1, "/signal ETH/USDT long sl=45 tp=55,60")
    eth = await bot.fake.wait_for(lambda: card(bot, BOB, "ETH/USDT"))
    await press(bot, BOB, buttons(bot, BOB, eth["message_id"])[0], eth["message_id"])
    assert len(await bot.services.trading.positions_view(BOB)) == 2
    shown = await bot.reply_to(BOB, "/close")
    assert "Какую позицию закрыть" in shown
    menu = bot.fake.messages(BOB)[-1]
    labels = [text for text, _ in keyboard(menu)]
    assert "✖️ Закрыть все позиции" in labels
    assert sum(x.startswith(("✖️ Закрыть BTC/USDT", "✖️ Закрыть ETH/USDT")) for x in labels) == 2
    await press(bot, BOB, "pos:all", menu["message_id"])  # asks once more

    def sure() -> list[str]:
        return [
            d for _, d in keyboard(next(m for m in bot.fake.messages(BOB) if m["message_id"] == menu["message_id"]))
        ]

    await bot.fake.wait_for(lambda: sure() == ["pos:ya", "pos:n"])
    market.prices["BTC/USDT"] = 101.0  # +1 x 10 = +10 gross on BTC, ETH flat
    answer = await press(bot, BOB, "pos:ya", menu["message_id"])
    assert "Закрыто позиций: 2" in answer["text"]
    assert await bot.services.trading.positions_view(BOB) == []
