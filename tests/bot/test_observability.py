"""The running bot observed: the metrics endpoint scraped, /status at a glance, admin
alerts for a failing scan, a backed-up outbox and a stale model."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.clock import ManualClock
from core.errors import ExchangeUnavailable
from core.events import Alert
from core.models import Side
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot, make_settings, running_bot
from tests.bot.test_flow import eventually
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FlakyMarket(FakeMarketData):
    """Candles fail for the symbols in `down` (the exchange is not answering for them)."""

    def __init__(self, prices: dict[str, float]) -> None:
        super().__init__(prices)
        self.down: set[str] = set()

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        if symbol in self.down:
            raise ExchangeUnavailable(f"{symbol}: timeout")
        return await super().candles(symbol, timeframe, limit)


@pytest.fixture
def market() -> FlakyMarket:
    data = FlakyMarket({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    data.add_candles("BTC/USDT", candles_frame(T0 - HOUR, [(99, 101, 98, 100)], HOUR))
    return data


@pytest.fixture
async def bot(fake: FakeBotApi, tmp_path: Path, market: FlakyMarket) -> AsyncIterator[RunningBot]:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", metrics_port=free_port(), alert_delivery_lag_seconds=60)
    async with running_bot(fake, settings, ManualClock(T0), market) as running:
        for user in (ADMIN, ALICE, BOB):
            await running.services.trading.register(user, "en")
        yield running


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


async def test_metrics_endpoint_is_scraped(bot: RunningBot) -> None:
    await bot.services.admin.manual_signal("BTC/USDT", Side.LONG, 90.0, [110.0, 120.0])
    await bot.fake.wait_for(lambda: len(bot.fake.sent(method="sendPhoto")) == 3)
    await eventually(lambda: _delivered(bot, 3))
    observability = bot.services.observability
    await observability.refresh()
    assert observability.config.metrics_host == "127.0.0.1"
    port = observability.metrics_port
    assert port is not None
    samples = await asyncio.to_thread(scrape, port)
    expected = {
        'atra_messages_sent_total{kind="signal"}': 3,
        'atra_delivery_latency_seconds_count{kind="signal"}': 3,
        'atra_signals_total{source="manual"}': 1,
        'atra_user_signals{state="pending"}': 3,
        "atra_outbox_depth": 0,
        "atra_outbox_in_flight": 0,
        "atra_telegram_rate_limited_total": 0,
        "atra_open_positions": 0,
        "atra_subscribers": 3,
    }
    for name, value in expected.items():
        assert samples.get(name) == value, name
    assert "atra_scan_duration_seconds_count" in samples and "atra_messages_in_doubt_total" in samples


async def _delivered(bot: RunningBot, n: int) -> bool:
    return bot.services.delivery.sent >= n


async def test_status_shows_the_same_at_a_glance(bot: RunningBot) -> None:
    await bot.services.admin.manual_signal("BTC/USDT", Side.LONG, 90.0, [110.0, 120.0])
    await eventually(lambda: _delivered(bot, 3))
    await bot.reply_to(ADMIN, "/scan")
    status = await bot.reply_to(ADMIN, "/status")
    for fragment in ("Delivery: 0 waiting", "since start 3 sent, 0 dropped, 0 × 429", "Signals: 1 generated",
                     "3 pending", "Engine: last scan took", "rejections since start: not enough data 2",
                     "ML: none", "Orders: none", "Exchange limiter: none"):  # fmt: skip
        assert fragment in status, fragment


async def test_a_failing_scan_alerts_the_admins_once(bot: RunningBot, market: FlakyMarket) -> None:
    market.down = {"BTC/USDT", "ETH/USDT"}
    await bot.reply_to(ADMIN, "/scan", count=2)  # the scan's answer and the alert
    texts = [c.result["text"] for c in bot.fake.sent(ADMIN)]
    assert any("scan failed for 2 symbol(s): BTC/USDT, ETH/USDT" in text for text in texts)
    before = len(bot.fake.sent(ADMIN))
    await bot.reply_to(ADMIN, "/scan")  # still failing: no second alert
    assert len(bot.fake.sent(ADMIN)) == before + 1
    market.down = set()
    await bot.services.scanner.run()  # a clean scan ends the condition
    scrape_port = bot.services.observability.metrics_port
    assert scrape_port is not None
    samples = await asyncio.to_thread(scrape, scrape_port)
    assert samples['atra_scans_total{result="errors"}'] == 2 and samples['atra_scans_total{result="ok"}'] == 1
    assert samples['atra_admin_alerts_total{key="alert_scan_errors"}'] == 1


def admin_alerts(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        rows = conn.execute(f"SELECT payload FROM outbox WHERE user_id = {ADMIN} AND kind = 'alert' ORDER BY id")
        return [json.loads(payload)["key"] for (payload,) in rows]


async def test_a_backed_up_outbox_alerts_and_then_recovers(bot: RunningBot, tmp_path: Path) -> None:
    bot.services.delivery.abort()  # delivery is stuck
    await bot.services.trading._outbox.enqueue([Alert(ALICE, "alert_delivery_recovered", {"depth": 0})], T0)  # noqa: SLF001
    observability = bot.services.observability
    await observability.refresh()
    assert admin_alerts(tmp_path) == []  # waiting, but not for long yet
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        conn.execute("UPDATE outbox SET enqueued_at = enqueued_at - 300")
    health = await observability.refresh()
    assert health.figures.outbox_oldest_seconds >= 300
    await observability.refresh()  # still backed up: one alert, not two
    assert admin_alerts(tmp_path) == ["alert_delivery_backlog"]
    with sqlite3.connect(tmp_path / "atra.sqlite3") as conn:
        conn.execute("UPDATE outbox SET status = 'sent' WHERE user_id = ?", (ALICE,))
        conn.execute("UPDATE outbox SET enqueued_at = strftime('%s', 'now') WHERE status = 'pending'")
    await observability.refresh()
    assert admin_alerts(tmp_path) == ["alert_delivery_backlog", "alert_delivery_recovered"]


async def test_a_stale_model_alerts_the_admins(bot: RunningBot, tmp_path: Path) -> None:
    observability = bot.services.observability
    ages = {"lightgbm_success": timedelta(days=3), "gru_price": timedelta(days=45)}
    observability._model_ages = lambda: ages  # noqa: SLF001 - the registry's ages, as the composition root passes them
    await observability.refresh()
    await observability.refresh()
    assert admin_alerts(tmp_path) == ["alert_model_stale"]
    await bot.fake.wait_for(lambda: "gru_price is stale: trained 45 days ago" in (bot.fake.last_text(ADMIN) or ""))
    assert "gru_price (age 45 d)" in await bot.reply_to(ADMIN, "/status")
