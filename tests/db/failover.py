"""The failover scenario, as real processes: two `python -m bot` on one PostgreSQL database
and the fake Bot API. The first becomes the leader, the second waits as a standby; users
register, an admin publishes a signal to all of them, and the leader is killed (SIGKILL)
in the middle of the fan-out. The standby must take over and finish it. Used by
tests/db/test_failover.py (which checks it) and bench/bench_failover.py (which prints it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from bot.render import CONFIRM_PREFIX
from core.settings import Settings
from tests.fakes.bot_api import Call, FakeBotApi

ROOT = Path(__file__).resolve().parents[2]
ADMIN = 1
FIRST_USER = 7001


@dataclass
class Failover:
    users: list[int]
    signal_counts: Counter[int]  # signal messages each user received
    in_doubt: set[int]  # users whose signal row the standby found in flight
    sent_before_kill: int  # signal messages delivered by the leader
    lock_seconds: float  # kill -> the standby holds the leader lock
    takeover_seconds: float  # kill -> the standby has started everything (delivery, polling, jobs)
    standby_log: str
    standby_exit: int | None
    phases: dict[str, float]  # seconds from the start of the scenario to each step


def bot_env(fake: FakeBotApi, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_URL=database_url,
        ADMIN_IDS=str(ADMIN),
        MARKET_DATA="replay",
        REPLAY_DIR=str(ROOT / "data" / "ohlcv"),
        REPLAY_START="2017-10-03T00:30:00Z",  # two days of candles: too few for the engine's own signals
        REPLAY_SPEED="1",
        SYMBOLS="BTC/USD",
        SIGNAL_TTL_SECONDS="86400",
        ML_FILTERS="false",
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",  # timestamps to the millisecond
    )
    return env


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=log.parent, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def log_says(log: Path, text: str, within: float) -> None:
    deadline = time.monotonic() + within
    while text not in read_log(log):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{log.name} never said {text!r}:\n{read_log(log)[-3000:]}")
        await asyncio.sleep(0.05)


def logged_at(log: str, text: str) -> float:
    """Unix time of the first JSON log line whose message holds `text`."""
    for line in log.splitlines():
        if line.startswith("{") and text in (entry := json.loads(line))["message"]:
            return datetime.fromisoformat(entry["timestamp"]).timestamp()
    raise LookupError(f"{text!r} is not in the log")


def is_signal(call: Call) -> bool:
    """A signal message: the one with the Confirm button."""
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return any(b.get("callback_data", "").startswith(CONFIRM_PREFIX) for row in rows for b in row)


async def roles(folder: Path, within: float) -> tuple[str, str]:
    """Which of the two processes leads and which waits: (leader, standby)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        logs = {name: read_log(folder / f"{name}.log") for name in ("a", "b")}
        for leader, standby in (("a", "b"), ("b", "a")):
            if "ATRA started" in logs[leader] and "waiting as a standby" in logs[standby]:
                return leader, standby
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no leader and standby after {within}s:\n" + "\n".join(logs.values())[-4000:])


async def run_failover(fake: FakeBotApi, database_url: str, folder: Path, users: int, kill_after: int) -> Failover:
    """Run the scenario; the leader is killed once `kill_after` signal messages are out."""
    env = bot_env(fake, database_url)
    began, phases = time.monotonic(), {}
    processes = {name: await start_bot(env, folder / f"{name}.log") for name in ("a", "b")}  # started together
    try:
        leader_name, standby_name = await roles(folder, within=180)
        leader, standby = processes[leader_name], processes[standby_name]
        phases["leader and standby up"] = time.monotonic() - began
        chats = list(range(FIRST_USER, FIRST_USER + users))
        for chat in chats:
            fake.inject_message(chat, "/start")
        await fake.wait_for(lambda: all(fake.sent(c) for c in chats), timeout=120)
        phases["users registered"] = time.monotonic() - began
        fake.delay("sendPhoto", 0.3)  # sends are in flight when the leader dies
        fake.delay("sendMessage", 0.3)
        # Levels within 50 % of the price (about 4 300 USD here): admins cannot publish absurd ones.
        fake.inject_message(ADMIN, "/signal BTC/USD long sl=3000 tp=6000")
        await fake.wait_for(lambda: len([c for c in fake.sent() if is_signal(c)]) >= kill_after, timeout=120)
        leader.send_signal(signal.SIGKILL)
        killed_at = time.time()
        phases["leader killed"] = time.monotonic() - began
        sent_before = len([c for c in fake.sent() if is_signal(c)])
        await leader.wait()
        fake.delay("sendPhoto", 0)
        fake.delay("sendMessage", 0)
        await fake.wait_for(lambda: set(chats) <= {c.chat_id for c in fake.sent() if is_signal(c)}, timeout=120)
        phases["fan-out complete"] = time.monotonic() - began
        in_doubt = await _in_doubt(database_url)
        standby.send_signal(signal.SIGTERM)
        await asyncio.wait_for(standby.wait(), timeout=60)
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()
    return Failover(
        users=chats,
        signal_counts=Counter(c.chat_id for c in fake.sent() if is_signal(c)),
        in_doubt=in_doubt,
        sent_before_kill=sent_before,
        lock_seconds=logged_at(read_log(folder / f"{standby_name}.log"), "leader lock taken over") - killed_at,
        takeover_seconds=logged_at(read_log(folder / f"{standby_name}.log"), "ATRA started") - killed_at,
        standby_log=read_log(folder / f"{standby_name}.log"),
        standby_exit=standby.returncode,
        phases=phases,
    )


async def _in_doubt(database_url: str) -> set[int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT user_id FROM outbox WHERE kind = 'signal' AND in_doubt > 0")
    finally:
        await conn.close()
    return {int(r[0]) for r in rows}
