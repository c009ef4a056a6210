"""The whole flow through the real PTB client against the fake Bot API server:
/start, an admin's signal fanned out, Confirm, the paper position, its management,
refusals, pause, limits, blocked users, bad input and a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.models import PositionStatus, SignalState
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot, make_settings, running_bot
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)


async def eventually(check: Callable[[], Awaitable[bool]], limit: float = 5.0) -> None:
    """Poll an async condition until it holds (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{check.__name__} did not become true in {limit}s")
        await asyncio.sleep(0.01)


async def subscribe(bot: RunningBot, *users: int) -> None:
    for user in users:
        await bot.reply_to(user, "/start")


async def publish(
    bot: RunningBot, recipients: tuple[int, ...], command: str = "/signal BTC/USDT long sl=90 tp=110,120"
) -> dict[int, int]:
    """Admin publishes; wait until each recipient has the signal. Returns message ids."""
    before = len(bot.fake.sent(ADMIN))
    bot.say(ADMIN, command)
    # the admin's text answer: not whatever reaches the admin's chat first (an admin who
    # subscribed may be getting an earlier signal's card from the outbox at that moment)
    answer = await bot.fake.wait_for(
        lambda: next((c for c in bot.fake.sent(ADMIN)[before:] if c.method == "sendMessage"), None)
    )
    reply = str((answer.result or {}).get("text"))
    assert "published" in reply, reply
    ids = {}
    for user in recipients:
        call = await bot.fake.wait_for(
            lambda u=user: next(
                (c for c in reversed(bot.fake.sent(u)) if "sig:c:" in str(c.params.get("reply_markup"))), None
            )
        )
        ids[user] = call.result["message_id"]
    return ids


def buttons(bot: RunningBot, user: int, message_id: int) -> list[str]:
    message = next(m for m in bot.fake.messages(user) if m["message_id"] == message_id)
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


async def press(bot: RunningBot, user: int, data: str, message_id: int, owner: int | None = None) -> dict:
    query_id = bot.fake.inject_callback(user, data, message_id=message_id, chat_id=owner or user, strict=False)
    await bot.fake.wait_for(lambda: bot.fake.answers.get(query_id))
    return bot.fake.answers[query_id]


async def test_start_registers_in_the_users_language(bot: RunningBot) -> None:
    english = await bot.reply_to(ALICE, "/start", language_code="en-GB")
    russian = await bot.reply_to(BOB, "/start", language_code="ru")
    assert "Welcome to" in english and "10,000.00" in english
    assert "Добро пожаловать" in russian and "бумажная торговля" in russian and "paper" not in russian
    user = await bot.services.users.get(BOB)
    assert user is not None and user.language == "ru" and user.subscribed
    again = await bot.reply_to(BOB, "/start", language_code="ru")
    assert "С возвращением" in again


async def test_help_shows_admin_commands_only_to_admins(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    assert "/setlimit" not in await bot.reply_to(ALICE, "/help")
    assert "/setlimit" in await bot.reply_to(ADMIN, "/help")


async def test_signal_confirm_fill_and_position(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    ids = await publish(bot, (ALICE, BOB))
    signal = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE])
    assert signal["photo"]  # the chart, with the signal as its caption
    text = signal["caption"]
    for fragment in ("BTC/USDT LONG", "Entry: 100", "Stop-loss: 90 (10.00%)", "TP1: 110", "TP2: 120", "Size: 10"):
        assert fragment in text
    data = buttons(bot, ALICE, ids[ALICE])
    assert all(len(d.encode()) <= 64 for d in data)

    answer = await press(bot, ALICE, data[0], ids[ALICE])
    assert "Filled" in answer["text"] and "100" in answer["text"]
    # The signal's own message is edited to show the fill, its buttons gone.
    await bot.fake.wait_for(
        lambda: (
            "Filled" in (bot.fake.last_text(ALICE) or "")
            or any("Filled" in (m.get("caption") or "") for m in bot.fake.messages(ALICE))
        )
    )
    edited = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE])
    assert "Filled" in edited["caption"] and "reply_markup" not in edited

    positions = await bot.reply_to(ALICE, "/positions")
    assert "BTC/USDT LONG 10 @ 100" in positions and "Stop 90" in positions and "TP2 120" in positions
    assert "unrealised P&L 0.00" in positions
    assert "No open positions" in await bot.reply_to(BOB, "/positions")


