"""Publish and fan out: a signal stored once, one sized row and one message per subscriber.

Each subscriber's own choices apply (core/prefs.py): a symbol or side they do not follow
gets no row; a signal a risk limit would refuse them is stored already rejected and
delivered with the reason and no Confirm button, or not delivered at all (their choice);
during their quiet hours (UTC hours of the market clock) a signal is dropped, or held and
delivered when they end if it is still valid then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.errors import UserError
from core.events import Event, SignalIssued
from core.models import Limits, SignalDraft, User, UserSignal
from core.ports import Allocation
from core.records import RecordBrief, playbook_of
from core.risk.sizing import SizeDecision, TradeStats, position_quantity
from core.trading.context import TradingContext
from core.trading.eligibility import Eligibility, Refusal

#: A size whose risk is this much below the asked risk was cut by the position cap.
_CAPPED_TOLERANCE = 1e-6


def size_for(user: User, entry: float, stop: float, limits: Limits, closed_pnls: Sequence[float]) -> SizeDecision:
    """The user's size: fixed-fractional at their risk (their own setting or the
    system's), quarter-Kelly from their own closed trades once there are enough."""
    if user.risk_pct is not None:
        limits = limits.replace(risk_per_trade_pct=user.risk_pct)
    return position_quantity(user.paper_balance, entry, stop, limits, TradeStats.from_pnls(closed_pnls))


def quiet_end(now: datetime, end_hour: int | None) -> datetime:
    """The next time the clock reads `end_hour`:00 after `now` (when quiet hours end)."""
    end = now.replace(hour=end_hour or 0, minute=0, second=0, microsecond=0)
    return end if end > now else end + timedelta(days=1)


def _quote(symbol: str) -> str | None:
    return symbol.split("/", 1)[1] if "/" in symbol else None


class FanOut:
    """The publish step of the trading service."""

    def __init__(self, ctx: TradingContext) -> None:
        self._ctx = ctx
        self._eligibility = Eligibility(ctx)

    async def publish(self, draft: SignalDraft) -> tuple[list[UserSignal], set[int]] | None:
        """Store the signal once and give every subscriber who follows it their own sized
        row and message. Returns the rows and the users whose auto-execution takes it;
        None if the engine already published this candle."""
        ctx = self._ctx
        if await ctx.system.is_paused():
            raise UserError("trading_paused")
        limits = await ctx.system.limits()
        record = await ctx.record.brief(playbook_of(draft.source, draft.meta))
        # A playbook on probation with holding chosen: stored (its shadow follows it), sent to nobody.
        everyone = [] if record.held else await ctx.users.subscribers()
        subscribers = [u for u in everyone if u.prefs.wants(draft.symbol, draft.side.value)]
        history = await ctx.positions.closed_net_pnls([u.id for u in subscribers])
        sizes: dict[int, SizeDecision] = {}
        for user in subscribers:
            sized = size_for(user, draft.levels.entry, draft.levels.stop, limits, history.get(user.id, []))
            if sized.quantity > 0:
                sizes[user.id] = sized
        takers = [u for u in subscribers if u.id in sizes]
        refusals = await self._eligibility.refusals(draft, [(u, sizes[u.id].quantity) for u in takers])
        now = ctx.clock.now()
        allocations = []
        for u in takers:
            refusal = refusals.get(u.id)
            quiet = u.prefs.is_quiet(now.hour)
            if (refusal is not None and u.prefs.blocked == "hide") or (quiet and u.prefs.quiet_mode == "drop"):
                continue
            hold = (quiet_end(now, u.prefs.quiet_to) - now).total_seconds() if quiet else None
            allocations.append(Allocation(u.id, sizes[u.id].quantity, refusal.key if refusal else None, hold))
        by_id = {u.id: u for u in takers}
        auto = {a.user_id for a in allocations if a.refusal is None and by_id[a.user_id].prefs.auto_execute}
        expires = now + timedelta(seconds=ctx.config.signal_ttl_seconds)

        def make_event(row: UserSignal) -> Event:
            return _issued(draft, row, by_id[row.user_id], sizes[row.user_id], refusals.get(row.user_id), auto, record)

        rows = await ctx.signals.publish(draft, allocations, now, expires, make_event)
        if rows is None:
            return None
        if rows:
            ctx.wake()
        return rows, auto


def _issued(
    draft: SignalDraft,
    row: UserSignal,
    user: User,
    sized: SizeDecision,
    refusal: Refusal | None,
    auto: set[int],
    record: RecordBrief,
) -> SignalIssued:
    lv = row.levels
    balance = user.paper_balance
    wanted = sized.risk_pct
    risk_pct = sized.risk_amount / balance * 100 if balance > 0 else 0.0
    ml = draft.meta.get("ml")
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
        playbook=playbook_of(draft.source, draft.meta),
        ml=",".join(str(m) for m in ml) if isinstance(ml, list) and ml else None,
        risk_amount=sized.risk_amount,
        risk_pct=risk_pct,
        wanted_risk_pct=wanted if risk_pct < wanted * (1 - _CAPPED_TOLERANCE) else None,
        quote=_quote(row.symbol),
        refusal=refusal.key if refusal else None,
        refusal_params=dict(refusal.params) if refusal else {},
        auto=row.user_id in auto,
        record=record.payload(),
    )
