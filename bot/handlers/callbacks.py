"""Inline buttons: Confirm / Skip under a signal, Close under /positions. Every press is
answered, whatever happens."""

from __future__ import annotations

import contextlib
import logging
import re

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot.context import BotContext, error_text, user_language
from bot.i18n import t
from bot.i18n.format import amount, day_time, price, signed_money
from bot.render import (
    BREAK_EVEN_PREFIX,
    CLOSE_ALL_ASK,
    CLOSE_ALL_SURE,
    CLOSE_ASK_PREFIX,
    CLOSE_CANCEL,
    CLOSE_SURE_PREFIX,
    CONFIRM_PREFIX,
    LIMIT_CANCEL_PREFIX,
    LIMIT_PREFIX,
    SKIP_PREFIX,
    close_all_keyboard,
    close_confirm_keyboard,
    limit_keyboard,
    side_name,
)
from core.errors import RetryableExchangeError, UserError
from core.trading.service import Execution

log = logging.getLogger(__name__)
_MAX_ID_DIGITS = 18
_ACTIONS = (
    (CONFIRM_PREFIX, "confirm"),
    (SKIP_PREFIX, "skip"),
    (LIMIT_PREFIX, "limit"),
    (LIMIT_CANCEL_PREFIX, "limit_cancel"),
    (CLOSE_ASK_PREFIX, "close_ask"),
    (CLOSE_SURE_PREFIX, "close"),
    (BREAK_EVEN_PREFIX, "break_even"),
)


#: Answers that mean the pressed signal can no longer be taken.
_ENDED_STATES = frozenset(
    f"signal_state_{state}" for state in ("confirmed", "executed", "skipped", "expired", "rejected")
)


_ID = re.compile(rf"[0-9]{{1,{_MAX_ID_DIGITS}}}")  # ASCII digits only: "²".isdigit() is True


def parse_id(text: str) -> int | None:
    """A row id or page number from callback data: ASCII digits only, at most 18; else None."""
    return int(text) if _ID.fullmatch(text) else None


def parse_button(data: str) -> tuple[str, int]:
    """(action, id) from callback data, or UserError('button_stale')."""
    if data == CLOSE_CANCEL:
        return "close_cancel", 0
    if data in (CLOSE_ALL_ASK, CLOSE_ALL_SURE):
        return ("close_all_ask" if data == CLOSE_ALL_ASK else "close_all"), 0
    for prefix, action in _ACTIONS:
        if data.startswith(prefix):
            ident = parse_id(data[len(prefix) :])
            if ident is not None:
                return action, ident
    raise UserError("button_stale")


async def _confirm(query: CallbackQuery, context: BotContext, language: str, user_signal_id: int) -> None:
    execution = await context.services.trading.confirm(user_signal_id, query.from_user.id)
    await _answer_fill(query, language, execution)


async def _answer_fill(query: CallbackQuery, language: str, execution: Execution) -> None:
    p = execution.position
    text = t(
        language,
        "filled",
        side=side_name(language, p.side.value),
        quantity=amount(p.quantity, language),
        symbol=p.symbol,
        price=price(p.entry_price, language),
        fee=price(p.fees, language),  # in the quote currency (a live buyer's fee is charged in the coin)
        stop=price(p.stop_price, language),
        tp1=price(p.tp1, language),
        tp2=price(p.tp2, language),
    )
    # The durable edit of the signal message comes through the outbox; this is the toast.
    await query.answer(text.replace("<b>", "").replace("</b>", "")[:200])


async def _limit(query: CallbackQuery, context: BotContext, language: str, user_signal_id: int) -> None:
    outcome = await context.services.trading.place_limit(user_signal_id, query.from_user.id)
    if outcome.execution is not None:  # the price was already through the entry: filled at once
        await _answer_fill(query, language, outcome.execution)
        return
    entry = outcome.entry
    text = t(
        language,
        "limit_placed",
        side=side_name(language, entry.row.levels.side.value),
        quantity=amount(entry.quantity, language),
        symbol=entry.row.symbol,
        price=price(entry.price, language),
        expires=day_time(entry.row.expires_at, language),
    )
    await query.answer(text[:200])
    with contextlib.suppress(BadRequest):  # the card shows what is working: its one button cancels it
        await query.edit_message_reply_markup(reply_markup=limit_keyboard(language, user_signal_id))


