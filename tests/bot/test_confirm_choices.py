"""Confirm as a person uses it, over the Bot API wire (the real PTB client, the fake Bot API,
paper trading): a market Confirm within a drift measured in R, or a limit order at the
signal's entry valid until the signal expires. English and Russian.

The admin's /signal enters at the market price, 100: with sl=96 R is 4 (0.25 R = 1.0), with
sl=88 R is 12 (0.25 R = 3.0); the sized quantity risks 1 % of 10,000 = 100."""

from __future__ import annotations

from datetime import timedelta

from core.clock import ManualClock
from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_flow import buttons, press, publish, subscribe
from tests.fakes.market import FakeMarketData


def card_of(bot: RunningBot, user: int, message_id: int) -> dict:
    return next(m for m in bot.fake.messages(user) if m["message_id"] == message_id)


def keyboard_texts(bot: RunningBot, user: int, message_id: int) -> list[str]:
    message = next(m for m in bot.fake.messages(user) if m["message_id"] == message_id)
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def test_a_confirm_20_s_after_delivery_within_a_quarter_r_is_filled(
    bot: RunningBot, clock: ManualClock, market: FakeMarketData
) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,), "/signal BTC/USDT long sl=96 tp=110,120")
    clock.advance(timedelta(seconds=20))
    market.prices["BTC/USDT"] = 100.8  # 0.8 % up, 0.2 R
    answer = await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    assert "Filled" in answer["text"] and "100.8" in answer["text"]
    (view,) = await bot.services.trading.positions_view(ALICE)
    position = view.position
    assert position.entry_price == 100.8
    assert (position.entry_price - position.stop_price) * position.quantity <= 100.0 + 1e-9  # never more risk


async def test_a_confirm_after_a_move_the_old_one_percent_rule_refused_is_filled_on_a_wide_stop(
    bot: RunningBot, clock: ManualClock, market: FakeMarketData
) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,), "/signal BTC/USDT long sl=88 tp=120,130")
    clock.advance(timedelta(seconds=12))
    market.prices["BTC/USDT"] = 101.5  # 1.5 %: refused before; 0.125 R
    answer = await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    assert "Filled" in answer["text"] and "101.5" in answer["text"]
    (view,) = await bot.services.trading.positions_view(ALICE)
    # 100 / 12 = 8.3333 units published; scaled to the stop distance 13.5: 8.3333 x 12 / 13.5 = 7.4074
    assert abs(view.position.quantity - 7.4074074) < 1e-6
    assert abs((view.position.entry_price - 88.0) * view.position.quantity - 100.0) < 1e-6


async def test_beyond_the_r_limit_a_confirm_is_refused_with_the_reason_in_english_and_russian(
    bot: RunningBot, market: FakeMarketData
) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (ALICE, BOB), "/signal BTC/USDT long sl=96 tp=110,120")
    market.prices["BTC/USDT"] = 101.2  # 0.3 R
    english = await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    assert "0.3 R from the entry" in english["text"] and "up to 0.25 R" in english["text"]
    assert english.get("show_alert") is True
    russian = await press(bot, BOB, buttons(bot, BOB, ids[BOB])[0], ids[BOB])
    assert "на 0,3 R" in russian["text"] and "до 0,25 R" in russian["text"]
    assert await bot.services.trading.positions_view(ALICE) == []
    # The card keeps its buttons: the limit at the entry can still be taken.
    assert buttons(bot, ALICE, ids[ALICE])[1].startswith("sig:l:")


async def test_the_card_offers_market_and_limit_in_both_languages(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (ALICE, BOB))
    assert keyboard_texts(bot, ALICE, ids[ALICE]) == ["✅ Confirm (market)", "📌 Limit at 100", "✖️ Skip"]
    assert keyboard_texts(bot, BOB, ids[BOB]) == ["✅ Подтвердить (по рынку)", "📌 Лимит по 100", "✖️ Пропустить"]
    data = buttons(bot, ALICE, ids[ALICE])
    assert [d.split(":")[1] for d in data] == ["c", "l", "s"] and all(len(d.encode()) <= 64 for d in data)


async def test_a_paper_limit_fills_when_the_price_trades_through_and_not_before(
    bot: RunningBot, market: FakeMarketData
) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,), "/signal BTC/USDT long sl=96 tp=110,120")
    market.prices["BTC/USDT"] = 101.2  # too far for a market entry; the limit waits for 100
    answer = await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[1], ids[ALICE])
    assert "Limit order working" in answer["text"] and "at 100" in answer["text"]
    # the card keeps only the limit's Cancel (edited right after the answer)
    await bot.fake.wait_for(lambda: [d[:6] for d in buttons(bot, ALICE, ids[ALICE])] == ["sig:x:"])
    assert "BTC/USDT LONG · limit order at the entry, working" in await bot.reply_to(ALICE, "/signals")
    market.prices["BTC/USDT"] = 100.3
    await bot.services.trading.monitor()
    assert await bot.services.trading.positions_view(ALICE) == []
    market.prices["BTC/USDT"] = 99.7  # traded through
    await bot.services.trading.monitor()
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.entry_price == 100.0 and view.position.quantity == 25.0  # 100 / 4
    await bot.fake.wait_for(
        lambda: (
            "Filled"
            in (next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE]).get("caption") or "")
        )
    )
    card = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE])
    assert "LONG 25 BTC/USDT @ 100" in card["caption"] and "reply_markup" not in card


