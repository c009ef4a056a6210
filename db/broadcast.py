"""The paid-broadcast spend per UTC day (one row a day): how many signal pushes went out with
allow_paid_broadcast, each counted *before* its send, so a crash can only over-count (a send
that never happened), never let the day's Stars budget be exceeded."""

from __future__ import annotations

from db.sql import SqlDatabase


class PaidBroadcastRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def reserve(self, day: str, limit: int, count: int = 1) -> bool:
        """Count `count` paid messages on `day` if that keeps the day within `limit`; False
        (nothing counted) when it would not. One statement: two senders cannot both take
        the last ones."""
        if count > limit:
            return False
        changed = await self._db.execute(
            "INSERT INTO paid_broadcast_spend (day, messages) VALUES (?, ?) ON CONFLICT (day) DO UPDATE"
            " SET messages = paid_broadcast_spend.messages + ? WHERE paid_broadcast_spend.messages + ? <= ?",
            (day, count, count, count, limit),
        )
        return changed == 1

    async def release(self, day: str, count: int = 1) -> None:
        """Un-count `count` paid messages of `day` that were certainly not sent."""
        await self._db.execute(
            "UPDATE paid_broadcast_spend SET messages = CASE WHEN messages > ? THEN messages - ? ELSE 0 END"
            " WHERE day = ?",
            (count, count, day),
        )

    async def spent(self, day: str) -> int:
        """Paid messages counted on `day`."""
        row = await self._db.fetchone("SELECT messages FROM paid_broadcast_spend WHERE day = ?", (day,))
        return int(row[0]) if row else 0
