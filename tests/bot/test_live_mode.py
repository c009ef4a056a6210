"""TRADING_MODE=live: the real bot against the fake Bot API and the fake Binance on 127.0.0.1.

/connect (deleted at once, checked with a balance call, never echoed, never logged),
/balance, /disconnect, confirmations that trade on the user's own account with protection
on the exchange, and the settings that refuse a live start without ENCRYPTION_KEY.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.clock import SystemClock
from core.errors import ConfigError
from core.models import PositionStatus
from core.settings import Settings
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot, make_settings, running_bot
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.fake_exchange import FakeBinance

KEY, SECRET = "LiveKeyAlice0123456789abcdef", "LiveSecretAlice0123456789abcdef"
ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    server.add_account(KEY, SECRET, {"USDT": "10000"})
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeBotApi, binance: FakeBinance, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        fake,
        tmp_path / "atra.sqlite3",
        trading_mode="live",
        encryption_key=ENCRYPTION_KEY,
        market_data="exchange",
        exchange_api_base_url=binance.base_url,
        exchange_ws_api_url=binance.ws_url,
    )
    async with running_bot(fake, settings, SystemClock()) as running:
        yield running


def outgoing(fake: FakeBotApi) -> list[str]:
    """Everything the bot sent to Telegram: the parameters of each of its calls."""
    return [str(c.params) for c in fake.calls]


async def press(bot: RunningBot, user: int, data: str, message_id: int) -> dict[str, Any]:
    query_id = bot.fake.inject_callback(user, data, message_id=message_id, strict=False)
    await bot.fake.wait_for(lambda: bot.fake.answers.get(query_id))
    return bot.fake.answers[query_id]


async def signal_for(bot: RunningBot, user: int, command: str = "/signal BTC/USDT long sl=58800 tp=61800,63000") -> int:
    """Publish as the admin; the id of the user's signal message."""
    before = {m["message_id"] for m in bot.fake.messages(user)}
    assert "published" in await bot.reply_to(ADMIN, command)
    message = await bot.fake.wait_for(
        lambda: next(
            (m for m in bot.fake.messages(user) if m["message_id"] not in before and "reply_markup" in m), None
        )
    )
    return int(message["message_id"])


