"""A real PostgreSQL server for the tests: a throwaway cluster made with initdb and started
with pg_ctl under a temporary directory, listening on 127.0.0.1 only, one per test session.
Tests share one migrated database, emptied before each of them; a test of the migrations
themselves gets a database of its own.

Binaries come from PATH or Debian's /usr/lib/postgresql/<version>/bin (`apt-get install
postgresql`; .ci/run does it). initdb refuses to run as root, so as root the cluster runs as
the `postgres` user the package creates (through runuser). ATRA_TEST_POSTGRES_URL (a
server where that role is a superuser, e.g. postgresql://me@127.0.0.1/postgres) uses
an existing server instead.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from db.postgres import PostgresDatabase

TEMPLATE = "atra_template"

# Empties the shared database between tests: every row deleted (foreign keys not checked
# meanwhile) and every id counter restarted. Much faster than a new database per test.
_EMPTY = """
DO $$
DECLARE statement text;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOR statement IN SELECT format('DELETE FROM %I', tablename) FROM pg_tables
                   WHERE schemaname = 'public' AND tablename <> 'schema_migrations' LOOP
    EXECUTE statement;
  END LOOP;
  FOR statement IN SELECT format('ALTER TABLE %I ALTER COLUMN %I RESTART', table_name, column_name)
                   FROM information_schema.columns WHERE table_schema = 'public' AND is_identity = 'YES' LOOP
    EXECUTE statement;
  END LOOP;
END $$;
"""


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, else the newest Debian install."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _as_user() -> tuple[list[str], str | None]:
    """The command prefix that runs the server as a user initdb accepts, or a reason why not."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return [], "running as root and there is no 'postgres' user to run the server as"
    if not shutil.which("runuser"):
        return [], "running as root and runuser (util-linux) is missing"
    return ["runuser", "-u", "postgres", "--"], None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


class PostgresServer:
    """A server the tests may create databases on (started here, or given)."""

    def __init__(
        self, admin_url: str, directory: Path | None = None, prefix: list[str] | None = None, bindir: Path | None = None
    ) -> None:
        self.admin_url = admin_url
        self._directory = directory
        self._prefix = prefix or []
        self._bindir = bindir
        self._names = itertools.count(1)
        self._template_ready = False
        self._shared: str | None = None

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb + pg_ctl start on a free port of 127.0.0.1 (raises RuntimeError with the
        reason when the binaries or a user to run them are missing)."""
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
        prefix, reason = _as_user()
        if reason:
            raise RuntimeError(reason)
        # As root the server runs as `postgres`, which must reach its folder: /tmp, not $TMPDIR.
        directory = Path(tempfile.mkdtemp(prefix="atra-pg-", dir="/tmp" if prefix else None))
        if prefix:
            shutil.chown(directory, "postgres")
        data, port = directory / "data", _free_port()
        run = [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "atra", "-A", "trust", "-E", "UTF8"]
        subprocess.run([*run, "--no-locale", "-N"], check=True, capture_output=True)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"), "-o", options]
        subprocess.run([*ctl, "-w", "-t", "60", "start"], check=True, capture_output=True)
        return cls(f"postgresql://atra@127.0.0.1:{port}/postgres", directory, prefix, bindir)

    def stop(self) -> None:
        if self._directory is None or self._bindir is None:
            return
        pg_ctl = [*self._prefix, str(self._bindir / "pg_ctl"), "-D", str(self._directory / "data")]
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create_database(self, *, migrated: bool = True) -> str:
        """A new, empty database (or a copy of the migrated template); its URL."""
        if migrated and not self._template_ready:
            await self._admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await self._admin(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0")
            template = PostgresDatabase(with_database(self.admin_url, TEMPLATE), pool_size=1)
            await template.connect()  # migrates
            await template.close()
            self._template_ready = True
        name = f"atra_test_{os.getpid()}_{next(self._names)}"
        await self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE if migrated else 'template0'} STRATEGY FILE_COPY")
        return with_database(self.admin_url, name)

    async def empty_database(self) -> str:
        """The session's shared migrated database, emptied; its URL (for tests that only
        need the schema: most of them)."""
        if self._shared is None:
            self._shared = await self.create_database()
        conn = await asyncpg.connect(self._shared)
        try:
            await conn.execute(_EMPTY)
        finally:
            await conn.close()
        return self._shared

    async def drop_database(self, url: str) -> None:
        await self._admin(f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")
