"""The outbox's group commit (db/outbox.py), on both backends: the writes of deliveries in
flight share transactions, each caller returns once its own write is committed, and a bad
write fails its own caller only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from core.events import Alert
from db.outbox import GroupCommit, OutboxRepository
from db.sql import Connection, IntegrityError, SqlDatabase
from tests.conftest import T0


class Counting:
    """The database, counting its transactions."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db, self.transactions = db, 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.transactions += 1
        async with self.db.transaction() as conn:
            yield conn


async def test_writes_in_flight_share_transactions_and_a_bad_one_fails_alone(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([Alert(10 + i, "x") for i in range(40)], T0)
    items = await outbox.due(T0, 100)
    counting = Counting(db)
    group = GroupCommit(counting)  # type: ignore[arg-type]

    def claim(item_id: int) -> Any:
        async def work(conn: Connection) -> bool:
            sql = "UPDATE outbox SET attempt_id = 'g' WHERE id = ? AND attempt_id IS NULL"
            cursor = await conn.execute(sql, (item_id,))
            return bool(cursor.rowcount == 1)

        return work

    async def bad(conn: Connection) -> None:
        await conn.execute("INSERT INTO outbox (id, user_id, kind, priority, payload, created_at) SELECT id, user_id,"
                           " kind, priority, payload, created_at FROM outbox LIMIT 1")  # fmt: skip

    first, rest = items[:20], items[20:]
    results = await asyncio.gather(
        *(group.run(claim(i.id)) for i in first), group.run(bad), *(group.run(claim(i.id)) for i in rest),
        return_exceptions=True,
    )  # fmt: skip
    assert results[:20] == [True] * 20 and results[21:] == [True] * 20
    assert isinstance(results[20], IntegrityError)  # the bad write failed its own caller only
    assert len(await outbox.due(T0, 100)) == 0  # every claim is committed
    # 41 writes: one group, that one failed, then each write on its own: 1 + 41; without the bad
    # one the 40 claims share a single transaction
    assert counting.transactions == 42
    await outbox.enqueue([Alert(99, "y")], T0)
    (late,) = await outbox.due(T0, 100)
    counting.transactions = 0
    again = await asyncio.gather(group.run(claim(late.id)), group.run(claim(late.id)), group.run(claim(late.id)))
    assert again == [True, False, False] and counting.transactions == 1  # once only, in one transaction


async def test_a_caller_cancelled_before_its_group_runs_is_left_out(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([Alert(10, "x")], T0)
    (item,) = await outbox.due(T0, 10)
    group = GroupCommit(db)

    async def claim(conn: Connection) -> bool:
        cursor = await conn.execute("UPDATE outbox SET attempt_id = 'g' WHERE id = ?", (item.id,))
        return bool(cursor.rowcount == 1)

    task = asyncio.create_task(group.run(claim))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert len(await outbox.due(T0, 10)) == 1  # not claimed
