"""What a live position tells its user and the admins: fills out of the ordinary, lost or
refused protection. A state that repeats every monitor run is told once per episode."""

from __future__ import annotations

from collections.abc import Callable

from core.events import Alert
from core.models import Position
from core.ports import Clock, OutboxRepository, SystemRepository


class LiveNotices:
    def __init__(
        self,
        *,
        admin_ids: frozenset[int],
        clock: Clock,
        outbox: OutboxRepository,
        system: SystemRepository,
        wake_delivery: Callable[[], None],
    ) -> None:
        self._admin_ids = admin_ids
        self._clock = clock
        self._outbox = outbox
        self._system = system
        self._wake = wake_delivery

    async def notify(self, position: Position, key: str, admins: bool = False, **params: object) -> None:
        """Tell the user (and the admins, with the `<key>_admin` message) about `position`."""
        base = {"symbol": position.symbol, "id": position.id}
        alerts = [Alert(user_id=position.user_id, key=key, params={**base, **params})]
        if admins:
            admin_params = {**base, "user": position.user_id, **params}
            alerts += [Alert(user_id=a, key=f"{key}_admin", params=admin_params) for a in sorted(self._admin_ids)]
        await self._outbox.enqueue(alerts, self._clock.now())
        self._wake()

    async def once(self, key: str) -> bool:
        """True the first time `key` is asked (then it is remembered)."""
        if await self._system.get_value(key):
            return False
        await self._system.set_value(key, "1")
        return True

    async def flag_unprotected(self, position: Position, reason: str) -> None:
        """Tell the user and the admins once that the position is not protected."""
        if await self.once(f"unprotected:{position.id}"):
            await self.notify(position, "protection_failed", admins=True, reason=reason[:160])

    async def flagged(self, position_id: int) -> bool:
        return bool(await self._system.get_value(f"unprotected:{position_id}"))

    async def clear_flag(self, position: Position) -> None:
        key = f"unprotected:{position.id}"
        if await self._system.get_value(key):
            await self._system.set_value(key, "")
            await self.notify(position, "protection_restored", admins=True)
