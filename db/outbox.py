"""The persistent outbox: messages to deliver, written in the same transaction as the
state change that caused them, drained by the bot's delivery worker.

A row's life: `pending` -> (claimed: `attempt_id` and `attempt_started_at` set, just
before the Bot API call) -> `sent` | `failed` | back to `pending` with `not_before` (retry)
or without (released, never sent). A row still claimed at start belongs to a process that
died mid-send: it is "in doubt" (Telegram may or may not have it) and is queued again with
its `attempt_started_at` kept, which marks it in doubt until it is resolved (`in_doubt`
counts how often that happened to it); a timed-out send is put back the same way.

The two writes every delivery makes, its claim and its "sent", are committed in groups
(`GroupCommit`): the deliveries in flight that ask while one commit is on disk share the
next one. Each caller still returns only once its own write is committed, so the claim
still precedes its Bot API call; one fsync serves many messages (the paid lane's 1,000/s
would otherwise wait on one fsync per write).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.events import Event, SignalEnded, to_payload
from db.database import to_db_time
from db.sql import Connection, SqlDatabase


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending message with what its delivery needs from other tables."""

    id: int
    user_id: int
    kind: str
    priority: int
    payload: dict[str, Any]
    attempts: int  # failed attempts so far (429s not counted)
    in_doubt: int = 0  # times it was left in doubt
    in_doubt_now: bool = False  # its last send may have reached Telegram: the next one is a repeat
    enqueued_at: float | None = None  # unix seconds
    language: str | None = None  # None: the user has no row (e.g. an admin who never wrote)
    blocked: bool = False
    signal_id: int | None = None  # for rows about a user signal
    signal_state: str | None = None
    signal_message_id: int | None = None  # the signal's own message, once sent
    signal_message_is_photo: bool = False
    prefs: str = "{}"  # the user's own choices, JSON (core/prefs.py)


def _wall_time(unix_seconds: float) -> str:
    return to_db_time(datetime.fromtimestamp(unix_seconds, UTC))


async def queue_events(
    conn: Connection,
    events: Sequence[Event],
    now: datetime,
    hold: Mapping[int, float] | None = None,
    parked: Collection[int] = (),
) -> None:
    """Insert events into the outbox on an open transaction's connection; `hold` (user id ->
    seconds) keeps a user's new signal back that long (their quiet hours), in wall-clock
    time as the delivery worker reads `not_before`. The new signals of the users in `parked`
    (channel mode, channel only) are stored resolved, `delivered_as = 'channel'`: never
    pushed, kept as the user's card for the channel's "Take this trade" link."""
    enqueued = time.time()
    hold = hold or {}

    def parks(e: Event) -> bool:
        return e.kind == "signal" and e.user_id in parked

    await conn.executemany(
        "INSERT INTO outbox (user_id, kind, priority, payload, created_at, user_signal_id, enqueued_at, not_before,"
        " status, delivered_as) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.user_id,
                e.kind,
                e.priority,
                json.dumps(to_payload(e), separators=(",", ":")),
                to_db_time(now),
                getattr(e, "user_signal_id", None),
                enqueued,
                _wall_time(enqueued + hold[e.user_id]) if e.user_id in hold and e.kind == "signal" else None,
                "sent" if parks(e) else "pending",
                "channel" if parks(e) else None,
            )
            for e in events
        ],
    )


