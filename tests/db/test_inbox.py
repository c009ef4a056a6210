"""The update inbox (db/inbox.py) on both backends: kept once, listed until done, purged
after; and on SQLite, a write that cannot start within its time is skipped, not waited for."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from db.database import Database
from db.inbox import InboxRepository
from db.sql import SqlDatabase


async def test_an_update_is_kept_once_listed_until_done_and_purged_later(db: SqlDatabase) -> None:
    inbox = InboxRepository(db)
    payload = json.dumps({"update_id": 7, "message": {"text": "/help"}})
    assert await inbox.store(7, payload) is True
    assert await inbox.store(7, payload) is False  # Telegram sent it again
    assert await inbox.store(8, "{}") is True
    assert await inbox.not_done() == [(7, payload), (8, "{}")]
    assert await inbox.done(7) is True
    assert await inbox.not_done() == [(8, "{}")]
    assert await inbox.purge(time.time() - 3600) == 0  # done just now: kept a while
    assert await inbox.purge(time.time() + 1) == 1  # done before then: forgotten
    assert await inbox.not_done() == [(8, "{}")]


async def test_a_write_that_cannot_start_in_time_is_skipped(tmp_path: Path) -> None:
    database = Database(tmp_path / "atra.sqlite3")
    await database.connect()
    holder = sqlite3.connect(tmp_path / "atra.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        kept = await InboxRepository(database).store(1, "{}")
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    try:
        assert kept is None and waited < 3.0  # skipped after about a second, not the 5 s busy wait
        assert await InboxRepository(database).store(1, "{}") is True  # nothing was written before
    finally:
        await database.close()
