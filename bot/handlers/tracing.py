"""Bind each update's user to the log context, so every line logged while handling it
(core's included) says whose it was. Runs first (group -2) and lets the update go on."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.context import BotContext
from core.logcontext import bind


async def bind_update(update: Update, context: BotContext) -> None:
    # Each update is handled in its own task (concurrent updates), so this stays with it.
    user = update.effective_user
    bind(update_id=update.update_id, user_id=user.id if user else None)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(TypeHandler(Update, bind_update), group=-2)
