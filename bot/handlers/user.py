"""Commands every user has: /start, /help, /signals, /positions, /stop."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import BotContext, is_admin, reply, user_language
from bot.handlers.deeplink import link_signal_id, open_link
from bot.i18n import language_for, t
from bot.i18n.format import money
from bot.render import close_keyboard, positions_list, signals_list
from bot.words import word

PRIVATE = filters.ChatType.PRIVATE


async def start(update: Update, context: BotContext) -> None:
    tg_user = update.effective_user
    assert tg_user is not None
    services = context.services
    linked = link_signal_id(context.args)
    user, new = await services.trading.register(tg_user.id, language_for(tg_user.language_code))
    if await services.trading.admit(user, new, tg_user.full_name) != "active":
        await reply(update, t(user.language, "access_waiting_notice"))
        return
    if new and services.settings.trading_mode == "live":
        text = t(user.language, "start_new_live", exchange=services.settings.exchange)
    elif new:
        text = t(
            user.language,
            "start_new",
            mode=word(user.language, "mode", services.settings.trading_mode),
            balance=money(user.paper_balance, user.language),
        )
    else:
        text = t(user.language, "start_back")
    if linked is None:
        await reply(update, text)
    else:  # a deep link, t.me/<bot>?start=s<id>: one message, the welcome and the card (deeplink.py)
        await open_link(update, context, user.language, linked, text)


async def help_command(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    text = t(language, "help_user")
    if is_admin(update, context):
        text += t(language, "help_admin")
    await reply(update, text)


async def stop(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    changed = await context.services.trading.unsubscribe(update.effective_user.id)
    await reply(update, t(language, "stopped" if changed else "not_registered"))


async def signals(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    rows = await context.services.trading.active_signals(update.effective_user.id)
    working = {e.row.id for e in await context.services.trading.working_limits(update.effective_user.id)}
    for text in signals_list(language, rows, working):
        await reply(update, text)


async def positions(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    views = await context.services.trading.positions_view(update.effective_user.id)
    messages = positions_list(language, views)
    for text in messages[:-1]:
        await reply(update, text)
    assert update.effective_message is not None
    await update.effective_message.reply_text(messages[-1], reply_markup=close_keyboard(language, views))


async def close(update: Update, context: BotContext) -> None:
    """/close: each open position with its Close button, and Close all."""
    language = await user_language(update, context)
    assert update.effective_user is not None and update.effective_message is not None
    views = await context.services.trading.positions_view(update.effective_user.id)
    if not views:
        await reply(update, t(language, "positions_none"))
        return
    keyboard = close_keyboard(language, views, break_even=False, close_all=True)
    await update.effective_message.reply_text(t(language, "close_choose"), reply_markup=keyboard)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("start", start, filters=PRIVATE))
    app.add_handler(CommandHandler("help", help_command, filters=PRIVATE))
    app.add_handler(CommandHandler("stop", stop, filters=PRIVATE))
    app.add_handler(CommandHandler("signals", signals, filters=PRIVATE))
    app.add_handler(CommandHandler("positions", positions, filters=PRIVATE))
    app.add_handler(CommandHandler("close", close, filters=PRIVATE))