async def _limit_cancel(query: CallbackQuery, context: BotContext, language: str, user_signal_id: int) -> None:
    outcome = await context.services.trading.cancel_limit(user_signal_id, query.from_user.id)
    if outcome.execution is not None:  # it filled (in part) before the cancel: that is kept
        await _answer_fill(query, language, outcome.execution)
    else:
        entry = outcome.entry
        await query.answer(t(language, "limit_cancelled", symbol=entry.row.symbol, price=price(entry.price, language)))
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(reply_markup=None)


async def _skip(query: CallbackQuery, context: BotContext, language: str, user_signal_id: int) -> None:
    await context.services.trading.skip(user_signal_id, query.from_user.id)
    await query.answer(t(language, "skipped_mark"))
    await query.edit_message_reply_markup(reply_markup=None)


async def _close(query: CallbackQuery, context: BotContext, language: str, position_id: int) -> None:
    closed = await context.services.trading.close_position(position_id, query.from_user.id)
    await query.answer(
        t(
            language,
            "close_done",
            symbol=closed.symbol,
            price=price(closed.exit_price, language),
            pnl=signed_money(closed.pnl, language),
        )
    )
    await query.edit_message_reply_markup(reply_markup=None)


async def _close_all(query: CallbackQuery, context: BotContext, language: str) -> None:
    closed = await context.services.trading.close_all(query.from_user.id)
    total = sum(c.pnl for c in closed)
    await query.answer(t(language, "close_all_done", count=len(closed), pnl=signed_money(total, language)))
    await query.edit_message_reply_markup(reply_markup=None)


_SIGNAL_ACTIONS = {"confirm": _confirm, "skip": _skip, "limit": _limit, "limit_cancel": _limit_cancel}


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    language = await user_language(update, context)
    try:
        action, ident = parse_button(query.data or "")
        signal_action = _SIGNAL_ACTIONS.get(action)
        if signal_action is not None:
            await signal_action(query, context, language, ident)
        elif action == "close_ask":  # a second, explicit press closes: no accidental market exits
            await query.answer()
            await query.edit_message_reply_markup(reply_markup=close_confirm_keyboard(language, ident))
        elif action == "close":
            await _close(query, context, language, ident)
        elif action == "break_even":
            moved = await context.services.trading.stop_to_break_even(ident, query.from_user.id)
            await query.answer(
                t(language, "break_even_done", symbol=moved.symbol, stop=price(moved.new_stop, language))
            )
        elif action == "close_all_ask":
            await query.answer()
            await query.edit_message_reply_markup(reply_markup=close_all_keyboard(language))
        elif action == "close_all":
            await _close_all(query, context, language)
        else:
            await query.answer(t(language, "close_cancelled"))
            await query.edit_message_reply_markup(reply_markup=None)
    except UserError as exc:
        await query.answer(error_text(language, exc)[:200], show_alert=True)
        await _after_refusal(query, context, language, exc)
    except RetryableExchangeError as exc:
        log.warning("button %r: exchange unavailable: %s", query.data, exc)
        await query.answer(t(language, "exchange_unavailable")[:200], show_alert=True)


async def _after_refusal(query: CallbackQuery, context: BotContext, language: str, exc: UserError) -> None:
    """The card after a refused press: a row whose limit order works (or may: its answer
    is not in yet) keeps that order's Cancel; a signal that is over loses its buttons."""
    if exc.key not in _ENDED_STATES and exc.key != "entry_unconfirmed":
        return
    data = query.data or ""
    ident = parse_id(data.rsplit(":", 1)[-1]) if data.startswith("sig:") else None
    working = ident is not None and any(
        e.row.id == ident for e in await context.services.trading.working_limits(query.from_user.id)
    )
    if not working and exc.key == "entry_unconfirmed":
        return  # a market entry being resolved: the monitor edits the card
    with contextlib.suppress(BadRequest):  # already so ("not modified")
        keyboard = limit_keyboard(language, ident) if working and ident is not None else None
        await query.edit_message_reply_markup(reply_markup=keyboard)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CallbackQueryHandler(on_button))