_DUE = """
WITH due AS (
    SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.user_id ORDER BY o.priority, o.id) AS place
    FROM outbox o
    WHERE o.status = 'pending' AND o.attempt_id IS NULL AND (o.not_before IS NULL OR o.not_before <= ?) {skip}
      AND NOT EXISTS (
          SELECT 1 FROM outbox b
          WHERE b.user_id = o.user_id AND b.status = 'pending'
            AND (b.priority < o.priority OR (b.priority = o.priority AND b.id < o.id))
            -- a signal waiting (quiet hours, a retry) never holds back the chat's trade news
            AND (b.attempt_id IS NOT NULL OR (b.not_before > ? AND b.kind <> 'signal')))
)
SELECT d.id, d.user_id, d.kind, d.priority, d.payload, d.attempts, d.in_doubt, d.enqueued_at,
       CASE WHEN d.attempt_started_at IS NOT NULL THEN 1 ELSE 0 END AS in_doubt_now,
       u.language, COALESCE(u.blocked, 0) AS blocked,
       us.signal_id, us.state AS signal_state, us.message_id AS signal_message_id,
       COALESCE(us.message_is_photo, 0) AS signal_message_is_photo, COALESCE(u.prefs, '{{}}') AS prefs
FROM due d
LEFT JOIN users u ON u.id = d.user_id
LEFT JOIN user_signals us ON us.id = d.user_signal_id
WHERE d.place <= ?
ORDER BY d.priority, d.id
LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class Backlog:
    depth: int  # pending rows
    oldest_enqueued_at: float | None  # unix seconds of the oldest pending row
    in_flight: int  # claimed rows


async def _mark_sent(
    conn: Connection, item: OutboxItem, message_id: int | None, delivered_as: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, delivered_as = ?, attempt_id = NULL,"
        " attempt_started_at = NULL"
        " WHERE id = ?",
        (message_id, to_db_time(now), delivered_as, item.id),
    )
    user_signal_id = item.payload.get("user_signal_id")
    if item.kind == "signal" and user_signal_id is not None and message_id is not None:
        cursor = await conn.execute(
            "UPDATE user_signals SET message_id = ?, message_is_photo = ? WHERE id = ? RETURNING state, user_id",
            (message_id, int(delivered_as == "photo"), user_signal_id),
        )
        rows = await cursor.fetchall()
        if rows and rows[0][0] == "expired":  # it expired while on its way: its buttons go too
            await queue_events(conn, [SignalEnded(int(rows[0][1]), int(user_signal_id), "expired")], now)


Work = Callable[[Connection], Awaitable[Any]]


class GroupCommit:
    """Writes committed together: one transaction for all that arrived while the previous
    one was committing. A group that fails is run again one write at a time, so a bad
    write fails its own caller only. A caller cancelled before its group starts is left out."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, work: Work) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="outbox-group-commit")
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                group = [(work, future) for work, future in self._queue if not future.done()]
                self._queue = []
                if group:
                    await self._commit(group)
        except BaseException:
            for _, future in self._queue:
                future.cancel()
            self._queue = []
            raise

    async def _commit(self, group: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        try:
            async with self._db.transaction() as conn:
                results = [await work(conn) for work, _ in group]
        except Exception:  # noqa: BLE001 - each write again on its own: the bad one fails its caller
            for work, future in group:
                try:
                    async with self._db.transaction() as conn:
                        result = await work(conn)
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
            return
        except BaseException:
            for _, future in group:
                future.cancel()
            raise
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


class OutboxRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._group = GroupCommit(db)

    async def enqueue(self, events: Sequence[Event], now: datetime) -> None:
        async with self._db.transaction() as conn:
            await queue_events(conn, events, now)

    async def due(
        self, now: datetime, limit: int, skip_kinds: Sequence[str] = (), per_chat: int | None = None
    ) -> list[OutboxItem]:
        """Pending, unclaimed messages whose time has come, most urgent first, oldest first,
        at most `per_chat` of one chat (the worker takes a few, so that a long queue in one
        chat cannot crowd the others out of `limit`). A chat whose earlier message is in
        flight or waiting for a retry gets nothing, so one chat's messages never overtake
        each other."""
        skip = f"AND o.kind NOT IN ({', '.join('?' for _ in skip_kinds)})" if skip_kinds else ""
        moment = to_db_time(now)
        rows = await self._db.fetchall(_DUE.format(skip=skip), (moment, *skip_kinds, moment, per_chat or limit, limit))
        return [
            OutboxItem(
                id=r["id"],
                user_id=r["user_id"],
                kind=r["kind"],
                priority=r["priority"],
                payload=json.loads(r["payload"]),
                attempts=r["attempts"],
                in_doubt=r["in_doubt"],
                in_doubt_now=bool(r["in_doubt_now"]),
                enqueued_at=r["enqueued_at"],
                language=r["language"],
                blocked=bool(r["blocked"]),
                signal_id=r["signal_id"],
                signal_state=r["signal_state"],
                signal_message_id=r["signal_message_id"],
                signal_message_is_photo=bool(r["signal_message_is_photo"]),
                prefs=r["prefs"],
            )
            for r in rows
        ]

    async def claim(self, item: OutboxItem, attempt_id: str) -> bool:
        """Mark the row as being sent (committed before the Bot API call). False if it is
        no longer pending and unclaimed."""
        started = time.time()

        async def claim(conn: Connection) -> bool:
            cursor = await conn.execute(
                "UPDATE outbox SET attempt_id = ?, attempt_started_at = ?"
                " WHERE id = ? AND status = 'pending' AND attempt_id IS NULL",
                (attempt_id, started, item.id),
            )
            return bool(cursor.rowcount == 1)

        return bool(await self._group.run(claim))

    async def release(self, item: OutboxItem) -> None:
        """Unclaim a row that was certainly not sent."""
        await self._db.execute(
            "UPDATE outbox SET attempt_id = NULL, attempt_started_at = NULL WHERE id = ?", (item.id,)
        )

    async def mark_sent(self, item: OutboxItem, message_id: int | None, delivered_as: str, now: datetime) -> None:
        """Record the delivery; a signal's message id (and whether it is a photo) goes to
        its user_signals row too."""
        await self._group.run(lambda conn: _mark_sent(conn, item, message_id, delivered_as, now))

    async def retry_later(
        self, item: OutboxItem, not_before: datetime, error: str, *, rate_limited: bool, in_doubt: bool = False
    ) -> None:
        """Unclaim and hold until `not_before`; a 429 is counted apart from failed attempts.
        `in_doubt`: Telegram may have it (a timed-out send), so the next send is a repeat."""
        column = "rate_limited" if rate_limited else "attempts"
        doubt = "in_doubt = in_doubt + 1" if in_doubt else "attempt_started_at = NULL"
        await self._db.execute(
            f"UPDATE outbox SET not_before = ?, last_error = ?, {column} = {column} + 1, attempt_id = NULL, {doubt}"
            " WHERE id = ?",
            (to_db_time(not_before), error[:500], item.id),
        )

    async def mark_failed(self, item: OutboxItem, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'failed', last_error = ?, attempt_id = NULL WHERE id = ?",
            (error[:500], item.id),
        )

    async def fail_pending_for_user(self, user_id: int, error: str) -> int:
        return await self._db.execute(
            "UPDATE outbox SET status = 'failed', last_error = ? WHERE user_id = ? AND status = 'pending'",
            (error[:500], user_id),
        )

    async def requeue_in_doubt(self) -> int:
        """At start: rows a previous process claimed and never resolved were being sent
        when it stopped. Queue them again (Telegram may already have them)."""
        return await self._db.execute(
            "UPDATE outbox SET attempt_id = NULL, in_doubt = in_doubt + 1"
            " WHERE status = 'pending' AND attempt_id IS NOT NULL"
        )

    async def purge_delivered(self, enqueued_before: float) -> int:
        """Delete sent and failed rows enqueued before `enqueued_before` (unix seconds)."""
        return await self._db.execute(
            "DELETE FROM outbox WHERE status IN ('sent', 'failed') AND COALESCE(enqueued_at, 0) < ?",
            (enqueued_before,),
        )

    async def depth(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        return int(row[0]) if row else 0

    async def backlog(self, skip_kinds: Sequence[str] = ()) -> Backlog:
        """Pending rows (but `skip_kinds`, e.g. signals held while paused)."""
        skip = f" AND kind NOT IN ({', '.join('?' for _ in skip_kinds)})" if skip_kinds else ""
        row = await self._db.fetchone(
            f"SELECT COUNT(*), MIN(enqueued_at), COUNT(attempt_id) FROM outbox WHERE status = 'pending'{skip}",
            tuple(skip_kinds),
        )
        assert row is not None
        return Backlog(int(row[0]), row[1], int(row[2]))


class ChartRepository:
    """Telegram file ids of the signal charts already uploaded."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def file_id(self, signal_id: int, language: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT file_id FROM signal_charts WHERE signal_id = ? AND language = ?", (signal_id, language)
        )
        return row[0] if row else None

    async def save(self, signal_id: int, language: str, file_id: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO signal_charts (signal_id, language, file_id, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (signal_id, language) DO UPDATE SET file_id = excluded.file_id",
            (signal_id, language, file_id, to_db_time(now)),
        )
