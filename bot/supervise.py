"""Long-running workers are supervised: a worker that dies is restarted with doubling waits
(1 s up to 5 minutes), and the admins are told once per episode, directly through the Bot
API (a dead delivery worker cannot deliver its own alert through the outbox, and a database
that cannot be written cannot queue one). A worker that has run `healthy_after` seconds
since its last restart starts a new episode: its next death is told again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection

from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.i18n import DEFAULT_LANGUAGE, t
from core.ports import UserRepository

log = logging.getLogger(__name__)

#: Tell the admins that worker `name` died of `error` (and is being restarted).
WorkerAlert = Callable[[str, str], Awaitable[None]]


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    alert: WorkerAlert | None,
    stopping: Callable[[], bool],
    base: float = 1.0,
    cap: float = 300.0,
    healthy_after: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run `run` until it returns (a stop) or `stopping()`; restart it when it raises."""
    failures = 0
    while not stopping():
        started = clock()
        try:
            await run()
            return
        except Exception as exc:  # the supervisor's boundary: log, tell once, restart
            if clock() - started >= healthy_after:
                failures = 0  # it had recovered: a new episode
            failures += 1
            wait = min(cap, base * 2 ** (failures - 1))
            error = f"{type(exc).__name__}: {exc}"
            log.error("%s died (%s): restarting in %.0f s", name, error, wait, exc_info=failures == 1)
            if failures == 1 and alert is not None:
                await _tell(alert, name, error)
            await sleep(wait)


async def _tell(alert: WorkerAlert, name: str, error: str) -> None:
    try:
        await alert(name, error)
    except Exception as exc:  # telling is best effort, and must not stop the restarts; the log has it
        log.warning("could not tell the admins that %s died: %r", name, exc)


def admin_alert(bot: ExtBot, admin_ids: Collection[int], users: UserRepository) -> WorkerAlert:  # type: ignore[type-arg]
    """A WorkerAlert that sends each admin the news in their language, straight away."""

    async def tell(name: str, error: str) -> None:
        for admin in sorted(admin_ids):
            try:
                stored = await users.get(admin)
            except sqlite3.Error:  # the database may be what failed: English will do
                stored = None
            language = stored.language if stored is not None else DEFAULT_LANGUAGE
            text = t(language, "alert_worker_died", worker=t(language, f"worker_{name}"), error=error[:300])
            try:
                await bot.send_message(admin, text)
            except TelegramError as exc:
                log.warning("could not tell admin %s that %s died: %s", admin, name, exc)

    return tell
