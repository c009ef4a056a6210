"""Small renderings shared by several messages: machine codes as words, holdings as amounts."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import CATALOGUE, t
from bot.i18n.format import amount, money


def word(language: str, group: str, code: str) -> str:
    """A machine code (mode, market data, rejection reason) in the user's language; an
    unknown code as it is."""
    key = f"{group}_{code}"
    return t(language, key) if key in CATALOGUE else code


#: Currencies written as money (two decimals); coins keep their lot's decimals.
_CASH = frozenset({"USDT", "USD", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "EUR", "RUB"})


def holding(value: float, currency: str, language: str) -> str:
    """A balance as the rest of the bot writes it: 8,223.42 USDT, 0.00123456 BTC."""
    return money(value, language) if currency.upper() in _CASH else amount(value, language)


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
