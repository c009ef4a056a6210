"""`python -m bot` as a real process: refuses to start without a token, runs the replay
engine end to end against the fake Bot API, stops cleanly on SIGTERM, resumes after a
restart with its state, waits for an unreachable Telegram instead of dying, and handles
after a kill -9 the updates it had received but not handled."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
from pathlib import Path

from tests.bot.processes import ROOT, BotProcess, clean_env, replay_env, run_bot
from tests.fakes.bot_api import FakeBotApi

__all__ = ["ROOT", "USER", "clean_env", "finish", "run_bot"]  # the try-out test runs the bot the same way
USER = 5001


async def finish(process: BotProcess, seconds: float) -> tuple[bytes, bytes]:
    """Wait (at most `seconds`) for the process to end; (b"", everything it wrote)."""
    return await asyncio.wait_for(process.communicate(), timeout=seconds)


async def test_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    process = await run_bot(clean_env(), tmp_path)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert b"copy .env.example to .env and set TELEGRAM_BOT_TOKEN" in stderr


async def test_replay_signal_confirm_sigterm_and_restart(fake: FakeBotApi, tmp_path: Path) -> None:
    # The default playbook (Donchian, long-only on spot) finds a BTC/USD long on the 2019-02-18
    # 13:00 candle. It closes 3 s after the replay clock starts and is the last closed candle
    # for 6 s more: a scan every second sees it however long the start takes.
    env = replay_env(
        fake,
        tmp_path / "atra.sqlite3",
        REPLAY_START="2019-02-18T13:30:00Z",
        SIGNAL_TTL_SECONDS="86400",
        MAX_ENTRY_DRIFT_R="1",
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
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
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
        await fake.wait_for(lambda: len(fake.sent(USER)) > before, timeout=90)  # a loaded machine starts slowly
        reply = fake.sent(USER)[before].result["text"]
        with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
            (status,) = conn.execute("SELECT status FROM positions").fetchone()
        assert ("BTC/USD LONG" in reply) if status == "open" else ("No open positions" in reply), reply
    finally:
        restarted.send_signal(signal.SIGTERM)
        await asyncio.wait_for(restarted.communicate(), timeout=15)
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
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 1
    assert b"ATRA cannot start: exchange binance is unreachable" in stderr
    assert fake.token.encode() not in stderr


async def test_an_unreachable_telegram_is_waited_for_with_one_line_per_try(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on yet; the fake Bot API takes it later
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeBotApi()
    env = replay_env(fake, tmp_path / "atra.sqlite3", TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot")
    process = await run_bot(env, tmp_path)
    try:
        for _ in range(600):  # until it has tried and failed twice
            if process.output.count("is unreachable") >= 2 or process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert process.returncode is None, process.output  # still there, waiting
        await fake.start(port)  # the network is back
        fake.inject_message(USER, "/start")
        await fake.wait_for(lambda: fake.sent(USER), timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=15)
        await fake.stop()
    assert process.returncode == 0
    output = process.output
    tries = [line for line in output.splitlines() if "is unreachable" in line]
    assert len(tries) >= 2 and "Traceback" not in output
    assert f"the Telegram Bot API at http://127.0.0.1:{port}/bot is unreachable" in tries[0]
    assert "trying again in 2 s" in tries[0] and "trying again in 4 s" in tries[1]  # the wait doubles
    assert fake.token not in output


async def test_updates_received_but_not_handled_are_handled_after_a_kill(fake: FakeBotApi, tmp_path: Path) -> None:
    users = (6001, 6002, 6003)
    env = replay_env(fake, tmp_path / "atra.sqlite3", REPLAY_START="2019-03-20T00:00:00Z")
    for user in users:
        fake.delay("sendMessage", 60, chat_id=user)  # the answers hang: the updates are being handled
    process = await run_bot(env, tmp_path)
    try:
        await fake.wait_for(lambda: any(c.method == "getUpdates" for c in fake.calls), timeout=120)
        ids = [fake.inject_message(user, "/help") for user in users]
        # Telegram is told they arrived: the next getUpdates asks from beyond the last of them.
        await fake.wait_for(lambda: all(u["update_id"] not in ids for u in fake.pending_updates), timeout=30)
        await fake.wait_for(lambda: len([c for c in fake.calls if c.method == "sendMessage"]) >= 3, timeout=30)
    finally:
        process.process.kill()  # kill -9: nothing is finished, nothing is saved on the way out
        await process.process.wait()
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        kept = conn.execute("SELECT update_id FROM inbox WHERE done_at IS NULL ORDER BY update_id").fetchall()
    assert [row[0] for row in kept] == ids
    for user in users:
        fake.delay("sendMessage", 0, chat_id=user)
    before = len(fake.calls)
    restarted = await run_bot(env, tmp_path)
    try:
        await fake.wait_for(lambda: all(_answered(fake, user, before) for user in users), timeout=120)
    finally:
        restarted.send_signal(signal.SIGTERM)
        await asyncio.wait_for(restarted.communicate(), timeout=15)
    assert all(_answered(fake, user, before) == 1 for user in users)  # each handled once more, not twice
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL").fetchone()[0] == 0


def _answered(fake: FakeBotApi, user: int, since: int) -> int:
    return len([c for c in fake.calls[since:] if c.method == "sendMessage" and c.chat_id == user and c.ok])
