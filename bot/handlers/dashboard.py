"""/dashboard: a button that opens the Mini App dashboard (when WEBAPP_URL is set)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, WebAppInfo
from telegram.ext import Application, CommandHandler, filters

from bot.context import BotContext, reply, user_language
from bot.i18n import t


async def dashboard(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    url = context.services.settings.webapp_url
    if not url:
        await reply(update, t(language, "dashboard_off"))
        return
    assert update.effective_message is not None
    button = InlineKeyboardButton(t(language, "dashboard_button"), web_app=WebAppInfo(url))
    await update.effective_message.reply_text(
        t(language, "dashboard_text"), reply_markup=InlineKeyboardMarkup([[button]])
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("dashboard", dashboard, filters=filters.ChatType.PRIVATE))
