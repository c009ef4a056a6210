"""The typed handler context: services reached as `context.services`, never through
string keys of bot_data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.i18n import language_for, t
from bot.i18n.format import price
from bot.ratelimit import Bulk
from core.errors import UserError

if TYPE_CHECKING:
    from bot.delivery import DeliveryWorker
    from bot.figures import Figures
    from bot.observability import Observability
    from core.ports import Clock
    from core.rules.exits import ManagementRules
    from core.settings import Settings
    from core.trading.accounts import AccountService
    from core.trading.admin import AdminService
    from core.trading.history import HistoryService
    from core.trading.scanner import ScanSummary
    from core.trading.service import TradingService
    from core.trading.track_record import TrackRecord
    from db.users import UserRepository


class ScanRunner(Protocol):
    async def run(self) -> ScanSummary: ...


@dataclass(slots=True)
class Services:
    settings: Settings
    clock: Clock
    trading: TradingService
    admin: AdminService
    scanner: ScanRunner
    users: UserRepository
    delivery: DeliveryWorker
    accounts: AccountService
    history: HistoryService
    observability: Observability
    track_record: TrackRecord
    figures: Figures
    exit_rules: ManagementRules  # the run's position rules: a signal card's exit plan


class BotData:
    """Application-wide data: the services, set once by the composition root."""

    def __init__(self) -> None:
        self.services: Services | None = None


class BotContext(CallbackContext[ExtBot, dict, dict, BotData]):  # type: ignore[type-arg]
    @property
    def services(self) -> Services:
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("services are not wired: build the bot with bot.app.build_application")
        return services


BotApplication = Application[ExtBot[Bulk], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Any]]


async def user_language(update: Update, context: BotContext) -> str:
    """The stored language of a registered user, else the one Telegram reports."""
    user = update.effective_user
    if user is None:
        return language_for(None)
    stored = await context.services.users.get(user.id)
    return stored.language if stored else language_for(user.language_code)


def is_admin(update: Update, context: BotContext) -> bool:
    user = update.effective_user
    return user is not None and user.id in context.services.settings.admin_ids


def error_text(language: str, error: UserError) -> str:
    """Render a refusal, translating the parameters that are themselves catalogue words."""
    params: dict[str, Any] = {k: price(v, language) if isinstance(v, float) else v for k, v in error.params.items()}
    if "where" in params:
        params["where"] = t(language, str(params["where"]))
    if "kind" in params:
        params["kind"] = t(language, f"kind_{params['kind']}")
    if "side" in params:
        params["side"] = t(language, f"side_{params['side']}")
    return t(language, error.key, **params)


async def reply(update: Update, text: str) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text)