def confirm_data(bot: RunningBot, user: int, message_id: int) -> str:
    message = next(m for m in bot.fake.messages(user) if m["message_id"] == message_id)
    return str(message["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


# --------------------------------------------------------------------------- /connect


async def test_connect_is_deleted_checked_stored_encrypted_and_never_echoed_or_logged(
    bot: RunningBot, binance: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert "/connect" in await bot.reply_to(ALICE, "/start")
    before = len(bot.fake.sent(ALICE))
    update = bot.fake.inject_message(ALICE, f"/connect binance {KEY} {SECRET}")
    await bot.fake.wait_for(lambda: len(bot.fake.sent(ALICE)) > before)
    reply = str(bot.fake.sent(ALICE)[-1].params["text"])
    assert "account is linked" in reply and "USDT: 10,000.00 free" in reply
    assert "&lt;b&gt;" not in reply  # the balance block's own markup is not escaped twice
    (deleted,) = bot.fake.deleted_incoming
    assert deleted[0] == ALICE and update  # the /connect message itself is gone
    deletes = [i for i, c in enumerate(bot.fake.calls) if c.method == "deleteMessage"]
    sends = [i for i, c in enumerate(bot.fake.calls) if c.method == "sendMessage" and c.chat_id == ALICE]
    assert deletes[0] < sends[-1]  # deleted before the answer
    rows = await bot.app.bot_data.services.users._db.fetchall("SELECT token FROM credentials")  # type: ignore[union-attr]
    assert len(rows) == 1 and KEY not in rows[0][0] and SECRET not in rows[0][0]
    assert [r.api_key for r in binance.requests_to("GET", "/api/v3/account")] == [KEY]  # checked once
    for secret in (KEY, SECRET):
        assert not any(secret in sent for sent in outgoing(bot.fake)), "a bot message echoes the key"
        leaked = [r.name for r in caplog.records if secret in r.getMessage() or secret in (r.exc_text or "")]
        assert leaked == [], f"the key appears in log records of {leaked}"
    assert any("/connect ***" in r.getMessage() for r in caplog.records)  # PTB's debug record, redacted


async def test_a_refused_key_is_not_stored(bot: RunningBot, binance: FakeBinance) -> None:
    await bot.reply_to(ALICE, "/start")
    reply = await bot.reply_to(ALICE, "/connect binance NotAKnownKey123 NotTheSecret123")
    assert "refused this API key" in reply and "NotAKnownKey123" not in reply
    assert len(bot.fake.deleted_incoming) == 1
    assert await bot.services.users._db.fetchall("SELECT * FROM credentials") == []  # type: ignore[attr-defined]
    assert "link it first" in await bot.reply_to(ALICE, "/balance")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/connect binance onlyakey12345", "Usage, in this private chat: /connect binance API_KEY API_SECRET"),
        (f"/connect kraken {KEY} {SECRET}", "This bot trades on binance"),
    ],
)
async def test_malformed_connect_is_deleted_and_explained(bot: RunningBot, text: str, answer: str) -> None:
    await bot.reply_to(ALICE, "/start")
    assert answer in await bot.reply_to(ALICE, text)
    assert len(bot.fake.deleted_incoming) == 1


async def test_connect_in_a_group_is_deleted_and_the_key_called_leaked(bot: RunningBot) -> None:
    group = -100200300
    bot.fake.inject_group_message(ALICE, group, f"/connect binance {KEY} {SECRET}")
    warning = await bot.fake.wait_for("sendMessage", chat_id=group)
    assert "Never post API keys in a group" in warning.params["text"]
    assert bot.fake.deleted_incoming == [(group, 1)]
    assert await bot.services.users._db.fetchall("SELECT * FROM credentials") == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- trading


async def test_without_a_key_a_confirmation_says_how_to_connect_then_trades_once_linked(
    bot: RunningBot, binance: FakeBinance
) -> None:
    await bot.reply_to(ALICE, "/start")
    message_id = await signal_for(bot, ALICE)
    data = confirm_data(bot, ALICE, message_id)
    refused = await press(bot, ALICE, data, message_id)
    assert "link it first with /connect" in refused["text"]
    assert binance.requests_to("POST", "/api/v3/order") == []

    await bot.reply_to(ALICE, f"/connect binance {KEY} {SECRET}")
    filled = await press(bot, ALICE, data, message_id)  # the row stayed pending
    assert "Filled" in filled["text"]
    (position,) = await bot.services.trading.positions_view(ALICE)
    assert position.position.quantity == pytest.approx(0.04166 - 0.00004166)
    assert len(binance.open_orders(KEY)) == 4  # two OCO lists: stop + TP1, stop + TP2

    balance = await bot.reply_to(ALICE, "/balance")
    assert (
        "Balance · binance" in balance and "BTC: 0.00000834 free · 0.04161834 total" in balance
    )  # locked by the lists

    binance.set_price("BTCUSDT", 58_000)  # through the stop: the exchange sells both halves
    assert await bot.services.trading.monitor() == 1
    closed = await bot.fake.wait_for(
        lambda: next((c for c in bot.fake.sent(ALICE) if "closed (stop-loss)" in str(c.params.get("text"))), None)
    )
    assert "58,000.00" in closed.params["text"]
    p = (await bot.services.trading.positions_view(ALICE)) or []
    assert p == [] and binance.open_orders(KEY) == []


async def test_close_button_cancels_protection_and_sells(bot: RunningBot, binance: FakeBinance) -> None:
    await bot.reply_to(ALICE, "/start")
    await bot.reply_to(ALICE, f"/connect binance {KEY} {SECRET}")
    message_id = await signal_for(bot, ALICE)
    assert "Filled" in (await press(bot, ALICE, confirm_data(bot, ALICE, message_id), message_id))["text"]
    (view,) = await bot.services.trading.positions_view(ALICE)
    listing = await bot.reply_to(ALICE, "/positions")
    assert "BTC/USDT LONG" in listing
    answer = await press(bot, ALICE, f"pos:y:{view.position.id}", bot.fake.messages(ALICE)[-1]["message_id"])
    assert "Closed BTC/USDT" in answer["text"]
    assert binance.open_orders(KEY) == []
    position = await bot.app.bot_data.services.trading._positions.get(view.position.id)  # type: ignore[union-attr]
    assert position is not None and position.status is PositionStatus.CLOSED


async def test_short_signals_are_refused_on_spot(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start")
    await bot.reply_to(ALICE, f"/connect binance {KEY} {SECRET}")
    message_id = await signal_for(bot, ALICE, "/signal BTC/USDT short sl=61200 tp=58200,57000")
    refused = await press(bot, ALICE, confirm_data(bot, ALICE, message_id), message_id)
    assert "spot only" in refused["text"]


async def test_disconnect_removes_the_key(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start")
    assert "No exchange account is linked" in await bot.reply_to(ALICE, "/disconnect")
    await bot.reply_to(ALICE, f"/connect binance {KEY} {SECRET}")
    assert "key is removed. Open positions: 0" in await bot.reply_to(ALICE, "/disconnect")
    assert "link it first" in await bot.reply_to(ALICE, "/balance")
    assert "Usage" not in await bot.reply_to(BOB, "/balance")  # not registered: told so


# ------------------------------------------------------------------------- settings


def test_live_mode_refuses_to_start_without_a_valid_encryption_key(tmp_path: Path) -> None:
    base = {
        "telegram_bot_token": "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ",
        "database_path": tmp_path / "x.sqlite3",
        "trading_mode": "live",
    }
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        _load(base)
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is not a Fernet key"):
        _load({**base, "encryption_key": "not-a-key"})
    with pytest.raises(ConfigError, match="MARKET_DATA=exchange"):
        _load(
            {
                **base,
                "encryption_key": ENCRYPTION_KEY,
                "market_data": "replay",
                "replay_dir": str(tmp_path),
                "replay_start": "2024-01-01T00:00:00Z",
            }
        )
    assert _load({**base, "encryption_key": ENCRYPTION_KEY}).trading_mode == "live"


def _load(values: dict[str, Any]) -> Settings:
    from pydantic import ValidationError

    from core.settings import describe_validation_error

    try:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


async def test_in_paper_mode_connect_is_deleted_and_balance_is_virtual(fake: FakeBotApi, tmp_path: Path) -> None:
    from core.clock import ManualClock
    from tests.conftest import T0
    from tests.fakes.market import FakeMarketData

    settings = make_settings(fake, tmp_path / "paper.sqlite3")
    async with running_bot(fake, settings, ManualClock(T0), FakeMarketData({"BTC/USDT": 100.0})) as paper:
        await paper.reply_to(ALICE, "/start")
        assert "paper mode" in await paper.reply_to(ALICE, f"/connect binance {KEY} {SECRET}")
        assert len(fake.deleted_incoming) == 1
        assert "Virtual balance (paper)\nUSDT: 10,000.00 free · 10,000.00 total" in await paper.reply_to(
            ALICE, "/balance"
        )
