"""Turn domain objects and events into Telegram messages (HTML) in a user's language."""

from __future__ import annotations

import html
import re
from collections.abc import Container, Iterable
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.health import Health
from bot.i18n import t
from bot.i18n.format import amount, date_time, money, number, percent, price, seconds, signed_money
from bot.position_notes import executing_note
from bot.signal_buttons import CONFIRM_PREFIX as CONFIRM_PREFIX
from bot.signal_buttons import LIMIT_CANCEL_PREFIX as LIMIT_CANCEL_PREFIX
from bot.signal_buttons import LIMIT_PREFIX as LIMIT_PREFIX
from bot.signal_buttons import SKIP_PREFIX as SKIP_PREFIX
from bot.signal_buttons import limit_keyboard as limit_keyboard
from bot.signal_buttons import signal_keyboard as signal_keyboard
from bot.signal_details import signal_details
from bot.words import holding, word
from core.events import (
    AccessRequested,
    Alert,
    Event,
    OrderFilled,
    PositionClosed,
    SignalIssued,
    StopMoved,
    TakeProfitHit,
)
from core.models import Limits, UserSignal
from core.trading.accounts import AccountView
from core.trading.service import PositionView

MAX_MESSAGE = 4096
MAX_CAPTION = 1024
CLOSE_ASK_PREFIX = "pos:c:"
CLOSE_SURE_PREFIX = "pos:y:"
CLOSE_CANCEL = "pos:n"
BREAK_EVEN_PREFIX = "pos:b:"
CLOSE_ALL_ASK = "pos:all"
CLOSE_ALL_SURE = "pos:ya"


def side_name(language: str, side: str) -> str:
    return t(language, f"side_{side}")


def close_keyboard(
    language: str, views: Iterable[PositionView], *, break_even: bool = True, close_all: bool = False
) -> InlineKeyboardMarkup | None:
    """Per position: Close (asks once more) and, while the stop is short of the entry,
    Stop to break-even; with `close_all`, one button that closes them all."""
    rows = []
    for v in views:
        p = v.position
        row = [
            InlineKeyboardButton(
                t(language, "button_close", symbol=p.symbol, id=p.id), callback_data=f"{CLOSE_ASK_PREFIX}{p.id}"
            )
        ]
        if break_even and p.side.sign * (p.stop_price - p.entry_price) < 0:
            row.append(
                InlineKeyboardButton(
                    t(language, "button_break_even", id=p.id), callback_data=f"{BREAK_EVEN_PREFIX}{p.id}"
                )
            )
        rows.append(row)
    if close_all and rows:
        rows.append([InlineKeyboardButton(t(language, "button_close_all"), callback_data=CLOSE_ALL_ASK)])
    return InlineKeyboardMarkup(rows[:90]) if rows else None


def close_all_keyboard(language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(language, "button_close_all_sure"), callback_data=CLOSE_ALL_SURE),
                InlineKeyboardButton(t(language, "button_cancel"), callback_data=CLOSE_CANCEL),
            ]
        ]
    )


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


def playbook_name(language: str, playbook: str) -> str:
    """A playbook as users read it: admins' signals have a name of their own."""
    return t(language, "playbook_admin") if playbook == "admin" else playbook


def plural_form(language: str, count: int) -> str:
    """Which form of a counted word `count` takes: English one/many; Russian one (1, 21, 101),
    few (2-4, 22-24) or many (0, 5-20, 25 ...)."""
    if language != "ru":
        return "one" if count == 1 else "many"
    if count % 10 == 1 and count % 100 != 11:
        return "one"
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return "few"
    return "many"


def signal_count(language: str, count: int) -> str:
    """'1 signal', '14 signals' / '1 сигнал', '3 сигнала', '14 сигналов'."""
    return t(language, f"signals_count_{plural_form(language, count)}", n=count)


def record_lines(language: str, record: dict[str, Any] | None) -> str:
    """The line of its playbook's 30-day record a signal carries (core.records.RecordBrief),
    and a warning when the playbook is on probation."""
    if not record:
        return ""
    name = playbook_name(language, str(record["playbook"]))
    if record.get("avg_r") is None:
        line = t(language, "signal_record_none", playbook=name, signals=signal_count(language, int(record["signals"])))
    else:
        avg_r = number(float(record["avg_r"]), language, 2, signed=True)
        signals = signal_count(language, int(record["signals"]))
        line = t(language, "signal_record", playbook=name, signals=signals, avg_r=avg_r)
    if record.get("on_probation"):
        avg = record.get("probation_avg_r")
        line += "\n" + t(
            language,
            "signal_probation",
            trades=record.get("probation_trades", 0),
            avg_r=number(float(avg), language, 2, signed=True) if avg is not None else "—",
        )
    return "\n" + line


