"""Fixtures of the dashboard tests: the real bot (paper mode, fake Bot API, hand-driven
market and clock) with its dashboard server on a free loopback port, and a client."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.clock import ManualClock
from tests.bot import conftest as bot_fixtures
from tests.bot.harness import RunningBot, make_settings, running_bot
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.loopback import loopback_session
from tests.fakes.market import FakeMarketData

HOUR = timedelta(hours=1)
fake = bot_fixtures.fake  # the same fake Bot API and hand-driven market as the bot tests
market = bot_fixtures.market


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dashboard_settings() -> dict[str, Any]:
    """Settings beyond the harness's own (a test module may override this fixture)."""
    return {}


@pytest.fixture
async def dashboard_bot(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData, dashboard_settings: dict[str, Any]
) -> AsyncIterator[RunningBot]:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", webapp_port=free_port(), **dashboard_settings)
    async with running_bot(fake, settings, clock, market) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    session = loopback_session()
    yield session
    await session.close()


def base_url(bot: RunningBot) -> str:
    return f"http://127.0.0.1:{bot.services.settings.webapp_port}"
