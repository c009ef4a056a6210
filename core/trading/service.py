"""The trading service: signal -> per-user rows -> confirmation -> orders -> position.

Handlers call these methods; each returns a dataclass or raises `UserError` with a
catalogue key. Exchange calls happen outside database transactions: an intent is stored
first (`orders.begin`), then sent, then its outcome recorded.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from core.errors import (
    FinalExchangeError,
    InsufficientFunds,
    OrderOutcomeUnknown,
    RetryableExchangeError,
    UnknownSymbol,
    UserError,
)
from core.events import Alert, Event, OrderFilled, PositionClosed, SignalIssued
from core.models import (
    Limits,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    SignalDraft,
    SignalState,
    User,
    UserSignal,
)
from core.ports import (
    Allocation,
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
from core.risk.limits import AccountSnapshot, Proposal, check_new_position, return_correlation
from core.risk.sizing import SizeDecision, TradeStats, position_quantity
from core.trading.orders import fee_in_quote, held_quantity, submit_once

log = logging.getLogger(__name__)

#: The most a user may risk per trade on their own setting, in percent of balance.
USER_RISK_CAP_PCT = 5.0


@dataclass(frozen=True, slots=True)
class TradingConfig:
    timeframe: str
    paper_balance: float
    signal_ttl_seconds: float
    max_price_drift_pct: float
    admin_ids: frozenset[int]
    monitor_candles: int = 500


@dataclass(frozen=True, slots=True)
class Execution:
    position: Position
    order: OrderResult


@dataclass(frozen=True, slots=True)
class PositionView:
    position: Position
    price: float | None
    unrealized_pnl: float | None


def entry_client_order_id(user_signal_id: int) -> str:
    return f"atra-us{user_signal_id}-entry"


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
    ) -> None:
        """`manager` protects, follows and closes positions once their entry filled:
        core.trading.paper (candles) or core.trading.live (orders resting on the exchange)."""
        self._config = config
        self._clock = clock
        self._market_data = market_data
        self._exchange = exchange
        self._users = users
        self._system = system
        self._signals = signals
        self._orders = orders
        self._positions = positions
        self._outbox = outbox
        self._manager = manager
        self._wake = wake_delivery
        self._user_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._monitor_lock = asyncio.Lock()

    # ----------------------------------------------------------------- users

    async def register(self, user_id: int, language: str) -> tuple[User, bool]:
        return await self._users.register(user_id, language, self._config.paper_balance)

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
        """Store the signal once and give every reachable subscriber their own sized row
        and message. None if the engine already published this candle."""
        if await self._system.is_paused():
            raise UserError("trading_paused")
        limits = await self._system.limits()
        subscribers = await self._users.subscribers()
        history = await self._positions.closed_net_pnls([u.id for u in subscribers])
        allocations = []
        for user in subscribers:
            sized = self.size_for(user, draft.levels.entry, draft.levels.stop, limits, history.get(user.id, []))
            if sized.quantity > 0:
                allocations.append(Allocation(user.id, sized.quantity))
        now = self._clock.now()
        expires = now + timedelta(seconds=self._config.signal_ttl_seconds)

        def make_event(row: UserSignal) -> Event:
            lv = row.levels
            return SignalIssued(
                user_id=row.user_id,
                user_signal_id=row.id,
                symbol=row.symbol,
                timeframe=row.timeframe,
                side=lv.side.value,
                entry=lv.entry,
                stop=lv.stop,
                tp1=lv.tp1,
                tp2=lv.tp2,
                quantity=row.quantity,
                expires_at=row.expires_at,
                source=draft.source,
                strength=draft.strength,
                regime=draft.regime,
            )

        rows = await self._signals.publish(draft, allocations, now, expires, make_event)
        if rows:
            self._wake()
        return rows

    @staticmethod
    def size_for(user: User, entry: float, stop: float, limits: Limits, closed_pnls: Sequence[float]) -> SizeDecision:
        """The user's size: fixed-fractional at their risk (their own setting or the
        system's), quarter-Kelly from their own closed trades once there are enough."""
        if user.risk_pct is not None:
            limits = limits.replace(risk_per_trade_pct=user.risk_pct)
        return position_quantity(user.paper_balance, entry, stop, limits, TradeStats.from_pnls(closed_pnls))

    async def active_signals(self, user_id: int) -> list[UserSignal]:
        return await self._signals.active_for_user(user_id, self._clock.now())

    async def skip(self, user_signal_id: int, user_id: int) -> UserSignal:
        row = await self._own_row(user_signal_id, user_id)
        if not await self._signals.transition(
            row.id, user_id, SignalState.PENDING, SignalState.SKIPPED, self._clock.now()
        ):
            raise UserError(self._state_key(await self._own_row(user_signal_id, user_id)))
        return row

    async def _own_row(self, user_signal_id: int, user_id: int) -> UserSignal:
        row = await self._signals.get_user_signal(user_signal_id)
        if row is None or row.user_id != user_id:
            raise UserError("signal_not_found")  # the same answer for foreign rows: nothing leaks
        return row

    @staticmethod
    def _state_key(row: UserSignal) -> str:
        return f"signal_state_{row.state.value}"

    # -------------------------------------------------------------- confirm

    async def confirm(self, user_signal_id: int, user_id: int) -> Execution:
        """Check, claim the row pending -> confirmed atomically, execute the entry."""
        async with self._user_locks[user_id]:
            if await self._system.is_paused():
                raise UserError("trading_paused")
            row = await self._own_row(user_signal_id, user_id)
            now = self._clock.now()
            if row.state is not SignalState.PENDING:
                raise UserError(self._state_key(row))
            if row.expires_at <= now:
                await self._signals.transition(row.id, user_id, SignalState.PENDING, SignalState.EXPIRED, now)
                raise UserError("signal_state_expired")
            price = await self._market_data.last_price(row.symbol)
            self._check_price(row, price)
            await self._check_risk(row)
            await self._manager.admit(row)
            if not await self._signals.transition(row.id, user_id, SignalState.PENDING, SignalState.CONFIRMED, now):
                raise UserError(self._state_key(await self._own_row(user_signal_id, user_id)))
            return await self._execute_entry(row, price)

    async def _check_risk(self, row: UserSignal) -> None:
        """Every risk limit, on the user's account as of now (see core/risk/limits.py)."""
        limits = await self._system.limits()
        open_positions = await self._positions.open_positions(row.user_id)
        prices = {p.symbol: await self._market_data.last_price(p.symbol) for p in open_positions}
        balance = await self._users.balance(row.user_id) or 0.0
        equity = balance + sum(p.unrealized_pnl(prices[p.symbol]) for p in open_positions)
        peak, day_start = await self._users.mark_equity(row.user_id, equity, self._clock.now().strftime("%Y-%m-%d"))
        account = AccountSnapshot(equity, peak, day_start, open_positions)
        lv = row.levels
        proposal = Proposal(row.symbol, lv.side, lv.entry, lv.stop, row.quantity)
        closes = {}
        for symbol in {row.symbol, *(p.symbol for p in open_positions)} if open_positions else ():
            closes[symbol] = (await self._market_data.candles(symbol, self._config.timeframe, 200))["close"]

        def correlation(a: str, b: str) -> float:
            value = return_correlation(closes[a], closes[b])
            return 0.0 if math.isnan(value) else value

        decision = check_new_position(limits, account, proposal, correlation)
        if decision.allowed:
            return
        if decision.halts:
            await self._alert_halt(row.user_id, decision.reason or "", decision.detail)
        raise UserError(f"risk_{decision.reason}", **decision.detail)

    async def _alert_halt(self, user_id: int, reason: str, detail: dict[str, object]) -> None:
        """Tell the admins once per user and day that a risk limit halted the user."""
        key = f"halt_alerted:{user_id}:{reason}:{self._clock.now():%Y-%m-%d}"
        if await self._system.get_value(key):
            return
        await self._system.set_value(key, "1")
        shown = ", ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}" for k, v in detail.items())
        params = {"user": user_id, "reason": reason, "detail": shown}
        await self._outbox.enqueue(
            [Alert(user_id=admin, key="risk_halt_admin", params=params) for admin in sorted(self._config.admin_ids)],
            self._clock.now(),
        )
        self._wake()

    def _check_price(self, row: UserSignal, price: float) -> None:
        """Refuse when price has run away: past the stop, at or past TP1, or further
        from the entry than the allowed drift."""
        lv = row.levels
        s = lv.side.sign
        drift_pct = abs(price - lv.entry) / lv.entry * 100
        if s * (price - lv.stop) <= 0 or s * (price - lv.tp1) >= 0 or drift_pct > self._config.max_price_drift_pct:
            raise UserError("price_moved", price=price, entry=lv.entry)

    async def _execute_entry(self, row: UserSignal, price: float) -> Execution:
        """A market entry; `price` (just checked) is its reference for the exchange's
        minimum-notional check, never a limit."""
        request = OrderRequest(
            client_order_id=entry_client_order_id(row.id),
            user_id=row.user_id,
            symbol=row.symbol,
            side=row.levels.side.entry_order_side,
            type=OrderType.MARKET,
            amount=row.quantity,
            price=price,
            purpose="entry",
        )
        try:
            result = await self._submit(request)
        except InsufficientFunds as exc:
            await self._reject(row, f"insufficient funds: {exc}")
            raise UserError("insufficient_funds") from exc
        except OrderOutcomeUnknown as exc:  # the monitor resolves it and tells the user
            raise UserError("entry_unconfirmed") from exc
        except FinalExchangeError as exc:
            await self._reject(row, str(exc))
            raise UserError("order_rejected", reason=str(exc)) from exc
        if result.status is not OrderStatus.FILLED or not result.average_price:
            await self._reject(row, f"entry order {result.status.value}")
            raise UserError("order_rejected", reason=result.status.value)
        return Execution(await self._open_position(row, result), result)

    async def _reject(self, row: UserSignal, reason: str) -> None:
        await self._signals.transition(
            row.id, row.user_id, SignalState.CONFIRMED, SignalState.REJECTED, self._clock.now(), reason=reason[:200]
        )

    async def _open_position(self, row: UserSignal, fill: OrderResult) -> Position:
        assert fill.average_price is not None
        lv = row.levels
        held = held_quantity(fill, row.symbol)
        fee = fee_in_quote(fill, row.symbol, fill.average_price)
        latest = await self._market_data.candles(row.symbol, self._config.timeframe, 1)
        last_candle_at = latest.index[-1].to_pydatetime() if len(latest) else None
        position = Position(
            id=0,
            user_id=row.user_id,
            user_signal_id=row.id,
            symbol=row.symbol,
            side=lv.side,
            entry_price=fill.average_price,
            initial_quantity=held,
            quantity=held,
            stop_price=lv.stop,
            initial_stop=lv.stop,
            tp1=lv.tp1,
            tp2=lv.tp2,
            tp1_done=False,
            highest=fill.average_price,
            lowest=fill.average_price,
            atr=await self._signal_atr(row),
            realized_pnl=0.0,
            fees=fee,
            status=PositionStatus.OPEN,
            opened_at=fill.timestamp or self._clock.now(),
            last_candle_at=last_candle_at,
        )

        def events(p: Position) -> list[Event]:
            return [
                OrderFilled(
                    user_id=p.user_id,
                    user_signal_id=row.id,
                    position_id=p.id,
                    symbol=p.symbol,
                    side=p.side.value,
                    quantity=p.quantity,
                    price=p.entry_price,
                    fee=fee,
                    stop=p.stop_price,
                    tp1=p.tp1,
                    tp2=p.tp2,
                )
            ]

        position = await self._positions.open(position, fill.client_order_id, fee, events)
        self._wake()
        log.info(
            "position %s opened: user %s %s %s %.8g @ %.8g",
            position.id,
            row.user_id,
            row.symbol,
            lv.side.value,
            held,
            fill.average_price,
        )
        await self._manager.opened(position)
        return position

    async def _signal_atr(self, row: UserSignal) -> float | None:
        return await self._signals.signal_atr(row.signal_id)

    async def _submit(self, request: OrderRequest) -> OrderResult:
        """Send an order exactly once per client order id (see core/trading/orders.py)."""
        return await submit_once(self._exchange, self._orders, request)

    # ---------------------------------------------------------------- views

    async def positions_view(self, user_id: int) -> list[PositionView]:
        views = []
        prices: dict[str, float | None] = {}
        for position in await self._positions.open_positions(user_id):
            if position.symbol not in prices:
                try:
                    prices[position.symbol] = await self._market_data.last_price(position.symbol)
                except (UnknownSymbol, RetryableExchangeError) as exc:
                    log.warning("no price for %s: %s", position.symbol, exc)
                    prices[position.symbol] = None
            price = prices[position.symbol]
            views.append(PositionView(position, price, position.unrealized_pnl(price) if price else None))
        return views

    # -------------------------------------------------------------- monitor

    async def monitor(self) -> int:
        """Apply every closed candle since the last look to each open position.
        Returns how many positions changed."""
        async with self._monitor_lock:
            changed = await self._resolve_interrupted()
            frames: dict[str, pd.DataFrame] = {}
            for position in await self._positions.open_positions():
                if position.symbol not in frames:
                    frames[position.symbol] = await self._market_data.candles(
                        position.symbol, self._config.timeframe, self._config.monitor_candles
                    )
                if await self._manager.follow(position, frames[position.symbol]):
                    changed += 1
            return changed

    async def close_position(self, position_id: int, user_id: int) -> PositionClosed:
        """Close what is left of the user's position at market, now."""
        async with self._monitor_lock:  # never at the same time as the monitor's own exits
            position = await self._positions.get(position_id)
            if position is None or position.user_id != user_id:
                raise UserError("position_not_found")
            if position.status is PositionStatus.CLOSED:
                raise UserError("position_already_closed")
            price = await self._market_data.last_price(position.symbol)
            closed = await self._manager.close(position, price)
            self._wake()
            return closed

    # ------------------------------------------------------------- recovery

    async def recover(self) -> int:
        """After a restart: finish or undo confirmations a crash interrupted, then let the
        position manager bring orders and positions in line with the exchange. Returns how
        many rows, orders and positions were resolved."""
        await self._manager.settle()
        resolved = await self._resolve_interrupted()
        return resolved + await self._manager.reconcile()

    async def _resolve_interrupted(self) -> int:
        """Confirmed rows whose entry never got an answer (a crash, or the exchange silent
        past every lookup): a fill becomes a position; an order never placed rejects the
        row and tells the user. Under the user's lock, so a confirmation in progress is
        never taken for an interrupted one."""
        resolved = 0
        for stuck in await self._signals.stuck_confirmed():
            lock = self._user_locks[stuck.user_id]
            if lock.locked():  # a confirmation of this user is running: it is not interrupted
                continue
            async with lock:
                row = await self._signals.get_user_signal(stuck.id)
                if row is None or row.state is not SignalState.CONFIRMED:
                    continue
                try:
                    await self._resolve_entry(row)
                except RetryableExchangeError as exc:
                    log.warning("interrupted confirmation %s still unresolved: %s", row.id, exc)
                    continue
            resolved += 1
        return resolved

    async def _resolve_entry(self, row: UserSignal) -> None:
        request = OrderRequest(
            client_order_id=entry_client_order_id(row.id),
            user_id=row.user_id,
            symbol=row.symbol,
            side=row.levels.side.entry_order_side,
            type=OrderType.MARKET,
            amount=row.quantity,
            purpose="entry",
        )
        recorded = await self._orders.get(request.client_order_id)
        result = recorded
        if recorded is None or recorded.status is OrderStatus.SUBMITTING:
            result = await self._exchange.fetch_order(request)
            if result is not None:
                await self._orders.record(result)
        if result is not None and result.status is OrderStatus.FILLED and result.average_price:
            await self._open_position(row, result)
            return
        if recorded is not None and result is None:
            await self._orders.record(
                OrderResult(request.client_order_id, None, OrderStatus.UNKNOWN, request.amount, 0.0, None)
            )
        await self._reject(row, "interrupted before the order was placed")
        await self._outbox.enqueue(
            [Alert(user_id=row.user_id, key="confirm_interrupted", params={"symbol": row.symbol})],
            self._clock.now(),
        )
        self._wake()

    async def expire_signals(self) -> int:
        return await self._signals.expire_due(self._clock.now())
