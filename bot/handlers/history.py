"""/history: the user's closed trades, newest first, paged with inline buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext, user_language
from bot.figures import Figures
from bot.handlers.callbacks import parse_id
from bot.i18n import t
from bot.i18n.format import date_time, money, percent, signed_money
from bot.render import MAX_MESSAGE, fit_html, side_name
from core.trading.history import HistoryPage

PREFIX = "hist:"
_MAX_PAGE_DIGITS = 6


def page_text(language: str, page: HistoryPage, figures: Figures) -> str:
    if not page.entries:
        return t(language, "history_none")
    lines = [t(language, "history_header", page=page.page + 1, pages=page.pages, total=page.total)]
    for entry in page.entries:
        trade = entry.trade
        lines.append(
            t(
                language,
                "history_line",
                id=entry.position_id,
                symbol=trade.symbol,
                side=side_name(language, trade.side),
                reason=t(language, f"reason_{trade.exit_reason}") if trade.exit_reason != "unknown" else "—",
                opened=date_time(trade.entry_time, language),
                closed=date_time(trade.exit_time, language),
                entry=figures.price(trade.symbol, trade.entry_price, language),
                exit=figures.price(trade.symbol, trade.exit_price, language),
                pnl=signed_money(trade.pnl, language),
                pnl_pct=percent(trade.pnl_pct, language, signed=True),
                fees=money(trade.fees, language),
            )
        )
    return fit_html("\n\n".join(lines), MAX_MESSAGE)


def page_keyboard(language: str, page: HistoryPage) -> InlineKeyboardMarkup | None:
    buttons = []
    if page.page > 0:
        buttons.append(InlineKeyboardButton(t(language, "button_newer"), callback_data=f"{PREFIX}{page.page - 1}"))
    if page.page + 1 < page.pages:
        buttons.append(InlineKeyboardButton(t(language, "button_older"), callback_data=f"{PREFIX}{page.page + 1}"))
    return InlineKeyboardMarkup([buttons]) if buttons else None


async def history(update: Update, context: BotContext) -> None:
    assert update.effective_user is not None and update.effective_message is not None
    language = await user_language(update, context)
    page = await context.services.history.page(update.effective_user.id, 0)
    await update.effective_message.reply_text(
        page_text(language, page, context.services.figures), reply_markup=page_keyboard(language, page)
    )


async def on_page(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    language = await user_language(update, context)
    number = parse_id((query.data or "").removeprefix(PREFIX))
    if number is None or number >= 10**_MAX_PAGE_DIGITS:  # not ASCII digits, or absurdly long
        await query.answer(t(language, "button_stale"), show_alert=True)
        return
    page = await context.services.history.page(query.from_user.id, number)
    try:
        await query.edit_message_text(
            page_text(language, page, context.services.figures), reply_markup=page_keyboard(language, page)
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():  # pressed twice: already shown
            raise
    await query.answer()


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("history", history, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(on_page, pattern=f"^{PREFIX}"))
