"""SQLite, the embedded default: one aiosqlite connection in WAL mode, numbered
migrations, guarded transactions. (PostgreSQL, when DATABASE_URL says so: db/postgres.py;
what both offer the repositories: db/sql.py.)

aiosqlite serialises statements on its connection but not transactions: two coroutines
could interleave inside each other's BEGIN ... COMMIT. Every write therefore runs under one
asyncio lock, and a multi-statement transaction holds it from BEGIN to COMMIT. A
transaction never spans an exchange or Telegram call: callers do their I/O first, then
open a short transaction to record the outcome.

Reads (a lone SELECT outside a transaction) go to a second, read-only connection with its
own lock: in WAL mode a reader never waits for a writer, so a write that waits (another
process holding the write lock, a slow disk) does not hold up every command's reads.

At connect the file is checked before anything runs on it, and every way it can be unusable
is refused with one line naming DATABASE_PATH (`ConfigError`): a folder, a path that cannot
be created, a file that is not a database or is damaged, one locked by another process, one
that cannot be written (read-only file or folder, full disk), and one written by a newer
ATRA (a migration applied that this version does not know).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from core.errors import ConfigError
from db.sql import IntegrityError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A statement the read-only connection can run: a query that changes nothing.
_QUERY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
_CHANGES = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE|RETURNING|CREATE|DROP|ALTER)\b", re.IGNORECASE)


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

    def __init__(self, path: Path | str, migrations_dir: Path = MIGRATIONS_DIR, busy_timeout: float = 5.0) -> None:
        self._path = str(path)
        self._absolute = os.path.abspath(self._path)  # the reader's URI: the same file whatever the cwd later
        self._migrations_dir = migrations_dir
        self._busy_ms = int(busy_timeout * 1000)
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not connected")
        return self._conn

    async def connect(self) -> None:
        """Open, check, migrate; ConfigError with one clear line when the file is unusable."""
        try:
            self._check_path()
            await self._open()
            await self.migrate()
            await self._check_writable()
            await self._open_reader()
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise ConfigError(self._refusal(exc)) from None
        except ConfigError:
            await self.close()
            raise

    async def check(self) -> None:
        """What `connect` refuses, found without migrating or creating anything (an existing
        file is written once with what it holds); then closed. A missing file is only
        checked for its folder: the start creates it."""
        try:
            self._check_path()
            if self._path == ":memory:" or not os.path.exists(self._absolute):  # noqa: ASYNC240 - one stat
                return
            await self._open()
            cursor = await self.conn.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            )
            row = await cursor.fetchone()
            applied: set[int] = set()
            if row is not None and row[0]:
                cursor = await self.conn.execute("SELECT number FROM schema_migrations")
                applied = {int(r[0]) for r in await cursor.fetchall()}
            self._refuse_newer(applied, await self.schema_version())
            await self._check_writable()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(self._refusal(exc)) from None
        finally:
            await self.close()

    async def _open(self) -> None:
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA synchronous=FULL")
        await self._conn.execute("PRAGMA foreign_keys=ON")

    async def _open_reader(self) -> None:
        if self._path == ":memory:":
            return  # one connection is the whole database
        uri = f"file:{urllib.parse.quote(self._absolute)}?mode=ro"
        self._reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        self._reader.row_factory = aiosqlite.Row
        await self._reader.execute(f"PRAGMA busy_timeout={self._busy_ms}")

    def _check_path(self) -> None:
        if self._path == ":memory:":
            return
        path = Path(self._path)
        if not self._path.strip() or path.is_dir():
            raise ConfigError(f"DATABASE_PATH {self._path!r} is a folder: give a file, e.g. data/atra.sqlite3")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"DATABASE_PATH {self._path}: a file stands where its folder should be") from None
        except OSError as exc:
            raise ConfigError(
                f"DATABASE_PATH {self._path}: its folder cannot be created ({exc.strerror or exc})"
            ) from None

    async def _check_writable(self) -> None:
        """Write once (the same schema version back): a read-only file or folder, a full disk
        or another process's write lock shows now, not at the first user's command."""
        version = await self.schema_version()
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                await self.conn.execute(f"PRAGMA user_version={version}")
                await self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise

    def _refusal(self, exc: sqlite3.DatabaseError) -> str:
        """One line for each way the file can be unusable."""
        reason = str(exc)
        text = reason.lower()
        where = f"DATABASE_PATH {self._path}"
        if "locked" in text or "busy" in text:
            return f"{where} is locked by another process (is another ATRA running on it?)"
        if "readonly" in text or "read-only" in text or "full" in text or "disk i/o" in text:
            return f"{where} cannot be written ({reason}): check the file's and its folder's permissions and free space"
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return f"{where} is not an ATRA database or is damaged ({reason}): restore a backup or move it away"
        if "unable to open" in text:
            return f"{where} cannot be opened ({reason}): check that its folder exists and can be written"
        return f"{where} cannot be used ({reason})"

    async def close(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error, ValueError):  # closing what is broken anyway
                    await conn.close()
        self._reader = self._conn = None

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
        self._refuse_newer(applied, current)
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

    def _refuse_newer(self, applied: set[int], current: int) -> None:
        """A migration applied that this version does not have: the file is a newer ATRA's."""
        known = {number for number, _ in migrations(self._migrations_dir)}
        unknown = sorted(applied - known) or ([current] if current > max(known, default=0) else [])
        if unknown:
            raise ConfigError(
                f"DATABASE_PATH {self._path} was written by a newer ATRA (migration"
                f" {', '.join(f'{n:04d}' for n in unknown)} is unknown to this version, which knows up to"
                f" {max(known, default=0):04d}): run the newer version, or restore a backup made with this one"
            )

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

    async def execute_soon(self, sql: str, params: Sequence[Any] = (), *, within: float = 1.0) -> int | None:
        """One write if it can start within `within` seconds, else None and nothing written:
        for a write that may be skipped rather than wait (the inbox), while another process
        holds the write lock or this process's writes queue up behind one that waits."""
        try:
            async with asyncio.timeout(within):
                await self._lock.acquire()
        except TimeoutError:
            return None
        try:
            await self.conn.execute(f"PRAGMA busy_timeout={int(within * 1000)}")
            try:
                with _integrity_errors():
                    cursor = await self.conn.execute(sql, params)
                return cursor.rowcount
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                    return None
                raise
            finally:
                await self.conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        finally:
            self._lock.release()

    def _for(self, sql: str) -> tuple[aiosqlite.Connection, asyncio.Lock]:
        """A query goes to the read-only connection (when there is one), the rest to the writer."""
        if self._reader is not None and _QUERY.match(sql) and not _CHANGES.search(sql):
            return self._reader, self._read_lock
        return self.conn, self._lock

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        conn, lock = self._for(sql)
        async with lock:
            with _integrity_errors():
                cursor = await conn.execute(sql, params)
                return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        conn, lock = self._for(sql)
        async with lock:
            with _integrity_errors():
                cursor = await conn.execute(sql, tuple(params))
                return list(await cursor.fetchall())
