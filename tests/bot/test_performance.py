# ruff: noqa: E501 - the expected messages are quoted whole, as users read them
"""The track record end to end over the Bot API wire (the real PTB client against the fake
server), in English and Russian: /performance after a traded admin signal, the record line on
each signal, probation set with /setlimit, alerted once, shown in /status, signals marked and
then held, and lifted when the bound is lowered."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.render import signal_count
from core.models import Side, SignalDraft, SignalLevels
from tests.bot.harness import ADMIN, ALICE, RunningBot
from tests.bot.test_flow import buttons, press, publish
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)

TEXT = {
    "en": {
        "first_line": "📊 admin signals · 30 d: 0 signals, none closed yet",
        "performance": (
            "<b>admin signals</b>",
            "Last 30 days: 1 signal, 1 closed, 0 open now",
            "win 100.00% · avg +1.48 R · expectancy +14.79%",
            "best +1.48 R · worst +1.48 R",
            "All time: 1 signal, 1 closed, 0 open now",
        ),
        "second_line": "📊 admin signals · 30 d: 1 signal, +1.48 R avg",
        "set": "✅ probation_trades = 2",
        "range": "probation_min_r must be -5…5",
        "hold_range": "probation_hold must be 0…1",
        "alert_on": "Playbook hybrid is on probation: its last 2 closed signals averaged -1.02 R, below the bound of 0 R",
        "status": ("<b>Probation</b> (last 2 closed signals below +0.00 R avg; signals marked):", "⚠️ hybrid: -1.02 R avg over 2"),
        "marked": "⚠️ This playbook is on probation: its last 2 closed signals averaged -1.02 R.",
        "hybrid_line": "📊 hybrid · 30 d: 2 signals, -1.02 R avg",
        "on_probation": "<b>hybrid</b> ⚠️ on probation",
        "alert_off": "Playbook hybrid is off probation: its last 2 closed signals average -1.02 R (bound -1.5 R).",
        "status_off": "✅ hybrid: -1.02 R avg over 2",
    },
    "ru": {
        "first_line": "📊 сигналы администратора · 30 дн.: 0 сигналов, закрытых пока нет",
        "performance": (
            "<b>сигналы администратора</b>",
            "Последние 30 дн.: 1 сигнал, закрыто 1, открыто сейчас 0",
            "прибыльных 100,00% · в среднем +1,48 R · матожидание +14,79%",
            "лучший +1,48 R · худший +1,48 R",
            "За всё время: 1 сигнал, закрыто 1, открыто сейчас 0",
        ),
        "second_line": "📊 сигналы администратора · 30 дн.: 1 сигнал, в среднем +1,48 R",
        "set": "✅ probation_trades = 2",
        "range": "probation_min_r",
        "hold_range": "probation_hold",
        "alert_on": "Стратегия hybrid на испытательном сроке: по последним 2 закрытым сигналам в среднем -1,02 R — ниже границы 0 R",
        "status": (
            "<b>Испытательный срок</b> (средний R по последним 2 закрытым сигналам ниже +0,00 R; сигналы помечаются):",
            "⚠️ hybrid: в среднем -1,02 R (закрытых: 2)",
        ),
        "marked": "⚠️ Эта стратегия на испытательном сроке: по последним 2 закрытым сигналам в среднем -1,02 R.",
        "hybrid_line": "📊 hybrid · 30 дн.: 2 сигнала, в среднем -1,02 R",
        "on_probation": "<b>hybrid</b> ⚠️ на испытательном сроке",
        "alert_off": "Стратегия hybrid снята с испытательного срока: по последним 2 закрытым сигналам в среднем -1,02 R (граница -1,5 R).",
        "status_off": "✅ hybrid: в среднем -1,02 R (закрытых: 2)",
    },
}  # fmt: skip


def html_of(call_result: dict) -> str:
    """A sent message's text or caption (the fake keeps it as Telegram returns it, tags parsed)."""
    return str(call_result.get("caption") or call_result.get("text") or "")


def signal_messages(bot: RunningBot, user: int) -> list[str]:
    return [html_of(c.result) for c in bot.fake.sent(user) if "sig:c:" in str(c.params.get("reply_markup"))]


async def command(bot: RunningBot, user: int, text: str, language: str) -> str:
    """The raw HTML the bot sent in answer (tags included), to check bold titles too."""
    before = len(bot.fake.sent(user))
    bot.say(user, text, language)
    await bot.fake.wait_for(lambda: len(bot.fake.sent(user)) > before)
    return "\n".join(str(c.params.get("text")) for c in bot.fake.sent(user)[before:])


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_performance_after_a_traded_admin_signal(bot: RunningBot, market: FakeMarketData, language: str) -> None:
    words = TEXT[language]
    await bot.reply_to(ALICE, "/start", language_code=language)
    ids = await publish(bot, (ALICE,))
    assert words["first_line"] in signal_messages(bot, ALICE)[-1]
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108), (108, 121, 107, 120)], HOUR))
    await bot.services.trading.monitor()
    assert await bot.services.track_record.advance() == 1
    # The shadow is one unit of what Alice traded (10 units, +147.85 after fees): 100 -> half at 110,
    # half at 120 = +15 gross, fees 0.1 + 0.055 + 0.06 -> +14.785 = +1.4785 R on the 10 risked, +14.785 %.
    closed = (await bot.services.history.stats(ALICE)).metrics.realized_pnl
    assert closed == pytest.approx(147.85)
    performance = await command(bot, ALICE, "/performance", language)
    for fragment in words["performance"]:
        assert fragment in performance, performance
    await publish(bot, (ALICE,), "/signal BTC/USDT long sl=110 tp=130,140")  # the price is 120 now
    await bot.fake.wait_for(lambda: len(signal_messages(bot, ALICE)) == 2)
    assert words["second_line"] in signal_messages(bot, ALICE)[-1]


