"""Channel mode (issue 11, "Reach beyond 30 messages a second"), over the Bot API wire with the
real PTB client: one post per signal in the channel, whatever the number of subscribers; its
"Take this trade" deep link answers each presser with their own sized card and a Confirm that
works (en and ru, a user who had no row included); channel-only users get no push; hostile
payloads get a short answer and change nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.errors import UserError
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot, make_settings, running_bot
from tests.bot.test_flow import press, publish, subscribe
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData

CHANNEL = -1001234567890
CAROL = 1003  # never sent /start before pressing the channel's link
CROWD = range(5000, 5030)  # channel-only subscribers
LINK_BAD = "This link is not valid. Open a signal with the button under its post in the channel."


@pytest.fixture
async def channel_bot(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> AsyncIterator[RunningBot]:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", signal_channel_id=str(CHANNEL))
    async with running_bot(fake, settings, clock, market) as running:
        yield running


async def channel_only(bot: RunningBot, *users: int) -> None:
    for user in users:
        await bot.services.trading.register(user, "en")
        await bot.services.trading.change_prefs(user, "delivery", "channel", bot.services.settings.symbols)


def take_link(call_params: dict) -> str:
    return call_params["reply_markup"]["inline_keyboard"][0][0]["url"]


async def linked_card(bot: RunningBot, user: int, payload: str, language: str = "en") -> dict:
    """Send /start <payload>; the bot's one answer (the welcome, then the card), as sent."""
    before = len(bot.fake.sent(user))
    bot.say(user, f"/start {payload}", language_code=language)
    await bot.fake.wait_for(lambda: len(bot.fake.sent(user)) >= before + 1)
    await asyncio.sleep(0.2)  # nothing more comes
    assert len(bot.fake.sent(user)) == before + 1
    return bot.fake.sent(user)[before].result


def last_paragraph(message: dict) -> str:
    return message["text"].split("\n\n")[-1]


async def test_one_post_per_signal_and_no_push_for_channel_only_users(channel_bot: RunningBot) -> None:
    bot, fake = channel_bot, channel_bot.fake
    await subscribe(bot, ALICE)  # direct pushes: the default
    await channel_only(bot, *CROWD)
    await publish(bot, (ALICE,))
    post = await fake.wait_for("sendPhoto", chat_id=CHANNEL)
    await bot.fake.wait_for(lambda: bot.services.delivery.sent >= 2)
    assert len(fake.sent(CHANNEL)) == 1  # one Bot API call for the channel, 30 channel-only users
    assert all(fake.sent(user) == [] for user in CROWD)  # none of them got a push
    assert take_link(post.params) == "https://t.me/atra_test_bot?start=s1"
    caption = post.result["caption"]
    assert "BTC/USDT LONG (manual)" in caption and "Entry: 100" in caption and "Take this trade" in caption
    assert "Size" not in caption  # sizes are each user's own
    assert "sig:c:" not in json.dumps(post.params["reply_markup"])
    # every channel-only user still has their own sized row, so their Confirm can work
    rows = [await bot.services.trading.linked_signal(1, user) for user in CROWD]
    assert all(row.state.value == "pending" and row.quantity == 10 for row in rows)


