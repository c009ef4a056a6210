"""The fake Bot API must behave like Telegram for the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakes.bot_api import NOT_MODIFIED, QUERY_TOO_OLD, FakeBotApi

USER = 1001
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Buy", callback_data="buy:BTC"),
                                  InlineKeyboardButton("Docs", url="https://example.org")]])


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def seconds(value: int | dtm.timedelta) -> float:
    """PTB 22 exposes durations as int or timedelta depending on PTB_TIMEDELTA."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


async def test_initialize_calls_get_me(fake: FakeBotApi, bot: Bot) -> None:
    assert bot.username == "atra_test_bot"
    assert bot.id == int(fake.token.split(":")[0])
    assert [c.method for c in fake.calls] == ["getMe"]


async def test_send_message_round_trip_with_inline_keyboard(fake: FakeBotApi, bot: Bot) -> None:
    first = await bot.send_message(USER, "Signal: BTC long", reply_markup=KEYBOARD)
    second = await bot.send_message(USER, "again")
    other = await bot.send_message(2002, "other chat")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == bot.id
    assert first.reply_markup == KEYBOARD
    assert fake.last_text(USER) == "again"
    stored = fake.messages(USER)[0]
    assert stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "buy:BTC"
    call = fake.sent(USER)[0]
    assert call.params["chat_id"] == USER and call.params["reply_markup"] == KEYBOARD.to_dict()
    assert fake.total_sends == 3


async def test_html_parse_mode_builds_entities_or_rejects_bad_markup(bot: Bot) -> None:
    msg = await bot.send_message(USER, "<b>BTC</b> &amp; <a href='https://x.org'>ETH</a>",
                                 parse_mode="HTML")
    assert msg.text == "BTC & ETH"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [("bold", 0, 3),
                                                                    ("text_link", 6, 3)]
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(USER, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(USER, "<b><i>x</b></i>", parse_mode="HTML")


async def test_callback_data_over_64_bytes_is_rejected(fake: FakeBotApi, bot: Bot) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 32)]])  # 64 bytes
    await bot.send_message(USER, "fits", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 32 + "a")]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(USER, "65 bytes", reply_markup=too_long)
    assert fake.last_text(USER) == "fits"


async def test_text_length_limits_count_utf16(bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "😀" * 2049)  # 2049 chars but 4098 UTF-16 code units
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(USER, "")


async def test_blocked_chat_is_forbidden(fake: FakeBotApi, bot: Bot) -> None:
    fake.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello?")
    await bot.send_message(2002, "others still work")
    assert fake.sent(USER) == [] and fake.messages(USER) == []


