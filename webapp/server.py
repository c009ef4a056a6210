"""The dashboard's HTTP server (aiohttp), run by the bot process on WEBAPP_PORT.

`GET /` serves the static page; everything under /api/ needs `Authorization: tma <initData>`
signed by Telegram (webapp/auth.py), is rate limited per user, and answers only about that
user (admin routes: ADMIN_IDS only). A mutating request also needs a one-time nonce from
`GET /api/nonce` (webapp/guard.py says why). Every response carries the security headers.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from core.errors import RetryableExchangeError, UserError
from webapp import admin_api, api
from webapp.auth import AuthError, verify_init_data
from webapp.context import (
    AUTH,
    AUTH_FAILURES,
    CONFIG,
    NONCES,
    SERVICES,
    USER_LIMITS,
    WALL,
    DashboardConfig,
    DashboardServices,
    json_error,
    request_language,
)
from webapp.guard import NonceStore, RateLimiter

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
TELEGRAM_SCRIPT_ORIGIN = "https://telegram.org"
CSP = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' {TELEGRAM_SCRIPT_ORIGIN}",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        # Telegram Web shows Mini Apps in a frame; the mobile and desktop apps do not frame them.
        "frame-ancestors 'self' https://web.telegram.org",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Strict-Transport-Security": "max-age=31536000",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TAGS = re.compile(r"<[^>]+>")


def _too_many(wait: float) -> web.Response:
    response = json_error(429, "rate_limited")
    response.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
    return response


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith("/api/") or request.path == "/":
        response.headers["Cache-Control"] = "no-store"
    elif request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"  # revalidated (ETag): never yesterday's script


@web.middleware
async def api_guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """Sign-in, rate limits and replay protection of every /api/ request."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    app = request.app
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "tma":
            raise AuthError("missing")
        now = datetime.fromtimestamp(app[WALL](), tz=UTC)
        auth = verify_init_data(raw.strip(), app[CONFIG].bot_token, now)
    except AuthError as exc:
        if wait := app[AUTH_FAILURES].allow(request.remote or "?"):
            return _too_many(wait)
        return json_error(401, "unauthorized", reason=exc.reason)
    if wait := app[USER_LIMITS].allow(auth.user_id):
        return _too_many(wait)
    request[AUTH] = auth
    if request.method not in _SAFE_METHODS:
        nonce = request.headers.get("X-Nonce", "")
        if not nonce:
            return json_error(428, "nonce_required")
        if not app[NONCES].consume(auth.user_id, auth.hash, nonce):
            return json_error(409, "replayed")
    return await handler(request)


def _status_for(key: str) -> int:
    if key == "not_registered" or key == "admin_only":
        return 403
    return 404 if key.endswith("_not_found") else 409


@web.middleware
async def user_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """A service's refusal becomes JSON with the chat's own words for it."""
    try:
        return await handler(request)
    except UserError as exc:
        services = request.app[SERVICES]
        language = await request_language(request)
        text = html.unescape(_TAGS.sub("", services.describe_error(language, exc)))
        return json_error(_status_for(exc.key), exc.key, text)
    except RetryableExchangeError as exc:
        log.warning("dashboard %s %s: exchange unavailable: %s", request.method, request.path, exc)
        language = await request_language(request)
        text = request.app[SERVICES].describe_error(language, UserError("exchange_unavailable"))
        return json_error(503, "exchange_unavailable", html.unescape(_TAGS.sub("", text)))


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def build_app(
    config: DashboardConfig, services: DashboardServices, wall: Callable[[], float] = time.time
) -> web.Application:
    app = web.Application(middlewares=[api_guard, user_errors], client_max_size=16 * 1024)
    app[CONFIG] = config
    app[SERVICES] = services
    app[NONCES] = NonceStore()
    app[USER_LIMITS] = RateLimiter(config.requests_per_second, config.burst)
    app[AUTH_FAILURES] = RateLimiter(config.failed_auth_per_second, 10.0)
    app[WALL] = wall
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    api.register(app.router)
    admin_api.register(app.router)
    return app


class WebAppServer:
    """Owns the dashboard's listening socket for one run of the bot."""

    def __init__(self, config: DashboardConfig, services: DashboardServices) -> None:
        self.app = build_app(config, services)
        self._config = config
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)  # URLs carry no secrets, but initData is personal
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._config.host, self._config.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._config.port
        log.info("dashboard listening on %s:%s", self._config.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
