"""Delivery through the real PTB client against the fake Bot API server with Telegram's
limits enforced (scaled up so that a few hundred users take a couple of seconds): fan-out,
restart and crash in the middle of it, 429, 403, 400, 5xx, priorities, lengths, photos."""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.logging_setup import AddContext
from bot.ratelimit import TelegramLimits
from bot.render import MAX_CAPTION, fit_html, visible_length
from core.clock import ManualClock
from core.events import Alert
from core.models import Side
from tests.bot.harness import ALICE, BOB, RunningBot, make_settings, running_bot
from tests.bot.test_flow import eventually
from tests.conftest import T0
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)
FIRST = 10_000


def chart_market() -> FakeMarketData:
    """BTC/USDT with 30 candles for its charts; ETH/USDT with none (its signals go as text)."""
    data = FakeMarketData({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    rows = [(99 + i % 3, 101 + i % 3, 98 + i % 3, 100 + i % 2) for i in range(30)]
    data.add_candles("BTC/USDT", candles_frame(T0 - 30 * HOUR, rows, HOUR))
    data.prices["BTC/USDT"] = 100.0
    return data


@pytest.fixture
def market() -> FakeMarketData:
    return chart_market()


def settings_for(fake: FakeBotApi, tmp_path: Path, **extra: object):  # type: ignore[no-untyped-def]
    return make_settings(fake, tmp_path / "atra.sqlite3", signal_ttl_seconds=86_400, **extra)


async def register(bot: RunningBot, users: range, language: str = "en") -> None:
    for user in users:
        await bot.services.trading.register(user, language)


def signal_sends(fake: FakeBotApi, users: range | None = None) -> list[Call]:
    return [c for c in fake.sent() if c.params.get("reply_markup") and (users is None or c.chat_id in users)]


async def publish(
    bot: RunningBot, symbol: str = "BTC/USDT", stop: float = 90.0, targets: tuple[float, ...] = (110.0, 120.0)
) -> None:
    await bot.services.admin.manual_signal(symbol, Side.LONG, stop, list(targets))


def outbox_rows(tmp_path: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        return conn.execute(sql).fetchall()


async def test_fan_out_to_hundreds_within_the_limits(fake: FakeBotApi, tmp_path: Path, market: FakeMarketData) -> None:
    users = range(FIRST, FIRST + 300)
    fake.limits(global_per_second=150, per_chat_per_second=1)
    limits = TelegramLimits(messages_per_second=150, chat_interval=1.0)
    async with running_bot(fake, settings_for(fake, tmp_path), ManualClock(T0), market, limits=limits) as bot:
        await register(bot, users)
        await publish(bot)
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= len(users), timeout=30)
        await eventually(lambda: _sent_count(bot, len(users)))
    sends = signal_sends(fake, users)
    assert sorted(c.chat_id for c in sends) == list(users)  # everyone once: no loss, no duplicate
    assert fake.count_429 == 0
    for call in sends:
        assert call.method == "sendPhoto" and call.result["photo"] and "BTC/USDT LONG" in call.result["caption"]
        data = [b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
        assert len(data) == 3 and all(len(d.encode()) <= 64 for d in data)
    uploads = [c for c in sends if not isinstance(c.params["photo"], str)]
    assert len(uploads) == 1 and len(fake.files) == 1  # rendered and uploaded once, then by file_id
    assert all(c.params["photo"] in fake.files for c in sends if c not in uploads)
    assert outbox_rows(tmp_path, "SELECT COUNT(*) FROM outbox WHERE status != 'sent'") == [(0,)]


async def _sent_count(bot: RunningBot, n: int) -> bool:
    return bot.services.delivery.sent >= n


async def test_restart_in_the_middle_of_a_fan_out(fake: FakeBotApi, tmp_path: Path, market: FakeMarketData) -> None:
    users = range(FIRST, FIRST + 200)
    fake.limits(global_per_second=50, per_chat_per_second=1)
    limits = TelegramLimits(messages_per_second=50, chat_interval=1.0)
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings, ManualClock(T0), market, limits=limits) as first:
        await register(first, users, "ru")
        await publish(first)
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= 40, timeout=30)
    stopped_at = len(signal_sends(fake, users))
    assert stopped_at < len(users)
    assert outbox_rows(tmp_path, "SELECT COUNT(*) FROM outbox WHERE attempt_id IS NOT NULL") == [(0,)]
    async with running_bot(fake, settings, ManualClock(T0), market, limits=limits) as second:
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= len(users), timeout=30)
        assert second.services.delivery.in_doubt == 0
    assert sorted(c.chat_id for c in signal_sends(fake, users)) == list(users)
    assert len(fake.files) == 1  # the chart's file id survived the restart: no second upload
    assert fake.count_429 == 0


