"""The buttons under a signal: Confirm at market, a limit order at the entry, Skip; and,
while a limit order works, its Cancel. Callback data stays short (Telegram allows 64
bytes) and is parsed by the strict patterns of bot/handlers/callbacks.py."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t
from bot.i18n.format import price

CONFIRM_PREFIX = "sig:c:"
SKIP_PREFIX = "sig:s:"
LIMIT_PREFIX = "sig:l:"  # a limit order at the signal's entry
LIMIT_CANCEL_PREFIX = "sig:x:"  # cancel that working limit order


def signal_keyboard(language: str, user_signal_id: int, entry: float) -> InlineKeyboardMarkup:
    """Confirm at market, a limit order at the entry (valid until the signal expires), Skip."""
    limit = t(language, "button_limit", price=price(entry, language))
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(language, "button_confirm"), callback_data=f"{CONFIRM_PREFIX}{user_signal_id}"),
                InlineKeyboardButton(limit, callback_data=f"{LIMIT_PREFIX}{user_signal_id}"),
            ],
            [InlineKeyboardButton(t(language, "button_skip"), callback_data=f"{SKIP_PREFIX}{user_signal_id}")],
        ]
    )


def limit_keyboard(language: str, user_signal_id: int) -> InlineKeyboardMarkup:
    """Under a signal whose limit order is working: cancel it."""
    data = f"{LIMIT_CANCEL_PREFIX}{user_signal_id}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(language, "button_cancel_limit"), callback_data=data)]])
