"""Turn domain objects and events into Telegram messages (HTML) in a user's language."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t
from core.events import Alert, Event, OrderFilled, PositionClosed, SignalIssued, StopMoved, TakeProfitHit
from core.models import Limits, UserSignal
from core.trading.accounts import AccountView
from core.trading.service import PositionView

if TYPE_CHECKING:
    from bot.observability import Health

MAX_MESSAGE = 4096
MAX_CAPTION = 1024
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


_TAG = re.compile(r"<[^>]*>")


def visible_length(html_text: str) -> int:
    """Length Telegram counts for an HTML message: the text without tags, entities
    decoded, in UTF-16 code units."""
    plain = html.unescape(_TAG.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def fit_html(html_text: str, limit: int) -> str:
    """`html_text` if Telegram will take it under `limit`; else its plain text cut to fit
    with an ellipsis (markup dropped, so that no tag is cut in two)."""
    if visible_length(html_text) <= limit:
        return html_text
    plain = html.unescape(_TAG.sub("", html_text))
    units = plain.encode("utf-16-le")[: (limit - 1) * 2]
    cut = units.decode("utf-16-le", errors="ignore")
    return html.escape(cut, quote=False) + "…"


def health_text(language: str, health: Health) -> str:
    """The delivery, signal, engine, ML, order and exchange figures /status adds."""
    f = health.figures
    states = f.counts.user_signals_by_state
    nothing = t(language, "status_nothing")
    top = sorted(f.rejections.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    ml_parts = []
    for model, (passed, rejected) in sorted(health.ml.items()):
        part = t(language, "status_ml_model", model=model, passed=passed, rejected=rejected)
        if model in health.model_ages:
            part += t(language, "status_ml_age", days=health.model_ages[model].days)
        ml_parts.append(part)
    for model, age in sorted(health.model_ages.items()):
        if model not in health.ml:
            ml_parts.append(model + t(language, "status_ml_age", days=age.days))
    usage = f.exchange
    limiter = nothing
    if usage is not None:
        limiter = t(
            language,
            "status_limiter",
            weight=f"{usage.used_weight:.0f}",
            weight_limit=f"{usage.weight_limit:.0f}",
            orders=usage.orders_in_window,
            orders_limit=f"{usage.orders_limit:.0f}",
            factor=f"{usage.rate_factor:.2f}",
            paused=f"{usage.paused_for:.1f}",
            limited=usage.rate_limited_count,
        )
    return t(
        language,
        "status_health",
        depth=f.outbox_depth,
        oldest=f"{f.outbox_oldest_seconds:.0f}s",
        in_flight=f.outbox_in_flight,
        rate=f"{health.sent_per_second:.1f}",
        sent=health.sent,
        failed=health.failed,
        rate_limited=health.rate_limited,
        in_doubt=health.in_doubt,
        generated=sum(f.counts.signals_by_source.values()),
        accepted=states.get("executed", 0),
        skipped=states.get("skipped", 0),
        expired=states.get("expired", 0),
        rejected=states.get("rejected", 0),
        pending=states.get("pending", 0),
        scan=f"{health.last_scan_seconds:.2f}s" if health.last_scan_seconds is not None else "—",
        rejections=", ".join(f"{reason} {count}" for reason, count in top) or nothing,
        ml="; ".join(ml_parts) or nothing,
        orders=", ".join(f"{status} {n}" for status, n in sorted(f.counts.orders_by_status.items())) or nothing,
        limiter=limiter,
    )
