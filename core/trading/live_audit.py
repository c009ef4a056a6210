"""The coins an account holds, held against the live positions ATRA keeps on it.

Every few minutes the monitor asks each account with open positions what it holds (one
balance call per user) and adds up, per coin, what the open positions hold. An account
holding less than its positions (coins sold or moved outside ATRA, a fee not reported) is
flagged to its user and the admins with both figures, once per episode, and nothing is
changed: ATRA never guesses which position lost what. An account holding more is normal
(coins of the user's own).
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

    async def run(self) -> int:
        """Check every account with open positions; returns how many coins are short."""
        by_user: defaultdict[int, list[Position]] = defaultdict(list)
        for position in await self._positions.open_positions():
            by_user[position.user_id].append(position)
        short = 0
        for user_id, positions in by_user.items():
            try:
                short += await self._check(user_id, positions)
            except ExchangeError as exc:  # this account cannot be read now: the others can
                log.warning("user %s: holdings not checked: %s", user_id, exc)
        return short

    async def _check(self, user_id: int, positions: Sequence[Position]) -> int:
        expected: defaultdict[str, float] = defaultdict(float)
        for position in positions:
            expected[position.symbol.split("/")[0]] += position.quantity
        held = {b.currency: b.total for b in await self._exchange.fetch_balances(user_id)}
        short = 0
        for asset, quantity in sorted(expected.items()):
            key = f"holdings:{user_id}:{asset}"
            has = held.get(asset, 0.0)
            if quantity - has <= quantity * TOLERANCE:
                await self._episodes.succeeded(key)
                continue
            short += 1
            log.error("user %s holds %.8g %s, less than the %.8g of the open positions", user_id, has, asset, quantity)
            params = {"asset": asset, "held": has, "expected": quantity}
            alerts = [Alert(user_id, "holdings_short", params)]
            alerts += [Alert(a, "holdings_short_admin", {**params, "user": user_id}) for a in sorted(self._admin_ids)]
            await self._episodes.failed(key, alerts)
        return short
