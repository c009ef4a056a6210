"""What every database backend offers the repositories: SQLite (`db.database.Database`,
the embedded default) and PostgreSQL (`db.postgres.PostgresDatabase`, when DATABASE_URL
says so). Repositories are written once against this and run unchanged on both.

Portable SQL, the rules the repositories follow (the contract tests in tests/db run every
repository on both backends, so a slip shows there):

- `?` placeholders (the PostgreSQL backend numbers them); no `?NNN`, no named ones.
- A new row's id comes from `INSERT ... RETURNING id`, never from `cursor.lastrowid`.
- Duplicates are handled with `ON CONFLICT (...) DO NOTHING / DO UPDATE`, not by catching
  an error: on PostgreSQL an error ends the transaction it happens in. An integrity error
  that does escape is raised as `IntegrityError` on both backends.
- Flags are INTEGER 0/1 and times fixed-width UTC text (`to_db_time`), as in the schema:
  count with `COUNT(x)` or `SUM(CASE WHEN ... THEN 1 ELSE 0 END)`, never `SUM(a = b)`;
  no SQLite-only functions (`MAX(a, b)` with two arguments, `json_extract`, `strftime`,
  `IFNULL`, `INSERT OR ...`, `LIMIT -1`) and no PostgreSQL-only ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

#: A result row: by column name (`row["id"]`), by position (`row[0]`), `dict(row)`, unpacking.
Row = Any


class IntegrityError(sqlite3.IntegrityError):
    """A constraint refused a write, on either backend. It subclasses sqlite3's own, so code
    that catches `sqlite3.IntegrityError` keeps working on PostgreSQL."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refuses us at start (the message never holds a password)."""


class Cursor(Protocol):
    """What a statement run inside a transaction returns."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> Iterable[Row]: ...


class Connection(Protocol):
    """The connection a transaction hands out (aiosqlite's own, or its PostgreSQL look-alike)."""

    async def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Any: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Any: ...


class SqlDatabase(Protocol):
    """One database, SQLite or PostgreSQL, as the repositories use it."""

    dialect: str  # "sqlite" or "postgresql"

    async def connect(self) -> None:
        """Open, then apply every migration not applied yet."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int:
        """The highest migration number applied."""

    async def applied_migrations(self) -> list[int]: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """BEGIN ... COMMIT around the block (ROLLBACK on error); yields a `Connection`."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on its own (autocommit); the number of rows changed."""

    async def execute_soon(self, sql: str, params: Sequence[Any] = (), *, within: float = 1.0) -> int | None:
        """One write if it can be done within `within` seconds, else None: for a write that may
        be skipped rather than wait (the inbox of updates)."""

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...
