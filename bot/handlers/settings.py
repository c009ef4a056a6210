"""/settings: the user's language and risk per trade, with buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext, error_text
from bot.i18n import LANGUAGES, t
from bot.i18n.format import compact, money
from core.errors import UserError
from core.models import User

RISK_CHOICES = ("0.25", "0.5", "1", "2")
PREFIX = "set:"


def settings_text(user: User, default_risk: float) -> str:
    lang = user.language
    risk = (
        t(lang, "risk_own", risk=compact(user.risk_pct, lang))
        if user.risk_pct is not None
        else t(lang, "risk_default", risk=compact(default_risk, lang))
    )
    return t(
        lang, "settings", language_name=t(lang, "language_name"), risk=risk, balance=money(user.paper_balance, lang)
    )


def settings_keyboard(language: str) -> InlineKeyboardMarkup:
    languages = [
        InlineKeyboardButton(t(code, "language_name"), callback_data=f"{PREFIX}lang:{code}") for code in LANGUAGES
    ]
    risks = [
        InlineKeyboardButton(f"{compact(float(r), language)}%", callback_data=f"{PREFIX}risk:{r}") for r in RISK_CHOICES
    ]
    default = [InlineKeyboardButton(t(language, "button_risk_default"), callback_data=f"{PREFIX}risk:default")]
    return InlineKeyboardMarkup([languages, risks, default])


async def show(update: Update, context: BotContext) -> None:
    assert update.effective_user is not None and update.effective_message is not None
    user = await context.services.trading.user(update.effective_user.id)
    limits = await context.services.admin.limits()
    await update.effective_message.reply_text(
        settings_text(user, limits.risk_per_trade_pct), reply_markup=settings_keyboard(user.language)
    )


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    trading = context.services.trading
    try:
        _, field, value = (query.data or "").split(":", 2)
        if field == "lang" and value in LANGUAGES:
            user = await trading.set_language(query.from_user.id, value)
        elif field == "risk" and (value == "default" or value in RISK_CHOICES):
            user = await trading.set_risk(query.from_user.id, None if value == "default" else float(value))
        else:
            raise UserError("button_stale")
    except (UserError, ValueError) as exc:
        error = exc if isinstance(exc, UserError) else UserError("button_stale")
        stored = await context.services.users.get(query.from_user.id)
        await query.answer(error_text(stored.language if stored else "en", error)[:200], show_alert=True)
        return
    limits = await context.services.admin.limits()
    await query.edit_message_text(
        settings_text(user, limits.risk_per_trade_pct), reply_markup=settings_keyboard(user.language)
    )
    await query.answer(t(user.language, "settings_saved"))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("settings", show, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(on_button, pattern=f"^{PREFIX}"))
