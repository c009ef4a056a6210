"""Telegram faults over the wire (issue 15, items 1, 5, 6): a 429 about one chat holds that
chat only; slow answers are waited for, not duplicated; a timed-out send is in doubt and
counted when re-sent; replies and button answers survive 5xx."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.ratelimit import TelegramLimits
from core.clock import ManualClock
from core.models import Side
from tests.bot.harness import ALICE, BOB, RunningBot, make_settings, running_bot
from tests.bot.test_delivery import FIRST, chart_market, publish, register, signal_sends
from tests.bot.test_flow import eventually
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData


@pytest.fixture
def market() -> FakeMarketData:
    return chart_market()


def settings_for(fake: FakeBotApi, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(fake, tmp_path / "atra.sqlite3", signal_ttl_seconds=86_400)


async def test_a_429_for_one_chat_holds_that_chat_and_the_fan_out_goes_on(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    users = range(FIRST, FIRST + 60)
    busy = users[0]
    fake.limits(global_per_second=20, per_chat_per_second=1)
    limits = TelegramLimits(messages_per_second=20, chat_interval=1.0)
    async with running_bot(fake, settings_for(fake, tmp_path), ManualClock(T0), market, limits=limits) as bot:
        await register(bot, users)
        await bot.reply_to(busy, "/help")  # the chat had a message just now
        fake.fail_next("sendPhoto", 429, retry_after=2, chat_id=busy)
        fake.fail_next("sendMessage", 429, retry_after=2, chat_id=busy)  # in case its chart goes as text
        await publish(bot)
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= len(users), timeout=30)
        limiter = bot.app.bot.rate_limiter
    (refused,) = [c for c in fake.calls if c.status == 429]
    assert refused.chat_id == busy
    during_hold = [c for c in signal_sends(fake, users) if refused.time < c.time < refused.time + 2.0]
    assert len(during_hold) >= 20  # about 2 s of the fan-out at 20/s went on while the chat waited
    (busy_signal,) = signal_sends(fake, range(busy, busy + 1))
    assert busy_signal.time >= refused.time + 2.0  # that chat waited exactly what was asked
    assert Counter(c.chat_id for c in signal_sends(fake, users)) == dict.fromkeys(users, 1)
    assert limiter.chat_holds == 1 and limiter.paused_for == 0  # type: ignore[union-attr]


async def test_slow_answers_are_waited_for_not_sent_twice(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    users = range(FIRST, FIRST + 4)
    fake.delay("sendPhoto", 5.5)  # slower than python-telegram-bot's default 5 s read timeout
    async with running_bot(fake, settings_for(fake, tmp_path), ManualClock(T0), market) as bot:
        await register(bot, users)
        await publish(bot)
        await fake.wait_for(lambda: len(signal_sends(fake, users)) >= len(users), timeout=30)
        await eventually(lambda: _all_sent(bot, len(users)), limit=10)
        in_doubt = bot.services.delivery.in_doubt
    assert Counter(c.chat_id for c in fake.calls if c.method == "sendPhoto") == dict.fromkeys(users, 1)
    assert in_doubt == 0


async def _all_sent(bot: RunningBot, n: int) -> bool:
    return bot.services.delivery.sent >= n


async def test_a_timed_out_send_is_in_doubt_and_counted_when_re_sent(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    fake.delay("sendMessage", 1.0, chat_id=ALICE)  # Telegram takes it, but answers too late
    limits = TelegramLimits(messages_per_second=1000, chat_interval=0.0, send_read_timeout=0.3)
    settings = settings_for(fake, tmp_path)
    async with running_bot(
        fake, settings, ManualClock(T0), market, limits=limits, delivery={"backoff_base": 0.2}
    ) as bot:
        await register(bot, range(ALICE, ALICE + 1))
        await bot.services.admin.manual_signal("ETH/USDT", Side.LONG, 45.0, [55.0])  # no candles: a text signal
        await fake.wait_for(lambda: len([c for c in fake.calls if c.chat_id == ALICE]) >= 1, timeout=10)
        fake.delay("sendMessage", 0, chat_id=ALICE)
        await fake.wait_for(lambda: len(fake.sent(ALICE)) >= 2, timeout=10)
        await eventually(lambda: _all_sent(bot, 1))
        in_doubt = bot.services.delivery.in_doubt
    assert len(fake.sent(ALICE)) == 2  # the in-doubt rule: sent again, the repeat counted
    assert in_doubt == 1


async def test_replies_and_button_answers_survive_server_errors(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    async with running_bot(fake, settings_for(fake, tmp_path), ManualClock(T0), market) as bot:
        await register(bot, range(ALICE, ALICE + 1))
        fake.fail_next("sendMessage", 502, count=2, chat_id=ALICE)
        reply = await bot.reply_to(ALICE, "/help")
        assert "/signals" in reply
        tries = [c.status for c in fake.calls if c.chat_id == ALICE and c.method == "sendMessage"]
        assert tries == [502, 502, 200]
        fake.fail_next("answerCallbackQuery", 500)
        await bot.reply_to(BOB, "/start")
        query = fake.inject_callback(BOB, "sig:c:999999", strict=False)  # a stale button: answered
        await fake.wait_for(lambda: fake.answers.get(query), timeout=10)
    assert [c.status for c in fake.calls if c.method == "answerCallbackQuery"] == [500, 200]
