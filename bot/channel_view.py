"""Channel mode: the post of a signal in the signal channel (levels, why, its record; no
size: that is each user's own) and its "Take this trade" button, a deep link that opens
the bot with `/start s<signal id>` (bot/handlers/deeplink.py)."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t
from bot.i18n.format import date_time, number, percent, price
from bot.render import record_lines, side_name
from core.events import SignalIssued, SignalPosted


def channel_text(language: str, post: SignalPosted) -> str:
    risk_unit = abs(post.entry - post.stop) or 1.0
    params = {
        "icon": "🟢" if post.side == "long" else "🔴",
        "symbol": post.symbol,
        "side": side_name(language, post.side),
        "source": t(language, "source_manual") if post.source == "manual" else "",
        "timeframe": post.timeframe,
        "entry": price(post.entry, language),
        "stop": price(post.stop, language),
        "stop_pct": percent(abs(post.entry - post.stop) / post.entry * 100, language),
        "tp1": price(post.tp1, language),
        "tp2": price(post.tp2, language),
        "rr1": number(abs(post.tp1 - post.entry) / risk_unit, language, 1),
        "rr2": number(abs(post.tp2 - post.entry) / risk_unit, language, 1),
        "expires": date_time(post.expires_at, language),
    }
    escaped = {k: html.escape(str(v), quote=False) for k, v in params.items()}
    return t(language, "channel_post", escape=False, **escaped) + record_lines(language, post.record)


def take_keyboard(language: str, bot_username: str, signal_id: int) -> InlineKeyboardMarkup:
    url = f"https://t.me/{bot_username}?start=s{signal_id}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(language, "button_take_trade"), url=url)]])


def chart_signal(post: SignalPosted) -> SignalIssued:
    """The post as the chart renderer reads a signal (levels and symbol; no size)."""
    return SignalIssued(
        user_id=post.user_id,
        user_signal_id=0,
        symbol=post.symbol,
        timeframe=post.timeframe,
        side=post.side,
        entry=post.entry,
        stop=post.stop,
        tp1=post.tp1,
        tp2=post.tp2,
        quantity=0.0,
        expires_at=post.expires_at,
        source=post.source,
        strength=post.strength,
        regime=post.regime,
    )
