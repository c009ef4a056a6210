"""/daily and /profit (issue 11) over the Bot API wire, in English and Russian; the figures
worked out by hand from the paper fills."""

from __future__ import annotations

from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_flow import HOUR, buttons, press, publish
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame


async def test_daily_and_profit_after_a_winning_trade(bot: RunningBot, market: FakeMarketData) -> None:
    await bot.reply_to(ALICE, "/start", language_code="en")
    await bot.reply_to(BOB, "/start", language_code="ru")
    assert "No closed trades yet" in await bot.reply_to(ALICE, "/profit")
    ids = await publish(bot, (ALICE, BOB))
    for user in (ALICE, BOB):
        await press(bot, user, buttons(bot, user, ids[user])[0], ids[user])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108), (108, 121, 107, 120)], HOUR))
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: "closed (TP2)" in (bot.fake.last_text(ALICE) or ""))
    # -1.00 entry fee + (50 - 0.55) + (100 - 0.60) = +147.85, on a day that opened at 10,000.00: +1.4785 %
    daily = await bot.reply_to(ALICE, "/daily")
    assert "2024-03-01: +147.85 (+1.48% of the day's opening balance) · 1 trade(s)" in daily
    assert "2024-02-29: 0.00 (+0.00% of the day's opening balance) · 0 trade(s)" in daily
    assert daily.count("trade(s)") == 14 and "Total: +147.85" in daily
    russian = await bot.reply_to(BOB, "/daily", language_code="ru")
    assert "01.03.2024: +147,85 (+1,48% от баланса на начало дня) · сделок: 1" in russian
    profit = await bot.reply_to(ALICE, "/profit")
    assert "Closed trades: 1 (1 won, 0 lost, win rate 100.00%)" in profit
    assert "Realised P&L: +147.85 (+1.48% of the starting balance), fees paid 2.15" in profit  # 1.00 + 0.55 + 0.60
    assert "Open positions, marked to market: 0.00" in profit
    assert "Закрытых сделок: 1 (в плюс 1, в минус 0, доля прибыльных 100,00%)" in await bot.reply_to(
        BOB, "/profit", language_code="ru"
    )
