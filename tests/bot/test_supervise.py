"""Long-running workers are supervised (issue 15, item 4): a worker that dies is restarted
with doubling waits and the admins are told once per episode, over the Bot API."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bot.i18n import t
from bot.supervise import admin_alert, supervise
from core.events import Alert
from tests.bot.harness import ADMIN, ALICE, make_settings, running_bot
from tests.bot.test_flow import eventually
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData


async def test_a_dead_worker_is_restarted_with_doubling_waits_and_told_once() -> None:
    now = [0.0]
    runs: list[float] = []
    told: list[tuple[str, str]] = []
    sleeps: list[float] = []

    async def run() -> None:
        runs.append(now[0])
        if len(runs) <= 4:
            raise sqlite3.OperationalError("attempt to write a readonly database")

    async def alert(name: str, error: str) -> None:
        told.append((name, error))

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    await supervise(
        "delivery", run, alert=alert, stopping=lambda: False, base=1.0, clock=lambda: now[0], sleep=fake_sleep
    )
    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # restarted four times, each wait twice the last
    assert len(runs) == 5  # the fifth run ended normally: supervision ends with it
    assert told == [("delivery", "OperationalError: attempt to write a readonly database")]  # once


class FailingOutbox:
    """The real outbox, but the first `failures` start-ups of the worker fail as on a
    database that cannot be written."""

    def __init__(self, outbox: Any, failures: int) -> None:
        self._outbox, self.failures = outbox, failures

    async def requeue_in_doubt(self) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return int(await self._outbox.requeue_in_doubt())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)


async def test_the_delivery_worker_comes_back_and_the_admins_hear_once(
    fake: FakeBotApi, tmp_path: Path, market: FakeMarketData
) -> None:
    settings = make_settings(fake, tmp_path / "atra.sqlite3")
    async with running_bot(fake, settings, market=market, delivery={"restart_base": 0.1}) as bot:
        await bot.reply_to(ADMIN, "/start")
        await bot.services.trading.register(ALICE, "en")
        worker = bot.services.delivery
        await worker.stop()
        worker._outbox = FailingOutbox(worker._outbox, failures=3)  # type: ignore[attr-defined] # noqa: SLF001
        worker.start(admin_alert(bot.app.bot, bot.services.settings.admin_ids, bot.services.users))
        await bot.services.trading._outbox.enqueue(  # noqa: SLF001 - what a service writes, written directly
            [Alert(user_id=ALICE, key="alert_scan_failed", params={"error": "boom"})], T0
        )
        worker.wake()
        await fake.wait_for("sendMessage", chat_id=ALICE, timeout=20)  # delivered once the worker came back
        await eventually(lambda: _no_failures_left(worker))
    died = t("en", "alert_worker_died", worker=t("en", "worker_delivery"), error="x").split("(")[0]
    to_admin = [c.result["text"] for c in fake.sent(ADMIN)]
    assert len([text for text in to_admin if text.startswith(died.strip())]) == 1  # told once, not three times


async def _no_failures_left(worker: Any) -> bool:
    return bool(worker._outbox.failures == 0)  # noqa: SLF001
