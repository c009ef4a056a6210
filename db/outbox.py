"""The persistent outbox: messages to deliver, written in the same transaction as the
state change that caused them, drained by the bot's delivery worker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from core.events import Event, to_payload
from db.database import Database, to_db_time


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    user_id: int
    kind: str
    priority: int
    payload: dict[str, Any]
    attempts: int


async def queue_events(conn: aiosqlite.Connection, events: Sequence[Event], now: datetime) -> None:
    """Insert events into the outbox on an open transaction's connection."""
    await conn.executemany(
        "INSERT INTO outbox (user_id, kind, priority, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        [
            (e.user_id, e.kind, e.priority, json.dumps(to_payload(e), separators=(",", ":")), to_db_time(now))
            for e in events
        ],
    )


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(self, events: Sequence[Event], now: datetime) -> None:
        async with self._db.transaction() as conn:
            await queue_events(conn, events, now)

    async def due(self, now: datetime, limit: int, skip_kinds: Sequence[str] = ()) -> list[OutboxItem]:
        """Pending messages whose time has come, most urgent first, oldest first."""
        skip = f" AND kind NOT IN ({', '.join('?' for _ in skip_kinds)})" if skip_kinds else ""
        rows = await self._db.fetchall(
            "SELECT id, user_id, kind, priority, payload, attempts FROM outbox"
            f" WHERE status = 'pending' AND (not_before IS NULL OR not_before <= ?){skip}"
            " ORDER BY priority, id LIMIT ?",
            (to_db_time(now), *skip_kinds, limit),
        )
        return [
            OutboxItem(r["id"], r["user_id"], r["kind"], r["priority"], json.loads(r["payload"]), r["attempts"])
            for r in rows
        ]

    async def mark_sent(self, item: OutboxItem, message_id: int | None, now: datetime) -> None:
        """Record the delivery; a signal's message id goes to its user_signals row too."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                (message_id, to_db_time(now), item.id),
            )
            user_signal_id = item.payload.get("user_signal_id")
            if item.kind == "signal" and user_signal_id is not None and message_id is not None:
                await conn.execute("UPDATE user_signals SET message_id = ? WHERE id = ?", (message_id, user_signal_id))

    async def retry_later(self, item: OutboxItem, not_before: datetime, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET not_before = ?, last_error = ?, attempts = attempts + 1 WHERE id = ?",
            (to_db_time(not_before), error[:500], item.id),
        )

    async def mark_failed(self, item: OutboxItem, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'failed', last_error = ?, attempts = attempts + 1 WHERE id = ?",
            (error[:500], item.id),
        )

    async def fail_pending_for_user(self, user_id: int, error: str) -> int:
        return await self._db.execute(
            "UPDATE outbox SET status = 'failed', last_error = ? WHERE user_id = ? AND status = 'pending'",
            (error[:500], user_id),
        )

    async def depth(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        return int(row[0]) if row else 0
