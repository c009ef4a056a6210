"""Changing a user's own choices (/settings): one named change at a time, validated.

`apply_change` is pure: the handler passes what the button said, an unknown field or value
is refused with a catalogue key and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import UserError
from core.prefs import (
    BLOCKED_MODES,
    DELIVERY_MODES,
    DRIFT_CHOICES,
    EVENT_KINDS,
    EVENT_MODES,
    QUIET_MODES,
    SIDES,
    UserPrefs,
)

#: Quiet hours a user can pick (UTC hours, start inclusive, end exclusive).
QUIET_PRESETS: dict[str, tuple[int, int] | None] = {
    "off": None,
    "22-07": (22, 7),
    "23-08": (23, 8),
    "00-09": (0, 9),
}


def quiet_preset(prefs: UserPrefs) -> str:
    """The preset the user's quiet hours match ('off' when none; the hours otherwise)."""
    if prefs.quiet_from is None or prefs.quiet_to is None:
        return "off"
    return f"{prefs.quiet_from:02d}-{prefs.quiet_to:02d}"


def apply_change(prefs: UserPrefs, field: str, value: str, symbols: Sequence[str]) -> UserPrefs:
    """`prefs` with one change: auto (on/off), blocked (mark/hide), side (toggle long or
    short; one stays on), symbol (toggle one of `symbols`; one stays on; all on is stored as
    'every symbol'), quiet (a preset), quiet_mode (hold/drop), event (kind=mode), drift (one
    of DRIFT_CHOICES in R, or 'default': the system's MAX_ENTRY_DRIFT_R), delivery
    (direct/channel)."""
    if field == "auto" and value in ("on", "off"):
        return prefs.replace(auto_execute=value == "on")
    if field == "blocked" and value in BLOCKED_MODES:
        return prefs.replace(blocked=value)
    if field == "side" and value in SIDES:
        sides = tuple(s for s in SIDES if (s in prefs.sides) != (s == value))
        return prefs.replace(sides=sides) if sides else prefs
    if field == "symbol" and value in symbols:
        chosen = set(prefs.symbols or symbols)
        chosen ^= {value}
        kept = tuple(s for s in symbols if s in chosen)
        if not kept:
            return prefs
        return prefs.replace(symbols=() if len(kept) == len(symbols) else kept)
    if field == "quiet" and value in QUIET_PRESETS:
        hours = QUIET_PRESETS[value]
        return prefs.replace(quiet_from=hours[0] if hours else None, quiet_to=hours[1] if hours else None)
    if field == "delivery" and value in DELIVERY_MODES:
        return prefs.replace(delivery=value)
    if field == "quiet_mode" and value in QUIET_MODES:
        return prefs.replace(quiet_mode=value)
    if field == "event" and "=" in value:
        kind, mode = value.split("=", 1)
        if kind in EVENT_KINDS and mode in EVENT_MODES:
            return prefs.with_event(kind, mode)
    if field == "drift":
        return _drift(prefs, value)
    raise UserError("button_stale")


def _drift(prefs: UserPrefs, value: str) -> UserPrefs:
    if value == "default":
        return prefs.replace(entry_drift_r=None)
    chosen = next((d for d in DRIFT_CHOICES if f"{d:g}" == value), None)
    if chosen is None:
        raise UserError("button_stale")
    return prefs.replace(entry_drift_r=chosen)
