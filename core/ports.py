"""The ports core needs. Adapters (db/, core/exchange/, bot/) implement them.

Only protocols and the small dataclasses they exchange live here; nothing imports an SDK.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from core.events import Event, PositionClosed
from core.models import (
    Balance,
    LimitEntry,
    Limits,
    OrderRequest,
    OrderResult,
    Position,
    Side,
    SignalDraft,
    SignalLevels,
    SignalState,
    StoredOrder,
    User,
    UserSignal,
)
from core.prefs import UserPrefs


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


#: Called once, right before an order's request leaves for the exchange (after any wait
#: in a rate limiter): the moment from which the exchange may receive it.
OnSent = Callable[[], Awaitable[None]]


class Exchange(Protocol):
    """Orders on a user's account. One instance per exchange, shared by all users.

    `create_order` is never retried blindly: on a timeout the caller resolves the order
    with `fetch_order` by its client order id.
    """

    name: str

    async def create_order(self, request: OrderRequest, on_sent: OnSent | None = None) -> OrderResult: ...

    async def fetch_order(self, request: OrderRequest) -> OrderResult | None:
        """The exchange's state of this client order id; None if it never arrived."""

    async def cancel_order(self, request: OrderRequest) -> OrderResult: ...

    async def fetch_balance(self, user_id: int, currency: str) -> Balance: ...


@dataclass(frozen=True, slots=True)
class Allocation:
    """One subscriber's share of a signal: the quantity sized for them. With `refusal`
    (a catalogue key) the row is stored already rejected: the user cannot take it."""

    user_id: int
    quantity: float
    refusal: str | None = None
    hold_seconds: float | None = None  # quiet hours: the message waits this long
    channel_only: bool = False  # channel mode: the row's message is stored as the card, not pushed


class UserRepository(Protocol):
    async def register(self, user_id: int, language: str, paper_balance: float) -> tuple[User, bool]:
        """Create or resubscribe a user; the bool says whether the user is new."""

    async def get(self, user_id: int) -> User | None: ...

    async def set_subscribed(self, user_id: int, subscribed: bool) -> bool: ...

    async def set_language(self, user_id: int, language: str) -> None: ...

    async def set_risk_pct(self, user_id: int, risk_pct: float | None) -> None: ...

    async def mark_blocked(self, user_id: int) -> None: ...

    async def set_prefs(self, user_id: int, prefs: UserPrefs) -> None: ...

    async def set_access(self, user_id: int, access: str) -> bool: ...

    async def equity_marks(self, day: str) -> dict[int, tuple[float | None, float | None]]:
        """Every user's (peak equity, today's starting equity or None), read only."""

    async def mark_equity(self, user_id: int, equity: float, day: str) -> tuple[float, float]:
        """Record equity seen today; return (peak equity, today's opening equity)."""

    async def subscribers(self) -> list[User]:
        """Subscribed users the bot can still reach."""

    async def counts(self) -> tuple[int, int]:
        """(registered, subscribed and reachable)."""

    async def list_users(self, limit: int = 100) -> list[User]:
        """The newest registered users first."""

    async def balance(self, user_id: int) -> float | None: ...

    async def set_balance(self, user_id: int, balance: float) -> None: ...

    async def record_balance(self, user_id: int, balance: float) -> float:
        """The account's balance as just read; returns the cash flow (new - booked), by which
        the equity marks move too: deposits and withdrawals are not P&L."""

    async def reset_marks(self, user_id: int) -> None:
        """Forget the equity marks: the next mark starts them afresh."""


class SystemRepository(Protocol):
    """The pause flag, risk limits and small key-values an admin controls (audited)."""

    async def is_paused(self) -> bool: ...

    async def set_paused(self, paused: bool, admin_id: int) -> None: ...

    async def limits(self) -> Limits: ...

    async def save_limits(self, limits: Limits, admin_id: int, changed: str) -> None: ...

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str) -> None: ...


class SignalRepository(Protocol):
    async def publish(
        self,
        draft: SignalDraft,
        allocations: Sequence[Allocation],
        created_at: datetime,
        expires_at: datetime,
        make_event: Callable[[UserSignal], Event],
        make_post: Callable[[int], Event] | None = None,
    ) -> list[UserSignal] | None:
        """Store the signal once, one row per allocation and one outbox event per row,
        all in one transaction (a channel-only row's event stored as its card, not to be
        sent), and with `make_post(signal_id)` the channel's post. None when this engine
        signal was already stored."""

    async def get_user_signal(self, user_signal_id: int) -> UserSignal | None: ...

    async def for_signal(self, signal_id: int, user_id: int) -> UserSignal | None: ...

    async def stored_draft(self, signal_id: int) -> tuple[SignalDraft, datetime] | None:
        """A stored signal as published, and when."""

    async def add_late_row(
        self,
        draft: SignalDraft,
        signal_id: int,
        allocation: Allocation,
        created_at: datetime,
        expires_at: datetime,
        make_event: Callable[[UserSignal], Event],
    ) -> UserSignal | None:
        """A row (and its card, unsent) for a user who had none; None if they have one."""

    async def card(self, user_signal_id: int) -> dict[str, Any] | None:
        """The row's signal message as written (an outbox payload), if still kept."""

    async def attach_message(self, user_signal_id: int, message_id: int) -> None:
        """The message offering this row, when it had none."""

    async def transition(
        self,
        user_signal_id: int,
        user_id: int,
        from_state: SignalState,
        to_state: SignalState,
        now: datetime,
        reason: str | None = None,
    ) -> bool:
        """Move the row in one statement; False if it was not in `from_state`, not this
        user's, or (leaving pending) expired."""

    async def active_for_user(self, user_id: int, now: datetime) -> list[UserSignal]: ...

    async def recent_for_user(self, user_id: int, now: datetime, limit: int = 20) -> list[UserSignal]:
        """Rows no longer active (executed, skipped, expired, rejected), newest first."""

    async def expire_due(self, now: datetime, make_event: Callable[[int, int], Event] | None = None) -> int:
        """Expire pending rows past their time, queueing `make_event(id, user)` for each
        whose message was sent."""

    async def stuck_confirmed(self) -> list[UserSignal]:
        """Confirmed rows taken at market with no outcome yet (limit entries are not stuck)."""

    async def place_limit(
        self, user_signal_id: int, user_id: int, price: float, quantity: float, now: datetime
    ) -> bool:
        """Claim the pending, unexpired row with a limit entry, in one transaction."""

    async def limit_entry(self, user_signal_id: int) -> LimitEntry | None: ...

    async def working_limits(self, user_id: int | None = None) -> list[LimitEntry]: ...

    async def signal_atr(self, signal_id: int) -> float | None: ...


