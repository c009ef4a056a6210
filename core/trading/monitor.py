"""Monitor: open positions followed each run, shown to their owner, closed on request."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from core.errors import ExchangeError, RetryableExchangeError, UnknownSymbol, UserError
from core.events import Alert, PositionClosed
from core.models import ExitReason, Position, PositionStatus
from core.rules.exits import reached
from core.trading.context import TradingContext
from core.trading.episodes import Episodes, short_reason
from core.trading.equity import EquityMarks
from core.trading.limit_entry import LimitEntries
from core.trading.recovery import Recovery

log = logging.getLogger(__name__)

_NO_CANDLES = pd.DataFrame(
    columns=["open", "high", "low", "close", "volume"], index=pd.DatetimeIndex([], tz="UTC", name="timestamp")
)


@dataclass(frozen=True, slots=True)
class PositionView:
    position: Position
    price: float | None
    unrealized_pnl: float | None
    executing: ExitReason | None = None  # the price is at or through this level: it is being executed


class Monitor:
    """The monitor step of the trading service.

    Each position is followed on its own: one that fails (its candles cannot be read, its
    exchange calls fail, its user's key is gone) is counted, told once per episode to its
    user and the admins, and tried again next run, while every other position is followed.
    """

    def __init__(
        self, ctx: TradingContext, recovery: Recovery, episodes: Episodes, marks: EquityMarks, limits: LimitEntries
    ) -> None:
        self._ctx = ctx
        self._limits = limits
        self._recovery = recovery
        self._episodes = episodes
        self._marks = marks
        self._audited_at: datetime | None = None

    async def monitor(self) -> int:
        """Apply every closed candle since the last look to each open position.
        Returns how many positions changed. Positions are followed a few at a time, so one
        whose exchange calls hang (timeouts, lookups) does not hold the others back."""
        ctx = self._ctx
        async with ctx.monitor_lock:
            changed = await self._recovery.resolve_interrupted()
            changed += await self._limits.follow_all()  # a fill opens a position followed below
            await self._marks.mark_all()  # before any fill of this run: the day opens at its first run
            listed = await ctx.positions.open_positions()
            frames = await self._frames(sorted({p.symbol for p in listed}))
            gate = asyncio.Semaphore(ctx.config.monitor_concurrency)

            async def follow(position_id: int) -> int:
                async with gate:
                    lock = ctx.position_locks[position_id]
                    if lock.locked():  # its confirmation (or a close) owns it right now: next run
                        return 0
                    async with lock:
                        return await self._follow(position_id, frames)

            changed += sum(await asyncio.gather(*(follow(p.id) for p in listed)))
            await self._audit()
            return changed

    async def _frames(self, symbols: list[str]) -> dict[str, pd.DataFrame | Exception]:
        """Each symbol's candles, or why there are none (its positions are followed without)."""
        ctx = self._ctx
        frames: dict[str, pd.DataFrame | Exception] = {}
        for symbol in symbols:
            try:
                frames[symbol] = await ctx.market_data.candles(symbol, ctx.config.timeframe, ctx.config.monitor_candles)
            except Exception as exc:  # the symbol's trouble: its positions are followed without candles
                log.warning("no candles for %s: %s", symbol, exc)
                frames[symbol] = exc
        return frames

    async def _audit(self) -> None:
        """Every `audit_seconds` the coins each account holds against its open positions (and
        every run, the shortfalls the last audit suspected)."""
        now = self._ctx.clock.now()
        due = self._audited_at is None or (now - self._audited_at).total_seconds() >= self._ctx.config.audit_seconds
        if due:
            self._audited_at = now
        await self._ctx.manager.audit(full=due)

    async def _follow(self, position_id: int, frames: dict[str, pd.DataFrame | Exception]) -> int:
        """Follow one position, as it is now (not as listed); 1 if it changed."""
        ctx = self._ctx
        position = await ctx.positions.get(position_id)
        if position is None or position.status is PositionStatus.CLOSED:
            return 0
        frame = frames.get(position.symbol, _NO_CANDLES)
        try:  # without candles a live position still books its fills and keeps its protection
            changed = await ctx.manager.follow(position, frame if isinstance(frame, pd.DataFrame) else _NO_CANDLES)
        except Exception as exc:  # one position's trouble is its own
            await self._failed(position, exc)
            return 0
        if isinstance(frame, Exception):
            await self._failed(position, frame)
        else:
            await self._episodes.succeeded(f"position:{position.id}")
        return int(changed)

    async def _failed(self, position: Position, exc: Exception) -> None:
        key = f"position:{position.id}"
        reason = short_reason(exc)
        params = {"symbol": position.symbol, "id": position.id, "reason": reason}
        alerts = [Alert(position.user_id, "monitor_failed", params)]
        admin_params = {**params, "user": position.user_id}
        alerts += [Alert(a, "monitor_failed_admin", admin_params) for a in sorted(self._ctx.config.admin_ids)]
        started = await self._episodes.failed(key, alerts)
        log.log(
            logging.ERROR if started else logging.WARNING,  # loud once per episode
            "position %s not followed (%d in a row): %s",
            position.id,
            self._episodes.failures[key],
            exc,
            exc_info=not isinstance(exc, ExchangeError),
        )

    async def close_position(self, position_id: int, user_id: int) -> PositionClosed:
        """Close what is left of the user's position at market, now."""
        ctx = self._ctx
        async with ctx.monitor_lock:  # never at the same time as the monitor's own exits
            position = await ctx.positions.get(position_id)
            if position is None or position.user_id != user_id:
                raise UserError("position_not_found")
            if position.status is PositionStatus.CLOSED:
                raise UserError("position_already_closed")
            async with ctx.position_locks[position.id]:  # its protection may be being placed
                position = await ctx.positions.get(position_id) or position
                if position.status is PositionStatus.CLOSED:
                    raise UserError("position_already_closed")
                price = await ctx.market_data.last_price(position.symbol)
                closed = await ctx.manager.close(position, price)
            ctx.wake()
            return closed

    async def positions_view(self, user_id: int) -> list[PositionView]:
        views = []
        prices: dict[str, float | None] = {}
        for position in await self._ctx.positions.open_positions(user_id):
            if position.symbol not in prices:
                try:
                    prices[position.symbol] = await self._ctx.market_data.last_price(position.symbol)
                except (UnknownSymbol, RetryableExchangeError) as exc:
                    log.warning("no price for %s: %s", position.symbol, exc)
                    prices[position.symbol] = None
            price = prices[position.symbol]
            pnl, executing = (position.unrealized_pnl(price), reached(position, price)) if price else (None, None)
            views.append(PositionView(position, price, pnl, executing))
        return views
