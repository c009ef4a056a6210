"""SQLite's own connection: WAL with full sync, and transactions under cancellation (a task
cancelled while its BEGIN is on its way must not leave a transaction open that swallows
everyone else's writes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.clock import ManualClock
from db.database import Database
from db.system import SystemRepository
from tests.conftest import T0


async def test_a_transaction_cancelled_at_begin_leaves_no_transaction_open(tmp_path: Path) -> None:
    db = Database(tmp_path / "atra.sqlite3")
    await db.connect()
    system = SystemRepository(db, ManualClock(T0))

    async def write_in_a_transaction() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('tx', '1', 'x')")

    task = asyncio.create_task(write_in_a_transaction())
    await asyncio.sleep(0)  # the task holds the lock and waits for its BEGIN
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await system.set_value("after", "1")  # an ordinary write, committed on its own
    assert not db.conn.in_transaction
    await db.close()

    reopened = Database(tmp_path / "atra.sqlite3")
    await reopened.connect()
    assert await SystemRepository(reopened, ManualClock(T0)).get_value("after") == "1"
    assert await SystemRepository(reopened, ManualClock(T0)).get_value("tx") is None
    await reopened.close()


async def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    db = Database(tmp_path / "atra.sqlite3")
    await db.connect()
    journal, synchronous = await db.fetchone("PRAGMA journal_mode"), await db.fetchone("PRAGMA synchronous")
    assert journal is not None and journal[0] == "wal"
    assert synchronous is not None and synchronous[0] == 2  # FULL
    await db.close()
