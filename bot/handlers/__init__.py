"""The Telegram features, one module each; each registers its own handlers."""

from __future__ import annotations

from telegram.ext import Application

from bot.handlers import (
    account,
    admin,
    callbacks,
    dashboard,
    fallback,
    history,
    performance,
    settings,
    stats,
    tracing,
    user,
)

# Order matters: the first matching handler of a group wins, so fallback (the catch-all) comes last.
FEATURES = (tracing, user, settings, account, history, stats, performance, dashboard, admin, callbacks, fallback)


def register_all(app: Application) -> None:  # type: ignore[type-arg]
    for feature in FEATURES:
        feature.register(app)
