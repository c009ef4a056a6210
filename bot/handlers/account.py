"""/connect, /disconnect, /balance: a user's own exchange account in live mode (the
virtual balance in paper mode).

/connect carries an API key and secret: the message is deleted before anything else
happens, even when it is malformed or posted in a group, and nothing of it is echoed.
"""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, filters

from bot.context import BotContext, reply, user_language
from bot.i18n import t
from bot.render import balance_text

log = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE


async def connect(update: Update, context: BotContext) -> None:
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and user is not None and chat is not None
    args = list(context.args or [])
    try:
        await message.delete()
        deleted = True
    except TelegramError as exc:
        log.warning("could not delete a /connect message in chat %s: %s", chat.id, type(exc).__name__)
        deleted = False
    language = await user_language(update, context)
    services = context.services
    if chat.type != ChatType.PRIVATE:
        await context.bot.send_message(chat.id, t(language, "connect_private_only"))
        return
    if not deleted:
        await context.bot.send_message(chat.id, t(language, "connect_not_deleted"))
    if len(args) != 3:
        await context.bot.send_message(chat.id, t(language, "connect_usage", exchange=services.settings.exchange))
        return
    exchange, api_key, secret = args
    del args
    view = await services.accounts.connect(user.id, exchange, api_key, secret)
    # The balances are HTML already: only the exchange's name is escaped here.
    exchange = html.escape(view.exchange, quote=False)
    text = t(
        language,
        "connect_ok",
        escape=False,
        exchange=exchange,
        balances=balance_text(language, view, context.services.figures),
    )
    await context.bot.send_message(chat.id, text)


async def disconnect(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    still_open = await context.services.accounts.disconnect(update.effective_user.id)
    await reply(update, t(language, "disconnect_ok", open=still_open))


async def balance(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    view = await context.services.accounts.balance(update.effective_user.id)
    await reply(update, balance_text(language, view, context.services.figures))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("connect", connect))  # any chat: a key posted in a group is deleted too
    app.add_handler(CommandHandler("disconnect", disconnect, filters=PRIVATE))
    app.add_handler(CommandHandler("balance", balance, filters=PRIVATE))
