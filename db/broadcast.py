"""The paid-broadcast spend per UTC day (one row a day): how many signal pushes went out with
allow_paid_broadcast, each counted *before* its send, so a crash can only over-count (a send
that never happened), never let the day's Stars budget be exceeded."""

from __future__ import annotations

from db.sql import SqlDatabase


class PaidBroadcastRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def reserve(self, day: str, limit: int) -> bool:
        """Count one paid message on `day` if fewer than `limit` are counted; False when the
        day's budget is spent (nothing counted). One statement: two senders cannot both
        take the last one."""
        changed = await self._db.execute(
            "INSERT INTO paid_broadcast_spend (day, messages) VALUES (?, 1) ON CONFLICT (day) DO UPDATE"
            " SET messages = paid_broadcast_spend.messages + 1 WHERE paid_broadcast_spend.messages < ?",
            (day, limit),
        )
        return changed == 1

    async def release(self, day: str) -> None:
        """Un-count one paid message of `day` that was certainly not sent."""
        await self._db.execute(
            "UPDATE paid_broadcast_spend SET messages = messages - 1 WHERE day = ? AND messages > 0", (day,)
        )

    async def spent(self, day: str) -> int:
        """Paid messages counted on `day`."""
        row = await self._db.fetchone("SELECT messages FROM paid_broadcast_spend WHERE day = ?", (day,))
        return int(row[0]) if row else 0
