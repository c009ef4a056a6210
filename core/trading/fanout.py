"""Publish and fan out: a signal stored once, one sized row and one message per subscriber."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from core.errors import UserError
from core.events import Event, SignalIssued
from core.models import Limits, SignalDraft, User, UserSignal
from core.ports import Allocation
from core.records import playbook_of
from core.risk.sizing import SizeDecision, TradeStats, position_quantity
from core.trading.context import TradingContext


def size_for(user: User, entry: float, stop: float, limits: Limits, closed_pnls: Sequence[float]) -> SizeDecision:
    """The user's size: fixed-fractional at their risk (their own setting or the
    system's), quarter-Kelly from their own closed trades once there are enough."""
    if user.risk_pct is not None:
        limits = limits.replace(risk_per_trade_pct=user.risk_pct)
    return position_quantity(user.paper_balance, entry, stop, limits, TradeStats.from_pnls(closed_pnls))


class FanOut:
    """The publish step of the trading service."""

    def __init__(self, ctx: TradingContext) -> None:
        self._ctx = ctx

    async def publish(self, draft: SignalDraft) -> list[UserSignal] | None:
        """Store the signal once and give every reachable subscriber their own sized row
        and message. None if the engine already published this candle."""
        ctx = self._ctx
        if await ctx.system.is_paused():
            raise UserError("trading_paused")
        limits = await ctx.system.limits()
        record = await ctx.record.brief(playbook_of(draft.source, draft.meta))
        # A playbook on probation with holding chosen: stored (its shadow follows it), sent to nobody.
        subscribers = [] if record.held else await ctx.users.subscribers()
        history = await ctx.positions.closed_net_pnls([u.id for u in subscribers])
        allocations = []
        for user in subscribers:
            sized = size_for(user, draft.levels.entry, draft.levels.stop, limits, history.get(user.id, []))
            if sized.quantity > 0:
                allocations.append(Allocation(user.id, sized.quantity))
        now = ctx.clock.now()
        expires = now + timedelta(seconds=ctx.config.signal_ttl_seconds)

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
                record=record.payload(),
            )

        rows = await ctx.signals.publish(draft, allocations, now, expires, make_event)
        if rows:
            ctx.wake()
        return rows