class OrderRepository(Protocol):
    async def begin(self, request: OrderRequest) -> OrderResult | None:
        """Store the intent as `submitting` before it is sent and return None; if the
        client order id exists, return its record instead (never send it again)."""

    async def record(self, result: OrderResult) -> None: ...

    async def mark_sent(self, *client_order_ids: str) -> None:
        """Their requests leave for the exchange now (stored before they do)."""

    async def get(self, client_order_id: str) -> OrderResult | None: ...

    async def stored(self, client_order_id: str) -> StoredOrder | None: ...

    async def unresolved(self) -> list[OrderRequest]: ...

    async def for_position(self, position_id: int) -> list[StoredOrder]: ...

    async def active(self) -> list[StoredOrder]:
        """Orders that may still change on the exchange: submitting or open."""


class PositionRepository(Protocol):
    async def open(
        self,
        position: Position,
        entry_client_order_id: str,
        fee: float,
        make_events: Callable[[Position], Sequence[Event]],
    ) -> Position:
        """Insert the position, mark its user signal executed, charge the entry fee and
        queue the events, atomically. Returns it with its id."""

    async def save(
        self,
        position: Position,
        balance_delta: float,
        make_events: Callable[[float], Sequence[Event]],
        orders: Sequence[OrderResult] = (),
    ) -> float:
        """Persist the position, add `balance_delta` to the balance, record `orders` (the
        fills that changed the position) and queue the events (built from the new
        balance), atomically. Returns the new balance."""

    async def get(self, position_id: int) -> Position | None: ...

    async def open_positions(self, user_id: int | None = None) -> list[Position]: ...

    async def closed_positions(self, user_id: int, limit: int | None = None) -> list[Position]: ...

    async def count_open(self, user_id: int | None = None) -> int: ...

    async def closed_net_pnls(self, user_ids: Sequence[int] | None = None) -> dict[int, list[float]]: ...


class PositionManager(Protocol):
    """How positions are protected, followed and closed once their entry filled: against
    closed candles (paper, core/trading/paper.py) or by orders resting on the exchange
    (live, core/trading/live.py). Chosen once, in the composition root."""

    async def admit(self, row: UserSignal) -> None:
        """Raise UserError when this user cannot trade this signal here; called before the
        row is claimed, so a refusal leaves it pending."""

    async def opened(self, position: Position) -> None:
        """The position was just stored: protect it. Never raises for an exchange failure
        (the entry has filled): it flags the position instead."""

    async def follow(self, position: Position, candles: pd.DataFrame) -> bool:
        """Bring one open position up to date; `candles` are the symbol's latest closed ones.
        True if the position changed."""

    async def close(self, position: Position, price: float) -> PositionClosed:
        """Close what is left of the position now, at market (`price`: the latest)."""

    async def move_stop(self, position: Position, stop: float) -> list[Event]:
        """Move the position's stop to `stop` (set on `position`); the events to send.
        The caller saves the position."""

    async def lookup(self, order: StoredOrder) -> OrderResult | None:
        """The exchange's account of a stored order: None while it may still arrive (sent
        less than a receive window ago), UNKNOWN once it provably never will."""

    async def refresh_balance(self, user_id: int, quote: str) -> None:
        """Before sizing an entry in `quote`: bring the user's balance up to date with the
        account (live: read through the shared limiter, reused for a few seconds)."""

    async def audit(self, full: bool) -> int:
        """Hold what accounts hold against their open positions (`full`: every account; else
        only those a previous audit suspected); flag (never guess) a shortfall seen twice.
        Returns how many shortfalls are flagged."""

    async def settle(self) -> None:
        """Before recovery: wait until no order a stopped process sent can still arrive."""

    async def reconcile(self) -> int:
        """After the interrupted confirmations are resolved: bring orders and positions in
        line with the exchange. Returns how many orders and positions changed."""


class OutboxRepository(Protocol):
    async def enqueue(self, events: Sequence[Event], now: datetime) -> None: ...

    async def depth(self) -> int: ...


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
    opinions: tuple[str, ...] = ()  # the reasons of the models that passed it, in order


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
