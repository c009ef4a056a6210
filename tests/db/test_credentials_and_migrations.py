"""Encrypted API keys at rest (both backends), and SQLite's migration runner with a reserved
number not merged yet (PostgreSQL's: test_migrations_in_step.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import db.database as database
from core.clock import ManualClock
from core.errors import ConfigError
from db.credentials import CredentialStore, make_cipher
from db.database import Database, migrations
from db.sql import SqlDatabase
from db.users import UserRepository

KEY, SECRET = "api-key-0123456789", "api-secret-0123456789"


async def test_keys_are_encrypted_bound_to_their_user_and_replaceable(db: SqlDatabase, clock: ManualClock) -> None:
    cipher = make_cipher(Fernet.generate_key().decode())
    store = CredentialStore(db, clock, cipher, "binance")
    users = UserRepository(db, clock)
    for user in (10, 11):
        await users.register(user, "en", 1000)
    assert await store.credentials(10) is None and not await store.has(10)
    await store.save(10, KEY, SECRET)
    assert await store.credentials(10) == (KEY, SECRET) and await store.has(10)
    (row,) = await db.fetchall("SELECT token FROM credentials")
    assert KEY not in row[0] and SECRET not in row[0]
    # A token copied onto another user's row is not theirs.
    await db.execute("INSERT INTO credentials SELECT 11, exchange, token, created_at, updated_at FROM credentials")
    assert await store.credentials(11) is None
    # Another exchange's store does not see it; a new key replaces the old one.
    assert await CredentialStore(db, clock, cipher, "kraken").credentials(10) is None
    await store.save(10, "new-key-0123456789", "new-secret-0123456789")
    assert await store.credentials(10) == ("new-key-0123456789", "new-secret-0123456789")
    assert await store.delete(10) and not await store.delete(10)


async def test_a_rotated_key_still_reads_old_tokens(db: SqlDatabase, clock: ManualClock) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    await UserRepository(db, clock).register(10, "en", 1000)
    await CredentialStore(db, clock, make_cipher(old), "binance").save(10, KEY, SECRET)
    assert await CredentialStore(db, clock, make_cipher(new), "binance").credentials(10) is None  # logged, not raised
    assert await CredentialStore(db, clock, make_cipher(f"{new},{old}"), "binance").credentials(10) == (KEY, SECRET)


def test_a_malformed_encryption_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a Fernet key"):
        make_cipher("short")


async def test_a_migration_merged_later_with_a_lower_number_is_still_applied(tmp_path: Path) -> None:
    # As it happened: 0004 (credentials) reached main before 0003 (delivery).
    folder = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS_DIR, folder)
    for later in folder.glob("*.sql"):  # the story is about 0001-0004; later numbers came after
        if int(later.name[:4]) > 4:
            later.unlink()
    delivery = folder / "0003_delivery.sql"
    script = delivery.read_text()
    delivery.unlink()
    assert [n for n, _ in migrations(folder)] == [1, 2, 4]
    first = Database(tmp_path / "atra.sqlite3", folder)
    await first.connect()
    assert await first.schema_version() == 4
    await first.close()
    delivery.write_text(script)
    again = Database(tmp_path / "atra.sqlite3", folder)
    await again.connect()
    applied = [r[0] for r in await again.fetchall("SELECT number FROM schema_migrations ORDER BY number")]
    assert applied == [1, 2, 3, 4] and await again.schema_version() == 4
    assert await again.fetchall("SELECT * FROM signal_charts") == []
    await again.close()


async def test_a_database_from_before_the_applied_table_is_taken_as_fully_migrated(tmp_path: Path) -> None:
    db = Database(tmp_path / "atra.sqlite3")
    await db.connect()
    await db.execute("DROP TABLE schema_migrations")  # as the old runner left it: user_version only
    await db.close()
    db = Database(tmp_path / "atra.sqlite3")
    await db.connect()  # no migration runs twice (CREATE TABLE would fail)
    applied = [r[0] for r in await db.fetchall("SELECT number FROM schema_migrations ORDER BY number")]
    assert applied == [n for n, _ in migrations()]
    await db.close()


def test_two_migrations_may_not_share_a_number(tmp_path: Path) -> None:
    for name in ("0001_a.sql", "0001_b.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(RuntimeError, match="share the number 0001"):
        migrations(tmp_path)
