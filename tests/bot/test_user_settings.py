"""/settings (issue 11) over the Bot API wire, in English and Russian: risk up to 5 % with the
choice marked; sides and symbols to receive; quiet hours (held or dropped, trade news still
sent); event messages on / silent / off."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.events import Alert
from core.prefs import UserPrefs
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot
from tests.bot.test_actionable_signals import card
from tests.bot.test_flow import HOUR, buttons, press, publish, subscribe
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame


def keyboard(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def message(bot: RunningBot, user: int, message_id: int) -> dict[str, Any]:
    return next(m for m in bot.fake.messages(user) if m["message_id"] == message_id)


async def open_settings(bot: RunningBot, user: int) -> int:
    await bot.reply_to(user, "/settings")
    return int(bot.fake.messages(user)[-1]["message_id"])


async def test_risk_goes_up_to_five_percent_with_the_choice_marked(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    menu = await open_settings(bot, ALICE)
    shown = message(bot, ALICE, menu)
    labels = [text for text, _ in keyboard(shown)]
    assert {"0.25%", "0.5%", "1%", "2%", "3%", "5%"} <= set(labels) and "✅ Default" in labels
    for line in ("Auto-execution: off", "Signals: all symbols · long and short", "Quiet hours (UTC): off"):
        assert line in shown["text"]
    assert "Messages: fills on · stop moves on · closes on" in shown["text"]
    await press(bot, ALICE, "set:risk:5", menu)
    edited = message(bot, ALICE, menu)
    assert "Risk per trade: 5% (your choice)" in edited["text"]
    labels = [text for text, _ in keyboard(edited)]
    assert "✅ 5%" in labels and "1%" in labels and "Default" in labels
    user = await bot.services.users.get(ALICE)
    assert user is not None and user.risk_pct == 5.0


async def test_russian_settings_and_the_toggles(bot: RunningBot) -> None:
    await bot.reply_to(BOB, "/start", language_code="ru")
    menu = await open_settings(bot, BOB)
    assert "Автоисполнение: выкл." in message(bot, BOB, menu)["text"]
    await press(bot, BOB, "set:auto:on", menu)
    await press(bot, BOB, "set:blocked:hide", menu)
    await press(bot, BOB, "set:quiet:22-07", menu)
    await press(bot, BOB, "set:quiet_mode:drop", menu)
    await press(bot, BOB, "set:event:stops=silent", menu)
    text = message(bot, BOB, menu)["text"]
    assert "Автоисполнение: вкл." in text and "Сигналы, которые вам нельзя взять: не присылаются" in text
    assert "Тихие часы (UTC): 22:00–07:00, сигналы не присылаются" in text
    assert "перенос стопа — без звука" in text
    user = await bot.services.users.get(BOB)
    assert user is not None
    assert user.prefs == UserPrefs(
        blocked="hide",
        auto_execute=True,
        quiet_from=22,
        quiet_to=7,
        quiet_mode="drop",
        events=(("fills", "on"), ("stops", "silent"), ("closes", "on")),
    )
    forged = await press(bot, BOB, "set:event:stops=loud", menu)
    assert "больше не действует" in forged["text"]
    again = await bot.services.users.get(BOB)
    assert again is not None and again.prefs == user.prefs


async def test_sides_and_symbols_decide_what_arrives(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    menu = await open_settings(bot, ALICE)
    await press(bot, ALICE, "set:side:short", menu)  # Alice: long only
    assert "Signals: all symbols · long only" in message(bot, ALICE, menu)["text"]
    await press(bot, ALICE, "set:page:symbols", menu)
    assert ("✅ BTC/USDT", "set:symbol:BTC/USDT") in keyboard(message(bot, ALICE, menu))
    await press(bot, ALICE, "set:symbol:ETH/USDT", menu)  # Alice: BTC only
    assert ("▫️ ETH/USDT", "set:symbol:ETH/USDT") in keyboard(message(bot, ALICE, menu))
    user = await bot.services.users.get(ALICE)
    assert user is not None and user.prefs.sides == ("long",) and user.prefs.symbols == ("BTC/USDT",)

    await publish(bot, (BOB,), "/signal BTC/USDT short sl=110 tp=90,80")
    await publish(bot, (BOB,), "/signal ETH/USDT long sl=45 tp=55,60")
    await publish(bot, (ALICE, BOB), "/signal BTC/USDT long sl=90 tp=110,120")
    assert card(bot, ALICE, "SHORT") is None and card(bot, ALICE, "ETH/USDT") is None
    assert card(bot, BOB, "SHORT") is not None and card(bot, BOB, "ETH/USDT") is not None


def outbox_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_quiet_hours_hold_or_drop_signals_but_not_trade_news(bot: RunningBot, tmp_path: Path) -> None:
    await subscribe(bot, ALICE, BOB)
    # T0 is 12:00 UTC: quiet 11:00-14:00 for both; Alice's signals wait, Bob's are dropped.
    await bot.services.users.set_prefs(ALICE, UserPrefs(quiet_from=11, quiet_to=14, quiet_mode="hold"))
    await bot.services.users.set_prefs(BOB, UserPrefs(quiet_from=11, quiet_to=14, quiet_mode="drop"))
    assert "published" in await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=90 tp=110,120")
    db = tmp_path / "atra.sqlite3"
    held = outbox_rows(db, f"SELECT not_before FROM outbox WHERE kind = 'signal' AND user_id = {ALICE}")
    assert len(held) == 1
    wait = datetime.fromisoformat(held[0][0]) - datetime.now(UTC)
    assert 2 * HOUR - 60 * (HOUR / 3600) < wait <= 2 * HOUR  # until 14:00, two hours after T0
    assert outbox_rows(db, f"SELECT COUNT(*) FROM user_signals WHERE user_id = {BOB}") == [(0,)]
    # Trade news is never held back behind the waiting signal.
    await bot.services.trading._outbox.enqueue([Alert(ALICE, "alert_delivery_recovered", {"depth": 1})], T0)
    bot.services.delivery.wake()
    await bot.fake.wait_for(lambda: bot.fake.sent(ALICE)[-1].params.get("text") and len(bot.fake.sent(ALICE)) >= 2)
    assert card(bot, ALICE, "BTC/USDT") is None


async def test_fills_silent_and_closes_off(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE, BOB)
    alice = UserPrefs().with_event("fills", "silent").with_event("closes", "off")
    await bot.services.users.set_prefs(ALICE, alice)
    ids = await publish(bot, (ALICE, BOB))
    for user in (ALICE, BOB):
        await press(bot, user, buttons(bot, user, ids[user])[0], ids[user])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108), (108, 121, 107, 120)], HOUR))
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: "closed (TP2)" in (bot.fake.last_text(BOB) or ""))
    tp1 = await bot.fake.wait_for(
        lambda: next((c for c in bot.fake.sent(ALICE) if "TP1 reached" in str(c.params.get("text"))), None)
    )
    assert tp1.params.get("disable_notification") in (True, "true", "True")
    bob_tp1 = next(c for c in bot.fake.sent(BOB) if "TP1 reached" in str(c.params.get("text")))
    assert bob_tp1.params.get("disable_notification") in (None, False, "false", "False")
    assert not any("closed (TP2)" in str(c.params.get("text")) for c in bot.fake.sent(ALICE))
