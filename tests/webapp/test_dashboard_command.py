"""/dashboard, the chat menu button, and the settings that turn the dashboard on."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from core.clock import ManualClock
from core.errors import ConfigError
from core.settings import Settings
from tests.bot.harness import ALICE, BOB, make_settings, running_bot
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData
from tests.webapp.conftest import free_port

URL = "https://atra.example.test/app/"
TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


async def test_dashboard_button_and_menu_button(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    db = tmp_path / "atra.sqlite3"
    settings = make_settings(fake, db, webapp_port=free_port(), webapp_url=URL)
    async with running_bot(fake, settings, clock, market) as bot:
        assert fake.menu_buttons[None] == {"type": "web_app", "text": "📊 ATRA", "web_app": {"url": URL}}
        await bot.reply_to(ALICE, "/start")
        await bot.reply_to(BOB, "/start", language_code="ru")
        await bot.reply_to(ALICE, "/dashboard")
        message = fake.messages(ALICE)[-1]
        (button,) = message["reply_markup"]["inline_keyboard"][0]
        assert button == {"text": "Open the dashboard", "web_app": {"url": URL}}
        assert "Your dashboard" in message["text"]
        assert "/dashboard" in await bot.reply_to(ALICE, "/help")
        await bot.reply_to(BOB, "/dashboard", language_code="ru")
        (button,) = fake.messages(BOB)[-1]["reply_markup"]["inline_keyboard"][0]
        assert button["text"] == "Открыть панель" and "Ваша панель" in fake.messages(BOB)[-1]["text"]

    # WEBAPP_URL unset later: the menu button goes back to the default, /dashboard says it is off.
    async with running_bot(fake, make_settings(fake, db), clock, market) as bot:
        assert fake.menu_buttons[None] == {"type": "default"}
        assert "not enabled" in await bot.reply_to(ALICE, "/dashboard")
        assert "не включена" in await bot.reply_to(BOB, "/dashboard", language_code="ru")
    calls = len(fake.sent(method="setChatMenuButton"))
    async with running_bot(fake, make_settings(fake, db), clock, market):
        pass
    assert len(fake.sent(method="setChatMenuButton")) == calls  # nothing to undo: no call


async def test_the_dashboard_is_off_by_default_and_served_when_on(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    port = free_port()
    async with running_bot(fake, make_settings(fake, tmp_path / "a.sqlite3"), clock, market) as bot:
        assert bot.services.settings.webapp_port == 0
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"http://127.0.0.1:{port}/")
    settings = make_settings(fake, tmp_path / "b.sqlite3", webapp_port=port)
    async with (
        running_bot(fake, settings, clock, market),
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/") as response,
    ):
        assert response.status == 200 and "static/app.js" in await response.text()
    async with aiohttp.ClientSession() as session:  # stopped with the bot
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"webapp_url": "http://atra.example.test/", "webapp_port": 8080}, "WEBAPP_URL must be the dashboard's"),
        ({"webapp_url": URL}, "WEBAPP_URL needs WEBAPP_PORT"),
        ({"webapp_port": 70000}, "WEBAPP_PORT"),
    ],
)
def test_settings_refuse_a_dashboard_that_cannot_work(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, object], message: str
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name.upper(), str(value))
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert message in str(error.value)


def test_settings_default_to_off_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEBAPP_URL", "WEBAPP_PORT", "WEBAPP_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    settings = Settings.load(env_file=None)
    assert (settings.webapp_port, settings.webapp_host, settings.webapp_url) == (0, "127.0.0.1", None)
