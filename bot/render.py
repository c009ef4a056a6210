"""Turn domain objects and events into Telegram messages (HTML) in a user's language."""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t
from core.accounts import AccountView
from core.events import Alert, Event, OrderFilled, PositionClosed, SignalIssued, StopMoved, TakeProfitHit
from core.models import Limits, UserSignal
from core.trading import PositionView

MAX_MESSAGE = 4096
CONFIRM_PREFIX = "sig:c:"
SKIP_PREFIX = "sig:s:"
CLOSE_ASK_PREFIX = "pos:c:"
CLOSE_SURE_PREFIX = "pos:y:"
CLOSE_CANCEL = "pos:n"


def price(value: float | None) -> str:
    """Prices with the precision their size needs: 63 250.50, 1.23456, 0.000123456."""
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.2f}".replace(",", " ")
    text = format(Decimal(f"{value:.6g}"), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def amount(value: float) -> str:
    """Quantities: up to 8 decimals, trailing zeros dropped."""
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return text or "0"


def money(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ")


def signed_money(value: float) -> str:
    return ("+" if value > 0 else "") + money(value)


def percent(value: float, signed: bool = False) -> str:
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def side_name(language: str, side: str) -> str:
    return t(language, f"side_{side}")


def signal_keyboard(language: str, user_signal_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(language, "button_confirm"), callback_data=f"{CONFIRM_PREFIX}{user_signal_id}"),
                InlineKeyboardButton(t(language, "button_skip"), callback_data=f"{SKIP_PREFIX}{user_signal_id}"),
            ]
        ]
    )


def close_keyboard(language: str, views: Iterable[PositionView]) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(
                t(language, "button_close", symbol=v.position.symbol, id=v.position.id),
                callback_data=f"{CLOSE_ASK_PREFIX}{v.position.id}",
            )
        ]
        for v in views
    ]
    return InlineKeyboardMarkup(rows[:90]) if rows else None


def close_confirm_keyboard(language: str, position_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(language, "button_close_sure", id=position_id), callback_data=f"{CLOSE_SURE_PREFIX}{position_id}"
                ),
                InlineKeyboardButton(t(language, "button_cancel"), callback_data=CLOSE_CANCEL),
            ]
        ]
    )


def signal_text(language: str, e: SignalIssued) -> str:
    stop_pct = abs(e.entry - e.stop) / e.entry * 100
    return t(
        language,
        "signal_message",
        icon="🟢" if e.side == "long" else "🔴",
        symbol=e.symbol,
        side=side_name(language, e.side),
        source=t(language, "source_manual") if e.source == "manual" else "",
        timeframe=e.timeframe,
        entry=price(e.entry),
        stop=price(e.stop),
        stop_pct=percent(stop_pct),
        tp1=price(e.tp1),
        tp2=price(e.tp2),
        quantity=amount(e.quantity),
        notional=money(e.quantity * e.entry),
        expires=e.expires_at.strftime("%Y-%m-%d %H:%M"),
    )


def event_text(language: str, event: Event) -> str:
    """The message for any outbox event but a new signal's keyboard."""
    if isinstance(event, SignalIssued):
        return signal_text(language, event)
    if isinstance(event, OrderFilled):
        return t(
            language,
            "filled",
            side=side_name(language, event.side),
            quantity=amount(event.quantity),
            symbol=event.symbol,
            price=price(event.price),
            fee=money(event.fee),
            stop=price(event.stop),
            tp1=price(event.tp1),
            tp2=price(event.tp2),
        )
    if isinstance(event, TakeProfitHit):
        return t(
            language,
            "tp1_hit",
            symbol=event.symbol,
            quantity=amount(event.quantity),
            price=price(event.price),
            pnl=signed_money(event.pnl),
            stop=price(event.new_stop),
            remaining=amount(event.remaining),
        )
    if isinstance(event, StopMoved):
        return t(language, "stop_moved", symbol=event.symbol, old=price(event.old_stop), new=price(event.new_stop))
    if isinstance(event, PositionClosed):
        return t(
            language,
            "closed",
            icon="🟢" if event.pnl >= 0 else "🔴",
            symbol=event.symbol,
            side=side_name(language, event.side),
            reason=t(language, f"reason_{event.reason}"),
            price=price(event.exit_price),
            entry=price(event.entry_price),
            pnl=signed_money(event.pnl),
            pnl_pct=percent(event.pnl_pct, signed=True),
            balance=money(event.balance),
        )
    if isinstance(event, Alert):
        params: dict[str, Any] = {k: price(v) if isinstance(v, float) else v for k, v in event.params.items()}
        return t(language, event.key, **params)
    raise TypeError(f"no rendering for {type(event).__name__}")


def signals_list(language: str, rows: Iterable[UserSignal]) -> list[str]:
    lines = [
        t(
            language,
            "signal_line",
            id=r.id,
            symbol=r.symbol,
            side=side_name(language, r.levels.side.value),
            state=t(language, f"state_{r.state.value}"),
            entry=price(r.levels.entry),
            stop=price(r.levels.stop),
            tp1=price(r.levels.tp1),
            tp2=price(r.levels.tp2),
            quantity=amount(r.quantity),
        )
        for r in rows
    ]
    if not lines:
        return [t(language, "signals_none")]
    return split_message(t(language, "signals_header"), lines)


def positions_list(language: str, views: Iterable[PositionView]) -> list[str]:
    lines = []
    for v in views:
        p = v.position
        lines.append(
            t(
                language,
                "position_line",
                id=p.id,
                symbol=p.symbol,
                side=side_name(language, p.side.value),
                quantity=amount(p.quantity),
                entry=price(p.entry_price),
                stop=price(p.stop_price),
                tp1=price(p.tp1),
                tp1_done=t(language, "tp1_done_mark") if p.tp1_done else "",
                tp2=price(p.tp2),
                price=price(v.price) if v.price is not None else t(language, "no_price"),
                pnl=signed_money(v.unrealized_pnl) if v.unrealized_pnl is not None else t(language, "no_price"),
            )
        )
    if not lines:
        return [t(language, "positions_none")]
    return split_message(t(language, "positions_header"), lines)


def balance_text(language: str, view: AccountView) -> str:
    """An account's holdings, one currency a line."""
    if view.mode == "paper":
        header = t(language, "balance_paper_header")
    else:
        header = t(language, "balance_header", exchange=view.exchange)
    lines = [
        t(language, "balance_line", currency=b.currency, free=amount(b.free), total=amount(b.total))
        for b in view.balances
    ]
    return "\n".join([header, *(lines or [t(language, "balance_empty")])])


def limits_text(language: str, limits: Limits) -> str:
    from dataclasses import asdict

    body = "\n".join(f"<code>{name}</code> = {value}" for name, value in asdict(limits).items())
    return f"{t(language, 'limits_header')}\n{body}"


def split_message(header: str, entries: Iterable[str], limit: int = MAX_MESSAGE) -> list[str]:
    """Join entries under a header into messages of at most `limit` characters, never
    cutting an entry in two (an entry longer than the limit is cut at the limit)."""
    messages: list[str] = []
    current = header
    for entry in entries:
        entry = entry[: limit - 2]
        candidate = f"{current}\n\n{entry}" if current else entry
        if len(candidate) <= limit:
            current = candidate
        else:
            messages.append(current)
            current = entry
    if current:
        messages.append(current)
    return messages
