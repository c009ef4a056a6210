"""What admins can do: pause, limits, status, manual signals. Validation lives here so
that bad input is refused with a clear key before anything changes."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.errors import UserError
from core.models import Limits, Side, SignalDraft, SignalLevels, User
from core.ports import (
    Clock,
    MarketData,
    OutboxRepository,
    PositionRepository,
    SystemRepository,
    UserRepository,
)
from core.trading.service import TradingService

LAST_SCAN_KEY = "last_scan"


@dataclass(frozen=True, slots=True)
class LastScan:
    at: datetime
    signals: int
    rejected: int
    errors: int


@dataclass(frozen=True, slots=True)
class SystemStatus:
    mode: str
    market_data: str
    paused: bool
    last_scan: LastScan | None
    symbols: Sequence[str]
    users: int
    subscribers: int
    open_positions: int
    outbox_depth: int
    models: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class UserOverview:
    user: User
    open_positions: int


@dataclass(frozen=True, slots=True)
class PublishedSignal:
    draft: SignalDraft
    recipients: int


def limit_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Limits)]


def parse_limit(name: str, raw: str) -> int | float:
    """Validate one limit value: the right type, finite, and in its range."""
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    if name not in fields:
        raise UserError("limit_unknown", name=name, names=", ".join(fields))
    is_int = fields[name].type in ("int", int)
    try:
        value: int | float = int(raw) if is_int else float(raw.replace(",", "."))
    except ValueError:
        raise UserError("limit_not_number", name=name, value=raw[:40], kind="integer" if is_int else "number") from None
    if not math.isfinite(value):
        raise UserError("limit_not_number", name=name, value=raw[:40], kind="number")
    low, low_inclusive, high, text = _range(name, is_int)
    if value > high or value < low or (value == low and not low_inclusive):
        raise UserError("limit_out_of_range", name=name, range=text)
    return value


def _range(name: str, is_int: bool) -> tuple[float, bool, float, str]:
    """(low, whether low itself is allowed, high, the range in words)."""
    if name == "probation_hold":  # 0: mark a playbook's signals on probation, 1: hold them
        return 0, True, 1, "0…1"
    if name == "probation_min_r":  # average R, may be below zero
        return -5.0, True, 5.0, "-5…5"
    if is_int:
        return 0, True, 1000, "0…1000"
    if name == "max_correlation":
        return 0.0, True, 1.0, "0…1"
    if name == "kelly_fraction":  # 0 turns Kelly sizing off
        return 0.0, True, 1.0, "0…1"
    return 0.0, False, 100.0, "> 0 and ≤ 100"


class AdminService:
    def __init__(
        self,
        *,
        clock: Clock,
        system: SystemRepository,
        users: UserRepository,
        positions: PositionRepository,
        outbox: OutboxRepository,
        market_data: MarketData,
        trading: TradingService,
        symbols: Sequence[str],
        timeframe: str,
        mode: str,
        market_data_kind: str,
        models_status: Callable[[], Sequence[str]] = lambda: (),
    ) -> None:
        self._clock = clock
        self._system = system
        self._users = users
        self._positions = positions
        self._outbox = outbox
        self._market_data = market_data
        self._trading = trading
        self._symbols = list(symbols)
        self._timeframe = timeframe
        self._mode = mode
        self._market_data_kind = market_data_kind
        self._models_status = models_status

    async def pause(self, admin_id: int) -> None:
        await self._system.set_paused(True, admin_id)

    async def resume(self, admin_id: int) -> None:
        await self._system.set_paused(False, admin_id)

    async def limits(self) -> Limits:
        return await self._system.limits()

    async def set_limit(self, name: str, raw: str, admin_id: int) -> Limits:
        value = parse_limit(name, raw)
        limits = (await self._system.limits()).replace(**{name: value})
        await self._system.save_limits(limits, admin_id, name)
        return limits

    async def users(self, limit: int = 100) -> list[UserOverview]:
        """The newest users with their open positions, for the admins' dashboard."""
        open_by_user: dict[int, int] = {}
        for position in await self._positions.open_positions():
            open_by_user[position.user_id] = open_by_user.get(position.user_id, 0) + 1
        return [UserOverview(u, open_by_user.get(u.id, 0)) for u in await self._users.list_users(limit)]

    def tradable_symbols(self) -> list[str]:
        available = set(self._market_data.symbols())
        return [s for s in self._symbols if s in available]

    async def status(self) -> SystemStatus:
        users, subscribers = await self._users.counts()
        raw = await self._system.get_value(LAST_SCAN_KEY)
        last = None
        if raw:
            data = json.loads(raw)
            last = LastScan(datetime.fromisoformat(data["at"]), data["signals"], data["rejected"], data["errors"])
        return SystemStatus(
            mode=self._mode,
            market_data=self._market_data_kind,
            paused=await self._system.is_paused(),
            last_scan=last,
            symbols=self.tradable_symbols(),
            users=users,
            subscribers=subscribers,
            open_positions=await self._positions.count_open(),
            outbox_depth=await self._outbox.depth(),
            models=list(self._models_status()),
        )

    async def manual_signal(self, symbol: str, side: Side, stop: float, targets: Sequence[float]) -> PublishedSignal:
        """Publish an admin's signal at the current market price, exactly like an
        engine signal. Refused when a level is on the wrong side of the price."""
        symbol = symbol.upper()
        if symbol not in self.tradable_symbols():
            raise UserError("unknown_symbol", symbol=symbol, symbols=", ".join(self.tradable_symbols()))
        if not 1 <= len(targets) <= 2:
            raise UserError("too_many_targets")
        entry = await self._market_data.last_price(symbol)
        s = side.sign
        if s * (entry - stop) <= 0:
            raise UserError(
                "sl_wrong_side", stop=stop, price=entry, side=side.value, where="below" if s > 0 else "above"
            )
        for tp in targets:
            if s * (tp - entry) <= 0:
                raise UserError(
                    "tp_wrong_side", tp=tp, price=entry, side=side.value, where="above" if s > 0 else "below"
                )
        ordered = sorted(targets, key=lambda tp: s * tp)
        levels = SignalLevels(side=side, entry=entry, stop=stop, tp1=ordered[0], tp2=ordered[-1])
        draft = SignalDraft(
            symbol=symbol,
            timeframe=self._timeframe,
            levels=levels,
            candle_time=self._clock.now(),
            source="manual",
        )
        rows = await self._trading.publish(draft)
        return PublishedSignal(draft, len(rows or []))
