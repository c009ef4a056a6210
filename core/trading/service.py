"""The trading service: signal -> per-user rows -> confirmation -> orders -> position.

One facade over the steps, each in its own module and sharing one `TradingContext`
(core/trading/context.py): publish and fan-out (fanout.py), confirmation
(confirmation.py), execution (execution.py), the monitor (monitor.py) and recovery
(recovery.py). Handlers call these methods; each returns a dataclass or raises
`UserError` with a catalogue key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from core.errors import RetryableExchangeError, UserError
from core.events import PositionClosed, SignalEnded, SignalIssued, StopMoved
from core.models import LimitEntry, Limits, SignalDraft, SignalState, User, UserSignal
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
from core.trading.access import AccessControl
from core.trading.confirmation import Confirmation
from core.trading.context import TradingConfig, TradingContext, state_key
from core.trading.episodes import Episodes
from core.trading.equity import EquityMarks
from core.trading.execution import Execution, Executor, entry_client_order_id
from core.trading.fanout import FanOut, size_for
from core.trading.limit_entry import LimitEntries, LimitOutcome
from core.trading.live_pacing import FollowPacing
from core.trading.monitor import Monitor, PositionView
from core.trading.position_actions import PositionActions
from core.trading.preferences import apply_change
from core.trading.recovery import Recovery

log = logging.getLogger(__name__)

#: Refusals after which a signal cannot be taken: its row is rejected, its buttons go. (A
#: pause is the admins' to lift: a signal refused while paused stays confirmable.)
_FINAL_REFUSALS = ("risk_",)

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
        self._limits = LimitEntries(ctx, executor)
        self._confirmation = Confirmation(ctx, executor, marks, self._limits)
        self._recovery = Recovery(ctx, executor, self.episodes)
        self._monitor = Monitor(ctx, self._recovery, self.episodes, marks, self._limits)
        self._actions = PositionActions(ctx, self._monitor)
        self._access = AccessControl(ctx, config.access)

    # ----------------------------------------------------------------- users

    async def register(self, user_id: int, language: str) -> tuple[User, bool]:
        return await self._users.register(user_id, language, self._ctx.config.paper_balance)

    async def admit(self, user: User, new: bool, name: str) -> str:
        """After /start: the user's access (a new user waits under ACCESS=approval)."""
        return await self._access.on_start(user, new, name)

    async def decide_access(self, admin_id: int, user_id: int, access: str) -> User:
        """An admin approves ('active') or blocks ('blocked') a user."""
        return await self._access.decide(admin_id, user_id, access)

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

    async def change_prefs(self, user_id: int, field: str, value: str, symbols: Sequence[str]) -> User:
        """One of the user's own choices changed (see core/trading/preferences.py);
        UserError('button_stale') for a change that does not exist."""
        user = await self.user(user_id)
        await self._users.set_prefs(user_id, apply_change(user.prefs, field, value, symbols))
        return await self.user(user_id)

    # --------------------------------------------------------------- signals

    async def publish(self, draft: SignalDraft) -> list[UserSignal] | None:
        """Store the signal once; a sized row and a message per reachable subscriber.
        Users with auto-execution on then confirm it at once, as a press would."""
        published = await self._fanout.publish(draft)
        if published is None:
            return None
        rows, auto = published
        for row in rows:
            if row.user_id in auto:
                await self._auto_confirm(row)
        return rows

    async def _auto_confirm(self, row: UserSignal) -> None:
        try:
            await self.confirm(row.id, row.user_id)
        except UserError as exc:
            log.info("auto-execution of signal row %s refused: %s", row.id, exc.key)
        except RetryableExchangeError as exc:
            log.warning("auto-execution of signal row %s: exchange unavailable (%s)", row.id, exc)

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

    async def linked_signal(self, signal_id: int, user_id: int) -> UserSignal:
        """The user's own copy of signal `signal_id` (a deep link `s<id>`)."""
        row = await self._signals.for_signal(signal_id, user_id)
        if row is None:
            raise UserError("signal_not_found")
        return row

    async def take_linked(self, signal_id: int, user_id: int) -> tuple[UserSignal, SignalIssued | None]:
        """Signal `signal_id` for this user through the channel's link (`s<id>`): their own
        row (made and sized now if they had none while it is live) and its card."""
        return await self._fanout.take(signal_id, await self.user(user_id))

    async def offered_in(self, user_signal_id: int, message_id: int) -> None:
        """The message that offers the row now (the link's answer), when it had none."""
        await self._signals.attach_message(user_signal_id, message_id)

    async def expire_signals(self) -> int:
        """Expire due rows; each expired signal's message loses its buttons."""
        count = await self._signals.expire_due(
            self._ctx.clock.now(), lambda row_id, user_id: SignalEnded(user_id, row_id, SignalState.EXPIRED.value)
        )
        if count:
            self._ctx.wake()
        return count

    # -------------------------------------------------------------- confirm

    async def confirm(self, user_signal_id: int, user_id: int) -> Execution:
        """Check, claim the row pending -> confirmed atomically, execute the entry. A
        refusal by a risk limit rejects the row;
        a row that ends here (rejected, expired) has its message's buttons removed."""
        try:
            return await self._confirmation.confirm(user_signal_id, user_id)
        except UserError as exc:
            await self._after_refusal(user_signal_id, user_id, exc)
            raise

    async def place_limit(self, user_signal_id: int, user_id: int) -> LimitOutcome:
        """Take the signal with a limit order at its entry, valid until it expires
        (core/trading/limit_entry.py); refusals as for `confirm`."""
        try:
            return await self._confirmation.place_limit(user_signal_id, user_id)
        except UserError as exc:
            await self._after_refusal(user_signal_id, user_id, exc)
            raise

    async def cancel_limit(self, user_signal_id: int, user_id: int) -> LimitOutcome:
        """Cancel the user's working limit entry (a part filled meanwhile is kept)."""
        return await self._limits.cancel(user_signal_id, user_id)

    async def working_limits(self, user_id: int | None = None) -> list[LimitEntry]:
        """The user's working limit entries (everyone's with None)."""
        return await self._signals.working_limits(user_id)

    async def follow_limits(self) -> int:
        """One look at every working limit entry (the monitor does this each run). How many changed."""
        return await self._limits.follow_all()

    async def follow_limit(self, user_signal_id: int, user_id: int) -> int:
        """One look at one working limit entry now (its account stream saw its order change)."""
        return await self._limits.follow_one(user_signal_id, user_id)

    async def _after_refusal(self, user_signal_id: int, user_id: int, exc: UserError) -> None:
        ctx = self._ctx
        row = await ctx.signals.get_user_signal(user_signal_id)
        if row is None or row.user_id != user_id:
            return
        ended: SignalState | None = (
            row.state if row.state is SignalState.EXPIRED and exc.key == "signal_state_expired" else None
        )
        if row.state is SignalState.PENDING and exc.key.startswith(_FINAL_REFUSALS):
            now = ctx.clock.now()
            if await self._signals.transition(row.id, user_id, SignalState.PENDING, SignalState.REJECTED, now, exc.key):
                ended = SignalState.REJECTED
        if ended is not None and row.message_id is not None:
            await self._outbox.enqueue([SignalEnded(user_id, row.id, ended.value)], ctx.clock.now())
            ctx.wake()

    # -------------------------------------------------------------- monitor

    async def positions_view(self, user_id: int) -> list[PositionView]:
        return await self._monitor.positions_view(user_id)

    def pace(self, pacing: FollowPacing) -> None:
        """Live with account streams: the monitor sweeps what the streams already follow."""
        self._monitor.pacing = pacing

    async def follow_now(self, position_id: int, unless: Callable[[], Awaitable[bool]] | None = None) -> int:
        """Follow one position now (a stream update), unless `unless()` says, once the
        position is free, that there is nothing new: 1 if it changed."""
        return await self._monitor.follow_now(position_id, unless)

    async def monitor(self) -> int:
        """Follow every open position once. Returns how many positions changed."""
        return await self._monitor.monitor()

    async def close_position(self, position_id: int, user_id: int) -> PositionClosed:
        """Close what is left of the user's position at market, now."""
        return await self._monitor.close_position(position_id, user_id)

    async def close_all(self, user_id: int) -> list[PositionClosed]:
        """Close every open position of the user at market, now."""
        return await self._actions.close_all(user_id)

    async def stop_to_break_even(self, position_id: int, user_id: int) -> StopMoved:
        """Move the position's stop to its entry (refused unless the price is past it)."""
        return await self._actions.stop_to_break_even(position_id, user_id)

    # ------------------------------------------------------------- recovery

    async def recover(self) -> int:
        """After a restart: finish or undo interrupted confirmations, then reconcile."""
        return await self._recovery.recover()
