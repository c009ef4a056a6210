"""The user's JSON API: every route answers about the signed-in user only, through the
same services as the chat (TradingService, HistoryService)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from core.errors import RetryableExchangeError, UnknownSymbol, UserError
from core.models import User
from webapp import views
from webapp.context import CONFIG, NONCES, SERVICES, auth_of, json_error

CHART_CANDLES = 60
_SYMBOL = re.compile(r"^[A-Z0-9]{2,15}/[A-Z0-9]{2,10}$")
_ID = r"{id:\d{1,18}}"


async def _me(request: web.Request) -> User:
    """The signed-in user, registered with the bot (/start), or UserError('not_registered')."""
    return await request.app[SERVICES].trading.user(auth_of(request).user_id)


async def _charts(request: web.Request, symbols: set[str]) -> dict[str, dict[str, list[Any]]]:
    services = request.app[SERVICES]
    charts = {}
    for symbol in sorted(symbols):
        try:
            candles = await services.market_data.candles(symbol, request.app[CONFIG].timeframe, CHART_CANDLES)
        except (UnknownSymbol, RetryableExchangeError):
            continue  # the page shows the levels without a chart
        charts[symbol] = views.chart(candles)
    return charts


async def me(request: web.Request) -> web.Response:
    auth = auth_of(request)
    config = request.app[CONFIG]
    services = request.app[SERVICES]
    try:
        user: User | None = await _me(request)
    except UserError:
        user = None
    return web.json_response(
        {
            "user_id": auth.user_id,
            "first_name": auth.first_name,
            "registered": user is not None,
            "language": user.language if user else services.language_for(auth.language_code),
            "admin": auth.user_id in config.admin_ids,
            "mode": config.mode,
            "quote": config.quote,
        }
    )


async def nonce(request: web.Request) -> web.Response:
    auth = auth_of(request)
    return web.json_response({"nonce": request.app[NONCES].issue(auth.user_id, auth.hash)})


async def summary(request: web.Request) -> web.Response:
    user = await _me(request)
    services = request.app[SERVICES]
    stats = await services.history.stats(user.id)
    positions = await services.trading.positions_view(user.id)
    trades = await services.history.trades(user.id)
    return web.json_response(views.summary_json(stats, positions, trades, services.clock.now()))


async def positions(request: web.Request) -> web.Response:
    user = await _me(request)
    found = await request.app[SERVICES].trading.positions_view(user.id)
    charts = await _charts(request, {v.position.symbol for v in found})
    market = request.app[SERVICES].market_data.precision
    shown = [views.position_json(v) | views.precision_json(market(v.position.symbol)) for v in found]
    return web.json_response({"positions": shown, "charts": charts})


async def close_position(request: web.Request) -> web.Response:
    user = await _me(request)
    closed = await request.app[SERVICES].trading.close_position(int(request.match_info["id"]), user.id)
    return web.json_response(
        {"position_id": closed.position_id, "symbol": closed.symbol, "exit_price": closed.exit_price, "pnl": closed.pnl}
    )


async def break_even(request: web.Request) -> web.Response:
    user = await _me(request)
    moved = await request.app[SERVICES].trading.stop_to_break_even(int(request.match_info["id"]), user.id)
    return web.json_response({"position_id": moved.position_id, "symbol": moved.symbol, "stop": moved.new_stop})


async def signals(request: web.Request) -> web.Response:
    user = await _me(request)
    services = request.app[SERVICES]
    active = await services.trading.active_signals(user.id)
    recent = await services.history.recent_signals(user.id)
    charts = await _charts(request, {row.symbol for row in active})
    market = services.market_data.precision
    return web.json_response(
        {
            "active": [views.signal_json(r) | views.precision_json(market(r.symbol)) for r in active],
            "recent": [views.outcome_json(o) for o in recent],
            "charts": charts,
        }
    )


async def confirm_signal(request: web.Request) -> web.Response:
    user = await _me(request)
    execution = await request.app[SERVICES].trading.confirm(int(request.match_info["id"]), user.id)
    p = execution.position
    return web.json_response(
        {"position_id": p.id, "symbol": p.symbol, "side": p.side.value, "quantity": p.quantity, "price": p.entry_price}
        | {"fee": p.fees, "stop": p.stop_price, "tp1": p.tp1, "tp2": p.tp2}
    )


async def skip_signal(request: web.Request) -> web.Response:
    user = await _me(request)
    row = await request.app[SERVICES].trading.skip(int(request.match_info["id"]), user.id)
    return web.json_response({"id": row.id, "state": "skipped"})


async def performance(request: web.Request) -> web.Response:
    user = await _me(request)
    services = request.app[SERVICES]
    stats = await services.history.stats(user.id)
    return web.json_response(views.performance_json(stats, await services.track_record.performance()))


def _filters(request: web.Request) -> tuple[str | None, datetime | None, datetime | None] | None:
    """symbol, since, until from ?symbol=BTC/USDT&from=YYYY-MM-DD&to=YYYY-MM-DD (to included),
    or None when one of them is malformed."""
    symbol = request.query.get("symbol", "").strip().upper() or None
    if symbol is not None and not _SYMBOL.match(symbol):
        return None
    try:
        since = _day(request.query.get("from"))
        until = _day(request.query.get("to"))
    except ValueError:
        return None
    return symbol, since, until + timedelta(days=1) if until else None


def _day(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


async def _history_entries(request: web.Request) -> list[Any] | web.Response:
    user = await _me(request)
    filters = _filters(request)
    if filters is None:
        return json_error(400, "bad_filter")
    symbol, since, until = filters
    return await request.app[SERVICES].history.trades(user.id, symbol, since, until)


async def history(request: web.Request) -> web.Response:
    entries = await _history_entries(request)
    if isinstance(entries, web.Response):
        return entries
    market = request.app[SERVICES].market_data.precision
    trades = [views.trade_json(e) | views.precision_json(market(e.trade.symbol)) for e in entries]
    return web.json_response({"trades": trades})


async def history_csv(request: web.Request) -> web.Response:
    entries = await _history_entries(request)
    if isinstance(entries, web.Response):
        return entries
    return web.Response(
        text=views.history_csv(entries),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="atra-history.csv"'},
    )


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/me", me)
    router.add_get("/api/nonce", nonce)
    router.add_get("/api/summary", summary)
    router.add_get("/api/positions", positions)
    router.add_post(f"/api/positions/{_ID}/close", close_position)
    router.add_post(f"/api/positions/{_ID}/break-even", break_even)
    router.add_get("/api/signals", signals)
    router.add_post(f"/api/signals/{_ID}/confirm", confirm_signal)
    router.add_post(f"/api/signals/{_ID}/skip", skip_signal)
    router.add_get("/api/performance", performance)
    router.add_get("/api/history", history)
    router.add_get("/api/history.csv", history_csv)
