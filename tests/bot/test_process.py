"""`python -m bot` as a real process: refuses to start without a token, runs the replay
engine end to end against the fake Bot API, stops cleanly on SIGTERM, and resumes after a
restart with its state."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from core.settings import Settings
from tests.fakes.bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parents[2]
USER = 5001


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


async def run_bot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """Start `python -m bot`; its output is drained as it comes (a DEBUG log fills a pipe's
    64 KiB in seconds, and a bot blocked writing its log stops answering), see `finish`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    _DRAINS[process.pid] = (asyncio.create_task(process.stdout.read()), asyncio.create_task(process.stderr.read()))
    return process


_DRAINS: dict[int, tuple[asyncio.Task[bytes], asyncio.Task[bytes]]] = {}


async def finish(process: asyncio.subprocess.Process, seconds: float) -> tuple[bytes, bytes]:
    """Wait for the process to end; its whole stdout and stderr."""
    await asyncio.wait_for(process.wait(), timeout=seconds)
    out, err = _DRAINS.pop(process.pid)
    return await out, await err


async def test_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    process = await run_bot(clean_env(), tmp_path)
    _, stderr = await finish(process, seconds=60)
    assert process.returncode == 2
    assert b"copy .env.example to .env and set TELEGRAM_BOT_TOKEN" in stderr


async def test_replay_signal_confirm_sigterm_and_restart(fake: FakeBotApi, tmp_path: Path) -> None:
    env = clean_env(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_PATH=str(tmp_path / "atra.sqlite3"),
        MARKET_DATA="replay",
        REPLAY_DIR=str(ROOT / "data" / "ohlcv"),
        # The default playbook (Donchian, long-only on spot) finds a BTC/USD long on the
        # 2019-02-18 13:00 candle.
        REPLAY_START="2019-02-18T13:30:00Z",
        REPLAY_SPEED="3600",
        SYMBOLS="BTC/USD",
        SIGNAL_TTL_SECONDS="86400",
        ML_FILTERS="false",  # the engine's own rules find this signal; the models are tested elsewhere
        MAX_PRICE_DRIFT_PCT="5",
        MONITOR_INTERVAL_SECONDS="0.5",
        LOG_LEVEL="DEBUG",
    )
    fake.inject_message(USER, "/start")
    process = await run_bot(env, tmp_path)
    try:
        signal_call = await fake.wait_for(
            lambda: next((c for c in fake.sent(USER) if c.params.get("reply_markup")), None), timeout=60
        )
        body = signal_call.result.get("caption") or signal_call.result["text"]
        assert "BTC/USD" in body and "LONG" in body
        message_id = signal_call.result["message_id"]
        data = signal_call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        query = fake.inject_callback(USER, data, message_id=message_id)
        await fake.wait_for(lambda: fake.answers.get(query), timeout=30)
        assert "Filled" in fake.answers[query]["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await finish(process, seconds=15)
    assert process.returncode == 0, stderr.decode()[-2000:]
    logs = (stdout + stderr).decode()
    assert "ATRA started" in logs
    assert fake.token not in logs and fake.token.split(":")[1] not in logs

    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM positions").fetchone()[0] == 1
        assert conn.execute("SELECT state FROM user_signals").fetchall() == [("executed",)]

    # A restart keeps the user and the position (open, or closed by the monitor since).
    before = len(fake.sent(USER))
    restarted = await run_bot(env, tmp_path)
    try:
        fake.inject_message(USER, "/positions")
        await fake.wait_for(lambda: len(fake.sent(USER)) > before, timeout=30)
        reply = fake.sent(USER)[before].result["text"]
        with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
            (status,) = conn.execute("SELECT status FROM positions").fetchone()
        assert ("BTC/USD LONG" in reply) if status == "open" else ("No open positions" in reply), reply
    finally:
        restarted.send_signal(signal.SIGTERM)
        await finish(restarted, seconds=15)
    assert restarted.returncode == 0


async def test_unreachable_exchange_stops_the_start_with_a_clear_message(fake: FakeBotApi, tmp_path: Path) -> None:
    env = clean_env(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_PATH=str(tmp_path / "atra.sqlite3"),
        MARKET_DATA="exchange",
        EXCHANGE_API_BASE_URL="http://127.0.0.1:9",  # nothing listens there
    )
    process = await run_bot(env, tmp_path)
    _, stderr = await finish(process, seconds=120)
    assert process.returncode == 1
    assert b"ATRA cannot start: exchange binance is unreachable" in stderr
    assert fake.token.encode() not in stderr
