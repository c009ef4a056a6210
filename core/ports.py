"""The ports core needs. Adapters (db/, core/exchange/, bot/) implement them.

Only protocols and the small dataclasses they exchange live here; nothing imports an SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from core.events import Event
from core.models import (
    Balance,
    Limits,
    OrderRequest,
    OrderResult,
    Position,
    Side,
    SignalDraft,
    SignalLevels,
    SignalState,
    User,
    UserSignal,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""


class MarketData(Protocol):
    """Closed candles and last prices. Never returns a candle that has not closed."""

    def symbols(self) -> Sequence[str]:
        """Symbols this source can serve."""

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        """The last `limit` closed candles: DatetimeIndex (UTC open time), columns
        open, high, low, close, volume. Raises UnknownSymbol for a symbol it lacks."""

    async def last_price(self, symbol: str) -> float:
        """The latest traded (or replayed) price."""


class Exchange(Protocol):
    """Orders on a user's account. One instance per exchange, shared by all users.

    `create_order` is never retried blindly: on a timeout the caller resolves the order
    with `fetch_order` by its client order id.
    """

    name: str

    async def create_order(self, request: OrderRequest) -> OrderResult: ...

    async def fetch_order(self, request: OrderRequest) -> OrderResult | None:
        """The exchange's state of this client order id; None if it never arrived."""

    async def cancel_order(self, request: OrderRequest) -> OrderResult: ...

    async def fetch_balance(self, user_id: int, currency: str) -> Balance: ...


@dataclass(frozen=True, slots=True)
class Allocation:
    """One subscriber's share of a signal: the quantity sized for them."""

    user_id: int
    quantity: float


class UserRepository(Protocol):
    async def register(self, user_id: int, language: str, paper_balance: float) -> tuple[User, bool]:
        """Create or resubscribe a user; the bool says whether the user is new."""

    async def get(self, user_id: int) -> User | None: ...

    async def set_subscribed(self, user_id: int, subscribed: bool) -> bool: ...

    async def set_language(self, user_id: int, language: str) -> None: ...

    async def mark_blocked(self, user_id: int) -> None: ...

    async def subscribers(self) -> list[User]: ...

    async def counts(self) -> tuple[int, int]:
        """(registered, subscribed and reachable)."""


class SettingsRepository(Protocol):
    async def is_paused(self) -> bool: ...

    async def set_paused(self, paused: bool, admin_id: int) -> None: ...

    async def limits(self) -> Limits: ...

    async def set_limit(self, name: str, value: float | int, admin_id: int) -> Limits: ...

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str) -> None: ...


class SignalRepository(Protocol):
    async def publish(
        self,
        draft: SignalDraft,
        allocations: Sequence[Allocation],
        created_at: datetime,
        expires_at: datetime,
        make_event: "EventFactory",
    ) -> list[UserSignal] | None:
        """Store the signal once, one row per allocation and one outbox event per row,
        all in one transaction. None when this engine signal was already stored."""

    async def get_user_signal(self, user_signal_id: int) -> UserSignal | None: ...

    async def transition(
        self,
        user_signal_id: int,
        user_id: int,
        from_state: SignalState,
        to_state: SignalState,
        now: datetime,
        reason: str | None = None,
    ) -> bool:
        """Move the row in one statement; False if it was not in `from_state` (or, for
        pending -> confirmed, expired or not this user's)."""

    async def set_message_id(self, user_signal_id: int, message_id: int) -> None: ...

    async def active_for_user(self, user_id: int, now: datetime) -> list[UserSignal]: ...

    async def expire_due(self, now: datetime) -> int: ...


class EventFactory(Protocol):
    def __call__(self, user_signal: UserSignal) -> Event: ...


class OrderRepository(Protocol):
    async def begin(self, request: OrderRequest, now: datetime) -> OrderResult | None:
        """Store the intent as `submitting` before it is sent. If this client order id
        exists already, return what is known of it instead (None if still submitting)."""

    async def record(self, request: OrderRequest, result: OrderResult) -> None: ...

    async def unresolved(self) -> list[OrderRequest]:
        """Orders stored as submitting: their fate must be looked up on the exchange."""


class PositionRepository(Protocol):
    async def open(
        self, position: Position, user_signal_id: int | None, fee: float, events: Sequence[Event]
    ) -> Position:
        """Insert the position, mark its user signal executed, charge the entry fee to
        the user's paper balance and queue the events, atomically. Returns it with id."""

    async def save(self, position: Position, balance_delta: float, events: Sequence[Event]) -> float:
        """Persist the position's new state, add `balance_delta` to the user's balance
        and queue the events, atomically. Returns the new balance."""

    async def get(self, position_id: int) -> Position | None: ...

    async def open_positions(self, user_id: int | None = None) -> list[Position]: ...

    async def closed_positions(self, user_id: int | None = None, limit: int | None = None) -> list[Position]: ...

    async def count_open(self, user_id: int | None = None) -> int: ...


class Outbox(Protocol):
    async def enqueue(self, events: Sequence[Event]) -> None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """A would-be signal as the models see it, at its decision candle."""

    symbol: str
    timeframe: str
    side: Side
    frame: pd.DataFrame  # candles with indicator columns, up to and including the decision candle
    levels: SignalLevels
    regime: str | None
    strength: float


@dataclass(frozen=True, slots=True)
class ModelOpinion:
    """One model's say on one candidate."""

    passed: bool
    reason: str
    strength_factor: float = 1.0  # multiplies the candidate's strength when it passes
    details: Mapping[str, float] = field(default_factory=dict)


class SignalModel(Protocol):
    """An ML filter. Synchronous and CPU-bound: the engine runs it off the event loop,
    once per scan for all candidates of that scan."""

    name: str

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]: ...
