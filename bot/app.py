"""The composition root: settings -> database -> market data -> exchange -> engine ->
services -> bot. `build_application` builds the Telegram application and hands its
lifecycle to a `Runtime` (bot/runtime.py), which assembles the parts on start
(bot/assembly.py) from the adapters the settings choose (bot/adapters.py)."""

from __future__ import annotations

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults

from bot import handlers
from bot.context import BotApplication, BotContext, BotData
from bot.logging_setup import keep_secrets_out_of_logs
from bot.ratelimit import TelegramLimits, TelegramRateLimiter
from bot.runtime import Overrides, Runtime
from core.settings import Settings

__all__ = ["Overrides", "build_application", "file_url_for"]


def file_url_for(api_base_url: str) -> str:
    """Bot API file URL beside the API URL: https://host/bot -> https://host/file/bot."""
    head, sep, _ = api_base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else api_base_url.rstrip("/") + "/file/bot"


def build_application(settings: Settings, overrides: Overrides | None = None) -> BotApplication:
    overrides = overrides or Overrides()
    limiter = TelegramRateLimiter(overrides.telegram_limits or TelegramLimits())
    runtime = Runtime(settings, overrides, limiter)
    app: BotApplication = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url_for(settings.telegram_api_base_url))
        .rate_limiter(limiter)
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .update_queue(runtime.intake.queue)  # each update kept before Telegram is told it arrived
        .concurrent_updates(runtime.intake.processor)  # one user's flood bounded
        .post_init(runtime.start)
        .post_stop(runtime.stop)
        .post_shutdown(runtime.shutdown)
        .build()
    )
    keep_secrets_out_of_logs()  # before any update is read: /connect carries API keys
    handlers.register_all(app)
    return app