async def test_a_limit_that_is_never_reached_expires_and_the_user_is_told_in_russian(
    bot: RunningBot, clock: ManualClock, market: FakeMarketData
) -> None:
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (BOB,), "/signal BTC/USDT long sl=96 tp=110,120")
    market.prices["BTC/USDT"] = 101.2
    answer = await press(bot, BOB, buttons(bot, BOB, ids[BOB])[1], ids[BOB])
    assert "Лимитный ордер выставлен" in answer["text"] and "по 100" in answer["text"]
    assert "лимитный ордер по цене входа ждёт исполнения" in await bot.reply_to(BOB, "/signals", language_code="ru")
    clock.advance(timedelta(hours=1))
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: "истёк" in (bot.fake.last_text(BOB) or ""))
    assert "Лимитный ордер BTC/USDT по 100 истёк вместе с сигналом" in (bot.fake.last_text(BOB) or "")
    await bot.fake.wait_for(lambda: buttons(bot, BOB, ids[BOB]) == [])  # the card's Cancel is gone
    assert await bot.services.trading.positions_view(BOB) == []


async def test_the_cancel_button_cancels_a_working_limit(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,), "/signal BTC/USDT long sl=96 tp=110,120")
    market.prices["BTC/USDT"] = 101.2
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[1], ids[ALICE])
    await bot.fake.wait_for(lambda: len(buttons(bot, ALICE, ids[ALICE])) == 1)
    (cancel,) = buttons(bot, ALICE, ids[ALICE])
    assert cancel.startswith("sig:x:") and keyboard_texts(bot, ALICE, ids[ALICE]) == ["✖️ Cancel the limit order"]
    answer = await press(bot, ALICE, cancel, ids[ALICE])
    assert "limit order for BTC/USDT at 100 is cancelled" in answer["text"]
    await bot.fake.wait_for(lambda: buttons(bot, ALICE, ids[ALICE]) == [])
    market.prices["BTC/USDT"] = 99.0
    await bot.services.trading.monitor()
    assert await bot.services.trading.positions_view(ALICE) == []
    again = await press(bot, ALICE, cancel, ids[ALICE])
    assert again["text"] == "You skipped this signal."


async def test_a_user_widens_the_market_drift_in_settings_and_the_confirm_follows_it(
    bot: RunningBot, market: FakeMarketData
) -> None:
    await bot.reply_to(BOB, "/start", language_code="ru")
    await bot.reply_to(BOB, "/settings")
    menu = int(bot.fake.messages(BOB)[-1]["message_id"])
    shown = card_of(bot, BOB, menu)
    assert "Вход по рынку: не дальше 0,25 R от точки входа (по умолчанию)" in shown["text"]
    assert "set:drift:0.1" in buttons(bot, BOB, menu)  # default -> 0.1 -> 0.25 -> 0.5 -> default
    await press(bot, BOB, "set:drift:0.5", menu)
    await bot.fake.wait_for(lambda: "не дальше 0,5 R от точки входа" in card_of(bot, BOB, menu)["text"])
    assert "set:drift:default" in buttons(bot, BOB, menu)
    stale = await press(bot, BOB, "set:drift:7", menu)  # not a choice: refused, nothing changed
    assert stale.get("show_alert") is True
    user = await bot.services.users.get(BOB)
    assert user is not None and user.prefs.entry_drift_r == 0.5
    ids = await publish(bot, (BOB,), "/signal BTC/USDT long sl=96 tp=110,120")
    market.prices["BTC/USDT"] = 101.6  # 0.4 R: over the default 0.25, within Bob's 0.5
    answer = await press(bot, BOB, buttons(bot, BOB, ids[BOB])[0], ids[BOB])
    assert "Исполнено" in answer["text"] and "101,6" in answer["text"]


async def test_a_stale_confirm_on_a_working_limit_keeps_its_cancel(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,), "/signal BTC/USDT long sl=96 tp=110,120")
    confirm, limit, _ = buttons(bot, ALICE, ids[ALICE])
    market.prices["BTC/USDT"] = 101.2
    await press(bot, ALICE, limit, ids[ALICE])
    await bot.fake.wait_for(lambda: len(buttons(bot, ALICE, ids[ALICE])) == 1)
    edits = len([c for c in bot.fake.calls if c.method == "editMessageReplyMarkup"])
    answer = await press(bot, ALICE, confirm, ids[ALICE])  # e.g. from a second device
    assert answer["text"] == "Already confirmed."
    # the card's edit (to what it shows already: Telegram answers "not modified")
    await bot.fake.wait_for(lambda: len([c for c in bot.fake.calls if c.method == "editMessageReplyMarkup"]) > edits)
    assert [d[:6] for d in buttons(bot, ALICE, ids[ALICE])] == ["sig:x:"]
    assert await bot.services.trading.positions_view(ALICE) == []
