"""What the delivery worker sends, by the user's choices and the signal's state."""

from __future__ import annotations

import json

from core.events import Event, OrderFilled, PositionClosed, SignalIssued, StopMoved, TakeProfitHit
from core.prefs import UserPrefs
from db.outbox import OutboxItem

#: Which /settings choice governs each kind of trade news.
_EVENT_KINDS: dict[type[Event], str] = {
    OrderFilled: "fills",
    TakeProfitHit: "fills",
    StopMoved: "stops",
    PositionClosed: "closes",
}


def event_mode(item: OutboxItem, event: Event) -> str:
    """on / silent / off, as the user chose for this kind of message (others: on)."""
    kind = _EVENT_KINDS.get(type(event))
    return UserPrefs.from_dict(json.loads(item.prefs or "{}")).event_mode(kind) if kind else "on"


def muted(item: OutboxItem, event: Event) -> bool:
    """Off in the user's settings; a fill that edits its signal's message still does (an
    edit makes no sound, and the signal's buttons must go)."""
    if isinstance(event, OrderFilled) and item.signal_message_id is not None:
        return False
    return event_mode(item, event) == "off"


def deliverable(item: OutboxItem, event: SignalIssued) -> bool:
    """A signal is sent while it can be confirmed; one a risk limit refused, with its
    reason; one the user's auto-execution already took, as the record of why."""
    state = item.signal_state
    return (
        state == "pending"
        or (event.refusal is not None and state == "rejected")
        or (event.auto and state in ("confirmed", "executed"))
    )
