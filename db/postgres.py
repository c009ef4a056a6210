"""PostgreSQL behind the same repository ports, through asyncpg, when DATABASE_URL says so.

The repositories' SQL is the same on both backends (db/sql.py lists the rules); this module
numbers its `?` placeholders, runs it on a small connection pool and hands transactions a
connection that looks like aiosqlite's (`execute` returns a cursor with `rowcount`,
`fetchone`, `fetchall`). Transactions run at READ COMMITTED: every claim is one
`UPDATE ... WHERE state = ... RETURNING` whose row lock makes a second claimer wait and then
find the row taken, exactly as SQLite's single writer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from db.database import MIGRATIONS_DIR, migrations, to_db_time
from db.pg_schema import postgres_form
from db.sql import DatabaseUnavailable, IntegrityError, Row

log = logging.getLogger(__name__)

#: pg_advisory_lock(int, int) keys: ATRA's namespace, then what is locked.
LOCK_NAMESPACE = 0x41545241  # "ATRA"
MIGRATION_LOCK = 2

# A `?` outside string literals, quoted identifiers and comments.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?")
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.I)


@functools.lru_cache(maxsize=2048)
def to_numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...`."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _TOKENS.sub(number, sql)


def describe(url: str) -> str:
    """host:port/database of a URL, without its user and password (for messages)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


async def connect_once(url: str, **options: Any) -> asyncpg.Connection:
    """One connection; what keeps it from being made, as DatabaseUnavailable."""
    try:
        return await asyncpg.connect(url, timeout=10, **options)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise DatabaseUnavailable(f"the PostgreSQL database at {describe(url)} cannot be used ({exc})") from exc


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as 'UPDATE 3' or 'INSERT 0 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


@contextlib.contextmanager
def _integrity_errors() -> Iterator[None]:
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(str(exc)) from exc


class PgCursor:
    """The result of one statement, shaped like aiosqlite's cursor."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    async def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[Row]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    @property
    def lastrowid(self) -> int:
        raise NotImplementedError("PostgreSQL has no lastrowid: use INSERT ... RETURNING id")


class PgConnection:
    """A pooled connection inside a transaction, shaped like aiosqlite's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> PgCursor:
        statement = to_numbered(sql)
        with _integrity_errors():
            if _RETURNS_ROWS.search(sql):
                rows = await self._conn.fetch(statement, *parameters)
                return PgCursor(rows, len(rows))
            return PgCursor([], _rowcount(await self._conn.execute(statement, *parameters)))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        with _integrity_errors():
            await self._conn.executemany(to_numbered(sql), [tuple(p) for p in parameters])


class PostgresDatabase:
    """PostgreSQL (see db.sql.SqlDatabase for what every backend offers)."""

    dialect = "postgresql"

    def __init__(self, url: str, migrations_dir: Path = MIGRATIONS_DIR, pool_size: int = 5) -> None:
        self._url = url
        self._migrations_dir = migrations_dir
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not connected")
        return self._pool

    async def connect(self) -> None:
        await (await connect_once(self._url)).close()  # a clear error first, if there is one
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            command_timeout=60,
            server_settings={"application_name": "atra"},
        )
        await self.migrate()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(number), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    async def applied_migrations(self) -> list[int]:
        rows = await self.fetchall("SELECT number FROM schema_migrations ORDER BY number")
        return [int(r[0]) for r in rows]

    async def migrate(self) -> None:
        """Apply every migration not applied yet, in number order, each in its own
        transaction; instances starting together take turns (an advisory lock)."""
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_NAMESPACE, MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (number BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                applied = {int(r[0]) for r in await conn.fetch("SELECT number FROM schema_migrations")}
                for number, path in migrations(self._migrations_dir):
                    if number not in applied:
                        await _apply(conn, number, path)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_NAMESPACE, MIGRATION_LOCK)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        """BEGIN ... COMMIT on a pooled connection; ROLLBACK on error or cancellation."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield PgConnection(conn)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.pool.acquire() as conn:
            return (await PgConnection(conn).execute(sql, params)).rowcount

    async def execute_soon(self, sql: str, params: Sequence[Any] = (), *, within: float = 1.0) -> int | None:
        """One write if it is done within `within` seconds, else None (db.sql.SqlDatabase). A
        write cut short may still have happened: callers use it where that is harmless."""
        try:
            async with asyncio.timeout(within):
                return await self.execute(sql, params)
        except TimeoutError:
            return None

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self.pool.acquire() as conn:
            return await (await PgConnection(conn).execute(sql, params)).fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self.pool.acquire() as conn:
            return await (await PgConnection(conn).execute(sql, tuple(params))).fetchall()


_IDENTITY_COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND is_identity = 'YES'
"""


async def _apply(conn: asyncpg.Connection, number: int, path: Path) -> None:
    """One migration, atomically. Identity counters are moved past the largest id after it:
    a migration that copies rows with their ids (a table rebuilt) must not leave the next
    INSERT colliding with them."""
    script = postgres_form(path)
    async with conn.transaction():
        await conn.execute(script)
        for table, column in await conn.fetch(_IDENTITY_COLUMNS):
            await conn.execute(
                f'SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX("{column}"), 0) + 1, false)'
                f' FROM "{table}"',
                table,
                column,
            )
        await conn.execute(
            "INSERT INTO schema_migrations (number, name, applied_at) VALUES ($1, $2, $3)",
            number,
            path.name,
            to_db_time(datetime.now(UTC)),
        )
    log.info("applied migration %s (PostgreSQL)", path.name)
