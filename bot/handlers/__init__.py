"""The Telegram features, one module each; each registers its own handlers."""

from __future__ import annotations

from telegram.ext import Application

from bot.handlers import (
    access,
    account,
    admin,
    callbacks,
    dashboard,
    fallback,
    history,
    performance,
    profit,
    settings,
    stats,
    tracing,
    user,
)

# Order matters: the first matching handler of a group wins, so fallback (the catch-all) comes last.
FEATURES = (
    tracing,
    access,
    user,
    settings,
    account,
    history,
    stats,
    profit,
    performance,
    dashboard,
    admin,
    callbacks,
    fallback,
)


def register_all(app: Application) -> None:  # type: ignore[type-arg]
    for feature in FEATURES:
        feature.register(app)
