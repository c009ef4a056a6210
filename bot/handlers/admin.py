"""Admin commands. Anyone not in ADMIN_IDS is refused and nothing changes."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import BotContext, is_admin, reply, user_language
from bot.delivery.paid import PaidBudget
from bot.handlers.performance import probation_text
from bot.i18n import t
from bot.i18n.format import date_time, number, price
from bot.render import MAX_MESSAGE, fit_html, health_text, limits_text, side_name
from bot.words import word
from core.errors import UserError
from core.models import Side
from core.trading.admin import limit_names, parse_decimal

Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
PRIVATE = filters.ChatType.PRIVATE


def admin_only(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(update: Update, context: BotContext) -> None:
        if not is_admin(update, context):
            await reply(update, t(await user_language(update, context), "admin_only"))
            return
        await handler(update, context)

    return guarded


def _admin_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


@admin_only
async def pause(update: Update, context: BotContext) -> None:
    await context.services.admin.pause(_admin_id(update))
    await reply(update, t(await user_language(update, context), "paused_ok"))


@admin_only
async def resume(update: Update, context: BotContext) -> None:
    await context.services.admin.resume(_admin_id(update))
    await reply(update, t(await user_language(update, context), "resumed_ok"))


@admin_only
async def limits(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    await reply(update, limits_text(language, await context.services.admin.limits()))


@admin_only
async def setlimit(update: Update, context: BotContext) -> None:
    args = context.args or []
    if len(args) != 2:
        raise UserError("setlimit_usage", names=", ".join(limit_names()))
    name, raw = args[0].lower(), args[1]
    updated = await context.services.admin.set_limit(name, raw, _admin_id(update))
    await reply(
        update, t(await user_language(update, context), "limit_set_ok", name=name, value=getattr(updated, name))
    )


@admin_only
async def status(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    st = await context.services.admin.status()
    last = t(language, "status_never")
    if st.last_scan:
        ls = st.last_scan
        last = t(
            language,
            "last_scan",
            at=date_time(ls.at, language),
            signals=ls.signals,
            rejected=ls.rejected,
            errors=ls.errors,
        )
    symbols = ", ".join(st.symbols[:30]) + (" …" if len(st.symbols) > 30 else "")
    models = ""
    if st.models:
        models = "\n" + t(language, "status_models") + "\n" + html.escape("\n".join(st.models))
    health = await context.services.observability.refresh(check=False)
    text = (
        t(
            language,
            "status",
            mode=word(language, "mode", st.mode),
            market_data=word(language, "market_data", st.market_data),
            trading=t(language, "status_paused" if st.paused else "status_running"),
            last_scan=last,
            n_symbols=len(st.symbols),
            symbols=symbols,
            users=st.users,
            subscribers=st.subscribers,
            open_positions=st.open_positions,
            outbox=st.outbox_depth,
        )
        + models
        + probation_text(language, await context.services.track_record.probation_view())
        + health_text(language, health)
        + await paid_text(language, context.services.delivery.paid)
    )
    await reply(update, fit_html(text, MAX_MESSAGE))


async def paid_text(language: str, paid: PaidBudget | None) -> str:
    """/status's paid-broadcast line: today's spend against the day's budget."""
    if paid is None:
        return t(language, "status_paid_off")
    spend = await paid.today()
    return t(
        language,
        "status_paid",
        spent=number(spend.stars, language, 1),
        budget=number(spend.budget, language, 0),
        fell_back=paid.fell_back,
    )


@admin_only
async def scan(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    summary = await context.services.scanner.run()
    if not summary.ran:
        await reply(update, t(language, "scan_paused" if summary.reason == "paused" else "scan_busy"))
        return
    errors = ""
    if summary.errors:
        errors = t(language, "scan_errors", errors=", ".join(sorted(summary.errors)))
    await reply(
        update,
        t(
            language,
            "scan_done",
            symbols=summary.symbols,
            signals=summary.published,
            rejected=summary.rejected,
            errors=errors,
        ),
    )


def parse_signal_args(args: list[str]) -> tuple[str, Side, float, list[float]]:
    """`SYMBOL long|short sl=PRICE tp=PRICE[,PRICE]` (options in any order)."""
    if len(args) != 4:
        raise UserError("signal_usage")
    symbol, side_text, *options = args
    try:
        side = Side(side_text.lower())
    except ValueError:
        raise UserError("bad_side", value=side_text[:20]) from None
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key.lower() not in ("sl", "tp") or key.lower() in values:
            raise UserError("signal_usage")
        values[key.lower()] = value
    stop = _price(values["sl"])
    targets = [_price(part) for part in values["tp"].split(",")]
    if len(targets) > 2:
        raise UserError("too_many_targets")
    return symbol.upper(), side, stop, targets


def _price(text: str) -> float:
    """A positive price in ASCII digits (no "1e-300", "inf", "٣" or "５")."""
    value = parse_decimal(text)
    if value is None or value <= 0:
        raise UserError("bad_number", value=text[:30])
    return value


@admin_only
async def signal(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    symbol, side, stop, targets = parse_signal_args(list(context.args or []))
    published = await context.services.admin.manual_signal(symbol, side, stop, targets)
    await reply(
        update,
        t(
            language,
            "signal_published",
            symbol=published.draft.symbol,
            side=side_name(language, side.value),
            entry=price(published.draft.levels.entry, language),
            users=published.recipients,
        ),
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    for name, handler in (
        ("pause", pause),
        ("resume", resume),
        ("limits", limits),
        ("setlimit", setlimit),
        ("status", status),
        ("scan", scan),
        ("signal", signal),
    ):
        app.add_handler(CommandHandler(name, handler, filters=PRIVATE))
