"""Limit entries: a signal taken with a limit order at its entry, valid until it expires.

The row is claimed pending -> confirmed together with its limit entry (price, quantity sized
for that price) in one transaction (Confirmation.place_limit). It is then *working*:

- paper: nothing rests anywhere; each monitor run looks at the candles closed since it was
  placed (a candle opening through the entry fills at that open, a candle trading through
  it at the entry) and at the last price (through the entry: filled at the entry), then
  fills it on the paper exchange at that price;
- live: a LIMIT order rests on the exchange under the row's entry id `atra-us<row>-entry`,
  sent once by the same rules as a market entry (never re-sent: a timeout is looked up, a
  rate-limited send rejects the row); each run reads its state.

A fill opens the position as a market fill does (Executor.open_position: protection, the
"filled" message). At expiry the rest is cancelled: a part filled by then is kept (and
protected), with nothing filled the row expires and the user is told. The user can cancel
it (the same way). State is the database's (the row, its limit entry, the stored order),
so a restart picks every working entry up at the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd

from core.errors import ExchangeError, InsufficientFunds, UserError
from core.events import Alert, Event, SignalEnded
from core.models import (
    LimitEntry,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    SignalState,
)
from core.timeframes import timeframe_seconds
from core.trading.context import TradingContext, state_key
from core.trading.execution import Execution, Executor, entry_client_order_id, entry_filled
from core.trading.live_book import same_state
from core.trading.orders import submit_once

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LimitOutcome:
    """A limit entry after a step: still working (`execution` None, not `ended`), filled
    (`execution`, whole or the part filled before it ended), or ended without a fill."""

    entry: LimitEntry
    execution: Execution | None = None
    ended: bool = False


def limit_request(entry: LimitEntry, price: float | None = None) -> OrderRequest:
    """The limit order of an entry (`price`: the paper fill's own price, never worse)."""
    row = entry.row
    return OrderRequest(
        client_order_id=entry_client_order_id(row.id),
        user_id=row.user_id,
        symbol=row.symbol,
        side=row.levels.side.entry_order_side,
        type=OrderType.LIMIT,
        amount=entry.quantity,
        price=entry.price if price is None else price,
        purpose="entry",
    )


def as_position(entry: LimitEntry) -> Position:
    """A working entry as the position its fill would open: the risk limits count it as
    open (a user's limits hold for every entry that may fill, not only those that did)."""
    lv = entry.row.levels
    return Position(
        id=0,
        user_id=entry.row.user_id,
        user_signal_id=entry.row.id,
        symbol=entry.row.symbol,
        side=lv.side,
        entry_price=entry.price,
        initial_quantity=entry.quantity,
        quantity=entry.quantity,
        stop_price=lv.stop,
        initial_stop=lv.stop,
        tp1=lv.tp1,
        tp2=lv.tp2,
        tp1_done=False,
        highest=entry.price,
        lowest=entry.price,
        atr=None,
        realized_pnl=0.0,
        fees=0.0,
        status=PositionStatus.OPEN,
        opened_at=entry.placed_at,
    )


class LimitEntries:
    """Placing, following and cancelling limit entries."""

    def __init__(self, ctx: TradingContext, executor: Executor) -> None:
        self._ctx = ctx
        self._executor = executor

    @property
    def _paper(self) -> bool:
        return self._ctx.exchange.name == "paper"

    async def place(self, entry: LimitEntry, price: float) -> LimitOutcome:
        """After the claim (under the user's lock): paper fills at once when `price` (now) is
        already through the entry, at `price`; live sends the order."""
        if self._paper:
            if entry.row.levels.side.sign * (price - entry.price) <= 0:
                return await self._fill_paper(entry, price)
            return LimitOutcome(entry)
        result = await self._executor.send_entry(entry.row, limit_request(entry))
        return await self._settle(entry, result)

    async def follow_all(self) -> int:
        """One look at every working entry; how many changed (filled or ended)."""
        ctx = self._ctx
        changed = 0
        for listed in await ctx.signals.working_limits():
            lock = ctx.user_locks[listed.row.user_id]
            if lock.locked():  # the user is confirming or cancelling: next run
                continue
            async with lock:
                changed += await self._follow(listed.row.id)
        return changed

    async def follow_one(self, user_signal_id: int, user_id: int) -> int:
        """One look at one working entry now (its account stream said its order changed):
        once its user's lock is free (a confirm, a cancel or the monitor's look is done), by
        the same path as `follow_all`; 1 if it filled or ended. An entry already filled or
        ended by then (a duplicate update, or the monitor saw it first) is left alone."""
        entry = await self._ctx.signals.limit_entry(user_signal_id)
        if entry is None or entry.row.state is not SignalState.CONFIRMED:  # a market entry's, or done
            return 0
        async with self._ctx.user_locks[user_id]:
            return await self._follow(user_signal_id, user_id)

    async def _follow(self, user_signal_id: int, user_id: int | None = None) -> int:
        """Under the user's lock: the entry as it is now, followed if still working."""
        entry = await self._ctx.signals.limit_entry(user_signal_id)
        if entry is None or entry.row.state is not SignalState.CONFIRMED:
            return 0
        if user_id is not None and entry.row.user_id != user_id:
            return 0
        try:
            outcome = await (self._follow_paper(entry) if self._paper else self._follow_live(entry))
        except ExchangeError as exc:
            log.warning("limit entry %s not followed now: %s", entry.row.id, exc)
            return 0
        return int(outcome.ended or outcome.execution is not None)

    async def cancel(self, user_signal_id: int, user_id: int) -> LimitOutcome:
        """The user cancels a working entry; a part filled meanwhile is kept, protected."""
        ctx = self._ctx
        async with ctx.user_locks[user_id]:
            entry = await ctx.signals.limit_entry(user_signal_id)
            if entry is None or entry.row.user_id != user_id:
                raise UserError("signal_not_found")
            if entry.row.state is not SignalState.CONFIRMED:
                raise UserError(state_key(entry.row))
            if self._paper:
                return await self._end(entry, SignalState.SKIPPED, "limit_cancelled")
            return await self._cancel_live(entry, "limit_cancelled")

    # ----------------------------------------------------------------------- paper

    async def _follow_paper(self, entry: LimitEntry) -> LimitOutcome:
        now = self._ctx.clock.now()
        fill = await self._paper_fill(entry)
        if fill is not None:
            return await self._fill_paper(entry, *fill)
        if now >= entry.row.expires_at:
            return await self._end(entry, SignalState.EXPIRED, "limit_expired")
        return LimitOutcome(entry)

    async def _paper_fill(self, entry: LimitEntry) -> tuple[float, datetime | None] | None:
        """Where a resting limit would have filled since it was placed, and the open time of
        the candle before the one it filled in (the position is followed from the fill's own
        candle, as the backtester follows its entry candle); None if it would not have.
        Only the candles wholly between its placing and its expiry count (never a move from
        before it rested); the last price counts while it is valid."""
        ctx, row = self._ctx, entry.row
        sign = row.levels.side.sign
        period = timedelta(seconds=timeframe_seconds(ctx.config.timeframe))
        candles = await ctx.market_data.candles(row.symbol, ctx.config.timeframe, ctx.config.monitor_candles)
        starts = pd.DatetimeIndex(candles.index)
        if starts.tz is None:  # market data is UTC; a frame without a zone is read as UTC
            starts = starts.tz_localize("UTC")
        inside = (starts >= pd.Timestamp(entry.placed_at)) & (starts + period <= pd.Timestamp(row.expires_at))
        for start, candle in zip(starts[inside], candles[inside].itertuples(index=False), strict=True):
            before = start.to_pydatetime() - period
            if sign * (candle.open - entry.price) <= 0:  # opened through it: filled at the open, better
                return float(candle.open), before
            if sign * ((candle.low if sign > 0 else candle.high) - entry.price) <= 0:
                return entry.price, before
        if ctx.clock.now() < row.expires_at:
            last = await ctx.market_data.last_price(row.symbol)
            if sign * (last - entry.price) <= 0:
                return entry.price, None
        return None

    async def _fill_paper(self, entry: LimitEntry, price: float, seen_until: datetime | None = None) -> LimitOutcome:
        try:
            result = await submit_once(self._ctx.exchange, self._ctx.orders, limit_request(entry, price))
        except InsufficientFunds as exc:
            await self._executor.reject(entry.row, f"insufficient funds: {exc}")
            await self._tell(entry, "limit_failed", [SignalEnded(entry.row.user_id, entry.row.id, "rejected")])
            return LimitOutcome(entry, ended=True)
        return await self._open(entry, result, seen_until)

    # ------------------------------------------------------------------------ live

    async def _follow_live(self, entry: LimitEntry) -> LimitOutcome:
        result = await self._live_state(entry)
        if result is None:  # sent a moment ago, its answer not in yet
            return LimitOutcome(entry)
        if result.status is OrderStatus.OPEN and self._ctx.clock.now() >= entry.row.expires_at:
            return await self._cancel_live(entry, "limit_expired")
        return await self._settle(entry, result)

    async def _live_state(self, entry: LimitEntry) -> OrderResult | None:
        """The order as the exchange has it now (recorded when it changed); None while a
        send is too young to be looked up."""
        ctx = self._ctx
        request = limit_request(entry)
        stored = await ctx.orders.stored(request.client_order_id)
        if stored is None:  # the claim was stored, the intent never was (a crash): nothing was sent
            found = await ctx.exchange.fetch_order(request)
            return found or OrderResult(request.client_order_id, None, OrderStatus.UNKNOWN, entry.quantity, 0.0, None)
        if stored.result.status is OrderStatus.SUBMITTING:
            result = await ctx.manager.lookup(stored)
        elif stored.result.status is OrderStatus.OPEN:
            result = await ctx.exchange.fetch_order(request) or stored.result  # unknown now: keep what we know
        else:
            result = stored.result
        if result is not None and not same_state(result, stored.result):
            await ctx.orders.record(result)
        return result

    async def _cancel_live(self, entry: LimitEntry, key: str) -> LimitOutcome:
        result = await self._live_state(entry)
        if result is None:
            raise UserError("entry_unconfirmed")
        if result.status is OrderStatus.OPEN:
            result = await self._ctx.exchange.cancel_order(limit_request(entry))
            await self._ctx.orders.record(result)
        if entry_filled(result):
            if result.status is not OrderStatus.FILLED:
                await self._tell(entry, f"{key}_partly", [], filled=result.filled)
            return await self._open(entry, result)
        state = SignalState.EXPIRED if key == "limit_expired" else SignalState.SKIPPED
        return await self._end(entry, state, key)

    async def _settle(self, entry: LimitEntry, result: OrderResult) -> LimitOutcome:
        """Act on the order's state: filled opens the position; still open waits; ended on the
        exchange (cancelled by hand, never placed) keeps any part filled or ends the row."""
        if result.status is OrderStatus.FILLED:
            return await self._open(entry, result)
        if result.status in (OrderStatus.OPEN, OrderStatus.SUBMITTING):
            return LimitOutcome(entry)
        if entry_filled(result):
            return await self._open(entry, result)
        await self._executor.reject(entry.row, f"limit order {result.status.value} on the exchange")
        await self._tell(entry, "limit_gone", [SignalEnded(entry.row.user_id, entry.row.id, "rejected")])
        return LimitOutcome(entry, ended=True)

    # ---------------------------------------------------------------------- shared

    async def _open(self, entry: LimitEntry, result: OrderResult, seen_until: datetime | None = None) -> LimitOutcome:
        row = replace(entry.row, quantity=entry.quantity)
        position = await self._executor.open_position(row, result, seen_until)
        return LimitOutcome(entry, Execution(position, result))

    async def _end(self, entry: LimitEntry, state: SignalState, key: str) -> LimitOutcome:
        """The row ends without a fill: told to the user, the card's buttons go."""
        ctx, row = self._ctx, entry.row
        if not await ctx.signals.transition(row.id, row.user_id, SignalState.CONFIRMED, state, ctx.clock.now(), key):
            raise UserError(state_key(await ctx.own_row(row.id, row.user_id)))
        await self._tell(entry, key, [SignalEnded(row.user_id, row.id, state.value)])
        return LimitOutcome(entry, ended=True)

    async def _tell(self, entry: LimitEntry, key: str, events: list[Event], **extra: float) -> None:
        ctx, row = self._ctx, entry.row
        params = {"symbol": row.symbol, "price": entry.price, "quantity": entry.quantity, **extra}
        ended = events if row.message_id is not None else []
        await ctx.outbox.enqueue([Alert(row.user_id, key, params), *ended], ctx.clock.now())
        ctx.wake()
