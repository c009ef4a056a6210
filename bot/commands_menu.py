"""The command menu Telegram shows beside the input field: the user commands in each
language (English is the default for every other language), and for each admin's own chat
the admin commands too (BotCommandScopeChat)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, t

log = logging.getLogger(__name__)

USER_COMMANDS = (
    "start",
    "signals",
    "positions",
    "close",
    "history",
    "stats",
    "daily",
    "profit",
    "balance",
    "settings",
    "help",
    "stop",
)
ADMIN_COMMANDS = ("status", "pause", "resume", "limits", "setlimit", "scan", "signal", "block")


def commands(language: str, admin: bool = False) -> list[BotCommand]:
    names = USER_COMMANDS + (ADMIN_COMMANDS if admin else ())
    return [BotCommand(name, t(language, f"cmd_{name}")) for name in names]


async def publish_commands(bot: Bot, admin_ids: Iterable[int]) -> None:
    """Set every menu; a refusal is logged (the bot works without a menu)."""
    try:
        for language in LANGUAGES:
            code = None if language == DEFAULT_LANGUAGE else language
            await bot.set_my_commands(commands(language), language_code=code)
            for admin in sorted(admin_ids):
                await bot.set_my_commands(
                    commands(language, admin=True), scope=BotCommandScopeChat(admin), language_code=code
                )
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
