"""Which database and which leader lock a run uses: PostgreSQL when DATABASE_URL is set,
else SQLite at DATABASE_PATH (the embedded default, no server). Decided once, here."""

from __future__ import annotations

from pathlib import Path

from db.database import Database
from db.leader import FileLeaderLock, LeaderLock, NoLeaderLock, PostgresLeaderLock
from db.postgres import PostgresDatabase
from db.sql import SqlDatabase


def open_database(database_url: str | None, database_path: Path) -> SqlDatabase:
    """The database (not connected yet)."""
    if database_url:
        return PostgresDatabase(database_url)
    return Database(database_path)


def leader_lock(database_url: str | None, database_path: Path) -> LeaderLock:
    """The lock that makes one instance the leader: an advisory lock on PostgreSQL, a file
    lock beside the SQLite file (which only instances on the same machine can share)."""
    if database_url:
        return PostgresLeaderLock(database_url)
    if str(database_path) == ":memory:":
        return NoLeaderLock()
    return FileLeaderLock(database_path.with_name(database_path.name + ".lock"))