async def test_double_and_forged_presses_execute_once(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    ids = await publish(bot, (ALICE, BOB))
    confirm = buttons(bot, ALICE, ids[ALICE])[0]
    forged = await press(bot, BOB, confirm, ids[ALICE], owner=ALICE)  # Bob replays Alice's callback data
    # A stale or foreign button says the signal is gone, never "not yours" (nothing leaks).
    assert "expired or is no longer available" in forged["text"] and "yours" not in forged["text"]
    first = await press(bot, ALICE, confirm, ids[ALICE])
    second = await press(bot, ALICE, confirm, ids[ALICE])
    assert "Filled" in first["text"]
    assert "Already" in second["text"]
    assert await bot.services.trading.positions_view(ALICE) != []
    assert await bot.services.trading.positions_view(BOB) == []
    garbage = await press(bot, ALICE, "sig:c:not-a-number", ids[ALICE])
    assert "no longer valid" in garbage["text"]


async def test_skip(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,))
    skip = buttons(bot, ALICE, ids[ALICE])[-1]
    assert "Skipped" in (await press(bot, ALICE, skip, ids[ALICE]))["text"]
    await bot.fake.wait_for(lambda: buttons(bot, ALICE, ids[ALICE]) == [])
    assert "No active signals" in await bot.reply_to(ALICE, "/signals")


async def test_signals_list(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    listing = await bot.reply_to(ALICE, "/signals")
    assert "BTC/USDT LONG · awaiting confirmation" in listing
    assert "Entry 100 · SL 90 · TP1 110 · TP2 120" in listing


async def test_pause_blocks_signals_and_confirmations(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,))
    assert "Paused" in await bot.reply_to(ADMIN, "/pause")
    answer = await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    assert "paused" in answer["text"]
    assert "paused" in await bot.reply_to(ADMIN, "/signal ETH/USDT long sl=45 tp=55")
    assert "paused" in await bot.reply_to(ADMIN, "/scan")
    assert "paused" in await bot.reply_to(ADMIN, "/status")
    assert "Resumed" in await bot.reply_to(ADMIN, "/resume")
    assert "Filled" in (await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE]))["text"]


async def test_non_admins_are_refused_and_nothing_changes(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    for command in (
        "/pause",
        "/resume",
        "/limits",
        "/setlimit max_open_positions 9",
        "/status",
        "/scan",
        "/signal BTC/USDT long sl=90 tp=110",
    ):
        assert "administrators only" in await bot.reply_to(ALICE, command)
    status = await bot.services.admin.status()
    assert not status.paused
    assert (await bot.services.admin.limits()).max_open_positions == 3
    assert await bot.services.trading.active_signals(ALICE) == []


async def test_setlimit_validates_and_limits_show(bot: RunningBot) -> None:
    assert "not a valid whole number" in await bot.reply_to(ADMIN, "/setlimit max_open_positions abc")
    assert "must be" in await bot.reply_to(ADMIN, "/setlimit risk_per_trade_pct -1")
    assert "Unknown limit" in await bot.reply_to(ADMIN, "/setlimit leverage 100")
    assert "Usage: /setlimit" in await bot.reply_to(ADMIN, "/setlimit")
    assert (await bot.services.admin.limits()).max_open_positions == 3
    assert "max_open_positions = 1" in await bot.reply_to(ADMIN, "/setlimit max_open_positions 1")
    assert "risk_per_trade_pct = 2.5" in await bot.reply_to(ADMIN, "/setlimit risk_per_trade_pct 2.5")
    shown = await bot.reply_to(ADMIN, "/limits")
    assert "max_open_positions</code> = 1" in shown or "max_open_positions = 1" in shown


async def test_manual_signal_validation(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    assert "must be below" in await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=105 tp=110")
    assert "must be above" in await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=90 tp=95,99.5")
    assert "must be above" in await bot.reply_to(ADMIN, "/signal BTC/USDT short sl=95 tp=90")
    assert "Unknown symbol" in await bot.reply_to(ADMIN, "/signal DOGE/USDT long sl=1 tp=2")
    assert "not a valid price" in await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=abc tp=110")
    assert "Usage: /signal" in await bot.reply_to(ADMIN, "/signal BTC/USDT")
    assert "long or short" in await bot.reply_to(ADMIN, "/signal BTC/USDT sideways sl=90 tp=110")
    assert await bot.services.trading.active_signals(ALICE) == []
    assert not any(c.params.get("reply_markup") for c in bot.fake.sent(ALICE))


async def test_blocked_user_is_marked_and_skipped(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    bot.fake.block(BOB)
    await publish(bot, (ALICE,))

    async def bob_blocked() -> bool:
        user = await bot.services.users.get(BOB)
        return user is not None and user.blocked

    await eventually(bob_blocked)
    attempts = len([c for c in bot.fake.calls if c.chat_id == BOB])
    await publish(bot, (ALICE,), "/signal ETH/USDT short sl=55 tp=45")
    assert len([c for c in bot.fake.calls if c.chat_id == BOB]) == attempts
    assert "1 subscriber" in (bot.fake.last_text(ADMIN) or "")  # only Alice is counted


async def test_stop_unsubscribes(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    assert "unsubscribed" in await bot.reply_to(BOB, "/stop")
    await publish(bot, (ALICE,))
    assert not any(c.params.get("reply_markup") for c in bot.fake.sent(BOB))


async def test_bad_input_gets_short_answers(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    assert "Unknown command" in await bot.reply_to(ALICE, "/frobnicate now")
    assert "commands and buttons" in await bot.reply_to(ALICE, "hello")
    assert "commands and buttons" in await bot.reply_to(ALICE, "x" * 4096)
    assert "commands and buttons" in await bot.reply_to(ALICE, "🙂\u0000\u202e<b>")
    assert "Неизвестная команда" in await bot.reply_to(BOB, "/nope", language_code="ru")


async def test_monitor_reports_tp1_and_close(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,))
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108), (108, 121, 107, 120)], HOUR))
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: "closed (TP2)" in (bot.fake.last_text(ALICE) or ""))
    texts = [c.params.get("text") or c.params["caption"] for c in bot.fake.sent(ALICE)]
    assert any("TP1 reached: closed 5 @ 110" in t and "Stop moved to 100" in t for t in texts)
    # -1.00 entry fee + (50 - 0.55) + (100 - 0.60) = +147.85 on a notional of 1 000
    assert "realised P&L +147.85 (+14.7" in (bot.fake.last_text(ALICE) or "")  # 14.785% at 2 decimals
    assert "No open positions" in await bot.reply_to(ALICE, "/positions")


