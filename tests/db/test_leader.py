"""The leader lock: one holder at a time, a standby that takes over when the holder goes,
a holder that steps down when its session is killed, and a clear refusal of a bad URL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import pytest

from db.leader import FileLeaderLock, PostgresLeaderLock
from db.sql import DatabaseUnavailable
from tests.postgres import PostgresServer, with_database

FAST = {"retry_seconds": 0.05, "check_seconds": 0.05}


async def waits(task: asyncio.Task[None], seconds: float = 0.5) -> bool:
    """True if the task is still waiting after `seconds`."""
    await asyncio.sleep(seconds)
    return not task.done()


async def test_one_leader_and_a_standby_that_takes_over_when_it_goes(postgres: PostgresServer) -> None:
    url = await postgres.empty_database()
    leader, standby = PostgresLeaderLock(url, **FAST), PostgresLeaderLock(url, **FAST)
    await leader.acquire(on_lost=lambda: None)
    waiting = asyncio.create_task(standby.acquire(on_lost=lambda: None))
    assert await waits(waiting)
    await leader.release()
    await asyncio.wait_for(waiting, timeout=30)
    again = asyncio.create_task(leader.acquire(on_lost=lambda: None))  # the old leader is the standby now
    assert await waits(again)
    again.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await again
    await leader.release()
    await standby.release()


async def test_a_leader_whose_session_is_killed_steps_down_and_the_standby_takes_over(
    postgres: PostgresServer,
) -> None:
    url = await postgres.empty_database()
    lost = asyncio.Event()
    leader, standby = PostgresLeaderLock(url, **FAST), PostgresLeaderLock(url, **FAST)
    await leader.acquire(on_lost=lost.set)
    waiting = asyncio.create_task(standby.acquire(on_lost=lambda: None))
    assert await waits(waiting, 0.2)
    admin = await asyncpg.connect(url)
    leader_pid = await admin.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = 1 AND objsubid = 2"
    )
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", leader_pid)  # as a lost connection would
    await admin.close()
    await asyncio.wait_for(lost.wait(), timeout=30)
    await asyncio.wait_for(waiting, timeout=30)
    await leader.release()
    await standby.release()


async def test_each_database_has_its_own_leader(postgres: PostgresServer) -> None:
    first = await postgres.empty_database()
    second = await postgres.create_database()
    a, b = PostgresLeaderLock(first, **FAST), PostgresLeaderLock(second, **FAST)
    try:
        await asyncio.wait_for(a.acquire(on_lost=lambda: None), timeout=30)
        await asyncio.wait_for(b.acquire(on_lost=lambda: None), timeout=30)
    finally:
        await a.release()
        await b.release()
        await postgres.drop_database(second)


async def test_a_database_that_cannot_be_used_stops_the_start_without_its_password(postgres: PostgresServer) -> None:
    wrong = with_database(postgres.admin_url, "no_such_database").replace("atra@", "atra:pa55-w0rd@")
    with pytest.raises(DatabaseUnavailable) as error:
        await PostgresLeaderLock(wrong, **FAST).acquire(on_lost=lambda: None)
    assert "no_such_database" in str(error.value) and "pa55-w0rd" not in str(error.value)


async def test_on_one_machine_a_file_lock_keeps_the_second_instance_waiting(tmp_path: Path) -> None:
    path = tmp_path / "atra.sqlite3.lock"
    leader, standby = FileLeaderLock(path, retry_seconds=0.05), FileLeaderLock(path, retry_seconds=0.05)
    await leader.acquire(on_lost=lambda: None)
    waiting = asyncio.create_task(standby.acquire(on_lost=lambda: None))
    assert await waits(waiting, 0.3)
    await leader.release()
    await asyncio.wait_for(waiting, timeout=30)
    await standby.release()
