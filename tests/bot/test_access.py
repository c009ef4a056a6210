"""ACCESS=approval and /block (issue 11), over the Bot API wire in English and Russian."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot, make_settings, running_bot
from tests.bot.test_actionable_signals import card
from tests.bot.test_flow import press, publish
from tests.bot.test_user_settings import keyboard
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData


@pytest.fixture
async def approval_bot(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> AsyncIterator[RunningBot]:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", access="approval")
    async with running_bot(fake, settings, clock, market) as running:
        yield running


async def test_a_new_user_waits_until_an_admin_approves(approval_bot: RunningBot) -> None:
    bot = approval_bot
    await bot.reply_to(ADMIN, "/start")  # admins are never held
    assert "waits for an administrator's approval" in await bot.reply_to(ALICE, "/start")
    request = await bot.fake.wait_for(lambda: card(bot, ADMIN, "asks for access"))
    assert f"id {ALICE}" in request["text"]
    assert [d for _, d in keyboard(request)] == [f"acc:active:{ALICE}", f"acc:blocked:{ALICE}"]
    assert "waits for an administrator's approval" in await bot.reply_to(ALICE, "/signals")
    await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=90 tp=110,120")
    assert card(bot, ALICE, "BTC/USDT") is None  # no signal while waiting
    forged = await press(bot, ALICE, f"acc:active:{ALICE}", request["message_id"], owner=ADMIN)
    assert "approval" in forged["text"]  # the gate answers a waiting user, nothing changes
    answer = await press(bot, ADMIN, f"acc:active:{ALICE}", request["message_id"])
    assert f"User {ALICE} approved" in answer["text"]
    await bot.fake.wait_for(lambda: card(bot, ALICE, "approved your access"))
    assert "No active signals" in await bot.reply_to(ALICE, "/signals")
    await publish(bot, (ALICE,))  # now a subscriber like any other


async def test_russian_waiting_and_blocking(approval_bot: RunningBot) -> None:
    bot = approval_bot
    assert "ждёт одобрения администратора" in await bot.reply_to(BOB, "/start", language_code="ru")
    await bot.fake.wait_for(lambda: card(bot, ADMIN, "asks for access"))
    assert f"User {BOB} blocked" in await bot.reply_to(ADMIN, f"/block {BOB}")
    await bot.fake.wait_for(lambda: card(bot, BOB, "заблокировал ваш доступ"))
    assert "заблокирован" in await bot.reply_to(BOB, "/help", language_code="ru")
    assert "заблокирован" in await bot.reply_to(BOB, "/start", language_code="ru")  # /start does not undo it
    user = await bot.services.users.get(BOB)
    assert user is not None and user.access == "blocked" and not user.subscribed


async def test_open_access_changes_nothing_but_block_works(bot: RunningBot) -> None:
    assert "Welcome to" in await bot.reply_to(ALICE, "/start")
    assert "administrators only" in await bot.reply_to(BOB, f"/block {ALICE}")
    assert "Usage: /block" in await bot.reply_to(ADMIN, "/block someone")
    assert "There is no user 4242" in await bot.reply_to(ADMIN, "/block 4242")
    assert f"User {ALICE} blocked" in await bot.reply_to(ADMIN, f"/block {ALICE}")
    assert "blocked" in await bot.reply_to(ALICE, "/positions")
