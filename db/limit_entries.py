"""Limit entries: a signal row taken with a limit order at its entry (migration 0050).

A row with a limit entry is *working* while it is `confirmed`; its fill makes it executed
(the position's transaction), its expiry or a cancel ends it. The signal repository
(db/signals.py) offers these: the claim of the row and the record are one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.models import LimitEntry, UserSignal
from db.database import from_db_time, to_db_time
from db.sql import Row, SqlDatabase

_COLUMNS = "le.price AS limit_price, le.quantity AS limit_quantity, le.placed_at AS limit_placed_at"
_FROM = " FROM user_signals us JOIN signals s ON s.id = us.signal_id JOIN limit_entries le ON le.user_signal_id = us.id"

ToUserSignal = Callable[[Row], UserSignal]


def _entry(row: Row, to_user_signal: ToUserSignal) -> LimitEntry:
    placed = from_db_time(row["limit_placed_at"])
    assert placed is not None
    return LimitEntry(to_user_signal(row), row["limit_price"], row["limit_quantity"], placed)


async def place(
    db: SqlDatabase, user_signal_id: int, user_id: int, price: float, quantity: float, now: datetime
) -> bool:
    """Claim the pending, unexpired row (-> confirmed) and store its limit entry, in one
    transaction; False (nothing changed) unless the row was the user's, pending, unexpired."""
    stamp = to_db_time(now)
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE user_signals SET state = 'confirmed', updated_at = ?"
            " WHERE id = ? AND user_id = ? AND state = 'pending' AND expires_at > ?",
            (stamp, user_signal_id, user_id, stamp),
        )
        if cursor.rowcount != 1:
            return False
        await conn.execute(
            "INSERT INTO limit_entries (user_signal_id, user_id, price, quantity, placed_at) VALUES (?, ?, ?, ?, ?)",
            (user_signal_id, user_id, price, quantity, stamp),
        )
    return True


async def get(db: SqlDatabase, columns: str, to_user_signal: ToUserSignal, user_signal_id: int) -> LimitEntry | None:
    row = await db.fetchone(f"SELECT {columns}, {_COLUMNS}{_FROM} WHERE us.id = ?", (user_signal_id,))
    return _entry(row, to_user_signal) if row else None


async def working(
    db: SqlDatabase, columns: str, to_user_signal: ToUserSignal, user_id: int | None = None
) -> list[LimitEntry]:
    sql = f"SELECT {columns}, {_COLUMNS}{_FROM} WHERE us.state = 'confirmed'"
    params: tuple[object, ...] = ()
    if user_id is not None:
        sql += " AND us.user_id = ?"
        params = (user_id,)
    rows = await db.fetchall(sql + " ORDER BY us.id", params)
    return [_entry(r, to_user_signal) for r in rows]
