"""One run of the application, start to stop: connect the database, assemble the parts,
settle what the last stop interrupted, start delivery, observability and the jobs; on stop,
let sends in flight finish and keep the replay clock; on shutdown, close connections."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.adapters import REPLAY_CLOCK_KEY, Adapters, StreamFactory
from bot.assembly import Assembly, assemble
from bot.commands_menu import publish_commands
from bot.context import BotApplication, BotContext
from bot.dashboard import start_dashboard, sync_menu_button
from bot.intake import Intake
from bot.jobs import schedule_jobs
from bot.ratelimit import TelegramLimits, TelegramRateLimiter
from bot.supervise import admin_alert, supervise
from core.ports import Clock, Exchange, MarketData
from core.settings import Settings
from db.backend import leader_lock, open_database
from db.inbox import InboxRepository
from webapp.server import WebAppServer

log = logging.getLogger(__name__)


@dataclass
class Overrides:
    """Test seams: replace the clock, the market data or the exchange."""

    clock: Clock | None = None
    market_data: MarketData | None = None
    exchange: Exchange | None = None
    delivery_options: dict[str, float] = field(default_factory=dict)
    telegram_limits: TelegramLimits | None = None  # tests: faster than Telegram's
    schedule_jobs: bool = True
    exchange_session: aiohttp.ClientSession | None = None  # tests: a loopback-only session
    order_stream: StreamFactory | None = None  # tests: the live accounts' order streams


class Runtime:
    """Owns the database, the adapters and the background tasks for one run."""

    def __init__(self, settings: Settings, overrides: Overrides, limiter: TelegramRateLimiter) -> None:
        self.settings = settings
        self.overrides = overrides
        self.limiter = limiter
        url = settings.database_url.get_secret_value() if settings.database_url else None
        self.db = open_database(url, settings.database_path)  # PostgreSQL if DATABASE_URL, else SQLite
        self.leader = leader_lock(url, settings.database_path)  # one instance works, the others wait
        self._standby: asyncio.Task[Any] | None = None  # the start, while it waits for the lock
        self.intake = Intake(InboxRepository(self.db))
        self.adapters = Adapters(
            settings,
            self.db,
            exchange=overrides.exchange,
            exchange_session=overrides.exchange_session,
            order_stream=overrides.order_stream,
        )
        self.parts: Assembly | None = None
        self.dashboard: WebAppServer | None = None
        self._running = False  # delivery and observability started
        self._streams: asyncio.Task[None] | None = None  # live: the accounts' order streams

    async def start(self, app: BotApplication) -> None:
        settings = self.settings
        self._standby = asyncio.current_task()
        await self.leader.acquire(on_lost=app.stop_running)  # a standby waits here
        self._standby = None
        await self.db.connect()
        parts = await assemble(
            app.bot,
            settings,
            self.db,
            self.adapters,
            self.limiter,
            clock=self.overrides.clock,
            market_data=self.overrides.market_data,
            delivery_options=self.overrides.delivery_options,
        )
        self.parts = parts
        app.bot_data.services = parts.services
        await self.intake.recover(app.bot, parts.services.users)  # updates received before a crash
        recovered = await parts.services.trading.recover()
        if recovered:
            log.warning("recovered %d confirmation(s) interrupted by the last stop", recovered)
        self._running = True
        alert = admin_alert(app.bot, settings.admin_ids, parts.services.users)  # a dead worker is told directly
        parts.delivery.start(alert).add_done_callback(_log_task_end)
        await parts.observability.start()
        if parts.streams is not None:
            self._streams = asyncio.create_task(
                supervise("streams", parts.streams.run, alert=alert, stopping=lambda: not self._running),
                name="account-streams",
            )
            self._streams.add_done_callback(_log_task_end)
        if self.overrides.schedule_jobs:
            schedule_jobs(
                app.job_queue,
                settings,
                retrain=self._retrain if self.adapters.models is not None else None,
                save_replay_clock=self._save_replay_clock if settings.market_data == "replay" else None,
            )
        if settings.webapp_port:
            self.dashboard = await start_dashboard(parts.services, parts.market_data)
        await sync_menu_button(app.bot, parts.system, settings.webapp_url)
        await publish_commands(app.bot, settings.admin_ids)
        gc.collect()
        gc.freeze()  # the start-up objects never need collecting: keeps full GCs short
        log.info(
            "ATRA started: mode=%s market_data=%s symbols=%s timeframe=%s scan every %.0fs",
            settings.trading_mode,
            settings.market_data,
            ",".join(parts.services.admin.tradable_symbols()),
            settings.timeframe,
            settings.scan_interval,
        )

    async def _retrain(self, context: BotContext) -> None:
        assert self.adapters.models is not None and self.parts is not None
        result = await self.adapters.models.retrain(self.parts.market_data, self.settings.symbols)
        log.info("model retrain: %s", result.describe())

    async def _save_replay_clock(self, context: BotContext) -> None:
        await self._keep_replay_clock()

    async def _keep_replay_clock(self) -> None:
        assert self.parts is not None
        await self.parts.system.set_value(REPLAY_CLOCK_KEY, self.parts.clock.now().isoformat())

    async def stop(self, app: BotApplication) -> None:
        if self.dashboard is not None:
            await self.dashboard.stop()  # first: no new action from the dashboard while stopping
        if self.parts is not None and self._running:  # the streams close while sends in flight finish
            await asyncio.gather(self._stop_streams(), self.parts.delivery.stop())  # nothing left in doubt
            await self.parts.observability.stop()
        if self.parts is not None and self.settings.market_data == "replay":
            await self._keep_replay_clock()

    async def _stop_streams(self, within: float = 0.8) -> None:
        """The watchers stop and their streams close, within their share of the stop's time
        (what rests on the exchange keeps protecting the positions meanwhile)."""
        task, self._streams = self._streams, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=within)
        if not done:
            log.warning("the account streams did not close within %.1f s; left to the shutdown", within)

    async def shutdown(self, app: BotApplication) -> None:
        if self._standby is not None and self._standby is not asyncio.current_task():  # stopped while waiting
            self._standby.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._standby
        await self.adapters.close()
        await self.db.close()
        await self.leader.release()  # last: nothing of this run writes after it


def _log_task_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s died", task.get_name(), exc_info=task.exception())