async def test_a_crash_mid_send_repeats_at_most_what_was_in_flight(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    users = range(FIRST, FIRST + 60)
    settings = settings_for(fake, tmp_path)
    fake.delay("sendPhoto", 0.3)  # calls are in flight when the worker dies
    # 5 messages/s, each answered in 0.3 s: about two on the wire at a time, while the worker
    # runs 16 deliveries at once (most of them waiting for their turn at the limiter).
    limits = TelegramLimits(messages_per_second=5, chat_interval=0.0)
    async with running_bot(fake, settings, ManualClock(T0), market, limits=limits) as first:
        await register(first, users)
        await publish(first)
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= 5, timeout=30)
        first.services.delivery.abort()  # as if the process was killed
    in_doubt = {row[0] for row in outbox_rows(tmp_path, "SELECT user_id FROM outbox WHERE attempt_id IS NOT NULL")}
    # Only what was on its way to Telegram is in doubt, not the deliveries waiting for their turn.
    assert 1 <= len(in_doubt) <= 5
    fake.delay("sendPhoto", 0)
    async with running_bot(fake, settings, ManualClock(T0), market) as second:
        await fake.wait_for(lambda: set(users) <= {c.chat_id for c in signal_sends(fake, users)}, timeout=30)
        await eventually(lambda: _no_pending(tmp_path))
        assert second.services.delivery.in_doubt == len(in_doubt)  # counted as re-sent
    counts = Counter(c.chat_id for c in signal_sends(fake, users))
    assert set(counts) == set(users)  # nothing lost
    duplicates = {chat for chat, n in counts.items() if n > 1}
    assert duplicates <= in_doubt and max(counts.values()) <= 2  # only what was in flight, at most twice


