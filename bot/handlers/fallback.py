"""What is left: unknown commands, plain text, anything else; and the error handler,
the one catch point of the Telegram boundary."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, MessageHandler, filters

from bot.context import BotContext, error_text, reply, user_language
from bot.i18n import language_for, t
from core.errors import RetryableExchangeError, UserError

log = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE


async def unknown_command(update: Update, context: BotContext) -> None:
    await reply(update, t(await user_language(update, context), "unknown_command"))


async def other_message(update: Update, context: BotContext) -> None:
    await reply(update, t(await user_language(update, context), "text_reply"))


async def on_error(update: object, context: BotContext) -> None:
    """Answer the user for every failure; log the unexpected ones with their traceback."""
    error = context.error
    if not isinstance(update, Update):
        log.error("error outside an update: %r", error, exc_info=error)
        return
    try:
        language = await user_language(update, context)
    except Exception:  # the database itself may be what failed; answer in Telegram's language
        log.exception("could not read the user's language")
        language = language_for(update.effective_user.language_code if update.effective_user else None)
    if isinstance(error, UserError):
        text = error_text(language, error)
    elif isinstance(error, RetryableExchangeError):
        log.warning("exchange unavailable while handling update %s: %s", update.update_id, error)
        text = t(language, "exchange_unavailable")
    else:
        log.error("unhandled error in update %s", update.update_id, exc_info=error)
        text = t(language, "error_generic")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text[:200], show_alert=True)
        else:
            await reply(update, text)
    except TelegramError as exc:
        log.warning("could not tell the user about the error: %s", exc)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(PRIVATE & ~filters.COMMAND, other_message))
    app.add_error_handler(on_error)  # type: ignore[arg-type]
