"""Signals (stored once) and user_signals (one row per subscriber, with its state)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from core.events import Event
from core.models import LimitEntry, Side, SignalDraft, SignalLevels, SignalState, UserSignal
from core.ports import Allocation
from db import limit_entries
from db.database import from_db_time, to_db_time
from db.outbox import queue_events
from db.sql import Connection, IntegrityError, Row, SqlDatabase

# Rows per multi-row INSERT of a fan-out (7 parameters each: well under SQLite's 32766).
_FAN_OUT_CHUNK = 500

_USER_SIGNAL_COLUMNS = (
    "us.id, us.signal_id, us.user_id, us.quantity, us.state, us.reason, us.message_id, us.created_at,"
    " us.expires_at, s.symbol, s.timeframe, s.side, s.entry, s.stop, s.tp1, s.tp2"
)


def _user_signal(row: Row) -> UserSignal:
    return UserSignal(
        id=row["id"],
        signal_id=row["signal_id"],
        user_id=row["user_id"],
        symbol=row["symbol"],
        timeframe=row["timeframe"],
        levels=SignalLevels(Side(row["side"]), row["entry"], row["stop"], row["tp1"], row["tp2"]),
        quantity=row["quantity"],
        state=SignalState(row["state"]),
        created_at=from_db_time(row["created_at"]),  # type: ignore[arg-type]
        expires_at=from_db_time(row["expires_at"]),  # type: ignore[arg-type]
        message_id=row["message_id"],
        reason=row["reason"],
    )


async def _insert_user_signals(
    conn: Connection, signal_id: int, allocations: Sequence[Allocation], created: str, expires: str
) -> dict[int, int]:
    """One row per allocation (pending, or rejected with the refusal as its reason), a few
    hundred per statement; their ids by user."""
    ids: dict[int, int] = {}
    for start in range(0, len(allocations), _FAN_OUT_CHUNK):
        chunk = allocations[start : start + _FAN_OUT_CHUNK]
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?)" for _ in chunk)
        params = [
            v
            for a in chunk
            for v in (signal_id, a.user_id, a.quantity, _initial_state(a).value, a.refusal, created, expires, created)
        ]
        cursor = await conn.execute(
            "INSERT INTO user_signals (signal_id, user_id, quantity, state, reason, created_at, expires_at, updated_at)"
            f" VALUES {values} RETURNING id, user_id",
            params,
        )
        ids.update({int(row[1]): int(row[0]) for row in await cursor.fetchall()})
    return ids


async def _insert_signal(conn: Connection, draft: SignalDraft, created: str) -> int | None:
    """The signal's row; its id, or None when the engine already published this candle (a
    unique index: a second time inserts nothing). Any other source's conflict is an error."""
    lv = draft.levels
    cursor = await conn.execute(
        "INSERT INTO signals (source, symbol, timeframe, side, entry, stop, tp1, tp2, strength,"
        " regime, atr, candle_time, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (
            draft.source,
            draft.symbol,
            draft.timeframe,
            lv.side.value,
            lv.entry,
            lv.stop,
            lv.tp1,
            lv.tp2,
            draft.strength,
            draft.regime,
            draft.atr,
            to_db_time(draft.candle_time),
            json.dumps(draft.meta),
            created,
        ),
    )
    inserted = await cursor.fetchone()
    if inserted is None:
        if draft.source == "engine":
            return None
        raise IntegrityError(f"signal {draft.source} {draft.symbol} conflicts with a stored one")
    return int(inserted[0])


def _fanned_out(
    draft: SignalDraft,
    signal_id: int,
    user_signal_id: int,
    allocation: Allocation,
    created_at: datetime,
    expires_at: datetime,
) -> UserSignal:
    """The user_signals row just stored for one allocation, as the caller gets it back."""
    return UserSignal(
        id=user_signal_id,
        signal_id=signal_id,
        user_id=allocation.user_id,
        symbol=draft.symbol,
        timeframe=draft.timeframe,
        levels=draft.levels,
        quantity=allocation.quantity,
        state=_initial_state(allocation),
        created_at=created_at,
        expires_at=expires_at,
        reason=allocation.refusal,
    )


def _initial_state(allocation: Allocation) -> SignalState:
    return SignalState.PENDING if allocation.refusal is None else SignalState.REJECTED


class SignalRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def publish(
        self,
        draft: SignalDraft,
        allocations: Sequence[Allocation],
        created_at: datetime,
        expires_at: datetime,
        make_event: Callable[[UserSignal], Event],
        make_post: Callable[[int], Event] | None = None,
    ) -> list[UserSignal] | None:
        """Store the signal once, a row and an outbox message per allocation (a channel-only
        row's stored as its card, not to be sent), and the channel's post, in one
        transaction. Returns None if the engine already published this candle."""
        created, expires = to_db_time(created_at), to_db_time(expires_at)
        async with self._db.transaction() as conn:
            signal_id = await _insert_signal(conn, draft, created)
            if signal_id is None:
                return None
            ids = await _insert_user_signals(conn, signal_id, allocations, created, expires)
            rows = [_fanned_out(draft, signal_id, ids[a.user_id], a, created_at, expires_at) for a in allocations]
            hold = {a.user_id: a.hold_seconds for a in allocations if a.hold_seconds is not None}
            parked = {a.user_id for a in allocations if a.channel_only}
            posts = [make_post(signal_id)] if make_post is not None else []
            await queue_events(conn, [*posts, *(make_event(row) for row in rows)], created_at, hold, parked)
        return rows

    async def stored_draft(self, signal_id: int) -> tuple[SignalDraft, datetime] | None:
        """A stored signal as it was published, and when; None if there is none."""
        row = await self._db.fetchone(
            "SELECT source, symbol, timeframe, side, entry, stop, tp1, tp2, strength, regime, atr, candle_time, meta,"
            " created_at FROM signals WHERE id = ?",
            (signal_id,),
        )
        if row is None:
            return None
        levels = SignalLevels(Side(row["side"]), row["entry"], row["stop"], row["tp1"], row["tp2"])
        draft = SignalDraft(
            symbol=row["symbol"],
            timeframe=row["timeframe"],
            levels=levels,
            candle_time=from_db_time(row["candle_time"]),  # type: ignore[arg-type]
            source=row["source"],
            strength=row["strength"],
            regime=row["regime"],
            atr=row["atr"],
            meta=json.loads(row["meta"] or "{}"),
        )
        return draft, from_db_time(row["created_at"])  # type: ignore[return-value]

    async def add_late_row(
        self,
        draft: SignalDraft,
        signal_id: int,
        allocation: Allocation,
        created_at: datetime,
        expires_at: datetime,
        make_event: Callable[[UserSignal], Event],
    ) -> UserSignal | None:
        """A row for a user who had none when the signal was published (they came through
        the channel's link), with its card stored unsent, in one transaction. None when
        they have one already (a double press): read it instead."""
        created, expires = to_db_time(created_at), to_db_time(expires_at)
        a = allocation
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO user_signals (signal_id, user_id, quantity, state, reason, created_at, expires_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (signal_id, a.user_id, a.quantity, _initial_state(a).value, a.refusal, created, expires, created),
            )
            inserted = await cursor.fetchone()
            if inserted is None:
                return None
            row = _fanned_out(draft, signal_id, int(inserted[0]), a, created_at, expires_at)
            await queue_events(conn, [make_event(row)], created_at, parked={a.user_id})
        return row

    async def card(self, user_signal_id: int) -> dict[str, Any] | None:
        """The row's own signal message as it was written at fan-out (the outbox payload,
        pushed or kept for the channel's link); None when it is gone (purged)."""
        row = await self._db.fetchone(
            "SELECT payload FROM outbox WHERE user_signal_id = ? AND kind = 'signal' ORDER BY id LIMIT 1",
            (user_signal_id,),
        )
        return json.loads(row[0]) if row else None

    async def attach_message(self, user_signal_id: int, message_id: int) -> None:
        """The message that now offers this row (a reply to the channel's link), when it
        had none: its buttons go when it expires, a fill edits it."""
        await self._db.execute(
            "UPDATE user_signals SET message_id = ?, message_is_photo = 0 WHERE id = ? AND message_id IS NULL",
            (message_id, user_signal_id),
        )

    async def get_user_signal(self, user_signal_id: int) -> UserSignal | None:
        row = await self._db.fetchone(
            f"SELECT {_USER_SIGNAL_COLUMNS} FROM user_signals us JOIN signals s ON s.id = us.signal_id WHERE us.id = ?",
            (user_signal_id,),
        )
        return _user_signal(row) if row else None

    async def for_signal(self, signal_id: int, user_id: int) -> UserSignal | None:
        """The user's own row of signal `signal_id`, if they got one."""
        row = await self._db.fetchone(
            f"SELECT {_USER_SIGNAL_COLUMNS} FROM user_signals us JOIN signals s ON s.id = us.signal_id"
            " WHERE us.signal_id = ? AND us.user_id = ?",
            (signal_id, user_id),
        )
        return _user_signal(row) if row else None

    async def transition(
        self,
        user_signal_id: int,
        user_id: int,
        from_state: SignalState,
        to_state: SignalState,
        now: datetime,
        reason: str | None = None,
    ) -> bool:
        """Move one row in a single statement. Leaving `pending` also requires the row
        not to have expired, so a late press can never confirm."""
        sql = (
            "UPDATE user_signals SET state = ?, reason = COALESCE(?, reason), updated_at = ?"
            " WHERE id = ? AND user_id = ? AND state = ?"
        )
        params: list[object] = [to_state.value, reason, to_db_time(now), user_signal_id, user_id, from_state.value]
        if from_state is SignalState.PENDING and to_state is not SignalState.EXPIRED:
            sql += " AND expires_at > ?"
            params.append(to_db_time(now))
        return await self._db.execute(sql, params) == 1

    async def active_for_user(self, user_id: int, now: datetime, limit: int = 50) -> list[UserSignal]:
        """Pending (not yet expired) and confirmed rows, newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_USER_SIGNAL_COLUMNS} FROM user_signals us JOIN signals s ON s.id = us.signal_id"
            " WHERE us.user_id = ? AND ((us.state = 'pending' AND us.expires_at > ?) OR us.state = 'confirmed')"
            " ORDER BY us.id DESC LIMIT ?",
            (user_id, to_db_time(now), limit),
        )
        return [_user_signal(r) for r in rows]

    async def recent_for_user(self, user_id: int, now: datetime, limit: int = 20) -> list[UserSignal]:
        """The user's rows no longer active (executed, skipped, expired, rejected, or pending
        past their expiry), newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_USER_SIGNAL_COLUMNS} FROM user_signals us JOIN signals s ON s.id = us.signal_id"
            " WHERE us.user_id = ? AND NOT ((us.state = 'pending' AND us.expires_at > ?) OR us.state = 'confirmed')"
            " ORDER BY us.id DESC LIMIT ?",
            (user_id, to_db_time(now), limit),
        )
        return [_user_signal(r) for r in rows]

    async def expire_due(self, now: datetime, make_event: Callable[[int, int], Event] | None = None) -> int:
        """Expire every pending row past its time; with `make_event(user_signal_id,
        user_id)`, queue that event for each expired row whose message was sent (in the
        same transaction)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE user_signals SET state = 'expired', updated_at = ? WHERE state = 'pending' AND expires_at <= ?"
                " RETURNING id, user_id, message_id",
                (to_db_time(now), to_db_time(now)),
            )
            expired = await cursor.fetchall()
            if make_event is not None:
                events = [make_event(int(r[0]), int(r[1])) for r in expired if r[2] is not None]
                await queue_events(conn, events, now)
        return len(expired)

    async def stuck_confirmed(self) -> list[UserSignal]:
        """Rows confirmed at market but neither executed nor rejected: a crash hit
        mid-execution. (A confirmed row with a limit entry is a working order, not stuck.)"""
        rows = await self._db.fetchall(
            f"SELECT {_USER_SIGNAL_COLUMNS} FROM user_signals us JOIN signals s ON s.id = us.signal_id"
            " WHERE us.state = 'confirmed'"
            " AND NOT EXISTS (SELECT 1 FROM limit_entries le WHERE le.user_signal_id = us.id) ORDER BY us.id"
        )
        return [_user_signal(r) for r in rows]

    async def place_limit(
        self, user_signal_id: int, user_id: int, price: float, quantity: float, now: datetime
    ) -> bool:
        """Claim the pending, unexpired row (-> confirmed) with a limit entry at `price` for
        `quantity`, in one transaction; False when the row could not be claimed."""
        return await limit_entries.place(self._db, user_signal_id, user_id, price, quantity, now)

    async def limit_entry(self, user_signal_id: int) -> LimitEntry | None:
        """The row's limit entry, whatever its state; None for a row not taken with a limit."""
        return await limit_entries.get(self._db, _USER_SIGNAL_COLUMNS, _user_signal, user_signal_id)

    async def working_limits(self, user_id: int | None = None) -> list[LimitEntry]:
        """Limit entries still working (their row confirmed), oldest first."""
        return await limit_entries.working(self._db, _USER_SIGNAL_COLUMNS, _user_signal, user_id)

    async def signal_atr(self, signal_id: int) -> float | None:
        row = await self._db.fetchone("SELECT atr FROM signals WHERE id = ?", (signal_id,))
        return row[0] if row else None

    async def count_signals(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM signals")
        return int(row[0]) if row else 0
