"""What admins can do: pause, limits, status, manual signals. Validation lives here so
that bad input is refused with a clear key before anything changes."""

from __future__ import annotations

import dataclasses
import json
import re
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


#: Every limit's sane range, both ends allowed. A limit missing here fails at import.
LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "max_open_positions": (0, 100),
    "risk_per_trade_pct": (0.01, 10.0),
    "max_position_pct": (0.1, 100.0),
    "max_total_risk_pct": (0.01, 100.0),
    "max_correlation": (0.0, 1.0),
    "max_daily_loss_pct": (0.1, 100.0),
    "max_drawdown_pct": (0.1, 100.0),
    "kelly_fraction": (0.0, 1.0),  # 0 turns Kelly sizing off
    "kelly_min_trades": (1, 10_000),
    "kelly_min_risk_pct": (0.01, 10.0),
    "probation_trades": (0, 1000),  # 0: probation off
    "probation_min_r": (-5.0, 5.0),  # average R, may be below zero
    "probation_hold": (0, 1),  # 0: mark a playbook's signals on probation, 1: hold them
}
_MISSING = {f.name for f in dataclasses.fields(Limits)} - set(LIMIT_RANGES)
assert not _MISSING, f"limits without a range: {_MISSING}"
# Numbers as people type them, in ASCII digits only (Python's int() and float() also take
# "٣", "５", "1_000", "1e-300" and "inf"): an optional minus, digits, a decimal point or comma.
_INTEGER = re.compile(r"-?[0-9]{1,9}")
_DECIMAL = re.compile(r"-?[0-9]{1,15}(?:[.,][0-9]{1,15})?")
#: A manual signal's levels must lie this far from the price, at least and at most.
LEVEL_BAND = (0.001, 0.5)


def parse_decimal(text: str) -> float | None:
    """A decimal number in ASCII digits ("0.5", "0,5", "-1"), or None."""
    return float(text.replace(",", ".")) if _DECIMAL.fullmatch(text) else None


def parse_limit(name: str, raw: str) -> int | float:
    """Validate one limit value: the right type, ASCII digits, and in its range."""
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    if name not in fields:
        raise UserError("limit_unknown", name=name, names=", ".join(fields))
    is_int = fields[name].type in ("int", int)
    value: int | float | None = (int(raw) if _INTEGER.fullmatch(raw) else None) if is_int else parse_decimal(raw)
    if value is None:
        raise UserError("limit_not_number", name=name, value=raw[:40], kind="integer" if is_int else "number")
    low, high = LIMIT_RANGES[name]
    if not low <= value <= high:
        raise UserError("limit_out_of_range", name=name, range=f"{low:g}…{high:g}")
    return value


def check_level_band(name: str, level: float, entry: float) -> None:
    """A manual signal's stop or target within a sane distance of the price, or UserError."""
    low, high = LEVEL_BAND
    distance = abs(level - entry) / entry
    if not low <= distance <= high:
        raise UserError(
            "level_out_of_band", level=name, value=level, price=entry, low=f"{low * 100:g}", high=f"{high * 100:g}"
        )


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
        check_level_band("SL", stop, entry)
        for tp in targets:
            check_level_band("TP", tp, entry)
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