async def test_fail_next_429_raises_retry_after_once(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendmessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert seconds(caught.value.retry_after) == 3
    assert fake.count_429 == 1
    await bot.send_message(USER, "hi")  # the fault was used up
    assert fake.last_text(USER) == "hi"


async def test_fail_next_server_errors_then_recovers(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendMessage", 502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "hi")
    await bot.send_message(USER, "hi")
    assert [c.status for c in fake.calls if c.method == "sendMessage"] == [502, 502, 200]


async def test_edits_follow_telegram_rules(fake: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("new", chat_id=USER, message_id=99)
    msg = await bot.send_message(USER, "old", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest) as caught:
        await msg.edit_text("old", reply_markup=KEYBOARD)
    assert caught.value.message.lower() == NOT_MODIFIED.removeprefix("Bad Request: ").lower()

    edited = await msg.edit_text("new")  # no reply_markup: Telegram drops the keyboard
    assert isinstance(edited, Message) and edited.edit_date is not None
    assert "reply_markup" not in fake.messages(USER)[0] and fake.last_text(USER) == "new"
    await msg.edit_reply_markup(KEYBOARD)
    assert fake.messages(USER)[0]["reply_markup"] == KEYBOARD.to_dict()
    assert await msg.delete() is True
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await msg.delete()


async def test_send_photo_stores_bytes_caption_and_keyboard(fake: FakeBotApi, bot: Bot) -> None:
    data = b"\x89PNG\r\n\x1a\nfake-chart"
    msg = await bot.send_photo(USER, photo=data, caption="BTC 1h", reply_markup=KEYBOARD)
    file_id = msg.photo[-1].file_id
    assert fake.files[file_id] == data
    stored = fake.messages(USER)[-1]
    assert stored["caption"] == "BTC 1h" and stored["reply_markup"] == KEYBOARD.to_dict()
    assert fake.sent(USER, "sendPhoto")[0].params["photo"].content == data

    edited = await msg.edit_caption("BTC 4h", reply_markup=KEYBOARD)
    assert isinstance(edited, Message) and edited.caption == "BTC 4h"
    with pytest.raises(BadRequest, match="(?i)message caption is too long"):
        await bot.send_photo(USER, photo=file_id, caption="c" * 1025)


async def test_answer_callback_query_rules(fake: FakeBotApi, bot: Bot) -> None:
    msg = await bot.send_message(USER, "pick", reply_markup=KEYBOARD)
    query_id = fake.inject_callback(USER, "buy:BTC", message_id=msg.message_id)
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert await bot.answer_callback_query(query_id, text="Bought") is True
    assert fake.answers[query_id]["text"] == "Bought"
    for bad_id in (query_id, "12345"):
        with pytest.raises(BadRequest) as caught:
            await bot.answer_callback_query(bad_id)
        assert caught.value.message.lower() == QUERY_TOO_OLD.removeprefix("Bad Request: ").lower()
    with pytest.raises(ValueError):
        fake.inject_callback(USER, "no-such-button", message_id=msg.message_id)


async def test_get_updates_long_polls_and_confirms_by_offset(fake: FakeBotApi, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: any(c.method == "getUpdates" and c.status is None
                                    for c in fake.calls))
    update_id = fake.inject_message(USER, "/start@atra_test_bot now", first_name="Ann")
    updates = await poll
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None and message.from_user is not None
    assert message.text == "/start@atra_test_bot now" and message.from_user.first_name == "Ann"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 20
    assert len(await bot.get_updates(timeout=0)) == 1  # not confirmed yet
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    assert fake.pending_updates == []


async def test_webhook_blocks_get_updates(fake: FakeBotApi, bot: Bot) -> None:
    await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    fake.inject_message(USER, "hello")
    await bot.delete_webhook(drop_pending_updates=False)  # PTB sends the JSON literal "false"
    assert len(await bot.get_updates(timeout=0)) == 1
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()


async def test_commands_chat_and_lifecycle_methods(bot: Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("signals", "Latest signals")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "signals"]
    assert await bot.get_my_commands(language_code="ru") == ()
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start", "bad casing")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    chat = await bot.get_chat(USER)
    assert chat.id == USER and chat.type == "private"
    assert await bot.close() is True and await bot.log_out() is True


async def test_wire_format_errors_and_raw_requests(fake: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    async with aiohttp.ClientSession() as http:
        url = f"{fake.base_url}{fake.token}"
        async with http.post(f"{url}/NOSUCHMETHOD") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404,
                                         "description": "Not Found: method not found"}
        async with http.post(f"{fake.base_url}1:wrong/getMe") as resp:
            assert resp.status == 401 and (await resp.json())["description"] == "Unauthorized"
        markup = json.dumps(KEYBOARD.to_dict())
        async with http.post(f"{url}/SENDMESSAGE", json={"chat_id": USER, "text": "json body",
                                                         "reply_markup": markup}) as resp:
            assert (await resp.json())["result"]["reply_markup"] == KEYBOARD.to_dict()
        async with http.get(f"{url}/sendMessage", params={"chat_id": USER, "text": "q"}) as resp:
            assert (await resp.json())["result"]["message_id"] == 2
    wrong = Bot("1:wrong", base_url=fake.base_url)
    try:
        with pytest.raises(InvalidToken):
            await wrong.get_me()
    finally:
        await wrong.request.shutdown()  # Bot.shutdown() is a no-op when initialize() failed


async def test_delay_makes_client_time_out_but_message_still_arrives(fake: FakeBotApi,
                                                                     bot: Bot) -> None:
    fake.delay("sendMessage", 0.3)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow", read_timeout=0.05)
    await fake.wait_for("sendMessage")  # like Telegram, a timed-out send may still be delivered
    fake.delay("sendMessage", 0)
    await bot.send_message(USER, "fast")
    assert [m["text"] for m in fake.messages(USER)] == ["slow", "fast"]


async def test_rate_limits_answer_429_when_exceeded() -> None:
    now = [1000.0]
    async with FakeBotApi(clock=lambda: now[0]) as fake, Bot(
            fake.token, base_url=fake.base_url) as bot:
        fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3)
        for i in range(3):
            await bot.send_message(USER, f"burst {i}")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "one too many")
        assert seconds(caught.value.retry_after) == 1 and fake.count_429 == 1
        now[0] += 1.0
        await bot.send_message(USER, "refilled")

        delivered = 0
        for chat in range(1, 40):  # one second refilled the global bucket to 30, 1 used since
            try:
                await bot.send_message(chat, "broadcast")
            except RetryAfter:
                break
            delivered += 1
        assert delivered == 29 and fake.count_429 == 2 and fake.total_sends == 4 + 29
        fake.limits(None, None)
        await bot.send_message(USER, "unlimited")


async def test_application_polling_handles_command_and_callback(fake: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None and update.effective_message is not None
        lang = update.effective_user.language_code
        await update.effective_message.reply_text(f"Welcome ({lang})", reply_markup=KEYBOARD)

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Order placed")
        await query.edit_message_text(f"Done: {query.data}")

    app = (Application.builder().token(fake.token).base_url(fake.base_url)
           .base_file_url(fake.base_file_url).build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(press))
    assert app.updater is not None
    fake.inject_message(USER, "/start@atra_test_bot", language_code="de")  # queued before polling
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=5)
    try:
        reply = await fake.wait_for("sendMessage", chat_id=USER)
        assert reply.params["text"] == "Welcome (de)"
        assert fake.messages(USER)[0]["reply_markup"] == KEYBOARD.to_dict()

        query_id = fake.inject_callback(USER, "buy:BTC")
        await fake.wait_for("editMessageText", chat_id=USER)
        assert fake.answers[query_id]["text"] == "Order placed"
        assert fake.last_text(USER) == "Done: buy:BTC"
        assert "reply_markup" not in fake.messages(USER)[0]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert fake.pending_updates == []  # PTB confirmed everything on shutdown


async def test_paid_broadcasts_have_their_own_lane_and_cost_stars() -> None:
    """allow_paid_broadcast: a 1,000/s overall bucket instead of the 30/s one, the per-chat
    bucket still applies, each call's lane recorded, 0.1 Star per paid send."""
    now = [1000.0]
    async with FakeBotApi(clock=lambda: now[0]) as fake, Bot(fake.token, base_url=fake.base_url) as bot:
        fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3, paid_per_second=100)
        for chat in range(1, 31):  # the free bucket emptied
            await bot.send_message(chat, "free")
        with pytest.raises(RetryAfter):
            await bot.send_message(31, "one too many")
        delivered = 0
        for chat in range(100, 250):  # the paid lane is another bucket: 100 at once here
            try:
                await bot.send_message(chat, "paid", allow_paid_broadcast=True)
            except RetryAfter:
                break
            delivered += 1
        assert delivered == 100 and fake.count_429_paid == 1 and fake.count_429_global == 1
        now[0] += 0.5  # the paid bucket refilled by 50
        for i in range(3):  # one chat's own limit holds for paid sends too
            await bot.send_message(USER + 1, f"burst {i}", allow_paid_broadcast=True)
        with pytest.raises(RetryAfter):
            await bot.send_message(USER + 1, "too fast for one chat", allow_paid_broadcast=True)
        assert fake.count_429_chat == 1
        assert fake.paid_sends == 103 and fake.stars_spent == 10.3
        lanes = [c.lane for c in fake.calls if c.ok]
        assert lanes.count("free") == 30 and lanes.count("paid") == 103
