"""What comes in (bot/intake.py), over the wire: an update is kept before Telegram is told
it arrived, updates left in the inbox by a crash are handled at start (once, even when
Telegram sends them again), an admin's /signal is not repeated after a restart, and one
user's excess presses are answered with "slow down"."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from bot.i18n import t
from core.clock import ManualClock
from db.database import Database
from tests.bot.harness import ADMIN, ALICE, make_settings, running_bot
from tests.bot.test_flow import eventually
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData


def message_update(update_id: int, user: int, text: str) -> dict[str, Any]:
    sender = {"id": user, "is_bot": False, "first_name": f"User{user}", "language_code": "en"}
    command = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    message = {"message_id": update_id, "from": sender, "chat": {"id": user, "type": "private"}, "date": 0}
    return {"update_id": update_id, "message": message | {"text": text, "entities": command}}


async def left_in_the_inbox(path: Path, *updates: dict[str, Any]) -> None:
    """What a process killed after receiving `updates`, before handling them, left behind."""
    database = Database(path)
    await database.connect()
    for update in updates:
        await database.execute(
            "INSERT INTO inbox (update_id, payload, received_at) VALUES (?, ?, ?)",
            (update["update_id"], json.dumps(update), time.time()),
        )
    await database.close()


def not_done(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT update_id FROM inbox WHERE done_at IS NULL ORDER BY 1")]


async def test_updates_left_by_a_crash_are_handled_at_start_once(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    path = tmp_path / "atra.sqlite3"
    help_update = message_update(5000, ALICE, "/help")
    signal_update = message_update(5001, ADMIN, "/signal BTC/USDT long sl=90 tp=110")
    await left_in_the_inbox(path, help_update, signal_update)
    fake.inject_update(help_update)  # never acknowledged before the crash: Telegram sends it again
    async with running_bot(fake, make_settings(fake, path), ManualClock(T0), market) as bot:
        await fake.wait_for("sendMessage", chat_id=ALICE)
        note = await fake.wait_for("sendMessage", chat_id=ADMIN)
        await eventually(lambda: _all_done(path))
        signals = await bot.services.trading.active_signals(ADMIN)
    assert len(fake.sent(ALICE)) == 1 and "/signals" in fake.sent(ALICE)[0].result["text"]  # once, not twice
    assert note.result["text"] == t("en", "not_repeated_after_restart", escape=False)
    assert signals == [] and not [c for c in fake.calls if c.params.get("reply_markup")]  # nothing published


async def _all_done(path: Path) -> bool:
    return not_done(path) == []


async def test_an_update_is_kept_before_telegram_hears_it_arrived(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    path = tmp_path / "atra.sqlite3"
    fake.delay("sendMessage", 1.5, chat_id=ALICE)  # the answer is slow: the update is being handled
    async with running_bot(fake, make_settings(fake, path), ManualClock(T0), market):
        update_id = fake.inject_message(ALICE, "/help")
        await fake.wait_for(lambda: update_id not in [u["update_id"] for u in fake.pending_updates], timeout=10)
        acknowledged_while = not_done(path)
        await fake.wait_for("sendMessage", chat_id=ALICE)
        await eventually(lambda: _all_done(path))
    assert acknowledged_while == [update_id]  # in the inbox when Telegram was told, not done yet


async def test_a_flooding_users_presses_are_answered_with_slow_down(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    fake.delay("sendMessage", 2.0, chat_id=ALICE)  # Alice's answers take a while: her updates pile up
    async with running_bot(fake, make_settings(fake, tmp_path / "atra.sqlite3"), ManualClock(T0), market) as bot:
        for _ in range(3):
            bot.say(ALICE, "/help")
        await fake.wait_for(lambda: len([c for c in fake.calls if c.chat_id == ALICE]) >= 3, timeout=10)
        query = fake.inject_callback(ALICE, "sig:c:1", strict=False)
        await fake.wait_for(lambda: fake.answers.get(query), timeout=10)
        await fake.wait_for(lambda: len(fake.sent(ALICE)) >= 3, timeout=10)
    assert fake.answers[query]["text"] == t("en", "slow_down", escape=False)[:200]
    assert len(fake.sent(ALICE)) == 3  # the three /help answered; the press was over the bound
