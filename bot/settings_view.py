"""/settings as text and buttons: every choice shown, the current one marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, t
from bot.i18n.format import compact, money
from core.models import User
from core.prefs import DELIVERY_MODES, DRIFT_CHOICES, EVENT_KINDS, EVENT_MODES, SIDES, UserPrefs
from core.rules.entry import DEFAULT_MAX_DRIFT_R
from core.trading.preferences import QUIET_PRESETS, quiet_preset

#: Risk per trade a user can pick, in percent of balance (up to the 5 % cap).
RISK_CHOICES = ("0.25", "0.5", "1", "2", "3", "5")
PREFIX = "set:"
MARK = "✅"


def _quiet(lang: str, prefs: UserPrefs) -> str:
    if prefs.quiet_from is None or prefs.quiet_to is None:
        return t(lang, "settings_quiet_off")
    mode = t(lang, f"settings_quiet_{prefs.quiet_mode}")
    return t(lang, "settings_quiet_hours", start=f"{prefs.quiet_from:02d}", end=f"{prefs.quiet_to:02d}", mode=mode)


def _drift(lang: str, prefs: UserPrefs, default_drift: float) -> str:
    if prefs.entry_drift_r is None:
        return t(lang, "settings_drift_default", drift=compact(default_drift, lang))
    return t(lang, "settings_drift_own", drift=compact(prefs.entry_drift_r, lang))


def _next_drift(prefs: UserPrefs) -> str:
    """default -> each choice in turn -> default."""
    options = ["default", *(f"{d:g}" for d in DRIFT_CHOICES)]
    current = "default" if prefs.entry_drift_r is None else f"{prefs.entry_drift_r:g}"
    return _next(options, current)


def settings_text(
    user: User, default_risk: float, default_drift: float = DEFAULT_MAX_DRIFT_R, channel: bool = False
) -> str:
    """The user's choices; `channel`: a signal channel is configured (their delivery choice shown)."""
    lang, prefs = user.language, user.prefs
    risk = (
        t(lang, "risk_own", risk=compact(user.risk_pct, lang))
        if user.risk_pct is not None
        else t(lang, "risk_default", risk=compact(default_risk, lang))
    )
    sides = "both" if len(prefs.sides) == len(SIDES) else prefs.sides[0]
    events: dict[str, Any] = {kind: t(lang, f"event_{prefs.event_mode(kind)}") for kind in EVENT_KINDS}
    return t(
        lang,
        "settings",
        language_name=t(lang, "language_name"),
        risk=risk,
        balance=money(user.paper_balance, lang),
        symbols=", ".join(prefs.symbols) if prefs.symbols else t(lang, "settings_all_symbols"),
        sides=t(lang, f"settings_sides_{sides}"),
        blocked=t(lang, f"settings_blocked_{prefs.blocked}"),
        auto=t(lang, "settings_on" if prefs.auto_execute else "settings_off"),
        quiet=_quiet(lang, prefs),
        drift=_drift(lang, prefs, default_drift),
        **events,
    ) + (t(lang, "settings_delivery_line", mode=t(lang, f"settings_delivery_{prefs.delivery}")) if channel else "")


def _button(text: str, field: str, value: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=f"{PREFIX}{field}:{value}")


def _next(options: Sequence[str], current: str) -> str:
    return options[(options.index(current) + 1) % len(options)] if current in options else options[0]


def _delivery(lang: str, prefs: UserPrefs) -> InlineKeyboardButton:
    """Channel mode: signals pushed to the user, or in the channel only."""
    state = t(lang, f"settings_delivery_{prefs.delivery}")
    return _button(t(lang, "button_delivery", state=state), "delivery", _next(DELIVERY_MODES, prefs.delivery))


def settings_keyboard(
    user: User, default_drift: float = DEFAULT_MAX_DRIFT_R, channel: bool = False
) -> InlineKeyboardMarkup:
    lang, prefs = user.language, user.prefs
    languages = [_button(t(code, "language_name"), "lang", code) for code in LANGUAGES]
    chosen = compact(user.risk_pct, lang) if user.risk_pct is not None else None
    risks = []
    for r in RISK_CHOICES:
        label = f"{compact(float(r), lang)}%"
        risks.append(_button(f"{MARK} {label}" if label == f"{chosen}%" else label, "risk", r))
    default = t(lang, "button_risk_default")
    sides = [
        _button(t(lang, "button_side", mark=MARK if s in prefs.sides else "▫️", side=t(lang, f"side_{s}")), "side", s)
        for s in SIDES
    ]
    quiet = _quiet(lang, prefs) if prefs.quiet_from is None else quiet_preset(prefs)
    events = [
        _button(
            t(lang, f"button_event_{kind}", state=t(lang, f"event_{prefs.event_mode(kind)}")),
            "event",
            f"{kind}={_next(EVENT_MODES, prefs.event_mode(kind))}",
        )
        for kind in EVENT_KINDS
    ]
    auto_state = t(lang, "settings_on" if prefs.auto_execute else "settings_off")
    return InlineKeyboardMarkup(
        [
            languages,
            risks[:3],
            risks[3:],
            [_button(f"{MARK} {default}" if user.risk_pct is None else default, "risk", "default")],
            [_button(t(lang, "button_auto", state=auto_state), "auto", "off" if prefs.auto_execute else "on")],
            [
                _button(
                    t(lang, "button_blocked", state=t(lang, f"button_blocked_{prefs.blocked}")),
                    "blocked",
                    "hide" if prefs.blocked == "mark" else "mark",
                )
            ],
            sides,
            [_button(t(lang, "button_symbols"), "page", "symbols")],
            [
                _button(
                    t(lang, "button_quiet", state=quiet), "quiet", _next(tuple(QUIET_PRESETS), quiet_preset(prefs))
                ),
                _button(
                    t(lang, "button_quiet_mode", state=t(lang, f"settings_quiet_{prefs.quiet_mode}")),
                    "quiet_mode",
                    "drop" if prefs.quiet_mode == "hold" else "hold",
                ),
            ],
            events,
            [_button(t(lang, "button_drift", state=_drift(lang, prefs, default_drift)), "drift", _next_drift(prefs))],
            *([[_delivery(lang, prefs)]] if channel else []),
        ]
    )


def symbols_keyboard(user: User, symbols: Sequence[str]) -> InlineKeyboardMarkup:
    """One toggle per configured symbol (all on when the user follows every symbol)."""
    followed = set(user.prefs.symbols or symbols)
    rows = [
        [_button(f"{MARK if s in followed else '▫️'} {s}", "symbol", s) for s in symbols[i : i + 3]]
        for i in range(0, len(symbols), 3)
    ]
    rows.append([_button(t(user.language, "button_back"), "page", "main")])
    return InlineKeyboardMarkup(rows[:99])
