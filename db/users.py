"""Users: registration, subscription, language, the blocked flag."""

from __future__ import annotations

import json

from core.models import User
from core.ports import Clock
from core.prefs import UserPrefs
from db.database import from_db_time, to_db_time
from db.sql import Row, SqlDatabase


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        language=row["language"],
        subscribed=bool(row["subscribed"]),
        blocked=bool(row["blocked"]),
        paper_balance=row["paper_balance"],
        risk_pct=row["risk_pct"],
        created_at=from_db_time(row["created_at"]),
        prefs=UserPrefs.from_dict(json.loads(row["prefs"] or "{}")),
        access=row["access"],
    )


class UserRepository:
    def __init__(self, db: SqlDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def _now(self) -> str:
        return to_db_time(self._clock.now())

    async def register(self, user_id: int, language: str, paper_balance: float) -> tuple[User, bool]:
        """Create the user subscribed, or resubscribe an existing one (and clear the
        blocked flag: they wrote to us, so they can be reached again)."""
        now = self._now()
        async with self._db.transaction() as conn:
            cursor = await conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,))
            existed = await cursor.fetchone() is not None
            cursor = await conn.execute(
                "INSERT INTO users (id, language, subscribed, blocked, paper_balance, created_at, updated_at)"
                " VALUES (?, ?, 1, 0, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET subscribed = 1, blocked = 0, updated_at = excluded.updated_at"
                " RETURNING *",
                (user_id, language, paper_balance, now, now),
            )
            (row,) = await cursor.fetchall()  # drain RETURNING so the statement completes
        assert row is not None
        return _user(row), not existed

    async def get(self, user_id: int) -> User | None:
        row = await self._db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def set_subscribed(self, user_id: int, subscribed: bool) -> bool:
        changed = await self._db.execute(
            "UPDATE users SET subscribed = ?, updated_at = ? WHERE id = ?", (int(subscribed), self._now(), user_id)
        )
        return changed == 1

    async def set_language(self, user_id: int, language: str) -> None:
        await self._db.execute(
            "UPDATE users SET language = ?, updated_at = ? WHERE id = ?", (language, self._now(), user_id)
        )

    async def set_risk_pct(self, user_id: int, risk_pct: float | None) -> None:
        await self._db.execute(
            "UPDATE users SET risk_pct = ?, updated_at = ? WHERE id = ?", (risk_pct, self._now(), user_id)
        )

    async def set_access(self, user_id: int, access: str) -> bool:
        """active / waiting / blocked; a blocked user is unsubscribed too."""
        changed = await self._db.execute(
            "UPDATE users SET access = ?, subscribed = CASE WHEN ? = 'blocked' THEN 0 ELSE subscribed END,"
            " updated_at = ? WHERE id = ?",
            (access, access, self._now(), user_id),
        )
        return changed == 1

    async def set_prefs(self, user_id: int, prefs: UserPrefs) -> None:
        await self._db.execute(
            "UPDATE users SET prefs = ?, updated_at = ? WHERE id = ?",
            (json.dumps(prefs.to_dict(), sort_keys=True), self._now(), user_id),
        )

    async def equity_marks(self, day: str) -> dict[int, tuple[float | None, float | None]]:
        """Every user's (peak equity, equity at the start of UTC `day`) as last marked,
        read only; the day's start is None when the day was not marked yet."""
        rows = await self._db.fetchall(
            "SELECT id, peak_equity, CASE WHEN day_start = ? THEN day_start_equity END FROM users", (day,)
        )
        return {int(r[0]): (r[1], r[2]) for r in rows}

    async def mark_equity(self, user_id: int, equity: float, day: str) -> tuple[float, float]:
        """Record `equity` seen on UTC `day` (YYYY-MM-DD): raise the peak if it is higher and
        set the day's opening equity at the day's first look. Returns (peak, day start)."""
        rows = await self._db.fetchall(
            "UPDATE users SET"
            " peak_equity = CASE WHEN peak_equity IS NULL OR peak_equity < ? THEN ? ELSE peak_equity END,"
            " day_start_equity = CASE WHEN day_start = ? THEN day_start_equity ELSE ? END, day_start = ?"
            " WHERE id = ? RETURNING peak_equity, day_start_equity",
            (equity, equity, day, equity, day, user_id),
        )
        if not rows:
            raise LookupError(f"no user {user_id}")
        return float(rows[0][0]), float(rows[0][1])

    async def mark_blocked(self, user_id: int) -> None:
        await self._db.execute("UPDATE users SET blocked = 1, updated_at = ? WHERE id = ?", (self._now(), user_id))

    async def subscribers(self) -> list[User]:
        rows = await self._db.fetchall(
            "SELECT * FROM users WHERE subscribed = 1 AND blocked = 0 AND access = 'active' ORDER BY id"
        )
        return [_user(r) for r in rows]

    async def list_users(self, limit: int = 100) -> list[User]:
        """The newest registered users first."""
        rows = await self._db.fetchall("SELECT * FROM users ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        return [_user(r) for r in rows]

    async def counts(self) -> tuple[int, int]:
        row = await self._db.fetchone(
            "SELECT COUNT(*), COUNT(CASE WHEN subscribed = 1 AND blocked = 0 THEN 1 END) FROM users"
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def record_balance(self, user_id: int, balance: float) -> float:
        """Replace the balance with the account's as just read (live) and return the cash
        flow: the difference from the balance as booked. Deposits and withdrawals are not
        P&L, so the peak and the day's opening move by the same amount (one statement)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute("SELECT paper_balance FROM users WHERE id = ?", (user_id,))
            row = await cursor.fetchone()
            if row is None:
                raise LookupError(f"no user {user_id}")
            flow = balance - float(row[0])
            await conn.execute(
                "UPDATE users SET peak_equity = peak_equity + ?, day_start_equity = day_start_equity + ?,"
                " paper_balance = ?, updated_at = ? WHERE id = ?",
                (flow, flow, balance, self._now(), user_id),
            )
        return flow

    async def reset_marks(self, user_id: int) -> None:
        """Forget the peak and the day's opening: the next mark starts them afresh (a new account)."""
        await self._db.execute(
            "UPDATE users SET peak_equity = NULL, day_start_equity = NULL, day_start = NULL, updated_at = ?"
            " WHERE id = ?",
            (self._now(), user_id),
        )

    async def set_balance(self, user_id: int, balance: float) -> None:
        """Replace the balance used for sizing (live: the account's quote currency as last read)."""
        await self._db.execute(
            "UPDATE users SET paper_balance = ?, updated_at = ? WHERE id = ?", (balance, self._now(), user_id)
        )

    async def balance(self, user_id: int) -> float | None:
        row = await self._db.fetchone("SELECT paper_balance FROM users WHERE id = ?", (user_id,))
        return float(row[0]) if row else None
