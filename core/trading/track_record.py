"""The public track record: every published signal, the engine's or an admin's, followed to
its outcome by a shadow paper position that belongs to no user, whether or not anyone
confirmed it.

A shadow is one unit bought (or sold) at the signal's entry through the paper fill model
(core/rules/fills.py: market entry and stops slip against the trader, targets fill at their
price, every fill pays the fee) and managed on closed candles by the very rules of the
positions users hold (core/rules/exits.py `apply_candle`). Its R is the net result (fees
included) over the entry fill's distance to the initial stop. Shadows are stored, so a restart
continues each one from the last candle it applied.

A playbook whose last `probation_trades` closed shadows average less than `probation_min_r`
R is put on probation (admins alerted once, when it starts and when it ends): its signals are
marked, or held from users when `probation_hold` is 1 (held signals are still followed, so
the record can recover).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from core.errors import UnknownSymbol
from core.events import Alert, Event
from core.models import ExitReason, Limits, Position, PositionStatus
from core.ports import Clock, MarketData, SystemRepository
from core.records import (
    ADMIN_PLAYBOOK,
    ProbationState,
    PublishedSignal,
    RecordBrief,
    ShadowOutcome,
    ShadowPosition,
    ShadowStatus,
    playbook_of,
)
from core.rules.exits import Candle, ManagementRules, Trigger, apply_candle
from core.rules.fills import FillModel
from core.timeframes import timeframe_delta
from core.trading.record_stats import RecordStats, summarize

log = logging.getLogger(__name__)

_TARGETS = (ExitReason.TP1, ExitReason.TP2)


class ShadowStore(Protocol):
    """The stored side of the track record (db/track_record.py)."""

    async def unfollowed_signals(self, limit: int = ...) -> list[PublishedSignal]: ...
    async def open(self, shadow: ShadowPosition) -> bool: ...
    async def open_shadows(self) -> list[ShadowPosition]: ...
    async def save(self, shadow: ShadowPosition) -> None: ...
    async def outcomes(self, playbook: str | None = None) -> list[ShadowOutcome]: ...
    async def playbooks(self) -> list[str]: ...
    async def recent_r(self, playbook: str, count: int) -> list[float]: ...
    async def probation(self) -> dict[str, ProbationState]: ...
    async def set_probation(self, state: ProbationState, alerts: Sequence[Event], now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class RecordConfig:
    fills: FillModel
    rules: ManagementRules
    admin_ids: frozenset[int]
    candles: int = 500  # candles fetched per symbol and run
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class PlaybookRecord:
    playbook: str
    recent: RecordStats  # signals published within the window
    all_time: RecordStats
    on_probation: bool


@dataclass(frozen=True, slots=True)
class Performance:
    window_days: int
    playbooks: list[PlaybookRecord]


@dataclass(frozen=True, slots=True)
class ProbationLine:
    playbook: str
    on_probation: bool
    avg_r: float | None  # of its last closed shadows, at most `trades` of them
    closed: int


@dataclass(frozen=True, slots=True)
class ProbationView:
    trades: int  # 0: probation is off
    bound: float
    hold: bool
    lines: list[ProbationLine]


def shadow_for(signal: PublishedSignal, fills: FillModel) -> ShadowPosition:
    """The shadow of a stored signal: one unit filled at its entry by the paper fill model,
    following the candles after the one it was decided on (for an admin's signal, after the
    last candle closed when it was published)."""
    lv = signal.levels
    entry = fills.market_price(lv.side.entry_order_side, lv.entry)
    step = timeframe_delta(signal.timeframe)
    if signal.source == "engine":
        last_seen = signal.candle_time
    else:
        seconds = int(step.total_seconds())
        opened = int(signal.created_at.timestamp()) // seconds * seconds
        last_seen = datetime.fromtimestamp(opened, UTC) - step
    position = Position(
        id=0, user_id=0, user_signal_id=None, symbol=signal.symbol, side=lv.side, entry_price=entry,
        initial_quantity=1.0, quantity=1.0, stop_price=lv.stop, initial_stop=lv.stop, tp1=lv.tp1, tp2=lv.tp2,
        tp1_done=False, highest=entry, lowest=entry, atr=signal.atr, realized_pnl=0.0, fees=fills.fee(1.0, entry),
        status=PositionStatus.OPEN, opened_at=signal.created_at, last_candle_at=last_seen,
    )  # fmt: skip
    return ShadowPosition(
        signal_id=signal.signal_id,
        playbook=playbook_of(signal.source, signal.meta),
        source=signal.source,
        timeframe=signal.timeframe,
        published_at=signal.created_at,
        position=position,
    )


class TrackRecord:
    def __init__(
        self,
        *,
        config: RecordConfig,
        clock: Clock,
        market_data: MarketData,
        shadows: ShadowStore,
        system: SystemRepository,
        wake_delivery: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._market_data = market_data
        self._shadows = shadows
        self._system = system
        self._wake = wake_delivery
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ following

    async def open_missing(self) -> int:
        """Open a shadow for every stored signal that has none yet."""
        opened = 0
        for signal in await self._shadows.unfollowed_signals():
            opened += await self._shadows.open(shadow_for(signal, self._config.fills))
        return opened

    async def advance(self) -> int:
        """Apply every candle closed since each open shadow's last look, then review the
        playbooks' probation. Returns how many shadows changed."""
        async with self._lock:
            await self.open_missing()
            frames: dict[tuple[str, str], pd.DataFrame | None] = {}
            changed = 0
            for shadow in await self._shadows.open_shadows():
                key = (shadow.position.symbol, shadow.timeframe)
                if key not in frames:
                    frames[key] = await self._candles(*key)
                frame = frames[key]
                if frame is not None and self.follow(shadow, frame):
                    await self._shadows.save(shadow)
                    changed += 1
            await self.review_probation()
            return changed

    async def _candles(self, symbol: str, timeframe: str) -> pd.DataFrame | None:
        try:
            return await self._market_data.candles(symbol, timeframe, self._config.candles)
        except UnknownSymbol:
            log.warning("track record: no candles for %s %s; its shadows wait", symbol, timeframe)
            return None

    def follow(self, shadow: ShadowPosition, candles: pd.DataFrame) -> bool:
        """Apply the candles after the shadow's last one; True if it changed."""
        p = shadow.position
        assert p.last_candle_at is not None
        if candles.empty:
            return False
        last = pd.Timestamp(p.last_candle_at)
        new = candles[candles.index > last]
        if not len(new):
            return False
        if len(candles) >= self._config.candles and candles.index[0] > last:
            log.warning("track record: candles after %s of signal %s are gone; not counted", last, shadow.signal_id)
            shadow.status = ShadowStatus.VOID
            return True
        step = timeframe_delta(shadow.timeframe)
        for stamp, row in zip(new.index, new.itertuples(index=False), strict=True):
            outcome = apply_candle(p, Candle(row.open, row.high, row.low, row.close), self._config.rules)
            p.last_candle_at = stamp.to_pydatetime()
            for trigger in outcome.triggers:
                self._fill(p, trigger)
            if outcome.closed:
                self._close(shadow, p.last_candle_at + step)
                break
        return True

    def _fill(self, p: Position, trigger: Trigger) -> None:
        """One exit through the paper fill model, as the paper exchange fills it."""
        fills = self._config.fills
        price = (
            trigger.price if trigger.reason in _TARGETS else fills.market_price(p.side.exit_order_side, trigger.price)
        )
        p.realized_pnl += (price - p.entry_price) * trigger.quantity * p.side.sign
        p.fees += fills.fee(trigger.quantity, price)
        p.exit_price, p.exit_reason = price, trigger.reason

    @staticmethod
    def _close(shadow: ShadowPosition, at: datetime) -> None:
        p = shadow.position
        p.status, p.closed_at, shadow.status = PositionStatus.CLOSED, at, ShadowStatus.CLOSED
        risk = abs(p.entry_price - p.initial_stop) * p.initial_quantity
        shadow.r_multiple = p.net_pnl / risk if risk > 0 else 0.0
        shadow.return_pct = p.net_pnl / (p.entry_price * p.initial_quantity) * 100.0

    # ------------------------------------------------------------ probation

    async def review_probation(self) -> None:
        """Put a playbook on probation, or take it off, when its rolling record crosses the
        admins' bound; the admins hear of each change once."""
        limits = await self._system.limits()
        states = await self._shadows.probation()
        now = self._clock.now()
        for playbook in await self._shadows.playbooks():
            if playbook == ADMIN_PLAYBOOK:
                continue
            was = states.get(playbook)
            on_before = was is not None and was.on_probation
            recent = await self._rolling(playbook, limits)
            judged = limits.probation_trades > 0 and len(recent) >= limits.probation_trades
            avg = round(float(np.mean(recent)), 4) if recent else None
            below = judged and avg is not None and avg < limits.probation_min_r
            if below == on_before:
                continue
            state = ProbationState(playbook, below, now if below else None, avg, len(recent))
            await self._shadows.set_probation(state, self._alerts(state, limits, judged), now)
            log.warning(
                "playbook %s %s probation (last %d: %s R)", playbook, "on" if below else "off", len(recent), avg
            )
            self._wake()

    async def _rolling(self, playbook: str, limits: Limits) -> list[float]:
        if limits.probation_trades <= 0:
            return []
        return await self._shadows.recent_r(playbook, limits.probation_trades)

    def _alerts(self, state: ProbationState, limits: Limits, judged: bool) -> list[Event]:
        params: dict[str, object] = {"playbook": state.playbook, "trades": state.trades}
        if state.on_probation:
            key = "probation_on_hold_admin" if limits.probation_hold else "probation_on_mark_admin"
        elif judged:
            key = "probation_off_admin"
        else:
            key, params["trades"] = "probation_lifted_admin", limits.probation_trades
        if judged:
            params.update(avg_r=round(state.avg_r or 0.0, 2), bound=float(limits.probation_min_r))
        return [Alert(user_id=admin, key=key, params=params) for admin in sorted(self._config.admin_ids)]

    async def probation_view(self) -> ProbationView:
        limits = await self._system.limits()
        states = await self._shadows.probation()
        lines = []
        for playbook in await self._shadows.playbooks():
            if playbook != ADMIN_PLAYBOOK:
                recent = await self._rolling(playbook, limits)
                state = states.get(playbook)
                avg = float(np.mean(recent)) if recent else None
                lines.append(ProbationLine(playbook, state is not None and state.on_probation, avg, len(recent)))
        return ProbationView(limits.probation_trades, limits.probation_min_r, limits.probation_hold == 1, lines)

    # ------------------------------------------------------------ reading

    async def brief(self, playbook: str) -> RecordBrief:
        """The line a new signal of `playbook` carries, and whether it is held."""
        stats = summarize(
            await self._shadows.outcomes(playbook), self._clock.now() - self._config.window, interval=False
        )
        state = (await self._shadows.probation()).get(playbook) if playbook != ADMIN_PLAYBOOK else None
        on = state is not None and state.on_probation
        held = on and (await self._system.limits()).probation_hold == 1
        return RecordBrief(
            playbook=playbook,
            signals=stats.signals,
            closed=stats.closed,
            avg_r=stats.avg_r,
            on_probation=on,
            held=held,
            probation_avg_r=state.avg_r if state else None,
            probation_trades=state.trades if state else 0,
        )

    async def performance(self) -> Performance:
        """Every playbook's record (admins' signals last): the window and all time."""
        await self.open_missing()
        outcomes = await self._shadows.outcomes()
        states = await self._shadows.probation()
        since = self._clock.now() - self._config.window
        names = sorted({o.playbook for o in outcomes}, key=lambda name: (name == ADMIN_PLAYBOOK, name))
        records = []
        for name in names:
            own = [o for o in outcomes if o.playbook == name]
            state = states.get(name)
            records.append(
                PlaybookRecord(name, summarize(own, since), summarize(own), bool(state and state.on_probation))
            )
        return Performance(self._config.window.days, records)
