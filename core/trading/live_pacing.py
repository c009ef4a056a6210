"""How often the monitor follows a live position through REST, and what a stream update does.

While an account's stream is up (core/trading/live_stream.py) its fills arrive as events,
so the monitor's full follow (about 6 request weight a position) becomes a slow sweep: a
position is followed on a run only when one of these holds, else it is left to its stream:

- its account's stream is down, or came up after the position was last followed;
- its last follow changed something or failed (it is still moving, or in trouble);
- it is not settled: an order being sent, no protective list resting, or flagged unprotected;
- a candle closed since it last looked (the trailing stop may move), or `full_seconds`
  (an hour) passed: every position is read through REST at least that often;
- `sweep_seconds` passed since it was last read and the price came near one of its resting
  levels meanwhile (the prices each run sees): its order may have filled, and REST is the
  truth. A level the market never came near cannot have filled, so the sweep reads only
  the positions the market could have touched (the bench showed reading all of them every
  5 minutes costs 20 % of Binance's budget at 1,000 positions: bench/bench_live_streams.py).

`StreamFollow` is what the watchers act on: an update for an order the database knows
(by client order id) follows that position at once, through the monitor's follow; an
update for a working limit entry's order (`atra-us<row>-entry`) follows that entry at once,
through the path the monitor's `follow_limits` takes (a fill opens the position and places
its protection then, not at the next run).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from core.models import LimitEntry, OrderResult, OrderStatus, Position, StoredOrder
from core.ports import OrderRepository, PositionRepository
from core.trading.live_book import EPS, same_state
from core.trading.live_ports import Keyring
from core.trading.protection import parse_leg

log = logging.getLogger(__name__)

#: The sweep's range, checked at start (core/settings.py): below it the sweep costs what
#: polling costs; above it a missed event waits too long for REST to find it.
SWEEP_RANGE = (30.0, 3600.0)


def _never(user_id: int) -> float | None:
    return None


@dataclass
class FollowPacing:
    """Which open positions a monitor run follows (all of them while nothing streams)."""

    sweep_seconds: float
    needs_care: Callable[[int], Awaitable[bool]]  # in trouble: followed every run (LivePositions)
    health: Callable[[int], float | None] = _never  # since when the user's stream is up
    monotonic: Callable[[], float] = time.monotonic
    near_pct: float = 0.5  # a resting level the price came this close to may have filled
    full_seconds: float = 3600.0  # every position is read at least this often, whatever the market did
    _followed: dict[int, tuple[float, bool, int]] = field(default_factory=dict)  # position -> (when, clean, user)
    _ranges: dict[int, tuple[float, float]] = field(default_factory=dict)  # position -> prices seen since

    def followed(self, position_id: int, user_id: int, clean: bool) -> None:
        """A follow of the position ended: `clean` when it changed nothing and did not fail."""
        self._followed[position_id] = (self.monotonic(), clean, user_id)
        self._ranges.pop(position_id, None)

    def vouched(self, position_id: int) -> bool:
        """Its last follow was clean and its account's stream has been up since: what the
        database holds of it is current (the holdings audit counts it)."""
        last = self._followed.get(position_id)
        if last is None or not last[1]:
            return False
        since = self.health(last[2])
        return since is not None and since <= last[0]

    def forget(self, position_id: int) -> None:
        self._followed.pop(position_id, None)
        self._ranges.pop(position_id, None)

    async def due(
        self,
        positions: Sequence[Position],
        frames: Mapping[str, pd.DataFrame | Exception],
        prices: Mapping[str, float | None],
        active: Iterable[StoredOrder],
    ) -> list[Position]:
        """The positions this run follows. `prices`: each symbol's price now (None: unknown);
        `active`: every order still resting or being sent."""
        by_position: dict[int, list[StoredOrder]] = {}
        for order in active:
            if order.request.position_id is not None:
                by_position.setdefault(order.request.position_id, []).append(order)
        now = self.monotonic()
        due = []
        for position in positions:
            seen = self._seen(position.id, prices.get(position.symbol))
            orders = by_position.get(position.id, [])
            if not await self._quiet(position, frames.get(position.symbol), orders, seen, now):
                due.append(position)
        return due

    def _seen(self, position_id: int, price: float | None) -> tuple[float, float]:
        """The lowest and highest price seen since the position was last read."""
        low, high = (0.0, math.inf) if price is None else (price, price)  # unknown: it may be anywhere
        if position_id in self._ranges:
            was_low, was_high = self._ranges[position_id]
            low, high = min(low, was_low), max(high, was_high)
        self._ranges[position_id] = (low, high)
        return low, high

    async def _quiet(
        self,
        position: Position,
        frame: pd.DataFrame | Exception | None,
        orders: list[StoredOrder],
        seen: tuple[float, float],
        now: float,
    ) -> bool:
        since = self.health(position.user_id)
        last = self._followed.get(position.id)
        if since is None or last is None or last[0] < since or not last[1]:
            return False
        age = now - last[0]
        if age >= self.full_seconds or _new_candle(position, frame):
            return False
        if age >= self.sweep_seconds and reached(position, orders, seen, self.near_pct):
            return False
        return settled(orders) and not await self.needs_care(position.id)


def reached(position: Position, orders: Sequence[StoredOrder], seen: tuple[float, float], near_pct: float) -> bool:
    """The prices seen came within `near_pct` % of a level resting for the position (its
    order may have filled), or nothing rests to compare with."""
    low, high = seen
    sign, near = position.side.sign, near_pct / 100
    levels = False
    for order in orders:
        leg = parse_leg(order.request.client_order_id)
        if leg is None or order.result.status is not OrderStatus.OPEN:
            continue
        level = order.request.stop_price if leg[3] == "sl" else order.request.price
        if level is None:
            return True
        levels = True
        stop = leg[3] == "sl"
        if sign > 0 and (low <= level * (1 + near) if stop else high >= level * (1 - near)):
            return True
        if sign < 0 and (high >= level * (1 - near) if stop else low <= level * (1 + near)):
            return True
    return not levels


def settled(orders: Sequence[StoredOrder]) -> bool:
    """Nothing being sent, and a protective list resting."""
    if any(o.result.status is OrderStatus.SUBMITTING for o in orders):
        return False
    return any(o.result.status is OrderStatus.OPEN and parse_leg(o.request.client_order_id) for o in orders)


def _new_candle(position: Position, frame: pd.DataFrame | Exception | None) -> bool:
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        return False
    return position.last_candle_at is None or frame.index[-1] > pd.Timestamp(position.last_candle_at)


class Follower(Protocol):
    async def follow_now(self, position_id: int, unless: Callable[[], Awaitable[bool]] | None = None) -> int: ...

    async def working_limits(self, user_id: int | None = None) -> list[LimitEntry]: ...

    async def follow_limit(self, user_signal_id: int, user_id: int) -> int: ...


_LIMIT_ENTRY = re.compile(r"atra-us(\d+)-entry")


def limit_row(client_order_id: str) -> int | None:
    """The row whose entry order this is (`atra-us<row>-entry`, core/trading/execution.py)."""
    match = _LIMIT_ENTRY.fullmatch(client_order_id)
    return int(match.group(1)) if match else None


class StreamFollow:
    """The watchers' target (core.trading.live_stream.StreamTarget) over the monitor."""

    def __init__(self, follower: Follower, orders: OrderRepository, positions: PositionRepository, keys: Keyring):
        self._follower = follower
        self._orders = orders
        self._positions = positions
        self._keys = keys

    async def accounts(self) -> set[int]:
        """Accounts with open positions or working limit entries, and keys (a stream
        without keys cannot sign in)."""
        users = {p.user_id for p in await self._positions.open_positions()}
        users |= {e.row.user_id for e in await self._follower.working_limits()}
        return {u for u in users if await self._keys.has(u)}

    async def reconcile(self, user_id: int) -> None:
        for entry in await self._follower.working_limits(user_id):  # first: a fill opens a position
            await self._follower.follow_limit(entry.row.id, user_id)
        for position in await self._positions.open_positions(user_id):
            await self._follower.follow_now(position.id)

    async def updated(self, user_id: int, results: Sequence[OrderResult]) -> None:
        """Follow, once each, the positions whose known orders the updates say changed:
        once the position is free, and only if an update is still news then (the update
        may be the echo of what its owner was doing: a stop it moved, a fill it booked)."""
        touched: dict[int, list[OrderResult]] = {}
        limits: set[int] = set()
        for result in results:
            stored = await self._orders.stored(result.client_order_id)
            row = limit_row(result.client_order_id)
            if stored is None or stored.request.user_id != user_id or (stored.request.position_id is None and not row):
                log.debug("user %s: update for order %s not ours, ignored", user_id, result.client_order_id)
                continue
            if not news(result, stored.result):
                log.debug("user %s: order %s update already booked or older, ignored", user_id, result.client_order_id)
                continue
            if stored.request.position_id is None and row is not None:
                limits.add(row)  # a limit entry's order: its fill opens the position
            elif stored.request.position_id is not None:
                touched.setdefault(stored.request.position_id, []).append(result)
        for row_id in sorted(limits):  # an entry already filled or ended by then is left alone
            await self._follower.follow_limit(row_id, user_id)
        for position_id, updates in touched.items():
            await self._follower.follow_now(position_id, unless=lambda u=updates: self._known(u))  # type: ignore[misc]

    async def _known(self, updates: Sequence[OrderResult]) -> bool:
        for update in updates:
            stored = await self._orders.stored(update.client_order_id)
            if stored is not None and news(update, stored.result):
                return False
        return True


_FINAL = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


def news(update: OrderResult, booked: OrderResult) -> bool:
    """The update says something the database does not hold yet: not the same state, not
    less filled than booked, not open again once final (an old report arriving late)."""
    if same_state(update, booked) or update.filled + EPS < booked.filled:
        return False
    return not (booked.status in _FINAL and update.status is OrderStatus.OPEN)