def hybrid(candle_time: datetime) -> SignalDraft:
    """A signal of the engine's hybrid playbook, as the scanner publishes it."""
    return SignalDraft(
        symbol="BTC/USDT", timeframe="1h", levels=SignalLevels(Side.LONG, 100.0, 90.0, 115.0, 125.0),
        candle_time=candle_time, source="engine", meta={"strategy": "hybrid"},
    )  # fmt: skip


async def admin_message_with(bot: RunningBot, fragment: str) -> str:
    """Wait for a message to the admin that says `fragment` (a timeout fails the test)."""
    call = await bot.fake.wait_for(
        lambda: next((c for c in bot.fake.sent(ADMIN) if fragment in html_of(c.result)), None)
    )
    return html_of(call.result)


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_probation_set_alerted_shown_marked_held_and_lifted(
    bot: RunningBot, market: FakeMarketData, language: str
) -> None:
    words = TEXT[language]
    await bot.reply_to(ADMIN, "/start", language_code=language)
    await bot.reply_to(ALICE, "/start", language_code=language)
    assert words["set"] in await bot.reply_to(ADMIN, "/setlimit probation_trades 2", language)
    assert words["range"] in await bot.reply_to(ADMIN, "/setlimit probation_min_r -7", language)
    assert words["hold_range"] in await bot.reply_to(ADMIN, "/setlimit probation_hold 2", language)
    assert (await bot.services.admin.limits()).probation_min_r == 0.0  # refused values changed nothing

    # Two hybrid signals, both stopped out by the next candle: 100 -> 90, fees 0.1 + 0.09: -1.019 R each.
    for hour in (2, 1):
        assert await bot.services.trading.publish(hybrid(T0 - hour * HOUR))
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 101, 85, 88)], HOUR))
    await bot.services.track_record.advance()
    await admin_message_with(bot, words["alert_on"])
    await bot.services.track_record.advance()  # still below: no second alert
    status = await command(bot, ADMIN, "/status", language)
    for fragment in words["status"]:
        assert fragment in status, status

    # Marked: the next hybrid signal reaches users with the warning and the playbook's line.
    market.add_candles("BTC/USDT", candles_frame(T0 + HOUR, [(88, 89, 87, 88)], HOUR))
    assert await bot.services.trading.publish(hybrid(T0 + HOUR))
    await bot.fake.wait_for(lambda: len(signal_messages(bot, ALICE)) == 3)
    message = signal_messages(bot, ALICE)[-1]
    assert words["marked"] in message and words["hybrid_line"] in message
    assert words["on_probation"] in await command(bot, ALICE, "/performance", language)

    # Held: stored and followed by its shadow, sent to nobody.
    await bot.reply_to(ADMIN, "/setlimit probation_hold 1", language)
    assert await bot.services.trading.publish(hybrid(T0 + 2 * HOUR)) == []
    await bot.services.track_record.advance()
    shadows = await bot.services.track_record.performance()
    assert shadows.playbooks[0].playbook == "hybrid" and shadows.playbooks[0].all_time.signals == 4
    await command(bot, ALICE, "/performance", language)
    assert len(signal_messages(bot, ALICE)) == 3  # the held signal never reached Alice

    # Lifted when the admins lower the bound below the record.
    await bot.reply_to(ADMIN, "/setlimit probation_min_r -1.5", language)
    await bot.services.track_record.advance()
    await admin_message_with(bot, words["alert_off"])
    assert words["status_off"] in await command(bot, ADMIN, "/status", language)
    alerts = [html_of(c.result) for c in bot.fake.sent(ADMIN) if "hybrid" in html_of(c.result)]
    assert sum(words["alert_on"] in a for a in alerts) == 1


@pytest.mark.parametrize(
    ("count", "en", "ru"),
    [
        (0, "0 signals", "0 сигналов"),
        (1, "1 signal", "1 сигнал"),
        (2, "2 signals", "2 сигнала"),
        (4, "4 signals", "4 сигнала"),
        (5, "5 signals", "5 сигналов"),
        (11, "11 signals", "11 сигналов"),
        (12, "12 signals", "12 сигналов"),
        (21, "21 signals", "21 сигнал"),
        (24, "24 signals", "24 сигнала"),
        (111, "111 signals", "111 сигналов"),
    ],
)
def test_signals_are_counted_in_each_languages_grammar(count: int, en: str, ru: str) -> None:
    assert (signal_count("en", count), signal_count("ru", count)) == (en, ru)
