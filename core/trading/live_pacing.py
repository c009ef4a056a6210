"""How often the monitor follows a live position through REST, and what a stream update does.

While an account's stream is up (core/trading/live_stream.py) its fills arrive as events,
so the monitor's full follow (about 6 request weight a position) becomes a slow sweep: a
position is followed on a run only when one of these holds, else it is left to its stream:

- its account's stream is down, or came up after the position was last followed;
- its last follow changed something or failed (it is still moving, or in trouble);
- it is not settled: an order being sent, no protective list resting, or flagged unprotected;
- a candle closed since it last looked (the trailing stop may move);
- `sweep_seconds` passed since it was last followed (REST stays the truth).

`StreamFollow` is what the watchers act on: an update for an order the database knows
(by client order id) follows that position at once, through the monitor's follow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from core.models import OrderResult, OrderStatus, Position, StoredOrder
from core.ports import OrderRepository, PositionRepository
from core.trading.live_book import same_state
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
    _followed: dict[int, tuple[float, bool, int]] = field(default_factory=dict)  # position -> (when, clean, user)

    def followed(self, position_id: int, user_id: int, clean: bool) -> None:
        """A follow of the position ended: `clean` when it changed nothing and did not fail."""
        self._followed[position_id] = (self.monotonic(), clean, user_id)

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

    async def due(
        self, positions: Sequence[Position], frames: dict[str, pd.DataFrame | Exception], active: Iterable[StoredOrder]
    ) -> list[Position]:
        """The positions this run follows; `active` is every order still resting or being sent."""
        by_position: dict[int, list[StoredOrder]] = {}
        for order in active:
            if order.request.position_id is not None:
                by_position.setdefault(order.request.position_id, []).append(order)
        now = self.monotonic()
        due = []
        for position in positions:
            if not await self._quiet(position, frames.get(position.symbol), by_position.get(position.id, []), now):
                due.append(position)
        return due

    async def _quiet(
        self, position: Position, frame: pd.DataFrame | Exception | None, orders: list[StoredOrder], now: float
    ) -> bool:
        since = self.health(position.user_id)
        last = self._followed.get(position.id)
        if since is None or last is None or last[0] < since or not last[1]:
            return False
        if now - last[0] >= self.sweep_seconds or _new_candle(position, frame):
            return False
        return settled(orders) and not await self.needs_care(position.id)


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
    async def follow_now(self, position_id: int) -> int: ...


class StreamFollow:
    """The watchers' target (core.trading.live_stream.StreamTarget) over the monitor."""

    def __init__(self, follower: Follower, orders: OrderRepository, positions: PositionRepository, keys: Keyring):
        self._follower = follower
        self._orders = orders
        self._positions = positions
        self._keys = keys

    async def accounts(self) -> set[int]:
        """Accounts with open positions and keys (a stream without keys cannot sign in)."""
        users = {p.user_id for p in await self._positions.open_positions()}
        return {u for u in users if await self._keys.has(u)}

    async def reconcile(self, user_id: int) -> None:
        for position in await self._positions.open_positions(user_id):
            await self._follower.follow_now(position.id)

    async def updated(self, user_id: int, results: Sequence[OrderResult]) -> None:
        """Follow, once each, the positions whose known orders the updates say changed."""
        touched: dict[int, None] = {}
        for result in results:
            stored = await self._orders.stored(result.client_order_id)
            if stored is None or stored.request.user_id != user_id or stored.request.position_id is None:
                log.debug("user %s: update for order %s not ours, ignored", user_id, result.client_order_id)
                continue
            if same_state(result, stored.result):  # already booked as it says (a duplicate, an echo)
                log.debug("user %s: order %s unchanged, ignored", user_id, result.client_order_id)
                continue
            touched[stored.request.position_id] = None
        for position_id in touched:
            await self._follower.follow_now(position_id)
