"""Confirm: the checks a press must pass, then the atomic claim pending -> confirmed."""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import datetime

from core.errors import UnknownSymbol, UserError
from core.events import Alert
from core.models import LimitEntry, Position, SignalState, UserSignal
from core.risk.limits import AccountSnapshot, Proposal, check_new_position, return_correlation
from core.rules.entry import DRIFTED, drift_r, entry_refusal, limit_refusal
from core.trading.context import TradingContext, state_key
from core.trading.equity import EquityMarks
from core.trading.execution import Execution, Executor
from core.trading.fanout import size_for
from core.trading.limit_entry import LimitEntries, LimitOutcome, as_position

log = logging.getLogger(__name__)


class Confirmation:
    """The confirm step of the trading service."""

    def __init__(self, ctx: TradingContext, executor: Executor, marks: EquityMarks, limits: LimitEntries) -> None:
        self._ctx = ctx
        self._executor = executor
        self._marks = marks
        self._limits = limits

    async def confirm(self, user_signal_id: int, user_id: int) -> Execution:
        """Check, claim the row pending -> confirmed atomically, execute the entry."""
        ctx = self._ctx
        async with ctx.user_locks[user_id]:
            row, price, now = await self._open_row(user_signal_id, user_id)
            await self._check_price(row, price)
            row = await self._admit(row, price)
            if not await ctx.signals.transition(row.id, user_id, SignalState.PENDING, SignalState.CONFIRMED, now):
                raise UserError(state_key(await ctx.own_row(user_signal_id, user_id)))
            return await self._executor.execute_entry(row, price)

    async def place_limit(self, user_signal_id: int, user_id: int) -> LimitOutcome:
        """The same checks for a limit order at the signal's entry, sized for the entry (so
        the money at risk is the configured one); refused only once the price is past the
        stop. The claim and the limit entry are stored together, then the order placed."""
        ctx = self._ctx
        async with ctx.user_locks[user_id]:
            row, price, now = await self._open_row(user_signal_id, user_id)
            if limit_refusal(row.levels, price) is not None:
                raise UserError("price_moved", price=price, entry=row.levels.entry)
            entry_price = row.levels.entry
            row = await self._admit(row, entry_price)
            if not await ctx.signals.place_limit(row.id, user_id, entry_price, row.quantity, now):
                raise UserError(state_key(await ctx.own_row(user_signal_id, user_id)))
            entry = LimitEntry(dataclasses.replace(row, state=SignalState.CONFIRMED), entry_price, row.quantity, now)
            return await self._limits.place(entry, price)

    async def _open_row(self, user_signal_id: int, user_id: int) -> tuple[UserSignal, float, datetime]:
        """The user's row if it can still be taken (trading on, pending, unexpired), with the
        price now."""
        ctx = self._ctx
        if await ctx.system.is_paused():
            raise UserError("trading_paused")
        row = await ctx.own_row(user_signal_id, user_id)
        now = ctx.clock.now()
        if row.state is not SignalState.PENDING:
            raise UserError(state_key(row))
        if row.expires_at <= now:
            await ctx.signals.transition(row.id, user_id, SignalState.PENDING, SignalState.EXPIRED, now)
            raise UserError("signal_state_expired")
        return row, await ctx.market_data.last_price(row.symbol), now

    async def _admit(self, row: UserSignal, price: float) -> UserSignal:
        """The account may trade it, the row resized for `price`, every risk limit passed."""
        ctx = self._ctx
        await ctx.manager.admit(row)  # the account first: nothing is marked for one that cannot trade
        await ctx.manager.refresh_balance(row.user_id, row.symbol.split("/")[1])  # live: the balance now
        row = await self._resize(row, price)
        await self._check_risk(row, price)
        return row

    async def _resize(self, row: UserSignal, price: float) -> UserSignal:
        """The row with its quantity worked out again for the price the entry will use and
        the balance now: the published quantity scaled to the stop distance from `price`,
        and never more than a fresh sizing allows. So the risk to the stop never exceeds the
        configured one, whatever the drift or a withdrawal since the signal went out, and the
        user never buys more than the signal showed."""
        ctx = self._ctx
        user = await ctx.users.get(row.user_id)
        if user is None:
            raise UserError("not_registered")
        lv = row.levels
        drifted = row.quantity * lv.risk_per_unit / abs(price - lv.stop)
        history = await ctx.positions.closed_net_pnls([user.id])
        fresh = size_for(user, price, lv.stop, await ctx.system.limits(), history.get(user.id, []))
        quantity = min(drifted, fresh.quantity)
        if quantity <= 0:
            raise UserError("insufficient_funds")
        return dataclasses.replace(row, quantity=quantity)

    async def _check_risk(self, row: UserSignal, price: float) -> None:
        """Every risk limit, on the user's account as of now (see core/risk/limits.py), for
        the row's quantity bought at `price`."""
        ctx = self._ctx
        limits = await ctx.system.limits()
        open_positions = await ctx.positions.open_positions(row.user_id)
        prices = {p.symbol: await self._price_of(p) for p in open_positions}
        mark = await self._marks.mark(row.user_id, open_positions, prices)
        working = [as_position(e) for e in await ctx.signals.working_limits(row.user_id)]  # may fill any time
        open_positions = [*open_positions, *working]
        account = AccountSnapshot(mark.equity, mark.peak, mark.day_start, open_positions)
        lv = row.levels
        proposal = Proposal(row.symbol, lv.side, price, lv.stop, row.quantity)
        closes = {}
        for symbol in {row.symbol, *(p.symbol for p in open_positions)} if open_positions else ():
            try:
                closes[symbol] = (await ctx.market_data.candles(symbol, ctx.config.timeframe, 200))["close"]
            except UnknownSymbol:  # an open position's market is gone: no correlation to measure
                if symbol == row.symbol:
                    raise

        def correlation(a: str, b: str) -> float:
            if a not in closes or b not in closes:
                return 0.0
            value = return_correlation(closes[a], closes[b])
            return 0.0 if math.isnan(value) else value

        decision = check_new_position(limits, account, proposal, correlation)
        if decision.allowed:
            return
        if decision.halts:
            await self._alert_halt(row.user_id, decision.reason or "", decision.detail)
        raise UserError(f"risk_{decision.reason}", **decision.detail)

    async def _price_of(self, position: Position) -> float:
        """An open position's price now; at its entry when its market is gone (delisted):
        one delisted coin must not lock its holder out of every other trade."""
        try:
            return await self._ctx.market_data.last_price(position.symbol)
        except UnknownSymbol:
            log.warning("no price for %s (position %s): valued at its entry", position.symbol, position.id)
            return position.entry_price

    async def _alert_halt(self, user_id: int, reason: str, detail: dict[str, object]) -> None:
        """Tell the admins once per user and day that a risk limit halted the user."""
        ctx = self._ctx
        key = f"halt_alerted:{user_id}:{reason}:{ctx.clock.now():%Y-%m-%d}"
        if await ctx.system.get_value(key):
            return
        await ctx.system.set_value(key, "1")
        shown = ", ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}" for k, v in detail.items())
        params = {"user": user_id, "reason": reason, "detail": shown}
        await ctx.outbox.enqueue(
            [Alert(user_id=admin, key="risk_halt_admin", params=params) for admin in sorted(ctx.config.admin_ids)],
            ctx.clock.now(),
        )
        ctx.wake()

    async def _check_price(self, row: UserSignal, price: float) -> None:
        """Refuse when price has run away (core.rules.entry, the backtester's own check):
        past the stop, at or past TP1, or further from the entry than the allowed drift in R
        (the user's own choice in /settings, else MAX_ENTRY_DRIFT_R)."""
        user = await self._ctx.users.get(row.user_id)
        own = user.prefs.entry_drift_r if user is not None else None
        allowed = own if own is not None else self._ctx.config.max_entry_drift_r
        refusal = entry_refusal(row.levels, price, allowed)
        if refusal == DRIFTED:
            drift = round(drift_r(row.levels, price), 2)
            raise UserError("price_drifted", price=price, entry=row.levels.entry, drift=drift, allowed=allowed)
        if refusal is not None:
            raise UserError("price_moved", price=price, entry=row.levels.entry)
