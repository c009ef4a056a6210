"""Counts for the metrics endpoint and the admins' /status: read-only aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field

from db.sql import SqlDatabase


@dataclass(frozen=True, slots=True)
class SystemCounts:
    signals_by_source: dict[str, int] = field(default_factory=dict)  # engine, manual
    user_signals_by_state: dict[str, int] = field(default_factory=dict)  # pending, executed, skipped ...
    orders_by_status: dict[str, int] = field(default_factory=dict)
    open_positions: int = 0
    subscribers: int = 0


class StatsRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def _grouped(self, sql: str) -> dict[str, int]:
        return {str(r[0]): int(r[1]) for r in await self._db.fetchall(sql)}

    async def counts(self) -> SystemCounts:
        open_row = await self._db.fetchone("SELECT COUNT(*) FROM positions WHERE status = 'open'")
        subscribers = await self._db.fetchone("SELECT COUNT(*) FROM users WHERE subscribed = 1 AND blocked = 0")
        return SystemCounts(
            signals_by_source=await self._grouped("SELECT source, COUNT(*) FROM signals GROUP BY source"),
            user_signals_by_state=await self._grouped("SELECT state, COUNT(*) FROM user_signals GROUP BY state"),
            orders_by_status=await self._grouped("SELECT status, COUNT(*) FROM orders GROUP BY status"),
            open_positions=int(open_row[0]) if open_row else 0,
            subscribers=int(subscribers[0]) if subscribers else 0,
        )
