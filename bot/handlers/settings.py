"""/settings: language, risk per trade, which signals, what happens to the ones the user
cannot take, auto-execution, quiet hours and event messages, with buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext, error_text
from bot.i18n import LANGUAGES, t
from bot.settings_view import PREFIX, RISK_CHOICES, settings_keyboard, settings_text, symbols_keyboard
from core.errors import UserError
from core.models import User

__all__ = ["PREFIX", "RISK_CHOICES", "register", "settings_keyboard", "settings_text"]


async def show(update: Update, context: BotContext) -> None:
    assert update.effective_user is not None and update.effective_message is not None
    user = await context.services.trading.user(update.effective_user.id)
    limits = await context.services.admin.limits()
    channel = context.services.settings.signal_channel is not None
    drift = context.services.settings.max_entry_drift_r
    await update.effective_message.reply_text(
        settings_text(user, limits.risk_per_trade_pct, drift, channel),
        reply_markup=settings_keyboard(user, drift, channel),
    )


async def _apply(context: BotContext, user_id: int, field: str, value: str) -> User:
    trading = context.services.trading
    if field == "lang" and value in LANGUAGES:
        return await trading.set_language(user_id, value)
    if field == "risk" and (value == "default" or value in RISK_CHOICES):
        return await trading.set_risk(user_id, None if value == "default" else float(value))
    if field == "delivery" and context.services.settings.signal_channel is None:
        raise UserError("button_stale")  # no channel: there is nothing to choose
    if field == "page" and value in ("main", "symbols"):
        return await trading.user(user_id)
    return await trading.change_prefs(user_id, field, value, context.services.settings.symbols)


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    try:
        _, field, value = (query.data or "").split(":", 2)
        user = await _apply(context, query.from_user.id, field, value)
    except (UserError, ValueError) as exc:
        error = exc if isinstance(exc, UserError) else UserError("button_stale")
        stored = await context.services.users.get(query.from_user.id)
        await query.answer(error_text(stored.language if stored else "en", error)[:200], show_alert=True)
        return
    if field in ("symbol", "page") and not (field == "page" and value == "main"):
        await query.edit_message_text(
            t(user.language, "settings_symbols"), reply_markup=symbols_keyboard(user, context.services.settings.symbols)
        )
    else:
        limits = await context.services.admin.limits()
        channel = context.services.settings.signal_channel is not None
        drift = context.services.settings.max_entry_drift_r
        await query.edit_message_text(
            settings_text(user, limits.risk_per_trade_pct, drift, channel),
            reply_markup=settings_keyboard(user, drift, channel),
        )
    await query.answer(t(user.language, "settings_saved"))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("settings", show, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(on_button, pattern=f"^{PREFIX}"))
