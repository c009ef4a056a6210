"""SQLite, the embedded default: one aiosqlite connection in WAL mode, numbered
migrations, guarded transactions. (PostgreSQL, when DATABASE_URL says so: db/postgres.py;
what both offer the repositories: db/sql.py.)

aiosqlite serialises statements on its connection but not transactions: two coroutines
could interleave inside each other's BEGIN ... COMMIT. Every statement therefore runs
under one asyncio lock, and a multi-statement transaction holds it from BEGIN to COMMIT.
A transaction never spans an exchange or Telegram call: callers do their I/O first, then
open a short transaction to record the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from db.sql import IntegrityError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def to_db_time(moment: datetime) -> str:
    """Fixed-width UTC ISO text, so that SQL string comparison orders by time."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered migration files, in order. Numbers are unique; a gap is allowed (a number
    reserved by a change not merged yet), and a migration that arrives later with a lower
    number is still applied: the runner remembers each number it applied."""
    found = []
    for path in directory.iterdir():
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    for (number, path), (previous, earlier) in zip(found[1:], found, strict=False):
        if number == previous:
            raise RuntimeError(f"migrations {earlier.name} and {path.name} share the number {number:04d}")
    return found


@contextlib.contextmanager
def _integrity_errors() -> Iterator[None]:
    """sqlite3's IntegrityError as the backend-neutral one (db.sql.IntegrityError)."""
    try:
        yield
    except IntegrityError:
        raise
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc


class Database:
    """SQLite (see db.sql.SqlDatabase for what every backend offers)."""

    dialect = "sqlite"

    def __init__(self, path: Path | str, migrations_dir: Path = MIGRATIONS_DIR) -> None:
        self._path = str(path)
        self._migrations_dir = migrations_dir
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not connected")
        return self._conn

    async def connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA synchronous=FULL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self.migrate()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def applied_migrations(self) -> list[int]:
        rows = await self.fetchall("SELECT number FROM schema_migrations ORDER BY number")
        return [int(r[0]) for r in rows]

    async def migrate(self) -> None:
        """Apply every migration not applied yet, in number order, each atomically.

        Applied numbers are kept in `schema_migrations`; `PRAGMA user_version` holds the
        highest. A database made before that table existed had every migration up to its
        user_version applied (the runner then allowed no gaps), which is recorded first.
        """
        async with self._lock:
            await self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            cursor = await self.conn.execute("SELECT number FROM schema_migrations")
            applied = {int(row[0]) for row in await cursor.fetchall()}
        current = await self.schema_version()
        now = to_db_time(datetime.now(UTC))
        if not applied and current:
            for number, path in migrations(self._migrations_dir):
                if number <= current:
                    await self.execute(
                        "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                        (number, path.name, now),
                    )
                    applied.add(number)
        for number, path in migrations(self._migrations_dir):
            if number in applied:
                continue
            script = path.read_text(encoding="utf-8")
            version = max(current, number)
            record = (
                f"INSERT INTO schema_migrations (number, name, applied_at) VALUES ({number}, '{path.name}', '{now}');"
            )
            async with self._lock:
                # executescript commits first; wrap the script so it applies whole or not at all.
                try:
                    await self.conn.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\n{record}\nPRAGMA user_version={version};\nCOMMIT;"
                    )
                except BaseException:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
            current = version
            log.info("applied migration %s", path.name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the connection lock; ROLLBACK on error.

        Cancellation-safe: aiosqlite runs statements in order on its own thread, and one
        already handed to it runs even if the awaiting task is cancelled. A task cancelled
        while its BEGIN is on the way therefore still queues a ROLLBACK behind it before it
        lets go of the lock; otherwise the BEGIN would open a transaction nobody ends, and
        every later write would silently join it (and be lost at close)."""
        async with self._lock:
            try:
                with _integrity_errors():
                    await self.conn.execute("BEGIN IMMEDIATE")
                    yield self.conn
            except BaseException:
                with contextlib.suppress(sqlite3.OperationalError):  # no transaction was opened
                    await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on its own (autocommit); returns the number of rows changed."""
        async with self._lock:
            with _integrity_errors():
                cursor = await self.conn.execute(sql, params)
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            with _integrity_errors():
                cursor = await self.conn.execute(sql, params)
                return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            with _integrity_errors():
                cursor = await self.conn.execute(sql, tuple(params))
                return list(await cursor.fetchall())
