"""Wiring of the Mini App dashboard (webapp/) into the bot: its server over the bot's own
services, and the chat menu button that opens it."""

from __future__ import annotations

import logging

from telegram import Bot, MenuButtonDefault, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.context import Services, error_text
from bot.i18n import language_for
from core.ports import MarketData, SystemRepository
from webapp.context import DashboardConfig, DashboardServices
from webapp.server import WebAppServer

log = logging.getLogger(__name__)

MENU_BUTTON_KEY = "menu_button_url"
MENU_BUTTON_TEXT = "📊 ATRA"  # the bot's name: one default button for every language


async def start_dashboard(services: Services, market_data: MarketData) -> WebAppServer:
    settings = services.settings
    observability = services.observability
    server = WebAppServer(
        DashboardConfig(
            bot_token=settings.telegram_bot_token.get_secret_value(),
            admin_ids=settings.admin_ids,
            timeframe=settings.timeframe,
            quote=settings.symbols[0].split("/")[1],
            mode=settings.trading_mode,
            host=settings.webapp_host,
            port=settings.webapp_port,
        ),
        DashboardServices(
            trading=services.trading,
            history=services.history,
            admin=services.admin,
            track_record=services.track_record,
            market_data=market_data,
            clock=services.clock,
            language_for=language_for,
            describe_error=error_text,
            health=lambda: observability.refresh(check=False),
        ),
    )
    await server.start()
    return server


async def sync_menu_button(bot: Bot, system: SystemRepository, url: str | None) -> None:
    """With WEBAPP_URL the menu button opens the dashboard; once it is unset, the default
    button comes back. A refusal is logged: the bot works without the button."""
    previous = await system.get_value(MENU_BUTTON_KEY)
    if not url and not previous:
        return
    button = MenuButtonWebApp(MENU_BUTTON_TEXT, WebAppInfo(url)) if url else MenuButtonDefault()
    try:
        await bot.set_chat_menu_button(menu_button=button)
    except TelegramError as exc:
        log.warning("could not set the chat menu button: %s", exc)
        return
    await system.set_value(MENU_BUTTON_KEY, url or "")
