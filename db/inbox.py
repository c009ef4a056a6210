"""The inbox: each update Telegram sent, stored before its receipt is acknowledged and
marked done once handled (see bot/intake.py). Its writes never wait long: when the database
is busy (another process holds the write lock, or this process's writes queue behind one
that waits), they are skipped and say so, so that a command is answered anyway."""

from __future__ import annotations

import time

from db.sql import SqlDatabase


class InboxRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def store(self, update_id: int, payload: str) -> bool | None:
        """Keep an update; False when it was already kept (Telegram sent it again), None when
        the database was too busy to take it now."""
        changed = await self._db.execute_soon(
            "INSERT INTO inbox (update_id, payload, received_at) VALUES (?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
            (update_id, payload, time.time()),
        )
        return None if changed is None else changed == 1

    async def done(self, update_id: int) -> bool:
        """Mark an update handled; False when the database was too busy to take it now."""
        changed = await self._db.execute_soon(
            "UPDATE inbox SET done_at = ? WHERE update_id = ?", (time.time(), update_id)
        )
        return changed is not None

    async def not_done(self, limit: int = 10_000) -> list[tuple[int, str]]:
        """Updates received but never handled, oldest first."""
        rows = await self._db.fetchall(
            "SELECT update_id, payload FROM inbox WHERE done_at IS NULL ORDER BY update_id LIMIT ?", (limit,)
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def purge(self, done_before: float) -> int | None:
        """Forget handled updates done before `done_before` (unix seconds). Telegram keeps
        an unacknowledged update 24 hours, so a day later it cannot come back."""
        return await self._db.execute_soon(
            "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (done_before,)
        )
