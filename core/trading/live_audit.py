"""The coins an account holds, held against the live positions ATRA keeps on it.

Every few minutes the monitor asks each account with open positions what it holds (one
balance call per user) and adds up, per coin, what the open positions hold. Only positions
whose orders the monitor has just read count: a target that filled since the last look is
not booked yet. A shortfall is suspected once, checked again on the next run (after its
positions were read again), and if it is still there, flagged to the user and the admins
with both figures, once per episode; nothing is changed: ATRA never guesses which position
lost what (coins sold or moved outside ATRA, a fee not reported). An account holding more
is normal (coins of the user's own).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from core.errors import ExchangeError
from core.events import Alert
from core.models import Position
from core.ports import PositionRepository
from core.trading.episodes import Episodes
from core.trading.live_ports import LiveExchange

log = logging.getLogger(__name__)

#: A shortfall smaller than this share of what the positions hold is rounding, not a loss.
TOLERANCE = 0.001


class HoldingsAudit:
    def __init__(
        self,
        *,
        exchange: LiveExchange,
        positions: PositionRepository,
        episodes: Episodes,
        admin_ids: frozenset[int],
    ) -> None:
        self._exchange = exchange
        self._positions = positions
        self._episodes = episodes
        self._admin_ids = admin_ids
        self._suspects: set[tuple[int, str]] = set()  # (user, coin) short at the last look

    async def run(self, fresh: set[int], full: bool) -> int:
        """Check every account with open positions (`full`), or only those suspected last
        time; count only positions in `fresh`. Returns how many shortfalls are flagged."""
        by_user: defaultdict[int, list[Position]] = defaultdict(list)
        for position in await self._positions.open_positions():
            by_user[position.user_id].append(position)
        suspected = {user for user, _ in self._suspects}
        flagged = 0
        for user_id, positions in by_user.items():
            if not full and user_id not in suspected:
                continue
            try:
                flagged += await self._check(user_id, positions, fresh)
            except ExchangeError as exc:  # this account cannot be read now: the others can
                log.warning("user %s: holdings not checked: %s", user_id, exc)
        return flagged

    async def _check(self, user_id: int, positions: Sequence[Position], fresh: set[int]) -> int:
        expected: defaultdict[str, float] = defaultdict(float)
        stale: set[str] = set()
        for position in positions:
            asset = position.symbol.split("/")[0]
            expected[asset] += position.quantity
            if position.id not in fresh:
                stale.add(asset)
        held = {b.currency: b.total for b in await self._exchange.fetch_balances(user_id)}
        flagged = 0
        for asset, quantity in sorted(expected.items()):
            if asset in stale:
                continue
            key = f"holdings:{user_id}:{asset}"
            has = held.get(asset, 0.0)
            if quantity - has <= quantity * TOLERANCE:
                self._suspects.discard((user_id, asset))
                await self._episodes.succeeded(key)
            elif (user_id, asset) not in self._suspects:
                self._suspects.add((user_id, asset))  # seen once: look again after the next read
            else:
                flagged += 1
                await self._flag(user_id, asset, has, quantity)
        return flagged

    async def _flag(self, user_id: int, asset: str, held: float, expected: float) -> None:
        log.error("user %s holds %.8g %s, less than the %.8g of the open positions", user_id, held, asset, expected)
        params = {"asset": asset, "held": held, "expected": expected}
        alerts = [Alert(user_id, "holdings_short", params)]
        alerts += [Alert(a, "holdings_short_admin", {**params, "user": user_id}) for a in sorted(self._admin_ids)]
        await self._episodes.failed(f"holdings:{user_id}:{asset}", alerts)
