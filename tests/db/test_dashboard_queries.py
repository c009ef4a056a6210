"""The two reads the dashboard added, on both backends: a user's signals no longer active,
and the newest users."""

from __future__ import annotations

from datetime import timedelta

from core.clock import ManualClock
from core.models import Side, SignalDraft, SignalLevels, SignalState
from core.ports import Allocation
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.users import UserRepository
from tests.conftest import T0
from tests.db.test_contract import notice

HOUR = timedelta(hours=1)


async def publish(db: SqlDatabase, minute: int, users: list[int], ttl: timedelta = HOUR) -> dict[int, int]:
    """One manual signal to `users`, published at T0 + `minute` minutes; row id by user."""
    levels = SignalLevels(Side.LONG, 100, 90, 110, 120)
    at = T0 + timedelta(minutes=minute)
    draft = SignalDraft("BTC/USDT", "1h", levels, at, source="manual")
    rows = await SignalRepository(db).publish(draft, [Allocation(u, 1.0) for u in users], at, at + ttl, notice)
    return {row.user_id: row.id for row in rows or []}


async def test_recent_signals_are_the_users_inactive_rows_newest_first(db: SqlDatabase, clock: ManualClock) -> None:
    users = UserRepository(db, clock)
    for user in (10, 20):
        await users.register(user, "en", 1000)
    signals = SignalRepository(db)
    rows = [await publish(db, minute, [10, 20]) for minute in range(6)]
    now = T0 + timedelta(minutes=30)
    for state, index in ((SignalState.SKIPPED, 0), (SignalState.CONFIRMED, 1), (SignalState.REJECTED, 2)):
        target = SignalState.CONFIRMED if state is SignalState.REJECTED else state
        assert await signals.transition(rows[index][10], 10, SignalState.PENDING, target, now)
        if state is SignalState.REJECTED:
            assert await signals.transition(rows[index][10], 10, SignalState.CONFIRMED, state, now)
    expired = await publish(db, 6, [10], ttl=timedelta(minutes=5))  # pending, but past its expiry at 30 min

    recent = await signals.recent_for_user(10, now)
    assert [r.id for r in recent] == [expired[10], rows[2][10], rows[0][10]]  # newest first
    assert [r.state for r in recent] == [SignalState.PENDING, SignalState.REJECTED, SignalState.SKIPPED]
    assert all(r.user_id == 10 for r in recent)
    assert [r.id for r in await signals.recent_for_user(10, now, limit=1)] == [expired[10]]
    assert await signals.recent_for_user(20, now) == []  # all of user 20's rows are still pending


async def test_list_users_newest_first(db: SqlDatabase, clock: ManualClock) -> None:
    users = UserRepository(db, clock)
    for user in (30, 10, 20):
        await users.register(user, "ru" if user == 20 else "en", 1000)
        clock.advance(timedelta(minutes=1))
    listed = await users.list_users()
    assert [u.id for u in listed] == [20, 10, 30] and listed[0].language == "ru"
    assert [u.id for u in await users.list_users(limit=2)] == [20, 10]
