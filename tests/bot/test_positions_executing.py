"""/positions never shows a price beyond an open position's stop (or at its target) without
saying the level is being executed (issue 11), in English and Russian, over the Bot API wire;
a Close pressed after the stop was crossed fills at the stop."""

from __future__ import annotations

from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_actionable_signals import card
from tests.bot.test_close_and_break_even import open_btc
from tests.bot.test_flow import press
from tests.bot.test_user_settings import keyboard
from tests.fakes.market import FakeMarketData


async def listing(bot: RunningBot, user: int) -> str:
    await bot.reply_to(user, "/positions")
    return str(bot.fake.messages(user)[-1]["text"])


async def test_positions_say_the_stop_or_target_is_being_executed_in_english(
    bot: RunningBot, market: FakeMarketData
) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await open_btc(bot, ALICE)  # long 10 @ 100, stop 90, TP1 110, TP2 120
    assert "being executed" not in await listing(bot, ALICE)  # at 100: between the levels
    market.prices["BTC/USDT"] = 85.0
    text = await listing(bot, ALICE)
    assert "Price 85" in text
    assert "The price is at or through the stop 90: the stop is being executed (stop-loss)." in text
    market.prices["BTC/USDT"] = 90.0  # at the stop is enough
    assert "the stop is being executed" in await listing(bot, ALICE)
    market.prices["BTC/USDT"] = 111.0
    text = await listing(bot, ALICE)
    assert "The price has reached TP1 110: the target is being executed." in text
    assert "stop is being executed" not in text


async def test_positions_say_the_stop_is_being_executed_in_russian(bot: RunningBot, market: FakeMarketData) -> None:
    await bot.reply_to(BOB, "/start", language_code="ru")
    await open_btc(bot, BOB)
    market.prices["BTC/USDT"] = 125.0
    assert "Цена достигла TP1 110: цель исполняется." in await listing(bot, BOB)
    market.prices["BTC/USDT"] = 88.0
    text = await listing(bot, BOB)
    assert "Цена дошла до стопа 90 или прошла его: стоп исполняется (стоп-лосс)." in text
    assert await bot.services.trading.monitor() == 1  # the next look executes it, at the stop
    closed = await bot.fake.wait_for(lambda: card(bot, BOB, "закрыта (стоп-лосс) @ 90."))
    # 10 x (90 - 100) - 1.00 - 0.90 = -101.90; the balance 10,000 - 101.90
    assert "P&L -101,90 (-10,19%) · баланс 9\xa0898,10" in str(closed["text"])
    assert "Открытых позиций нет" in await listing(bot, BOB)


async def test_close_pressed_after_the_stop_was_crossed_fills_at_the_stop(
    bot: RunningBot, market: FakeMarketData
) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await open_btc(bot, ALICE)
    market.prices["BTC/USDT"] = 80.0  # through the stop at 90; no monitor run since
    await bot.reply_to(ALICE, "/positions")
    shown = bot.fake.messages(ALICE)[-1]
    (view,) = await bot.services.trading.positions_view(ALICE)
    ask = next(d for _, d in keyboard(shown) if d == f"pos:c:{view.position.id}")
    await press(bot, ALICE, ask, shown["message_id"])
    answer = await press(bot, ALICE, f"pos:y:{view.position.id}", shown["message_id"])
    assert answer["text"] == "Closed BTC/USDT @ 90, P&L -101.90"  # at the stop: 10 x (90 - 100) - 1.00 - 0.90
    assert await bot.services.trading.positions_view(ALICE) == []