async def test_status_for_admins(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    status = await bot.reply_to(ADMIN, "/status")
    assert "Mode: paper" in status and "running" in status and "BTC/USDT, ETH/USDT" in status
    assert "1 subscribed" in status and "Last scan: never" in status
    scan = await bot.reply_to(ADMIN, "/scan")
    assert "Scanned 2 symbol(s)" in scan
    assert "Last scan: 2024-03-01" in await bot.reply_to(ADMIN, "/status")


async def test_restart_keeps_everything(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    settings = make_settings(fake, tmp_path / "atra.sqlite3")
    async with running_bot(fake, settings, clock, market) as first:
        await subscribe(first, ALICE)
        ids = await publish(first, (ALICE,))
        await press(first, ALICE, buttons(first, ALICE, ids[ALICE])[0], ids[ALICE])
        await first.reply_to(ADMIN, "/setlimit max_open_positions 5")
        await first.reply_to(ADMIN, "/pause")
    async with running_bot(fake, settings, clock, market) as second:
        assert "BTC/USDT LONG 10 @ 100" in await second.reply_to(ALICE, "/positions")
        status = await second.services.admin.status()
        assert status.paused and status.users == 1 and status.open_positions == 1
        assert (await second.services.admin.limits()).max_open_positions == 5
        views = await second.services.trading.positions_view(ALICE)
        assert views[0].position.status is PositionStatus.OPEN


async def test_token_never_reaches_the_logs(bot: RunningBot, caplog: pytest.LogCaptureFixture) -> None:
    from bot.logging_setup import RedactSecrets

    redactor = RedactSecrets([bot.fake.token])
    caplog.handler.addFilter(redactor)
    with caplog.at_level(logging.DEBUG):
        await subscribe(bot, ALICE)
        await publish(bot, (ALICE,))
        logging.getLogger("test").info("url https://api.telegram.org/bot%s/getMe", bot.fake.token)
    assert caplog.records
    assert bot.fake.token not in caplog.text
    assert bot.fake.token.split(":")[1] not in caplog.text


async def test_expired_signal_is_refused(bot: RunningBot, clock: ManualClock) -> None:
    await subscribe(bot, ALICE)
    ids = await publish(bot, (ALICE,))
    clock.advance(timedelta(hours=2))
    answer = await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    assert "expired" in answer["text"]
    assert await bot.services.trading.active_signals(ALICE) == []
    row = await bot.services.trading._signals.get_user_signal(1)  # noqa: SLF001
    assert row is not None
    assert row.state is SignalState.EXPIRED


async def test_close_position_from_positions_needs_two_presses(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE, BOB)
    ids = await publish(bot, (ALICE,))
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    await bot.reply_to(ALICE, "/positions")
    listing = bot.fake.messages(ALICE)[-1]
    ask, break_even = buttons(bot, ALICE, listing["message_id"])  # Close, and Stop to break-even
    assert ask.startswith("pos:c:") and break_even.startswith("pos:b:")
    await press(bot, BOB, ask.replace("pos:c:", "pos:y:"), listing["message_id"], owner=ALICE)
    assert len(await bot.services.trading.positions_view(ALICE)) == 1  # Bob cannot close Alice's position
    await press(bot, ALICE, ask, listing["message_id"])
    await bot.fake.wait_for(lambda: buttons(bot, ALICE, listing["message_id"])[0].startswith("pos:y:"))
    sure, cancel = buttons(bot, ALICE, listing["message_id"])
    assert len(await bot.services.trading.positions_view(ALICE)) == 1  # the first press only asks
    market.prices["BTC/USDT"] = 104.0
    answer = await press(bot, ALICE, sure, listing["message_id"])
    # (104 - 100) x 10 = 40; fees 1.00 + 1.04 -> +37.96
    assert "Closed BTC/USDT @ 104, P&L +37.96" in answer["text"]
    assert len(await bot.services.trading.positions_view(ALICE)) == 0
    await bot.fake.wait_for(lambda: "closed (manual)" in (bot.fake.last_text(ALICE) or ""))
    again = await press(bot, ALICE, sure, listing["message_id"])
    assert "already closed" in again["text"]


async def test_settings_language_and_risk(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    shown = await bot.reply_to(ALICE, "/settings")
    assert "Language: English" in shown and "Risk per trade: 1% (system default)" in shown
    menu = bot.fake.messages(ALICE)[-1]["message_id"]
    await press(bot, ALICE, "set:risk:0.5", menu)
    await press(bot, ALICE, "set:lang:ru", menu)
    edited = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == menu)["text"]
    assert "Язык: Русский" in edited and "Риск на сделку: 0,5% (ваш выбор)" in edited
    forged = await press(bot, ALICE, "set:risk:50", menu)
    assert "устарела" in forged["text"] or "больше не действует" in forged["text"]
    user = await bot.services.users.get(ALICE)
    assert user is not None and user.risk_pct == 0.5 and user.language == "ru"
    # 0.5% of 10 000 = 50 at risk over a stop 10 away -> 5 units
    ids = await publish(bot, (ALICE,))
    text = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE])["caption"]
    assert "Размер позиции: 5 " in text and "ЛОНГ" in text


