"""/stats: the user's results (core.risk.portfolio metrics of their closed trades) with a
picture of the equity curve and its drawdown, rendered off the event loop."""

from __future__ import annotations

import asyncio
import math

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.charts import render_equity_chart
from bot.context import BotContext, user_language
from bot.i18n import t
from bot.i18n.format import money, number, percent, signed_money
from bot.render import MAX_CAPTION, fit_html
from core.trading.history import UserStats


def _number(value: float, language: str, text: str | None = None) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    return text if text is not None else number(value, language, 2)


def stats_text(language: str, stats: UserStats) -> str:
    m = stats.metrics
    return t(
        language,
        "stats",
        trades=m.n_trades,
        win_rate=_number(m.win_rate, language, percent(m.win_rate, language) if math.isfinite(m.win_rate) else None),
        pnl=signed_money(m.realized_pnl, language),
        fees=money(stats.fees, language),
        equity=money(m.equity, language),
        return_pct=percent((m.equity / m.initial_equity - 1) * 100, language, signed=True) if m.initial_equity else "—",
        open=stats.open_positions,
        avg_win=_number(m.avg_win, language, money(m.avg_win, language) if math.isfinite(m.avg_win) else None),
        avg_loss=_number(m.avg_loss, language, money(m.avg_loss, language) if math.isfinite(m.avg_loss) else None),
        profit_factor=_number(m.profit_factor, language),
        expectancy=_number(
            m.expectancy, language, signed_money(m.expectancy, language) if math.isfinite(m.expectancy) else None
        ),
        max_drawdown=percent(m.max_drawdown_pct, language),
    )


async def stats(update: Update, context: BotContext) -> None:
    assert update.effective_user is not None and update.effective_message is not None
    language = await user_language(update, context)
    result = await context.services.history.stats(update.effective_user.id)
    message = update.effective_message
    if result.metrics.n_trades == 0:
        await message.reply_text(t(language, "stats_none", balance=money(result.balance, language)))
        return
    times, equity = result.marked_curve(context.services.clock.now())
    png = await asyncio.to_thread(render_equity_chart, times, equity, language)
    await message.reply_photo(png, caption=fit_html(stats_text(language, result), MAX_CAPTION))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("stats", stats, filters=filters.ChatType.PRIVATE))
