"""The command menu per language with an admin scope, and /start deep links (issue 11),
over the Bot API wire."""

from __future__ import annotations

import json

from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot
from tests.bot.test_flow import publish, subscribe


def menu(bot: RunningBot, scope: dict[str, object], language: str = "") -> dict[str, str]:
    commands = bot.fake.commands.get((json.dumps(scope, sort_keys=True), language), [])
    return {c["command"]: c["description"] for c in commands}


async def test_the_menu_in_each_language_and_the_admins_own(bot: RunningBot) -> None:
    english = menu(bot, {"type": "default"})
    russian = menu(bot, {"type": "default"}, "ru")
    assert english["settings"] == "Language, risk, signals, messages" and english["close"] == "Close a position or all"
    assert russian["settings"] == "Язык, риск, сигналы, сообщения" and russian["positions"] == "Открытые позиции"
    assert set(english) == set(russian) and "pause" not in english and "setlimit" not in russian
    admin = menu(bot, {"type": "chat", "chat_id": ADMIN})
    admin_ru = menu(bot, {"type": "chat", "chat_id": ADMIN}, "ru")
    assert {"pause", "resume", "setlimit", "status", "signal"} <= set(admin) and set(english) < set(admin)
    assert admin_ru["pause"] == "Приостановить торговлю (админы)"
    assert menu(bot, {"type": "chat", "chat_id": ALICE}) == {}  # nobody else gets the admin menu


async def test_a_deep_link_opens_the_users_own_signal(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    await bot.reply_to(BOB, "/start", language_code="ru")
    await publish(bot, (ALICE, BOB))
    row = await bot.services.trading.linked_signal(1, ALICE)
    text = await bot.reply_to(ALICE, "/start s1")  # one message: the welcome, then her card
    # her own card, as the signal's push showed it: sized for her
    assert "Welcome back" in text and "BTC/USDT LONG (manual)" in text and "Risk 100.00 USDT = 1.00% of balance" in text
    opened = bot.fake.sent(ALICE)[-1]
    assert f"sig:c:{row.id}" in json.dumps(opened.params.get("reply_markup"))  # her own row, Confirm live
    bob_text = await bot.reply_to(BOB, "/start s1", language_code="ru")
    bob_row = await bot.services.trading.linked_signal(1, BOB)
    assert "Размер позиции: 10" in bob_text and bob_row.id != row.id
    assert f"sig:c:{bob_row.id}" in json.dumps(bot.fake.sent(BOB)[-1].params.get("reply_markup"))
    missing = await bot.reply_to(ALICE, "/start s999")
    assert "expired or is no longer available" in missing
