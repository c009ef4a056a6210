"""Typed, immutable outbound events. The bot is one subscriber: it renders them.

Events travel through the persistent outbox, so each one serialises to a plain dict and
back (`to_payload` / `from_payload`). Every event names the user it is for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

# Delivery priorities: lower goes first.
PRIORITY_SIGNAL = 0
PRIORITY_TRADE = 1
PRIORITY_ROUTINE = 2


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    priority: ClassVar[int] = PRIORITY_ROUTINE

    user_id: int


@dataclass(frozen=True, slots=True)
class SignalIssued(Event):
    """A new signal for this user, with their own size."""

    kind: ClassVar[str] = "signal"
    priority: ClassVar[int] = PRIORITY_SIGNAL

    user_signal_id: int
    symbol: str
    timeframe: str
    side: str
    entry: float
    stop: float
    tp1: float
    tp2: float
    quantity: float
    expires_at: datetime
    source: str
    strength: float
    regime: str | None
    # Why it exists and what it risks for this user (absent in events stored before them).
    playbook: str | None = None
    ml: str | None = None  # the ML filters' say, when they spoke
    risk_amount: float | None = None  # quote currency lost at the stop with `quantity`
    risk_pct: float | None = None  # ... in percent of the user's balance
    wanted_risk_pct: float | None = None  # the user's risk setting (more when the position cap cut it)
    quote: str | None = None
    refusal: str | None = None  # catalogue key: a risk limit refuses it (delivered without Confirm)
    refusal_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    auto: bool = False  # the user's auto-execution takes it (no Confirm button)
    record: dict[str, Any] | None = None  # its playbook's track record (core.records.RecordBrief.payload)


#: `user_id` of a channel post's outbox row: it is for no user (the chat is `SignalPosted.chat`).
CHANNEL_CHAT = 0


@dataclass(frozen=True, slots=True)
class SignalPosted(Event):
    """A signal posted once to the signal channel (channel mode): the levels and why, no
    size; its button opens the bot, which answers each presser with their own row."""

    kind: ClassVar[str] = "signal_post"
    priority: ClassVar[int] = PRIORITY_SIGNAL

    signal_id: int
    chat: str  # the channel: its id (-100...) or @username
    language: str
    symbol: str
    timeframe: str
    side: str
    entry: float
    stop: float
    tp1: float
    tp2: float
    expires_at: datetime
    source: str
    strength: float
    regime: str | None
    playbook: str | None = None
    record: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SignalEnded(Event):
    """A signal's row left `pending` without a fill (expired, refused, skipped): its
    message loses its buttons."""

    kind: ClassVar[str] = "signal_end"
    priority: ClassVar[int] = PRIORITY_TRADE

    user_signal_id: int
    state: str


@dataclass(frozen=True, slots=True)
class OrderFilled(Event):
    """An entry filled: the position is open."""

    kind: ClassVar[str] = "filled"
    priority: ClassVar[int] = PRIORITY_TRADE

    user_signal_id: int | None
    position_id: int
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    stop: float
    tp1: float
    tp2: float


@dataclass(frozen=True, slots=True)
class TakeProfitHit(Event):
    """TP1 filled part of the position; the stop moved to break-even."""

    kind: ClassVar[str] = "tp1"
    priority: ClassVar[int] = PRIORITY_TRADE

    position_id: int
    symbol: str
    side: str
    quantity: float
    price: float
    pnl: float
    new_stop: float
    remaining: float


@dataclass(frozen=True, slots=True)
class StopMoved(Event):
    """A trailing stop moved. Trade priority like the position's other news, so that one
    position's messages reach the user in the order they happened."""

    kind: ClassVar[str] = "stop_moved"
    priority: ClassVar[int] = PRIORITY_TRADE

    position_id: int
    symbol: str
    old_stop: float
    new_stop: float


@dataclass(frozen=True, slots=True)
class PositionClosed(Event):
    kind: ClassVar[str] = "closed"
    priority: ClassVar[int] = PRIORITY_TRADE

    position_id: int
    symbol: str
    side: str
    quantity: float
    entry_price: float
    exit_price: float
    reason: str
    pnl: float  # realised over the whole position, fees included
    pnl_pct: float  # of the entry notional
    balance: float


@dataclass(frozen=True, slots=True)
class AccessRequested(Event):
    """To an admin: a new user waits for approval (ACCESS=approval)."""

    kind: ClassVar[str] = "access_request"
    priority: ClassVar[int] = PRIORITY_TRADE

    applicant: int
    name: str


@dataclass(frozen=True, slots=True)
class Alert(Event):
    """A notice for one user (often an admin): `key` names a catalogue message."""

    kind: ClassVar[str] = "alert"
    priority: ClassVar[int] = PRIORITY_TRADE

    key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


_KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SignalIssued,
        SignalPosted,
        SignalEnded,
        OrderFilled,
        TakeProfitHit,
        StopMoved,
        PositionClosed,
        AccessRequested,
        Alert,
    )
}


def to_payload(event: Event) -> dict[str, Any]:
    """Serialise an event to a JSON-ready dict (datetimes as ISO strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def from_payload(kind: str, payload: dict[str, Any]) -> Event:
    cls = _KINDS[kind]
    values = dict(payload)
    for f in dataclasses.fields(cls):
        if f.type in ("datetime", datetime) and isinstance(values.get(f.name), str):
            values[f.name] = datetime.fromisoformat(values[f.name])
    return cls(**values)