async def test_status_names_the_active_models(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", ml_filters=True)
    async with running_bot(fake, settings, clock, market) as running:
        status = await running.reply_to(ADMIN, "/status")
    assert "Models" in status and "NONE ACTIVE" not in status
    assert "lightgbm" in status.lower() or "success" in status.lower()


async def test_auto_ml_filters_follow_the_sets_walk_forward_verdict(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    """ML_FILTERS=auto (the default): the shipped set filters only if its walk-forward lift
    is real; otherwise the bot runs without it and /status says why in one line."""
    from ml.runtime import load_active_models

    settings = make_settings(fake, tmp_path / "atra.sqlite3", ml_filters="auto")
    active, why = load_active_models(settings.model_dir, clock, settings.timeframe).default_verdict()
    async with running_bot(fake, settings, clock, market) as running:
        status = await running.reply_to(ADMIN, "/status")
    if active:
        assert why in status and "off by default" not in status
    else:
        assert f"ML filters: off by default, {why}; ML_FILTERS=true forces them" in status.replace("\n", " ")


async def test_missing_models_are_a_loud_state(
    fake: FakeBotApi, tmp_path: Path, clock: ManualClock, market: FakeMarketData
) -> None:
    settings = make_settings(fake, tmp_path / "atra.sqlite3", ml_filters=True, model_dir=tmp_path / "no-models")
    async with running_bot(fake, settings, clock, market) as running:
        status = await running.reply_to(ADMIN, "/status")
    assert "NONE ACTIVE" in status


async def test_tp1_and_tp2_in_one_candle_is_one_message(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE)
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (ALICE, BOB))
    for user in (ALICE, BOB):
        await press(bot, user, buttons(bot, user, ids[user])[0], ids[user])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 121, 99, 120)], HOUR))  # through 110 and 120 at once
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: "closed (TP2)" in (bot.fake.last_text(ALICE) or ""))
    await bot.fake.wait_for(lambda: "закрыта (TP2)" in (bot.fake.last_text(BOB) or ""))
    for user in (ALICE, BOB):
        texts = [str(c.params.get("text")) for c in bot.fake.sent(user)]
        assert not any("TP1" in t and ("reached" in t or "достигнут" in t) for t in texts)
    # Both halves count: -1.00 entry fee + (50 - 0.55) + (100 - 0.60) = +147.85
    assert "realised P&L +147.85" in (bot.fake.last_text(ALICE) or "")


async def test_status_in_russian_has_no_english_words_of_ours(bot: RunningBot) -> None:
    await bot.reply_to(ADMIN, "/start", language_code="ru")
    await bot.reply_to(ADMIN, "/scan")
    status = await bot.reply_to(ADMIN, "/status")
    assert "Режим: бумажная торговля · данные: биржа" in status
    assert "paper" not in status and "exchange" not in status and "not_enough_data" not in status
    assert "мало данных 2" in status  # the engine's reason codes in words (one candle each: not enough data)
