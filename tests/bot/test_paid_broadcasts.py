"""Paid broadcasts (issue 11): direct signal pushes on the paid lane (allow_paid_broadcast,
1,000/s) within a daily Stars budget, the free lane (30/s) once it is spent, the spend kept
across a restart, /status showing it (en/ru); replies to commands stay on the free lane. Over
the Bot API wire with the real PTB client; the fake server enforces both lanes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.ratelimit import TelegramLimits
from core.clock import ManualClock
from tests.bot.harness import ADMIN, RunningBot, make_settings, running_bot
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.market import FakeMarketData

FIRST = 20_000
#: Telegram's own limits, as the bot runs with them: 30/s free, 1,000/s paid, one a second per chat.
REAL = TelegramLimits()


def signal_pushes(fake: FakeBotApi, users: range) -> list[Call]:
    return [c for c in fake.sent() if c.chat_id in users and "sig:c:" in str(c.params.get("reply_markup"))]


async def fan_out(bot: RunningBot, users: range) -> list[Call]:
    for user in users:
        await bot.services.trading.register(user, "en")
    await bot.services.trading.register(ADMIN, "en")
    await bot.services.users.set_subscribed(ADMIN, False)  # the admin publishes, the users receive
    before = len(signal_pushes(bot.fake, users))
    assert "published" in await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=90 tp=110,120")
    await bot.fake.wait_for(lambda: len(signal_pushes(bot.fake, users)) >= before + len(users), timeout=60)
    return signal_pushes(bot.fake, users)[before:]


async def test_a_paid_fan_out_is_not_held_to_30_a_second(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    # The free lane slowed to 5/s on both sides, so that the bot's own speed on a loaded
    # machine cannot blur the property: 150 pushes held to the free lane take at least
    # 149/5 = 29.8 s; on the paid lane (1,000/s) they must take under half of that.
    fake.limits(global_per_second=5, per_chat_per_second=1, per_chat_burst=3, paid_per_second=1000)
    users = range(FIRST, FIRST + 150)
    settings = make_settings(fake, tmp_path / "atra.sqlite3", paid_broadcast_stars_per_day=1000)
    async with running_bot(fake, settings, clock, market, limits=TelegramLimits(messages_per_second=5)) as bot:
        pushes = await fan_out(bot, users)
        assert {c.lane for c in pushes} == {"paid"} and len({c.chat_id for c in pushes}) == 150
        assert fake.count_429 == 0  # the free bucket (5/s) would have answered 429s at this pace
        assert max(c.time for c in pushes) - min(c.time for c in pushes) < 149 / 5 / 2
        spend = await bot.services.delivery.paid.today()  # type: ignore[union-attr]
        assert spend.stars == fake.stars_spent == 15.0  # 150 × 0.1 Star, counted by both sides
        admin = fake.sent(ADMIN)
        assert admin and {c.lane for c in admin} == {"free"}  # replies to commands: the free lane
        status = await bot.reply_to(ADMIN, "/status")
        assert "Paid broadcasts: today (UTC) 15.0 of 1,000 ⭐ spent; 0 push(es) on the free lane" in status
        await bot.services.users.set_language(ADMIN, "ru")
        status = await bot.reply_to(ADMIN, "/status", language_code="ru")
        assert "Платная рассылка: сегодня (UTC) потрачено 15,0 из 1\u00a0000 ⭐" in status


async def test_the_budget_runs_out_the_free_lane_takes_over_and_the_spend_survives_a_restart(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3, paid_per_second=1000)
    users = range(FIRST, FIRST + 25)
    settings = make_settings(fake, tmp_path / "atra.sqlite3", paid_broadcast_stars_per_day=1)  # 10 messages
    async with running_bot(fake, settings, clock, market, limits=REAL) as bot:
        pushes = await fan_out(bot, users)
        lanes = [c.lane for c in pushes]
        assert lanes.count("paid") == 10 and lanes.count("free") == 15 and len({c.chat_id for c in pushes}) == 25
        assert fake.stars_spent == 1.0 and fake.count_429 == 0
        paid = bot.services.delivery.paid
        assert paid is not None and paid.fell_back == 15 and (await paid.today()).stars == 1.0
    clock.advance(timedelta(hours=2))  # another candle, the first signal expired
    async with running_bot(fake, settings, clock, market, limits=REAL) as bot:
        paid = bot.services.delivery.paid
        assert paid is not None and (await paid.today()).stars == 1.0  # read back from the database
        pushes = await fan_out(bot, users)
        assert {c.lane for c in pushes} == {"free"} and len(pushes) == 25  # nothing left today
        assert fake.stars_spent == 1.0
        assert "1.0 of 1 ⭐ spent; 25 push(es) on the free lane" in await bot.reply_to(ADMIN, "/status")


async def test_without_a_budget_every_push_is_free(bot: RunningBot) -> None:
    users = range(FIRST, FIRST + 5)
    pushes = await fan_out(bot, users)
    assert {c.lane for c in pushes} == {"free"} and "allow_paid_broadcast" not in pushes[0].params
    assert bot.services.delivery.paid is None
    assert "Paid broadcasts: off" in await bot.reply_to(ADMIN, "/status")

