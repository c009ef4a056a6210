"""Small renderings shared by several messages: machine codes as words, the access buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import CATALOGUE, t


def word(language: str, group: str, code: str) -> str:
    """A machine code (mode, market data, rejection reason) in the user's language; an
    unknown code as it is."""
    key = f"{group}_{code}"
    return t(language, key) if key in CATALOGUE else code


ACCESS_PREFIX = "acc:"


def request_keyboard(language: str, applicant: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(language, "button_approve"), callback_data=f"{ACCESS_PREFIX}active:{applicant}"),
                InlineKeyboardButton(t(language, "button_block"), callback_data=f"{ACCESS_PREFIX}blocked:{applicant}"),
            ]
        ]
    )
