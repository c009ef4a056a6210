"""Another process holding the database's write lock does not stall the commands that only
read (issue 15, item 10): in WAL mode a reader never waits for a writer, and the bot reads
through its own read-only connection. Over the wire, 16 users' commands while the lock is
held and the delivery worker has a backlog to write about (each of its writes waits for the
lock, then fails)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from core.events import Alert
from tests.bot.harness import make_settings, running_bot
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData

USERS = range(7001, 7017)
COMMANDS = ("/help", "/signals", "/positions", "/history", "/balance", "/settings", "/help", "/signals")


async def test_reads_are_answered_while_another_process_holds_the_write_lock(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    path = tmp_path / "atra.sqlite3"
    async with running_bot(fake, make_settings(fake, path), market=market) as bot:
        for user in USERS:
            await bot.services.trading.register(user, "en")
        backlog = [Alert(user_id=user, key="alert_scan_failed", params={"error": "x"}) for user in range(8000, 8300)]
        await bot.services.trading._outbox.enqueue(backlog, T0)  # noqa: SLF001 - the worker has writes to make
        bot.services.delivery.wake()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # e.g. a backup or a stray sqlite3 shell, for 20 s
        try:
            asked = asyncio.get_running_loop().time()
            for n, user in enumerate(USERS):
                bot.say(user, COMMANDS[n % len(COMMANDS)])
            await fake.wait_for(lambda: all(fake.sent(user) for user in USERS), timeout=20)
            answered_in = asyncio.get_running_loop().time() - asked
            still_locked = holder.in_transaction
        finally:
            holder.rollback()
            holder.close()
    assert still_locked  # every one was answered while the lock was held
    assert answered_in < 20
    texts = [str(fake.sent(user)[0].result.get("text")) for user in USERS]
    assert not [text for text in texts if "went wrong" in text.lower()]  # answers, not error messages
