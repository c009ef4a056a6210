"""Access: a user waiting for approval or blocked gets one short answer to anything and
nothing else happens (runs before every feature, after tracing); admins approve or block
with the buttons of the request they get, or with /block USER_ID."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CallbackQueryHandler, CommandHandler, TypeHandler

from bot.context import BotContext, error_text, is_admin, reply, user_language
from bot.i18n import t
from bot.words import ACCESS_PREFIX as PREFIX
from core.errors import UserError

GROUP = -1  # after tracing (-2), before the features (0)


async def gate(update: Update, context: BotContext) -> None:
    tg_user = update.effective_user
    if tg_user is None or is_admin(update, context):
        return
    user = await context.services.users.get(tg_user.id)
    if user is None or user.access == "active":
        return
    text = t(user.language, f"access_{user.access}_notice")
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    else:
        await reply(update, text)
    raise ApplicationHandlerStop


async def decide(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    language = await user_language(update, context)
    try:
        _, access, ident = (query.data or "").split(":", 2)
        if not ident.isdigit():
            raise UserError("button_stale")
        user = await context.services.trading.decide_access(query.from_user.id, int(ident), access)
    except (UserError, ValueError) as exc:
        error = exc if isinstance(exc, UserError) else UserError("button_stale")
        await query.answer(error_text(language, error)[:200], show_alert=True)
        return
    await query.answer(t(language, f"access_{user.access}_done", user=user.id))
    await query.edit_message_reply_markup(reply_markup=None)


async def block(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    assert update.effective_user is not None
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await reply(update, t(language, "block_usage"))
        return
    try:
        user = await context.services.trading.decide_access(update.effective_user.id, int(args[0]), "blocked")
    except UserError as exc:
        await reply(update, error_text(language, exc))
        return
    await reply(update, t(language, "access_blocked_done", user=user.id))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(TypeHandler(Update, gate), group=GROUP)
    app.add_handler(CallbackQueryHandler(decide, pattern=f"^{PREFIX}"))
    app.add_handler(CommandHandler("block", block))
