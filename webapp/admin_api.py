"""The admins' JSON API (ADMIN_IDS only, checked here on the server for every request):
status, pause/resume, limits, users, outbox and exchange health, through AdminService."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from core.errors import UserError
from core.trading.admin import limit_names
from webapp import views
from webapp.context import CONFIG, SERVICES, auth_of

Handler = Callable[[web.Request], Awaitable[web.Response]]
MAX_VALUE_CHARS = 40


def admin_only(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.Response:
        if auth_of(request).user_id not in request.app[CONFIG].admin_ids:
            raise UserError("admin_only")
        return await handler(request)

    return guarded


def _status_json(status: Any) -> dict[str, Any]:
    out = views.jsonable(status)
    if status.last_scan is not None:
        out["last_scan"]["at"] = status.last_scan.at.isoformat()
    return out


@admin_only
async def overview(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    admin = services.admin
    users = await admin.users(50)
    return web.json_response(
        {
            "status": _status_json(await admin.status()),
            "limits": dataclasses.asdict(await admin.limits()),
            "health": views.jsonable(await services.health()),
            "users": [
                {
                    "id": u.user.id,
                    "language": u.user.language,
                    "subscribed": u.user.subscribed,
                    "blocked": u.user.blocked,
                    "balance": u.user.paper_balance,
                    "open_positions": u.open_positions,
                    "created_at": views.iso(u.user.created_at),
                }
                for u in users
            ],
        }
    )


@admin_only
async def pause(request: web.Request) -> web.Response:
    await request.app[SERVICES].admin.pause(auth_of(request).user_id)
    return web.json_response({"paused": True})


@admin_only
async def resume(request: web.Request) -> web.Response:
    await request.app[SERVICES].admin.resume(auth_of(request).user_id)
    return web.json_response({"paused": False})


@admin_only
async def set_limit(request: web.Request) -> web.Response:
    """Body {"name": ..., "value": ...}: validated by the same parser as /setlimit."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise UserError("setlimit_usage", names=", ".join(limit_names()))
    name = body["name"].strip().lower()[:MAX_VALUE_CHARS]
    raw = str(body.get("value", ""))[:MAX_VALUE_CHARS]
    limits = await request.app[SERVICES].admin.set_limit(name, raw, auth_of(request).user_id)
    return web.json_response({"limits": dataclasses.asdict(limits)})


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/admin/overview", overview)
    router.add_post("/api/admin/pause", pause)
    router.add_post("/api/admin/resume", resume)
    router.add_post("/api/admin/limits", set_limit)
