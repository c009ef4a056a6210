"""`python -m bot` refuses every start it cannot make with one line naming the setting, and
never a traceback (issue 15, items 4, 7 and 11): settings out of range, a port in use, a host
that is not this machine's, a database path that is a folder, under a file or impossible, a
database that is read-only, damaged, locked by another process or a newer ATRA's, a replay
start after its data. The processes run side by side: each refusal takes about a second."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from db.database import Database
from tests.bot.processes import make_unwritable, make_writable, replay_env, run_bot
from tests.fakes.bot_api import FakeBotApi


async def refusal(fake: FakeBotApi, folder: Path, **env: str) -> tuple[int | None, str]:
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test folder
    settings = {"DATABASE_PATH": str(folder / "atra.sqlite3"), **env}
    process = await run_bot(replay_env(fake, Path(settings.pop("DATABASE_PATH")), **settings), folder)
    await asyncio.wait_for(process.process.wait(), timeout=120)
    return process.returncode, process.output


def assert_one_line(case: str, code: int | None, output: str, *fragments: str) -> None:
    assert code in (1, 2), f"{case}: {output}"
    assert "Traceback" not in output, f"{case}: {output}"
    last = output.strip().splitlines()[-1]
    assert last.startswith("ATRA cannot start: "), f"{case}: {output}"
    for fragment in fragments:
        assert fragment in last, f"{case}: {last}"


@contextmanager
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def make_database(path: Path) -> None:
    database = Database(path)
    await database.connect()
    await database.close()


async def test_every_start_failure_is_one_line(fake: FakeBotApi, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "damaged.sqlite3").write_bytes(b"this is not SQLite " * 400)
    await make_database(newer := tmp_path / "newer.sqlite3")
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, '9999_from_the_future.sql', 'x')")
    await make_database(read_only := tmp_path / "read-only.sqlite3")
    make_unwritable(read_only)
    cases: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
        "ttl": ({"SIGNAL_TTL_SECONDS": "inf"}, ("SIGNAL_TTL_SECONDS",)),
        "speed": ({"REPLAY_SPEED": "inf"}, ("REPLAY_SPEED",)),
        "balance": ({"PAPER_BALANCE": "inf"}, ("PAPER_BALANCE",)),
        "retrain": ({"RETRAIN_INTERVAL_HOURS": "1e-9"}, ("RETRAIN_INTERVAL_HOURS",)),
        "bad host": ({"METRICS_PORT": "9464", "METRICS_HOST": "999.1.1.1"}, ("METRICS_HOST",)),
        "foreign host": ({"METRICS_PORT": "9464", "METRICS_HOST": "192.0.2.77"}, ("METRICS_HOST",)),
        "folder": ({"DATABASE_PATH": str(tmp_path)}, ("DATABASE_PATH", "folder")),
        "under a file": ({"DATABASE_PATH": str(tmp_path / "a-file" / "atra.sqlite3")}, ("DATABASE_PATH",)),
        "impossible": ({"DATABASE_PATH": "/proc/atra/atra.sqlite3"}, ("DATABASE_PATH",)),
        "read-only": ({"DATABASE_PATH": str(read_only)}, ("DATABASE_PATH", "cannot be written")),
        "damaged": ({"DATABASE_PATH": str(tmp_path / "damaged.sqlite3")}, ("DATABASE_PATH", "damaged")),
        "newer": ({"DATABASE_PATH": str(newer)}, ("DATABASE_PATH", "newer ATRA", "9999")),
        "replay after its data": ({"REPLAY_START": "2030-01-01T00:00:00Z"}, ("end of the data",)),
    }
    try:
        with listening() as busy_port:
            cases["port in use"] = ({"METRICS_PORT": str(busy_port)}, ("METRICS_PORT", "in use"))
            results = await asyncio.gather(
                *(refusal(fake, tmp_path / name.replace(" ", "-"), **env) for name, (env, _) in cases.items())
            )
    finally:
        make_writable(read_only)
    for (name, (_, fragments)), (code, output) in zip(cases.items(), results, strict=True):
        assert_one_line(name, code, output, *fragments)
        assert fake.token not in output


async def test_a_database_locked_by_another_process_is_refused(fake: FakeBotApi, tmp_path: Path) -> None:
    await make_database(path := tmp_path / "locked.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write, never finished
    try:
        code, output = await refusal(fake, tmp_path / "run", DATABASE_PATH=str(path))
    finally:
        holder.close()
    assert_one_line("locked", code, output, "DATABASE_PATH", "locked by another process")
