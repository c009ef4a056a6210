"""/daily (realised P&L per UTC day, last 14 days) and /profit (results at a glance)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import BotContext, reply, user_language
from bot.i18n import t
from bot.i18n.format import money, percent, signed_money
from core.trading.profit import DayPnl, Profit

_DAY = {"en": "%Y-%m-%d", "ru": "%d.%m.%Y"}


def daily_text(language: str, days: list[DayPnl]) -> str:
    lines = [
        t(
            language,
            "daily_line",
            day=d.day.strftime(_DAY.get(language, _DAY["en"])),
            pnl=signed_money(d.pnl, language),
            pct=percent(d.pnl_pct, language, signed=True),
            trades=d.trades,
        )
        for d in days
    ]
    total = sum(d.pnl for d in days)
    return "\n".join(
        [
            t(language, "daily_header", days=len(days)),
            *lines,
            t(language, "daily_total", pnl=signed_money(total, language)),
        ]
    )


def profit_text(language: str, p: Profit) -> str:
    if not p.closed:
        return t(language, "profit_none", unrealised=signed_money(p.unrealised, language))
    assert p.best is not None and p.worst is not None and p.avg_duration is not None
    hours = p.avg_duration.total_seconds() / 3600
    return t(
        language,
        "profit",
        closed=p.closed,
        wins=p.wins,
        losses=p.losses,
        win_rate=percent(p.win_rate, language),
        realised=signed_money(p.realised, language),
        realised_pct=percent(p.realised_pct, language, signed=True),
        unrealised=signed_money(p.unrealised, language),
        fees=money(p.fees, language),
        best=f"{p.best.symbol} {_of_position(p.best.pnl_pct, language)}",
        worst=f"{p.worst.symbol} {_of_position(p.worst.pnl_pct, language)}",
        duration=money(hours, language),
    )


def _of_position(pct: float, language: str) -> str:
    """A trade's result as a share of its own position: +14.78% of the position."""
    return t(language, "pct_of_position", pct=percent(pct, language, signed=True))


async def daily(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    await reply(update, daily_text(language, await context.services.history.daily(update.effective_user.id)))


async def profit(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    await reply(update, profit_text(language, await context.services.history.profit(update.effective_user.id)))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("daily", daily, filters=filters.ChatType.PRIVATE))
    app.add_handler(CommandHandler("profit", profit, filters=filters.ChatType.PRIVATE))
