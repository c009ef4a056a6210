"""Domain types shared by the engine, the trading service, the database and the bot."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.prefs import UserPrefs


class Side(enum.StrEnum):
    """Direction of a signal or position."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1

    @property
    def entry_order_side(self) -> str:
        return "buy" if self is Side.LONG else "sell"

    @property
    def exit_order_side(self) -> str:
        return "sell" if self is Side.LONG else "buy"


class SignalState(enum.StrEnum):
    """Lifecycle of one user's copy of a signal."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    EXECUTED = "executed"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    REJECTED = "rejected"


class OrderStatus(enum.StrEnum):
    SUBMITTING = "submitting"  # stored, maybe sent, exchange's answer not yet recorded
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # the exchange does not know the client order id


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    TAKE_PROFIT = "take_profit"


class PositionStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ExitReason(enum.StrEnum):
    STOP_LOSS = "stop_loss"
    BREAK_EVEN = "break_even"
    TRAILING_STOP = "trailing_stop"
    TP1 = "tp1"
    TP2 = "tp2"
    MANUAL = "manual"
    END_OF_DATA = "end_of_data"


@dataclass(frozen=True, slots=True)
class SignalLevels:
    """Entry, protective stop and the two targets of a trade idea."""

    side: Side
    entry: float
    stop: float
    tp1: float
    tp2: float

    @property
    def risk_per_unit(self) -> float:
        return abs(self.entry - self.stop)

    @property
    def stop_pct(self) -> float:
        return self.risk_per_unit / self.entry * 100.0


@dataclass(frozen=True, slots=True)
class SignalDraft:
    """A signal before it is stored: from the engine or from an admin's /signal."""

    symbol: str
    timeframe: str
    levels: SignalLevels
    candle_time: datetime  # open time of the candle the decision was made on (UTC)
    source: str = "engine"  # "engine" or "manual"
    strength: float = 1.0
    regime: str | None = None
    atr: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def side(self) -> Side:
        return self.levels.side


@dataclass(frozen=True, slots=True)
class User:
    id: int  # Telegram user id; also the private chat id
    language: str
    subscribed: bool
    blocked: bool
    paper_balance: float
    risk_pct: float | None = None  # None: the system's risk_per_trade_pct
    created_at: datetime | None = None
    prefs: UserPrefs = field(default_factory=UserPrefs)  # the user's own choices (/settings)
    access: str = "active"  # active, waiting (for an admin's approval) or blocked


@dataclass(frozen=True, slots=True)
class UserSignal:
    """One user's copy of a signal, with that user's size."""

    id: int
    signal_id: int
    user_id: int
    symbol: str
    timeframe: str
    levels: SignalLevels
    quantity: float
    state: SignalState
    created_at: datetime
    expires_at: datetime
    message_id: int | None = None
    reason: str | None = None  # why it was rejected, if it was


@dataclass(frozen=True, slots=True)
class LimitEntry:
    """A row taken with a limit order at `price` for `quantity` (sized for that price),
    valid until the row expires; working while the row is confirmed."""

    row: UserSignal
    price: float
    quantity: float
    placed_at: datetime


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What to send to the exchange. `client_order_id` is unique per intent."""

    client_order_id: str
    user_id: int
    symbol: str
    side: str  # "buy" or "sell"
    type: OrderType
    amount: float
    price: float | None = None  # limit price, or the trigger price the monitor saw
    stop_price: float | None = None
    reduce_only: bool = False
    position_id: int | None = None
    purpose: str = "entry"  # entry, stop, tp1, tp2, exit


@dataclass(frozen=True, slots=True)
class OrderResult:
    """The exchange's account of an order."""

    client_order_id: str
    exchange_order_id: str | None
    status: OrderStatus
    amount: float
    filled: float
    average_price: float | None
    fee: float = 0.0
    fee_currency: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order as the database holds it: the intent, what is recorded of it, when the
    intent was stored and when its request last left for the exchange (None: never)."""

    request: OrderRequest
    result: OrderResult
    created_at: datetime
    sent_at: datetime | None = None

    @property
    def in_flight_since(self) -> datetime:
        """From when the exchange may still receive it: its last send, or (never sent, or
        stored before sends were recorded) when its intent was stored."""
        return self.sent_at or self.created_at


@dataclass(frozen=True, slots=True)
class ProtectiveOrders:
    """An OCO pair on one quantity: when one leg fills the exchange cancels the other."""

    list_client_order_id: str
    stop: OrderResult
    take_profit: OrderResult


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    free: float
    total: float


@dataclass(slots=True)
class Position:
    """An open or closed position. Mutable only inside the trading service."""

    id: int
    user_id: int
    user_signal_id: int | None
    symbol: str
    side: Side
    entry_price: float
    initial_quantity: float
    quantity: float  # what is still open
    stop_price: float
    initial_stop: float
    tp1: float
    tp2: float
    tp1_done: bool
    highest: float  # highest high since entry, for trailing
    lowest: float  # lowest low since entry
    atr: float | None
    realized_pnl: float  # gross P&L of the parts already closed, before fees
    fees: float  # every fee paid on the position, entry and exits
    status: PositionStatus
    opened_at: datetime
    last_candle_at: datetime | None = None  # last candle the monitor has applied
    closed_at: datetime | None = None
    exit_price: float | None = None
    exit_reason: ExitReason | None = None

    @property
    def net_pnl(self) -> float:
        """Realised P&L after every fee paid so far."""
        return self.realized_pnl - self.fees

    def unrealized_pnl(self, price: float) -> float:
        return (price - self.entry_price) * self.quantity * self.side.sign

    def copy(self) -> Position:
        return dataclasses.replace(self)


@dataclass(frozen=True, slots=True)
class Limits:
    """Risk limits. `max_open_positions` applies per user; percents are of equity."""

    max_open_positions: int = 3
    risk_per_trade_pct: float = 1.0
    max_position_pct: float = 25.0
    max_total_risk_pct: float = 6.0
    max_correlation: float = 0.8
    max_daily_loss_pct: float = 5.0
    max_drawdown_pct: float = 20.0
    kelly_fraction: float = 0.25  # of full Kelly; 0 disables Kelly sizing
    kelly_min_trades: int = 30  # closed trades needed before Kelly replaces fixed-fractional
    kelly_min_risk_pct: float = 0.25  # Kelly never risks less than this (keeps trading, small)
    # Probation of a playbook (core/trading/track_record.py): judged on its last `probation_trades`
    # closed shadow trades (0: off); below `probation_min_r` average R it is on probation, and its
    # signals are marked (probation_hold 0) or held from users (1) until the record recovers.
    probation_trades: int = 20
    probation_min_r: float = 0.0
    probation_hold: int = 0

    def replace(self, **changes: Any) -> Limits:
        return dataclasses.replace(self, **changes)
