"""A standby as a real process (SQLite on one machine: the lock file beside the database):
it waits while another instance holds the lock, touches nothing, and a SIGTERM stops it
cleanly while it waits."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
from pathlib import Path

from tests.db.failover import bot_env, log_says, read_log, start_bot
from tests.fakes.bot_api import FakeBotApi


async def test_a_waiting_standby_touches_nothing_and_stops_cleanly(tmp_path: Path) -> None:
    database = tmp_path / "atra.sqlite3"
    lock = os.open(tmp_path / "atra.sqlite3.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as the leader would hold it
    try:
        async with FakeBotApi() as fake:
            env = bot_env(fake, database_url="")
            env["DATABASE_PATH"] = str(database)
            env["LOG_FORMAT"] = "text"
            fake.inject_message(5001, "/start")
            standby = await start_bot(env, tmp_path / "standby.log")
            try:
                await log_says(tmp_path / "standby.log", "waiting as a standby", within=120)
                await asyncio.sleep(1.0)
                assert not database.exists()  # no connection, no migration
                assert not fake.sent() and fake.pending_updates  # no polling, no message
            finally:
                standby.send_signal(signal.SIGTERM)
                await asyncio.wait_for(standby.wait(), timeout=30)
    finally:
        os.close(lock)
    log = read_log(tmp_path / "standby.log")
    assert standby.returncode == 0, log[-2000:]
    assert "Traceback" not in log and "destroyed but it is pending" not in log, log[-2000:]
    assert "ATRA started" not in log
