"""Run the real bot (PTB Application, handlers, jobs' services, delivery worker) against
the fake Bot API server, with a hand-driven market and clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.adapters import StreamFactory
from bot.app import Overrides, build_application
from bot.context import BotApplication, Services
from bot.ratelimit import TelegramLimits
from core.ports import Clock
from core.settings import Settings
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.loopback import loopback_session
from tests.fakes.market import FakeMarketData

#: Telegram's limits switched off for tests that are not about them (the fake enforces none by default).
FAST = TelegramLimits(messages_per_second=1000.0, chat_interval=0.0)

ADMIN = 1
ALICE = 1001
BOB = 1002


def make_settings(fake: FakeBotApi, db_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": fake.token,
        "telegram_api_base_url": fake.base_url,
        "admin_ids": str(ADMIN),
        "database_path": db_path,
        "symbols": "BTC/USDT,ETH/USDT",
        "paper_fee_pct": 0.1,
        "paper_slippage_pct": 0.0,
        "ml_filters": False,  # loading torch models per test is slow; one test turns them on
        # the seeds' exits (TP1 closes half, stop to break-even) the flow tests were worked out for
        "playbook": "hybrid_seeds",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningBot:
    app: BotApplication
    fake: FakeBotApi

    @property
    def services(self) -> Services:
        services = self.app.bot_data.services
        assert services is not None
        return services

    def say(self, user_id: int, text: str, language_code: str = "en") -> None:
        self.fake.inject_message(user_id, text, language_code=language_code)

    async def reply_to(self, user_id: int, text: str, language_code: str = "en", count: int = 1) -> str:
        """Send a message and wait for the bot's next `count` message(s) to that chat."""
        before = len(self.fake.sent(user_id))
        self.say(user_id, text, language_code)
        await self.fake.wait_for(lambda: len(self.fake.sent(user_id)) >= before + count)
        return "\n".join(str((c.result or {}).get("text")) for c in self.fake.sent(user_id)[before:])


@asynccontextmanager
async def running_bot(
    fake: FakeBotApi,
    settings: Settings,
    clock: Clock | None = None,
    market: FakeMarketData | None = None,
    *,
    limits: TelegramLimits = FAST,
    delivery: dict[str, float] | None = None,
    order_stream: StreamFactory | None = None,
) -> AsyncIterator[RunningBot]:
    """Start the application the way run_polling does, and stop it the same way. Without
    `market`, the settings' own market data is used; its ccxt clients (MARKET_DATA=exchange)
    get a session that can reach 127.0.0.1 only."""
    session = loopback_session()
    overrides = Overrides(
        clock=clock,
        market_data=market,
        schedule_jobs=False,
        delivery_options={"idle_poll": 0.05, **(delivery or {})},
        telegram_limits=limits,
        exchange_session=session,
        order_stream=order_stream,
    )
    app = build_application(settings, overrides)
    try:
        await app.initialize()
        assert app.post_init is not None and app.updater is not None
        await app.post_init(app)
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        try:
            yield RunningBot(app, fake)
        finally:
            await app.updater.stop()
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
            await app.shutdown()
            if app.post_shutdown:
                await app.post_shutdown(app)
    finally:
        await session.close()
