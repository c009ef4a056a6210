"""Publish and fan out: a signal stored once, one sized row and one message per subscriber.

Each subscriber's own choices apply (core/prefs.py): a symbol or side they do not follow
gets no row; a signal a risk limit would refuse them is stored already rejected and
delivered with the reason and no Confirm button, or not delivered at all (their choice);
during their quiet hours (UTC hours of the market clock) a signal is dropped, or held and
delivered when they end if it is still valid then.

Channel mode (`TradingConfig.signal_channel`): the signal is also posted once to the channel
(one more outbox row, same transaction). A user who chose "channel only" still gets their
sized row (so Confirm works as for anyone), but its message is stored as their card, not
pushed: the channel's "Take this trade" link shows it to them (`take`). A user with no row
(new, or not following that symbol then) gets one sized at the press, the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.errors import UserError
from core.events import CHANNEL_CHAT, Event, SignalIssued, SignalPosted, from_payload
from core.models import Limits, SignalDraft, User, UserSignal
from core.ports import Allocation
from core.records import RecordBrief, playbook_of
from core.risk.sizing import SizeDecision, TradeStats, position_quantity
from core.trading.context import TradingConfig, TradingContext
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
            channel_only = ctx.config.signal_channel is not None and u.prefs.delivery == "channel"
            hold = (quiet_end(now, u.prefs.quiet_to) - now).total_seconds() if quiet and not channel_only else None
            key = refusal.key if refusal else None
            allocations.append(Allocation(u.id, sizes[u.id].quantity, key, hold, channel_only))
        by_id = {u.id: u for u in takers}
        auto = {a.user_id for a in allocations if a.refusal is None and by_id[a.user_id].prefs.auto_execute}
        expires = now + timedelta(seconds=ctx.config.signal_ttl_seconds)

        def make_event(row: UserSignal) -> Event:
            return _issued(draft, row, by_id[row.user_id], sizes[row.user_id], refusals.get(row.user_id), auto, record)

        def make_post(signal_id: int) -> Event:
            return _posted(draft, signal_id, expires, self._ctx.config, record)

        post = make_post if ctx.config.signal_channel is not None and not record.held else None
        rows = await ctx.signals.publish(draft, allocations, now, expires, make_event, post)
        if rows is None:
            return None
        if rows or post is not None:
            ctx.wake()
        return rows, auto

    async def take(self, signal_id: int, user: User) -> tuple[UserSignal, SignalIssued | None]:
        """The user's own row of signal `signal_id` and its card (the channel's link); a
        user without a row gets one sized now, while the signal is live. UserError
        'signal_not_found' for no such signal, 'signal_state_expired' past its time."""
        ctx = self._ctx
        row = await ctx.signals.for_signal(signal_id, user.id)
        if row is None:
            stored = await ctx.signals.stored_draft(signal_id)
            if stored is None:
                raise UserError("signal_not_found")
            draft, created = stored
            expires = created + timedelta(seconds=ctx.config.signal_ttl_seconds)
            if expires <= ctx.clock.now():
                raise UserError("signal_state_expired")
            row = await self._late_row(draft, signal_id, user, created, expires)
        card = await ctx.signals.card(row.id)
        event = from_payload(SignalIssued.kind, card) if card is not None else None
        return row, event if isinstance(event, SignalIssued) else None

    async def _late_row(
        self, draft: SignalDraft, signal_id: int, user: User, created: datetime, expires: datetime
    ) -> UserSignal:
        ctx = self._ctx
        limits = await ctx.system.limits()
        record = await ctx.record.brief(playbook_of(draft.source, draft.meta))
        history = await ctx.positions.closed_net_pnls([user.id])
        sized = size_for(user, draft.levels.entry, draft.levels.stop, limits, history.get(user.id, []))
        if sized.quantity <= 0:
            raise UserError("channel_too_small")
        refusal = (await self._eligibility.refusals(draft, [(user, sized.quantity)])).get(user.id)
        allocation = Allocation(user.id, sized.quantity, refusal.key if refusal else None, channel_only=True)

        def make_event(row: UserSignal) -> Event:
            return _issued(draft, row, user, sized, refusal, set(), record)

        row = await ctx.signals.add_late_row(draft, signal_id, allocation, created, expires, make_event)
        if row is None:  # a second press raced this one: theirs is stored
            row = await ctx.signals.for_signal(signal_id, user.id)
            assert row is not None
        return row


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


def _posted(draft: SignalDraft, signal_id: int, expires: datetime, config: TradingConfig, record: RecordBrief) -> Event:
    lv = draft.levels
    return SignalPosted(
        user_id=CHANNEL_CHAT,
        signal_id=signal_id,
        chat=str(config.signal_channel),
        language=config.channel_language,
        symbol=draft.symbol,
        timeframe=draft.timeframe,
        side=lv.side.value,
        entry=lv.entry,
        stop=lv.stop,
        tp1=lv.tp1,
        tp2=lv.tp2,
        expires_at=expires,
        source=draft.source,
        strength=draft.strength,
        regime=draft.regime,
        playbook=playbook_of(draft.source, draft.meta),
        record=record.payload(),
    )
