"""System state an admin controls (pause flag, risk limits), small key-values, and the
audit trail of admin actions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from core.models import Limits
from core.ports import Clock
from db.database import to_db_time
from db.sql import SqlDatabase

_PAUSED = "paused"
_LIMITS = "limits"


class SystemRepository:
    def __init__(self, db: SqlDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get_value(self, key: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM kv WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_value(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, to_db_time(self._clock.now())),
        )

    async def _set_with_audit(self, key: str, value: str, admin_id: int, action: str, detail: dict[str, Any]) -> None:
        now = to_db_time(self._clock.now())
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, now),
            )
            await conn.execute(
                "INSERT INTO audit (admin_id, action, detail, created_at) VALUES (?, ?, ?, ?)",
                (admin_id, action, json.dumps(detail), now),
            )

    async def is_paused(self) -> bool:
        return await self.get_value(_PAUSED) == "1"

    async def set_paused(self, paused: bool, admin_id: int) -> None:
        await self._set_with_audit(_PAUSED, "1" if paused else "0", admin_id, "pause" if paused else "resume", {})

    async def limits(self) -> Limits:
        """Stored limits over the defaults; a stored name the code no longer knows is ignored."""
        raw = await self.get_value(_LIMITS)
        stored = json.loads(raw) if raw else {}
        known = {f.name for f in dataclasses.fields(Limits)}
        return Limits(**{k: v for k, v in stored.items() if k in known})

    async def save_limits(self, limits: Limits, admin_id: int, changed: str) -> None:
        value = json.dumps(dataclasses.asdict(limits))
        await self._set_with_audit(
            _LIMITS, value, admin_id, "setlimit", {"name": changed, "value": getattr(limits, changed)}
        )

    async def audit_trail(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT admin_id, action, detail, created_at FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [dict(r) for r in rows]
