"""Types of the public track record, shared by core/trading/track_record.py and db/.

Every published signal (the engine's or an admin's) is followed to its outcome by a shadow
paper position of one unit that belongs to no user. Results are per playbook: the engine's
playbook name, or `admin` for manual signals.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.models import Position, SignalLevels

#: The playbook name of admins' manual signals.
ADMIN_PLAYBOOK = "admin"


def playbook_of(source: str, meta: Mapping[str, Any]) -> str:
    """The playbook a signal belongs to: `admin` for a manual one, else the engine's
    playbook name as the engine wrote it in the signal's meta (`strategy`, or the `name` of
    its `playbook` description)."""
    if source == "manual":
        return ADMIN_PLAYBOOK
    name = meta.get("strategy")
    described = meta.get("playbook")
    if not name and isinstance(described, Mapping):
        name = described.get("name")
    return str(name) if name else "engine"


class ShadowStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    VOID = "void"  # the candles since its last look are no longer available: not counted


@dataclass(frozen=True, slots=True)
class PublishedSignal:
    """A stored signal, as the track record reads it to open its shadow."""

    signal_id: int
    source: str
    symbol: str
    timeframe: str
    levels: SignalLevels
    atr: float | None
    candle_time: datetime
    meta: Mapping[str, Any]
    created_at: datetime


@dataclass(slots=True)
class ShadowPosition:
    """One signal's shadow: a one-unit paper position (`position.user_id` is 0)."""

    signal_id: int
    playbook: str
    source: str
    timeframe: str
    published_at: datetime
    position: Position
    status: ShadowStatus = ShadowStatus.OPEN
    r_multiple: float | None = None
    return_pct: float | None = None


@dataclass(frozen=True, slots=True)
class ShadowOutcome:
    """What the statistics read of a shadow: open ones have no R yet."""

    playbook: str
    published_at: datetime
    status: ShadowStatus
    r_multiple: float | None
    return_pct: float | None


@dataclass(frozen=True, slots=True)
class ProbationState:
    playbook: str
    on_probation: bool
    since: datetime | None
    avg_r: float | None
    trades: int


@dataclass(frozen=True, slots=True)
class RecordBrief:
    """The one line of a playbook's record a signal message carries."""

    playbook: str
    signals: int  # published in the window
    closed: int
    avg_r: float | None
    on_probation: bool = False
    held: bool = False
    probation_avg_r: float | None = None
    probation_trades: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "signals": self.signals,
            "closed": self.closed,
            "avg_r": self.avg_r,
            "on_probation": self.on_probation,
            "probation_avg_r": self.probation_avg_r,
            "probation_trades": self.probation_trades,
        }


class RecordBriefs(Protocol):
    """What the fan-out asks of the track record before a signal goes out."""

    async def brief(self, playbook: str) -> RecordBrief: ...


class NoRecord:
    """No track record (unit tests of the trading service that are not about it)."""

    async def brief(self, playbook: str) -> RecordBrief:
        return RecordBrief(playbook, 0, 0, None)
