"""Exactly one running instance does the work: the leader lock.

With PostgreSQL, every `python -m bot` pointed at the same database asks for one session
advisory lock before it starts anything. The one that gets it is the leader (scan, monitor,
delivery, Telegram polling); the others wait as standbys and ask again every couple of
seconds. The lock belongs to the leader's database session, so it goes with it:

- killed (even kill -9) or crashed: the kernel closes the connection, the server releases
  the lock at once, and a standby takes it at its next try;
- its machine or network gone: the server notices through TCP keepalives (idle 5 s, then
  3 probes 2 s apart: about 11 s) and releases the lock;
- the leader checks every 2 s that its session still holds the lock (5 s timeout). If not,
  it steps down at once (`on_lost`: the bot stops, and its supervisor starts it again as a
  standby), well before the server gives the lock to someone else.

With SQLite (one machine), the same role is played by an exclusive lock on a file beside
the database, which the kernel also releases when the process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import asyncpg

from db.postgres import LOCK_NAMESPACE, connect_once
from db.sql import DatabaseUnavailable

log = logging.getLogger(__name__)

LEADER_LOCK = 1
_HELD = """
SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
               AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2)
"""
# What a failing database session can raise (asyncpg's client-side errors included).
_SESSION_ERRORS = (
    DatabaseUnavailable,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
_KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


class LeaderLock(Protocol):
    async def acquire(self, on_lost: Callable[[], None]) -> None:
        """Return once this instance is the leader (waiting as a standby until then);
        `on_lost` is called if leadership is ever lost afterwards."""

    async def release(self) -> None: ...


class PostgresLeaderLock:
    """A session advisory lock on the database of DATABASE_URL."""

    def __init__(self, url: str, *, retry_seconds: float = 2.0, check_seconds: float = 2.0) -> None:
        self._url = url
        self._retry = retry_seconds
        self._check = check_seconds
        self._conn: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None
        self._unreachable = False  # logged once per outage, not at every try

    async def acquire(self, on_lost: Callable[[], None]) -> None:
        """The first connection must succeed (a wrong URL or password stops the start with a
        clear message); later, a database out of reach only delays the standby."""
        self._conn = await self._connect()
        waiting = False
        while True:
            if await self._try():
                if waiting:
                    log.warning("leader lock taken over: this instance is the leader now")
                else:
                    log.info("leader lock held: this instance is the leader")
                self._watch = asyncio.create_task(self._watch_lock(on_lost), name="leader-lock-watch")
                return
            if not waiting:
                log.warning("another instance is the leader: waiting as a standby")
                waiting = True
            await asyncio.sleep(self._retry)

    async def _connect(self) -> asyncpg.Connection:
        # Server-side keepalives: the server notices a vanished leader within ~11 s.
        return await connect_once(self._url, server_settings={"application_name": "atra-leader", **_KEEPALIVES})

    async def _try(self) -> bool:
        """One attempt; a database that cannot be reached is logged and counts as no."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            async with asyncio.timeout(10):
                got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, LEADER_LOCK)
        except _SESSION_ERRORS as exc:
            if not self._unreachable:
                log.warning("leader lock: the database cannot be reached (%s); trying again", type(exc).__name__)
                self._unreachable = True
            await self._drop_connection()
            return False
        if self._unreachable:
            log.warning("leader lock: the database can be reached again")
            self._unreachable = False
        return bool(got)

    async def _watch_lock(self, on_lost: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(self._check)
            try:
                assert self._conn is not None
                async with asyncio.timeout(5.0):  # at most ~7 s to notice: before the server (~11 s)
                    held = await self._conn.fetchval(_HELD, LOCK_NAMESPACE, LEADER_LOCK)
            except Exception as exc:  # noqa: BLE001 - whatever keeps the lock from being confirmed: step down
                reason = f"its database session failed ({type(exc).__name__})"
            else:
                if held:
                    continue
                reason = "the database no longer shows it"
            log.critical("leader lock lost: %s; stepping down", reason)
            await self._drop_connection()
            on_lost()
            return

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()  # no goodbye: the session (and its lock) ends here
            self._conn = None

    async def release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._conn is not None and not self._conn.is_closed():
            try:
                await self._conn.close(timeout=5)
            except _SESSION_ERRORS:
                self._conn.terminate()  # ending the session releases the lock
        self._conn = None


class FileLeaderLock:
    """An exclusive flock on a file (SQLite: one machine)."""

    def __init__(self, path: Path, *, retry_seconds: float = 2.0) -> None:
        self._path = path
        self._retry = retry_seconds
        self._fd: int | None = None

    async def acquire(self, on_lost: Callable[[], None]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await self._wait_for(fd)
        except BaseException:  # cancelled while waiting (a stop signal): let the file go
            os.close(fd)
            raise
        self._fd = fd
        log.info("leader lock held (%s): this instance is the leader", self._path)

    async def _wait_for(self, fd: int) -> None:
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not waiting:
                    log.warning("another instance uses %s: waiting as a standby", self._path)
                    waiting = True
            await asyncio.sleep(self._retry)

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None


class NoLeaderLock:
    """An in-memory database: nothing to share, nothing to lock."""

    async def acquire(self, on_lost: Callable[[], None]) -> None:
        return None

    async def release(self) -> None:
        return None
