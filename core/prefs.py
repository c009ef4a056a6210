"""A user's own choices (/settings): what they receive and how.

Stored as one JSON object per user (`users.prefs`); a missing key is its default, so an old
row reads as every default. Pure data, no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: What happens to a signal the user cannot take (a risk limit refuses it).
BLOCKED_MODES = ("mark", "hide")  # delivered with the reason and no Confirm / not delivered
#: What happens to a signal during quiet hours.
QUIET_MODES = ("hold", "drop")
#: Per kind of event message: sent, sent without a sound, not sent.
EVENT_MODES = ("on", "silent", "off")
EVENT_KINDS = ("fills", "stops", "closes")
SIDES = ("long", "short")
#: How signals reach the user when a signal channel is configured: pushed to them, or only
#: posted in the channel (the user takes one through its "Take this trade" link).
DELIVERY_MODES = ("direct", "channel")
#: How far from the entry (in R) a market Confirm may be taken, as a user can choose it.
DRIFT_CHOICES = (0.1, 0.25, 0.5)


@dataclass(frozen=True, slots=True)
class UserPrefs:
    blocked: str = "mark"
    auto_execute: bool = False
    symbols: tuple[str, ...] = ()  # empty: every symbol
    sides: tuple[str, ...] = SIDES
    quiet_from: int | None = None  # UTC hour quiet hours start; None: no quiet hours
    quiet_to: int | None = None  # UTC hour they end (exclusive)
    quiet_mode: str = "hold"
    events: tuple[tuple[str, str], ...] = tuple((kind, "on") for kind in EVENT_KINDS)
    delivery: str = "direct"
    entry_drift_r: float | None = None  # a market Confirm's allowed drift in R; None: MAX_ENTRY_DRIFT_R

    def wants(self, symbol: str, side: str) -> bool:
        """Whether a signal on `symbol` / `side` is one the user receives at all."""
        return (not self.symbols or symbol in self.symbols) and side in self.sides

    def event_mode(self, kind: str) -> str:
        return dict(self.events).get(kind, "on")

    def is_quiet(self, hour: int) -> bool:
        """Whether UTC `hour` falls in the quiet hours (which may wrap past midnight)."""
        start, end = self.quiet_from, self.quiet_to
        if start is None or end is None or start == end:
            return False
        return start <= hour < end if start < end else hour >= start or hour < end

    def replace(self, **changes: Any) -> UserPrefs:
        return dataclasses.replace(self, **changes)

    def with_event(self, kind: str, mode: str) -> UserPrefs:
        if kind not in EVENT_KINDS or mode not in EVENT_MODES:
            raise ValueError(f"bad event preference {kind}={mode}")
        return self.replace(events=tuple((k, mode if k == kind else m) for k, m in self.events))

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked,
            "auto_execute": self.auto_execute,
            "symbols": list(self.symbols),
            "sides": list(self.sides),
            "quiet_from": self.quiet_from,
            "quiet_to": self.quiet_to,
            "quiet_mode": self.quiet_mode,
            "events": dict(self.events),
            "delivery": self.delivery,
            "entry_drift_r": self.entry_drift_r,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserPrefs:
        """Read stored choices; anything unknown or malformed falls back to its default."""
        default = cls()
        events = data.get("events") if isinstance(data.get("events"), dict) else {}
        assert isinstance(events, dict)
        return cls(
            blocked=str(data["blocked"]) if data.get("blocked") in BLOCKED_MODES else default.blocked,
            auto_execute=data.get("auto_execute") is True,
            symbols=tuple(s for s in data.get("symbols") or () if isinstance(s, str)),
            sides=tuple(s for s in SIDES if s in (data.get("sides") or SIDES)),
            quiet_from=_hour(data.get("quiet_from")),
            quiet_to=_hour(data.get("quiet_to")),
            quiet_mode=str(data["quiet_mode"]) if data.get("quiet_mode") in QUIET_MODES else default.quiet_mode,
            events=tuple((k, events[k] if events.get(k) in EVENT_MODES else "on") for k in EVENT_KINDS),
            delivery=str(data["delivery"]) if data.get("delivery") in DELIVERY_MODES else default.delivery,
            entry_drift_r=data["entry_drift_r"] if data.get("entry_drift_r") in DRIFT_CHOICES else None,
        )


def _hour(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23 else None
