"""Signals you can act on (issue 11), over the Bot API wire: a signal a risk limit refuses
arrives marked without Confirm (or not at all, the user's choice); a refusal at Confirm ends
the signal; expired or answered signals lose their buttons; each signal says why it exists
and what it risks; auto-execution takes signals through the same confirm path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.models import SignalState
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot
from tests.bot.test_flow import buttons, press, publish, subscribe


def card(bot: RunningBot, user: int, fragment: str) -> dict[str, Any] | None:
    """The user's latest message whose text or caption contains `fragment`."""
    for message in reversed(bot.fake.messages(user)):
        if fragment in (message.get("caption") or message.get("text") or ""):
            return message
    return None


def body(message: dict[str, Any]) -> str:
    return str(message.get("caption") or message.get("text"))


async def hold_one_position(bot: RunningBot, *users: int) -> None:
    """Each user confirms a BTC signal: one open position each."""
    ids = await publish(bot, users)
    for user in users:
        answer = (await press(bot, user, buttons(bot, user, ids[user])[0], ids[user]))["text"]
        assert "Filled" in answer or "Исполнено" in answer


async def test_a_signal_a_limit_refuses_arrives_marked_without_confirm(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    await bot.reply_to(ADMIN, "/setlimit max_open_positions 1")
    await hold_one_position(bot, ALICE, BOB)
    assert "published" in await bot.reply_to(ADMIN, "/signal ETH/USDT long sl=45 tp=55,60")
    english = await bot.fake.wait_for(lambda: card(bot, ALICE, "ETH/USDT"))
    russian = await bot.fake.wait_for(lambda: card(bot, BOB, "ETH/USDT"))
    assert "You cannot take this signal now" in body(english) and "at most 1 open positions" in body(english)
    assert "Сейчас вы не можете взять этот сигнал" in body(russian)
    assert "reply_markup" not in english and "reply_markup" not in russian  # no Confirm to press
    # Stored as refused, with the reason: never "awaiting confirmation".
    assert "ETH/USDT" not in await bot.reply_to(ALICE, "/signals")


async def test_a_user_who_hides_refused_signals_gets_none(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    await bot.reply_to(ADMIN, "/setlimit max_open_positions 1")
    await hold_one_position(bot, ALICE, BOB)
    bob = await bot.services.users.get(BOB)
    assert bob is not None
    await bot.services.users.set_prefs(BOB, bob.prefs.replace(blocked="hide"))
    sent_to_bob = len(bot.fake.sent(BOB))
    assert "published" in await bot.reply_to(ADMIN, "/signal ETH/USDT long sl=45 tp=55,60")
    await bot.fake.wait_for(lambda: card(bot, ALICE, "ETH/USDT"))
    await bot.fake.wait_for(lambda: bot.services.delivery.sent >= 1)
    assert card(bot, BOB, "ETH/USDT") is None and len(bot.fake.sent(BOB)) == sent_to_bob


async def test_a_refusal_at_confirm_ends_the_signal_and_its_buttons(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start", language_code="ru")
    await hold_one_position(bot, ALICE)  # BTC
    assert "published" in await bot.reply_to(ADMIN, "/signal ETH/USDT long sl=45 tp=55,60")
    eth = (await bot.fake.wait_for(lambda: card(bot, ALICE, "ETH/USDT")))["message_id"]
    confirm = buttons(bot, ALICE, eth)[0]  # delivered with Confirm ...
    await bot.reply_to(ADMIN, "/setlimit max_open_positions 1")  # ... then the limit falls to the one held
    answer = await press(bot, ALICE, confirm, eth)
    assert "не более 1 открытых позиций" in answer["text"]
    await bot.fake.wait_for(lambda: buttons(bot, ALICE, eth) == [])
    rows = await bot.services.trading.active_signals(ALICE)
    assert all(r.symbol != "ETH/USDT" for r in rows)


def _row_id(data: list[str]) -> int:
    return int(data[0].rsplit(":", 1)[1])


async def test_an_expired_signal_loses_its_buttons_and_a_late_press_says_expired(bot: RunningBot, clock) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (ALICE, BOB))
    confirm = {u: buttons(bot, u, ids[u])[0] for u in (ALICE, BOB)}
    clock.advance(timedelta(hours=2))
    assert await bot.services.trading.expire_signals() == 2
    for user in (ALICE, BOB):
        await bot.fake.wait_for(lambda u=user: buttons(bot, u, ids[u]) == [])
    late = await press(bot, ALICE, confirm[ALICE], ids[ALICE])
    assert "expired" in late["text"] and "yours" not in late["text"]
    assert "истёк" in (await press(bot, BOB, confirm[BOB], ids[BOB]))["text"]
    row = await bot.services.trading._ctx.signals.get_user_signal(_row_id([confirm[ALICE]]))
    assert row is not None and row.state is SignalState.EXPIRED


async def test_a_signal_says_why_and_what_it_risks(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (ALICE, BOB))  # entry 100, stop 90, TP 110 / 120
    english = body(next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE]))
    russian = body(next(m for m in bot.fake.messages(BOB) if m["message_id"] == ids[BOB]))
    # 1 % of 10 000 = 100 at risk; the stop is 10 away: R:R 10/10 = 1.0 and 20/10 = 2.0.
    assert "Risk 100.00 USDT = 1.00% of balance" in english
    assert "Risk:reward 1:1.0 (TP1) · 1:2.0 (TP2)" in english
    assert "Why: an admin's signal" in english
    assert "Риск 100,00 USDT = 1,00% баланса" in russian and "Риск:прибыль 1:1,0 (TP1)" in russian
    assert "Размер позиции: 10" in russian


async def test_the_position_cap_cutting_the_risk_is_said(bot: RunningBot) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    # A stop 1 away: 1 % risk would be 100 units = 10 000 notional, but the cap is 25 % of
    # equity = 2 500 notional = 25 units, which lose 25.00 at the stop = 0.25 % of balance.
    ids = await publish(bot, (ALICE, BOB), "/signal BTC/USDT long sl=99 tp=102,104")
    english = body(next(m for m in bot.fake.messages(ALICE) if m["message_id"] == ids[ALICE]))
    russian = body(next(m for m in bot.fake.messages(BOB) if m["message_id"] == ids[BOB]))
    assert "Risk 25.00 USDT = 0.25% of balance (your 1.00% cut by the position-size cap)" in english
    assert "Риск 25,00 USDT = 0,25% баланса (ваши 1,00% урезаны лимитом размера позиции)" in russian


async def test_auto_execution_takes_the_signal_through_confirm(bot: RunningBot) -> None:
    await subscribe(bot, ALICE, BOB)
    alice = await bot.services.users.get(ALICE)
    assert alice is not None and not alice.prefs.auto_execute  # off by default
    await bot.services.users.set_prefs(ALICE, alice.prefs.replace(auto_execute=True))
    assert "published" in await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=90 tp=110,120")
    filled = await bot.fake.wait_for(lambda: card(bot, ALICE, "Filled"))
    assert "Filled" in body(filled) and "reply_markup" not in filled
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.quantity == 10 and view.position.user_signal_id is not None
    # Bob did not opt in: his signal waits for his press.
    bob_card = await bot.fake.wait_for(lambda: card(bot, BOB, "BTC/USDT"))
    assert "sig:c:" in str(bob_card.get("reply_markup"))
    assert await bot.services.trading.positions_view(BOB) == []
