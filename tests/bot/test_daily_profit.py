"""/daily and /profit (issue 11) over the Bot API wire, in English and Russian; the figures
worked out by hand from the paper fills."""

from __future__ import annotations

import pytest

from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_actionable_signals import card
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
    # the best trade's result is of its own position (147.85 on 1,000.00), not of the account
    assert "Best: BTC/USDT +14.7" in profit and "% of the position · worst: BTC/USDT +14.7" in profit
    assert "Закрытых сделок: 1 (в плюс 1, в минус 0, доля прибыльных 100,00%)" in await bot.reply_to(
        BOB, "/profit", language_code="ru"
    )


async def test_the_stats_curve_ends_where_the_caption_does(bot: RunningBot, market: FakeMarketData) -> None:
    await bot.reply_to(ALICE, "/start")
    ids = await publish(bot, (ALICE,))
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 121, 99, 120)], HOUR))
    await bot.services.trading.monitor()  # closed: +147.85
    await bot.reply_to(1, "/signal ETH/USDT long sl=45 tp=55,60")
    eth = await bot.fake.wait_for(lambda: card(bot, ALICE, "ETH/USDT"))
    await press(bot, ALICE, buttons(bot, ALICE, eth["message_id"])[0], eth["message_id"])
    market.prices["ETH/USDT"] = 49.0
    (view,) = await bot.services.trading.positions_view(ALICE)
    balance = await bot.services.users.balance(ALICE)
    assert balance is not None
    stats = await bot.services.history.stats(ALICE)
    times, equity = stats.marked_curve(bot.services.clock.now())  # what /stats draws
    marked = balance + view.position.quantity * (49.0 - 50.0)  # the open ETH long at market
    assert equity[-1] == pytest.approx(marked) == pytest.approx(stats.metrics.equity)
    assert equity[-2] == pytest.approx(10_000 + 147.85)  # after the closed trade
    assert len(times) == len(equity)
    bot.say(ALICE, "/stats")
    photo = await bot.fake.wait_for("sendPhoto", chat_id=ALICE, count=2)  # the BTC signal's chart, then /stats
    assert f"{marked:,.2f}" in str(photo.params.get("caption"))  # the caption's equity: the curve's last point