async def test_a_press_gets_the_users_own_card_and_confirm_works(channel_bot: RunningBot) -> None:
    bot = channel_bot
    await bot.reply_to(BOB, "/start", language_code="ru")
    await bot.services.trading.change_prefs(BOB, "delivery", "channel", bot.services.settings.symbols)
    await bot.services.trading.set_risk(BOB, 2.0)
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    await bot.fake.wait_for("sendPhoto", chat_id=CHANNEL)
    assert not any("sig:c:" in json.dumps(c.params.get("reply_markup")) for c in bot.fake.sent(BOB))

    card = await linked_card(bot, BOB, "s1", "ru")  # Bob's own size: 2 % of 10,000 over a 10 stop = 20
    row = await bot.services.trading.linked_signal(1, BOB)
    assert "Размер позиции: 20" in card["text"] and "= 2,00% баланса" in card["text"]
    confirm = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert confirm == f"sig:c:{row.id}"
    answer = await press(bot, BOB, confirm, card["message_id"])
    assert "Исполнено" in answer["text"]
    assert [v.position.quantity for v in await bot.services.trading.positions_view(BOB)] == [20]

    def edited() -> dict | None:  # the fill edits the card (through the outbox): its buttons go
        message = next(m for m in bot.fake.messages(BOB) if m["message_id"] == card["message_id"])
        return message if "reply_markup" not in message else None

    assert "Исполнено" in (await bot.fake.wait_for(edited))["text"]

    # Carol never sent /start: the link registers her and sizes a row for her now
    carol = await linked_card(bot, CAROL, "s1")
    assert "Size: 10" in carol["text"] and "Risk 100.00 USDT = 1.00% of balance" in carol["text"]
    user = await bot.services.users.get(CAROL)
    assert user is not None and user.subscribed
    confirm = carol["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    answer = await press(bot, CAROL, confirm, carol["message_id"])
    assert "Filled" in answer["text"]
    again = await linked_card(bot, CAROL, "s1")  # a second press: her row is taken already
    assert last_paragraph(again) == "Already executed." and "reply_markup" not in again


async def test_an_expired_or_unknown_signal_gets_a_clear_answer(channel_bot: RunningBot, clock: ManualClock) -> None:
    bot = channel_bot
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    unknown = await linked_card(bot, CAROL, "s42")
    assert unknown["text"].startswith("👋 Welcome to ATRA")  # /start's own welcome on top
    assert last_paragraph(unknown) == "This signal has expired or is no longer available."
    clock.advance(timedelta(hours=2))  # the signal lived one hour
    assert last_paragraph(await linked_card(bot, CAROL, "s1")) == "This signal has expired."
    assert last_paragraph(await linked_card(bot, BOB, "s1", "ru")) == "Срок действия сигнала истёк."
    for user in (CAROL, BOB):  # no row was made for an expired signal
        with pytest.raises(UserError):
            await bot.services.trading.linked_signal(1, user)


@pytest.mark.parametrize(
    "payload",
    ["s0", "s-1", "abc", "s1%20s2", "s1 s2", "s0001", "s" + "9" * 19, "S1", "s1\u0661", "<b>s1</b>", "s" * 64],
)
async def test_hostile_payloads_get_a_short_answer_and_change_nothing(channel_bot: RunningBot, payload: str) -> None:
    bot = channel_bot
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    await bot.fake.wait_for(lambda: bot.services.delivery.sent >= 2)  # Alice's push and the post
    depth = await bot.services.delivery.outbox_depth()
    answer = await linked_card(bot, CAROL, payload)
    assert last_paragraph(answer) == LINK_BAD
    ru = await linked_card(bot, BOB, payload, "ru")
    assert last_paragraph(ru) == "Ссылка недействительна. Откройте сигнал кнопкой под его постом в канале."
    assert "reply_markup" not in answer and "reply_markup" not in ru
    for user in (CAROL, BOB):  # no row made for anyone, nothing queued
        with pytest.raises(UserError):
            await bot.services.trading.linked_signal(1, user)
    assert await bot.services.delivery.outbox_depth() == depth


async def test_settings_offer_the_channel_choice_only_when_there_is_a_channel(
    channel_bot: RunningBot,
) -> None:
    bot = channel_bot
    await subscribe(bot, ALICE)
    text = await bot.reply_to(ALICE, "/settings")
    assert "Signals arrive: pushed to you" in text
    message = bot.fake.sent(ALICE)[-1].result
    data = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert "set:delivery:channel" in data
    answer = await press(bot, ALICE, "set:delivery:channel", message["message_id"])
    assert answer["text"]
    user = await bot.services.users.get(ALICE)
    assert user is not None and user.prefs.delivery == "channel"
    await bot.reply_to(BOB, "/start", language_code="ru")
    assert "Сигналы приходят: лично вам" in await bot.reply_to(BOB, "/settings", language_code="ru")


async def test_without_a_channel_nothing_changes(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    text = await bot.reply_to(ALICE, "/settings")
    assert "Signals arrive" not in text and "set:delivery" not in json.dumps(bot.fake.sent(ALICE)[-1].params)
    message = bot.fake.sent(ALICE)[-1].result
    refused = await press(bot, ALICE, "set:delivery:channel", message["message_id"])
    assert "no longer valid" in refused["text"]
    await publish(bot, (ALICE,))  # pushed as before, nothing posted anywhere
    assert [c.chat_id for c in bot.fake.sent() if c.chat_id not in (ALICE, ADMIN)] == []