async def test_an_in_doubt_signal_answered_meanwhile_is_not_re_sent_nor_counted(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    settings = settings_for(fake, tmp_path)
    fake.delay("sendPhoto", 0.5)
    async with running_bot(fake, settings, ManualClock(T0), market) as first:
        await register(first, range(ALICE, ALICE + 1))
        await publish(first)
        await fake.wait_for(lambda: [c for c in fake.calls if c.method == "sendPhoto"], timeout=10)
        first.services.delivery.abort()
    assert outbox_rows(tmp_path, "SELECT COUNT(*) FROM outbox WHERE attempt_id IS NOT NULL") == [(1,)]
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:  # the user skipped it meanwhile (say, on another device)
        conn.execute("UPDATE user_signals SET state = 'skipped'")
    fake.delay("sendPhoto", 0)
    async with running_bot(fake, settings, ManualClock(T0), market) as second:
        await eventually(lambda: _no_pending(tmp_path))
        assert second.services.delivery.in_doubt == 0
    assert len([c for c in fake.calls if c.method == "sendPhoto"]) == 1


async def _no_pending(tmp_path: Path) -> bool:
    return outbox_rows(tmp_path, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") == [(0,)]


@pytest.fixture
async def bot(fake: FakeBotApi, tmp_path: Path, market: FakeMarketData) -> AsyncIterator[RunningBot]:
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings, ManualClock(T0), market, delivery={"backoff_base": 0.2}) as running:
        await running.services.trading.register(ALICE, "en")
        await running.services.trading.register(BOB, "en")
        yield running


async def alert(bot: RunningBot, user: int, **params: object) -> None:
    await bot.services.trading._outbox.enqueue(  # noqa: SLF001 - what the services write, written directly
        [Alert(user_id=user, key="alert_scan_failed", params={"error": "boom", **params})], T0
    )
    bot.services.delivery.wake()


async def test_429_pauses_for_exactly_the_time_asked_then_sends_once(bot: RunningBot, tmp_path: Path) -> None:
    fake = bot.fake
    fake.fail_next("sendPhoto", 429, retry_after=1)
    await publish(bot)
    await fake.wait_for(lambda: {ALICE, BOB} <= {c.chat_id for c in signal_sends(fake)}, timeout=10)
    (refused,) = [c for c in fake.calls if c.status == 429]
    # The refused call was the chart's upload: the other recipient waited for it, then the pause.
    after = [c for c in fake.calls if c.time > refused.time and c.method in ("sendPhoto", "sendMessage")]
    assert after and all(c.time >= refused.time + 1.0 for c in after)  # nobody sent during the pause
    assert Counter(c.chat_id for c in signal_sends(fake)) == {ALICE: 1, BOB: 1}
    assert fake.count_429 == 1 and bot.services.delivery.failed == 0
    rows = outbox_rows(tmp_path, f"SELECT rate_limited, attempts FROM outbox WHERE user_id = {refused.chat_id}")
    assert rows == [(1, 0)]


async def test_403_marks_the_user_and_drops_their_queue(bot: RunningBot, tmp_path: Path) -> None:
    fake = bot.fake
    fake.block(BOB)
    await publish(bot)
    await alert(bot, BOB)

    async def bob_blocked() -> bool:
        user = await bot.services.users.get(BOB)
        return user is not None and user.blocked

    await eventually(bob_blocked)
    await fake.wait_for(lambda: signal_sends(fake, range(ALICE, ALICE + 1)), timeout=5)
    await eventually(lambda: _no_pending(tmp_path))
    assert len([c for c in fake.calls if c.chat_id == BOB]) == 1  # one refusal, then nothing more
    assert outbox_rows(tmp_path, f"SELECT status FROM outbox WHERE user_id = {BOB}") == [("failed",), ("failed",)]


async def test_400_is_logged_with_its_kind_and_not_retried(
    bot: RunningBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = bot.fake
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    caplog.handler.addFilter(AddContext())
    with caplog.at_level(logging.ERROR, logger="bot.delivery"):
        await alert(bot, ALICE)
        await eventually(lambda: _no_pending(tmp_path))
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert "alert" in record.getMessage() and "chat not found" in record.getMessage().lower()
    assert record.user_id == ALICE and record.kind == "alert"  # type: ignore[attr-defined]
    assert len([c for c in fake.calls if c.chat_id == ALICE and c.method == "sendMessage"]) == 1
    await alert(bot, ALICE, n=2)  # the next message goes as usual
    await fake.wait_for("sendMessage", chat_id=ALICE)


async def test_server_errors_retry_with_backoff_and_send_once(bot: RunningBot, tmp_path: Path) -> None:
    fake = bot.fake
    fake.fail_next("sendMessage", 502, count=2)
    await alert(bot, ALICE)
    await fake.wait_for("sendMessage", chat_id=ALICE)
    tries = [c for c in fake.calls if c.chat_id == ALICE and c.method == "sendMessage"]
    assert [c.status for c in tries] == [502, 502, 200]
    assert tries[2].time - tries[1].time > tries[1].time - tries[0].time > 0  # the wait doubles
    await eventually(lambda: _no_pending(tmp_path))
    assert outbox_rows(tmp_path, f"SELECT status, attempts FROM outbox WHERE user_id = {ALICE}") == [("sent", 2)]


async def test_signals_overtake_routine_messages_already_queued(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    readers = range(FIRST, FIRST + 40)
    limits = TelegramLimits(messages_per_second=10, chat_interval=0.0)  # 4 s of backlog: room for a slow publish
    async with running_bot(fake, settings_for(fake, tmp_path), ManualClock(T0), market, limits=limits) as bot:
        await register(bot, range(ALICE, ALICE + 1))
        await bot.services.trading._outbox.enqueue(  # noqa: SLF001
            [Alert(user_id=u, key="alert_delivery_recovered", params={"depth": 1}) for u in readers], T0
        )
        bot.services.delivery.wake()
        await fake.wait_for(lambda: len(fake.sent()) >= 5, timeout=5)
        await publish(bot, "ETH/USDT", 45.0, (55.0, 60.0))  # a text signal: no chart to draw first
        await fake.wait_for(lambda: len([c for c in fake.sent() if c.chat_id in readers]) == len(readers), timeout=10)
    order = [c.chat_id for c in fake.sent()]
    assert order.index(ALICE) < len(order) - 20  # the signal went while most of the backlog still waited


async def test_replies_and_presses_are_answered_during_a_fan_out(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    users = range(FIRST, FIRST + 60)
    fake.limits(global_per_second=20, per_chat_per_second=1)
    limits = TelegramLimits(messages_per_second=20, chat_interval=1.0)
    async with running_bot(fake, settings_for(fake, tmp_path), ManualClock(T0), market, limits=limits) as bot:
        await register(bot, users)
        await publish(bot)
        first = await fake.wait_for(lambda: next(iter(signal_sends(fake, users)), None), timeout=10)
        reply = await bot.reply_to(ALICE, "/start")
        data = first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        query = fake.inject_callback(first.chat_id, data, message_id=first.result["message_id"])  # type: ignore[arg-type]
        await fake.wait_for(lambda: fake.answers.get(query), timeout=5)
        delivered_meanwhile = len(signal_sends(fake, users))
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= len(users), timeout=20)
    assert "Welcome" in reply and "Filled" in fake.answers[query]["text"]
    assert delivered_meanwhile < len(users) // 2  # both answered while most of the fan-out still waited
    assert fake.count_429 == 0


async def test_messages_are_cut_to_telegrams_limits(bot: RunningBot, tmp_path: Path) -> None:
    long_html = "<b>Title</b>\n" + "x &amp; y " * 500
    fitted = fit_html(long_html, MAX_CAPTION)
    assert visible_length(fitted) <= MAX_CAPTION and fitted.endswith("…") and "<b>" not in fitted
    assert fit_html("<b>short</b>", MAX_CAPTION) == "<b>short</b>"
    await alert(bot, ALICE, n=1)
    await bot.services.trading._outbox.enqueue(  # noqa: SLF001
        [Alert(user_id=ALICE, key="alert_scan_failed", params={"error": "é" * 5000})], T0
    )
    bot.services.delivery.wake()
    await eventually(lambda: _no_pending(tmp_path))
    texts = [c.result["text"] for c in bot.fake.sent(ALICE)]
    assert len(texts) == 2 and len(texts[1].encode("utf-16-le")) // 2 <= 4096 and texts[1].endswith("…")


async def test_a_signal_without_candles_goes_as_text_and_its_fill_edits_the_text(bot: RunningBot) -> None:
    fake = bot.fake
    await bot.services.admin.manual_signal("ETH/USDT", Side.LONG, 45.0, [55.0])
    call = await fake.wait_for(lambda: next(iter(signal_sends(fake, range(ALICE, ALICE + 1))), None))
    assert call.method == "sendMessage" and "ETH/USDT LONG" in call.result["text"]
    data = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    query = fake.inject_callback(ALICE, data, message_id=call.result["message_id"])
    await fake.wait_for(lambda: fake.answers.get(query))
    await fake.wait_for("editMessageText", chat_id=ALICE)
    message = next(m for m in fake.messages(ALICE) if m["message_id"] == call.result["message_id"])
    assert "Filled" in message["text"] and "reply_markup" not in message
