"""The trading service: signal -> per-user rows -> confirmation -> orders -> position.

One facade over the steps, each in its own module and sharing one `TradingContext`
(core/trading/context.py): publish and fan-out (fanout.py), confirmation
(confirmation.py), execution (execution.py), the monitor (monitor.py) and recovery
(recovery.py). Handlers call these methods; each returns a dataclass or raises
`UserError` with a catalogue key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import UserError
from core.events import PositionClosed
from core.models import Limits, SignalDraft, SignalState, User, UserSignal
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
from core.risk.sizing import SizeDecision
from core.trading.confirmation import Confirmation
from core.trading.context import TradingConfig, TradingContext, state_key
from core.trading.episodes import Episodes
from core.trading.equity import EquityMarks
from core.trading.execution import Execution, Executor, entry_client_order_id
from core.trading.fanout import FanOut, size_for
from core.trading.monitor import Monitor, PositionView
from core.trading.recovery import Recovery

__all__ = [
    "USER_RISK_CAP_PCT",
    "Execution",
    "PositionView",
    "TradingConfig",
    "TradingService",
    "entry_client_order_id",
]

#: The most a user may risk per trade on their own setting, in percent of balance.
USER_RISK_CAP_PCT = 5.0


class TradingService:
    def __init__(
        self,
        *,
        config: TradingConfig,
        clock: Clock,
        market_data: MarketData,
        exchange: Exchange,
        users: UserRepository,
        system: SystemRepository,
        signals: SignalRepository,
        orders: OrderRepository,
        positions: PositionRepository,
        outbox: OutboxRepository,
        manager: PositionManager,
        wake_delivery: Callable[[], None] = lambda: None,
        track_record: RecordBriefs | None = None,
    ) -> None:
        """`manager` protects, follows and closes positions once their entry filled:
        core.trading.paper (candles) or core.trading.live (orders resting on the exchange).
        `track_record` gives each signal its playbook's record line (core.trading.track_record)."""
        ctx = TradingContext(
            config=config,
            clock=clock,
            market_data=market_data,
            exchange=exchange,
            users=users,
            system=system,
            signals=signals,
            orders=orders,
            positions=positions,
            outbox=outbox,
            manager=manager,
            wake=wake_delivery,
            record=track_record or NoRecord(),
        )
        self._ctx = ctx
        self._users, self._signals, self._positions, self._outbox = users, signals, positions, outbox
        self._fanout = FanOut(ctx)
        executor = Executor(ctx)
        self.episodes = Episodes(system, outbox, clock, wake_delivery)  # trouble told once per episode, counted
        marks = EquityMarks(users, positions, market_data, clock)
        self._confirmation = Confirmation(ctx, executor, marks)
        self._recovery = Recovery(ctx, executor, self.episodes)
        self._monitor = Monitor(ctx, self._recovery, self.episodes, marks)

    # ----------------------------------------------------------------- users

    async def register(self, user_id: int, language: str) -> tuple[User, bool]:
        return await self._users.register(user_id, language, self._ctx.config.paper_balance)

    async def unsubscribe(self, user_id: int) -> bool:
        return await self._users.set_subscribed(user_id, False)

    async def user(self, user_id: int) -> User:
        user = await self._users.get(user_id)
        if user is None:
            raise UserError("not_registered")
        return user

    async def set_language(self, user_id: int, language: str) -> User:
        await self.user(user_id)
        await self._users.set_language(user_id, language)
        return await self.user(user_id)

    async def set_risk(self, user_id: int, risk_pct: float | None) -> User:
        """A user's own risk per trade (None: the system's), never above the system's cap."""
        if risk_pct is not None and not 0 < risk_pct <= USER_RISK_CAP_PCT:
            raise UserError("risk_out_of_range", cap=USER_RISK_CAP_PCT)
        await self.user(user_id)
        await self._users.set_risk_pct(user_id, risk_pct)
        return await self.user(user_id)

    # --------------------------------------------------------------- signals

    async def publish(self, draft: SignalDraft) -> list[UserSignal] | None:
        """Store the signal once; a sized row and a message per reachable subscriber."""
        return await self._fanout.publish(draft)

    @staticmethod
    def size_for(user: User, entry: float, stop: float, limits: Limits, closed_pnls: Sequence[float]) -> SizeDecision:
        return size_for(user, entry, stop, limits, closed_pnls)

    async def active_signals(self, user_id: int) -> list[UserSignal]:
        return await self._signals.active_for_user(user_id, self._ctx.clock.now())

    async def skip(self, user_signal_id: int, user_id: int) -> UserSignal:
        row = await self._ctx.own_row(user_signal_id, user_id)
        if not await self._signals.transition(
            row.id, user_id, SignalState.PENDING, SignalState.SKIPPED, self._ctx.clock.now()
        ):
            raise UserError(state_key(await self._ctx.own_row(user_signal_id, user_id)))
        return row

    async def expire_signals(self) -> int:
        return await self._signals.expire_due(self._ctx.clock.now())

    # -------------------------------------------------------------- confirm

    async def confirm(self, user_signal_id: int, user_id: int) -> Execution:
        """Check, claim the row pending -> confirmed atomically, execute the entry."""
        return await self._confirmation.confirm(user_signal_id, user_id)

    # -------------------------------------------------------------- monitor

    async def positions_view(self, user_id: int) -> list[PositionView]:
        return await self._monitor.positions_view(user_id)

    async def monitor(self) -> int:
        """Follow every open position once. Returns how many positions changed."""
        return await self._monitor.monitor()

    async def close_position(self, position_id: int, user_id: int) -> PositionClosed:
        """Close what is left of the user's position at market, now."""
        return await self._monitor.close_position(position_id, user_id)

    # ------------------------------------------------------------- recovery

    async def recover(self) -> int:
        """After a restart: finish or undo interrupted confirmations, then reconcile."""
        return await self._recovery.recover()