def signal_text(language: str, e: SignalIssued) -> str:
    stop_pct = abs(e.entry - e.stop) / e.entry * 100
    params = {
        "icon": "🟢" if e.side == "long" else "🔴",
        "symbol": e.symbol,
        "side": side_name(language, e.side),
        "source": t(language, "source_manual") if e.source == "manual" else "",
        "timeframe": e.timeframe,
        "entry": price(e.entry, language),
        "stop": price(e.stop, language),
        "stop_pct": percent(stop_pct, language),
        "tp1": price(e.tp1, language),
        "tp2": price(e.tp2, language),
        "quantity": amount(e.quantity, language),
        "notional": money(e.quantity * e.entry, language),
        "expires": date_time(e.expires_at, language),
    }
    escaped = {k: html.escape(str(v), quote=False) for k, v in params.items()}
    details = "".join(f"{line}\n" for line in signal_details(language, e))
    return t(language, "signal_message", escape=False, details=details, **escaped) + record_lines(language, e.record)


def event_text(language: str, event: Event) -> str:
    """The message for any outbox event but a new signal's keyboard."""
    if isinstance(event, SignalIssued):
        return signal_text(language, event)
    if isinstance(event, OrderFilled):
        return t(
            language,
            "filled",
            side=side_name(language, event.side),
            quantity=amount(event.quantity, language),
            symbol=event.symbol,
            price=price(event.price, language),
            fee=money(event.fee, language),
            stop=price(event.stop, language),
            tp1=price(event.tp1, language),
            tp2=price(event.tp2, language),
        )
    if isinstance(event, TakeProfitHit):
        return t(
            language,
            "tp1_hit",
            symbol=event.symbol,
            quantity=amount(event.quantity, language),
            price=price(event.price, language),
            pnl=signed_money(event.pnl, language),
            stop=price(event.new_stop, language),
            remaining=amount(event.remaining, language),
        )
    if isinstance(event, StopMoved):
        return t(
            language,
            "stop_moved",
            symbol=event.symbol,
            old=price(event.old_stop, language),
            new=price(event.new_stop, language),
        )
    if isinstance(event, PositionClosed):
        return t(
            language,
            "closed",
            icon="🟢" if event.pnl >= 0 else "🔴",
            symbol=event.symbol,
            side=side_name(language, event.side),
            reason=t(language, f"reason_{event.reason}"),
            price=price(event.exit_price, language),
            entry=price(event.entry_price, language),
            pnl=signed_money(event.pnl, language),
            pnl_pct=percent(event.pnl_pct, language, signed=True),
            balance=money(event.balance, language),
        )
    if isinstance(event, AccessRequested):
        return t(language, "access_request", name=event.name, user=event.applicant)
    if isinstance(event, Alert):
        params: dict[str, Any] = {k: price(v, language) if isinstance(v, float) else v for k, v in event.params.items()}
        return t(language, event.key, **params)
    raise TypeError(f"no rendering for {type(event).__name__}")


def signals_list(language: str, rows: Iterable[UserSignal], limits: Container[int] = ()) -> list[str]:
    """One line per row; a row in `limits` (ids of rows whose limit order works) says so."""
    lines = [
        t(
            language,
            "signal_line",
            id=r.id,
            symbol=r.symbol,
            side=side_name(language, r.levels.side.value),
            state=t(language, "state_limit_working" if r.id in limits else f"state_{r.state.value}"),
            entry=price(r.levels.entry, language),
            stop=price(r.levels.stop, language),
            tp1=price(r.levels.tp1, language),
            tp2=price(r.levels.tp2, language),
            quantity=amount(r.quantity, language),
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
                quantity=amount(p.quantity, language),
                entry=price(p.entry_price, language),
                stop=price(p.stop_price, language),
                tp1=price(p.tp1, language),
                tp1_done=t(language, "tp1_done_mark") if p.tp1_done else "",
                tp2=price(p.tp2, language),
                price=price(v.price, language) if v.price is not None else t(language, "no_price"),
                pnl=signed_money(v.unrealized_pnl, language)
                if v.unrealized_pnl is not None
                else t(language, "no_price"),
            )
            + executing_note(language, v)
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
        t(
            language,
            "balance_line",
            currency=b.currency,
            free=holding(b.free, b.currency, language),
            total=holding(b.total, b.currency, language),
        )
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
            weight=number(usage.used_weight, language, 0),
            weight_limit=number(usage.weight_limit, language, 0),
            orders=usage.orders_in_window,
            orders_limit=number(usage.orders_limit, language, 0),
            factor=number(usage.rate_factor, language, 2),
            paused=number(usage.paused_for, language, 1),
            limited=usage.rate_limited_count,
        )
    return t(
        language,
        "status_health",
        depth=f.outbox_depth,
        oldest=seconds(f.outbox_oldest_seconds, language),
        in_flight=f.outbox_in_flight,
        rate=number(health.sent_per_second, language, 1),
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
        scan=seconds(health.last_scan_seconds, language, 2) if health.last_scan_seconds is not None else "—",
        rejections=", ".join(f"{word(language, 'reject', reason)} {count}" for reason, count in top) or nothing,
        ml="; ".join(ml_parts) or nothing,
        orders=", ".join(f"{status} {n}" for status, n in sorted(f.counts.orders_by_status.items())) or nothing,
        limiter=limiter,
    )
