"""What every step of the trading service shares: its settings, its collaborators, its locks.

The composition root builds one `TradingService` (core/trading/service.py), which builds one
`TradingContext` and hands it to each step: fan-out, confirmation, execution, monitor and
recovery. The locks live here because they are shared across the steps: a user's lock
serialises that user's confirmations and the resolution of their interrupted ones; a
position's lock makes whoever holds it the position's one owner (the confirmation that
protects it, the monitor that follows it, a manual close), so two of them never decide
about its orders at once; the monitor's lock keeps runs of the monitor apart.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import UserError
from core.models import UserSignal
from core.ports import (
    Clock,
    Exchange,
    MarketData,
    OrderRepository,
    OutboxRepository,
    PositionManager,
    PositionRepository,
    SignalRepository,
    SystemRepository,
    UserRepository,
)
from core.records import NoRecord, RecordBriefs
from core.rules.entry import DEFAULT_MAX_DRIFT_R


@dataclass(frozen=True, slots=True)
class TradingConfig:
    timeframe: str
    paper_balance: float
    signal_ttl_seconds: float
    admin_ids: frozenset[int]
    max_entry_drift_r: float = DEFAULT_MAX_DRIFT_R  # a market confirm is refused beyond this drift, in R
    monitor_candles: int = 500
    access: str = "open"  # open, or approval: an admin approves each new user
    audit_seconds: float = 600.0  # how often the monitor holds accounts' coins against the positions
    monitor_concurrency: int = 8  # positions followed at once by a monitor run
    signal_channel: int | str | None = None  # channel mode: each signal also posted there once
    channel_language: str = "en"  # the language of the channel's posts


@dataclass(slots=True)
class TradingContext:
    """The trading service's collaborators (ports) and shared locks."""

    config: TradingConfig
    clock: Clock
    market_data: MarketData
    exchange: Exchange
    users: UserRepository
    system: SystemRepository
    signals: SignalRepository
    orders: OrderRepository
    positions: PositionRepository
    outbox: OutboxRepository
    manager: PositionManager
    wake: Callable[[], None]
    record: RecordBriefs = field(default_factory=NoRecord)  # the track record's line per signal
    user_locks: defaultdict[int, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    position_locks: defaultdict[int, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    monitor_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def own_row(self, user_signal_id: int, user_id: int) -> UserSignal:
        """The user's own signal row; the same refusal for a foreign one (nothing leaks)."""
        row = await self.signals.get_user_signal(user_signal_id)
        if row is None or row.user_id != user_id:
            raise UserError("signal_not_found")
        return row


def state_key(row: UserSignal) -> str:
    """The catalogue key that says what state a row is in."""
    return f"signal_state_{row.state.value}"
