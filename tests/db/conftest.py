"""The repository contract suite runs on both backends: every test here that takes `db`
(or `reopen`) runs once on SQLite and once on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from db.database import Database
from db.postgres import PostgresDatabase
from db.sql import SqlDatabase
from tests.postgres import PostgresServer

BACKENDS = ["sqlite", "postgresql"]

#: Opens one more connection to the test's database (as a restarted or a second instance would).
Reopen = Callable[[], SqlDatabase]


@pytest.fixture(params=BACKENDS)
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    if request.param == "sqlite":
        path = tmp_path / "atra.sqlite3"
        yield lambda: Database(path)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = await server.empty_database()
    yield lambda: PostgresDatabase(url)


@pytest.fixture
async def db(reopen: Reopen) -> AsyncIterator[SqlDatabase]:
    database = reopen()
    await database.connect()
    yield database
    await database.close()
