"""What the dashboard's routes share: its configuration, the services it acts through,
the application keys, and small helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.errors import UserError
from core.ports import Clock, MarketData
from core.trading.admin import AdminService
from core.trading.history import HistoryService
from core.trading.service import TradingService
from core.trading.track_record import TrackRecord
from webapp.auth import InitData
from webapp.guard import NonceStore, RateLimiter


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    bot_token: str  # the HMAC key of initData; never logged, never sent
    admin_ids: frozenset[int]
    timeframe: str
    quote: str
    mode: str
    host: str = "127.0.0.1"
    port: int = 0
    requests_per_second: float = 5.0  # per user, with bursts of `burst`
    burst: float = 40.0
    failed_auth_per_second: float = 1.0  # per client address, with bursts of 10


@dataclass(frozen=True, slots=True)
class DashboardServices:
    """What the dashboard reads and acts through: the same services as the chat."""

    trading: TradingService
    history: HistoryService
    admin: AdminService
    track_record: TrackRecord  # every playbook's record from its shadow positions (/performance)
    market_data: MarketData
    clock: Clock  # the market clock (the replay clock in replay mode)
    language_for: Callable[[str | None], str]  # Telegram's language_code -> en/ru
    describe_error: Callable[[str, UserError], str]  # the chat's own words for a refusal
    health: Callable[[], Awaitable[Any]]  # outbox, delivery and exchange figures (a dataclass)


CONFIG = web.AppKey("config", DashboardConfig)
SERVICES = web.AppKey("services", DashboardServices)
NONCES = web.AppKey("nonces", NonceStore)
USER_LIMITS = web.AppKey("user_limits", RateLimiter)
AUTH_FAILURES = web.AppKey("auth_failures", RateLimiter)
WALL = web.AppKey[Callable[[], float]]("wall")
AUTH = web.RequestKey("auth", InitData)


def auth_of(request: web.Request) -> InitData:
    auth: InitData = request[AUTH]
    return auth


def json_error(status: int, error: str, message: str = "", **extra: Any) -> web.Response:
    return web.json_response({"error": error, "message": message, **extra}, status=status)


async def request_language(request: web.Request) -> str:
    """The user's stored language, else the one Telegram reports."""
    services = request.app[SERVICES]
    auth: InitData | None = request.get(AUTH)
    if auth is None:
        return services.language_for(None)
    try:
        return (await services.trading.user(auth.user_id)).language
    except UserError:
        return services.language_for(auth.language_code)
