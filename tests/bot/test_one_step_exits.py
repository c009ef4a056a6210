"""TP1 and TP2 in one candle (paper, over the wire): one message that says both, in English
and in Russian; never a TP1 notice whose "still open" is already nothing.

Worked by hand: 10 BTC long at 100 (entry fee 1.00), stop 90, TP1 110 (half), TP2 120. One
candle 100-121: TP1 closes 5 @ 110 (gross 50, fee 0.55), TP2 the other 5 @ 120 (gross 100,
fee 0.60). Net -1.00 + 49.45 + 99.40 = +147.85 on a 1,000.00 position (14.785 %); average
exit (5 x 110 + 5 x 120) / 10 = 115; balance 10,147.85."""

from __future__ import annotations

from datetime import timedelta

from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_flow import buttons, press, publish
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)
NBSP = "\u00a0"


def texts_after(bot: RunningBot, user: int, count: int) -> list[str]:
    return [str((c.result or {}).get("text") or (c.result or {}).get("caption")) for c in bot.fake.sent(user)[count:]]


async def test_tp1_and_tp2_in_one_candle_is_one_message(bot: RunningBot, market: FakeMarketData) -> None:
    await bot.reply_to(ALICE, "/start")
    await bot.reply_to(BOB, "/start", language_code="ru")
    ids = await publish(bot, (ALICE, BOB))
    for user in (ALICE, BOB):
        await press(bot, user, buttons(bot, user, ids[user])[0], ids[user])

    def filled(user: int) -> bool:  # the signal's own message edited to the fill
        card = next(m for m in bot.fake.messages(user) if m["message_id"] == ids[user])
        return "reply_markup" not in card and any(w in str(card.get("caption")) for w in ("Filled", "Исполн"))

    await bot.fake.wait_for(lambda: filled(ALICE) and filled(BOB))
    seen = {user: len(bot.fake.sent(user)) for user in (ALICE, BOB)}
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 121, 99, 120)], HOUR))
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: all(texts_after(bot, user, seen[user]) for user in (ALICE, BOB)))
    assert "No open positions" in await bot.reply_to(ALICE, "/positions")  # time for a second message, if any
    english, russian = texts_after(bot, ALICE, seen[ALICE])[:-1], texts_after(bot, BOB, seen[BOB])
    assert len(english) == 1 and len(russian) == 1, (english, russian)
    assert "BTC/USDT LONG closed: TP1 and TP2 at once." in english[0]
    assert "TP1 took 5.00000 @ 110.00, TP2 closed the rest; average exit 115.00." in english[0]
    assert "realised P&L +147.85 (+14.7" in english[0] and "% of the position) · balance 10,147.85" in english[0]
    assert "still open" not in english[0]
    assert "BTC/USDT ЛОНГ закрыта: TP1 и TP2 сразу." in russian[0]
    assert "TP1 закрыл 5,00000 @ 110,00, TP2 закрыл остаток; средняя цена выхода 115,00." in russian[0]
    assert f"% от позиции) · баланс 10{NBSP}147,85" in russian[0]
