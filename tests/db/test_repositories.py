"""Repositories on both backends (a real SQLite file, a real PostgreSQL server): migrations,
atomic transitions, restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.events import Alert
from core.models import Limits, Side, SignalDraft, SignalLevels, SignalState
from core.ports import Allocation
from db.database import migrations
from db.outbox import OutboxRepository
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.system import SystemRepository
from db.users import UserRepository
from tests.conftest import T0
from tests.db.conftest import Reopen


def _draft() -> SignalDraft:
    return SignalDraft("BTC/USDT", "1h", SignalLevels(Side.LONG, 100, 90, 110, 120), T0)


async def test_every_migration_is_applied_and_recorded(db: SqlDatabase) -> None:
    assert await db.schema_version() == migrations()[-1][0]
    assert await db.applied_migrations() == [number for number, _ in migrations()]


async def test_concurrent_transitions_claim_once(db: SqlDatabase, clock) -> None:  # type: ignore[no-untyped-def]
    users, signals = UserRepository(db, clock), SignalRepository(db)
    await users.register(10, "en", 1000)
    rows = await signals.publish(
        _draft(), [Allocation(10, 1.0)], T0, T0 + timedelta(hours=1), lambda r: Alert(r.user_id, "x")
    )
    assert rows is not None
    claims = await asyncio.gather(
        *(signals.transition(rows[0].id, 10, SignalState.PENDING, SignalState.CONFIRMED, T0) for _ in range(20))
    )
    assert claims.count(True) == 1


async def test_transition_needs_owner_and_unexpired(db: SqlDatabase, clock) -> None:  # type: ignore[no-untyped-def]
    users, signals = UserRepository(db, clock), SignalRepository(db)
    await users.register(10, "en", 1000)
    await users.register(11, "en", 1000)
    (row,) = (
        await signals.publish(
            _draft(), [Allocation(10, 1.0)], T0, T0 + timedelta(hours=1), lambda r: Alert(r.user_id, "x")
        )
        or []
    )
    assert not await signals.transition(row.id, 11, SignalState.PENDING, SignalState.CONFIRMED, T0)
    assert not await signals.transition(row.id, 10, SignalState.PENDING, SignalState.CONFIRMED, T0 + timedelta(hours=1))
    assert await signals.transition(row.id, 10, SignalState.PENDING, SignalState.CONFIRMED, T0 + timedelta(minutes=59))


async def test_failed_publish_leaves_nothing_behind(db: SqlDatabase, clock) -> None:  # type: ignore[no-untyped-def]
    users, signals, outbox = UserRepository(db, clock), SignalRepository(db), OutboxRepository(db)
    await users.register(10, "en", 1000)

    def broken_event(row):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await signals.publish(_draft(), [Allocation(10, 1.0)], T0, T0 + timedelta(hours=1), broken_event)
    assert await signals.count_signals() == 0
    assert await outbox.depth() == 0
    # and the connection is usable afterwards (the transaction was rolled back, not left open)
    assert await signals.publish(
        _draft(), [Allocation(10, 1.0)], T0, T0 + timedelta(hours=1), lambda r: Alert(r.user_id, "x")
    )


async def test_state_survives_a_restart(reopen: Reopen, clock) -> None:  # type: ignore[no-untyped-def]
    first = reopen()
    await first.connect()
    await UserRepository(first, clock).register(10, "ru", 5000)
    await SystemRepository(first, clock).set_paused(True, admin_id=1)
    await SystemRepository(first, clock).save_limits(Limits(max_open_positions=7), 1, "max_open_positions")
    await first.close()

    second = reopen()
    await second.connect()
    user = await UserRepository(second, clock).get(10)
    system = SystemRepository(second, clock)
    assert user is not None and user.language == "ru" and user.paper_balance == 5000
    assert await system.is_paused()
    assert (await system.limits()).max_open_positions == 7
    trail = await system.audit_trail()
    assert [entry["action"] for entry in trail] == ["setlimit", "pause"]
    await second.close()


async def test_register_resubscribes_and_unblocks(db: SqlDatabase, clock) -> None:  # type: ignore[no-untyped-def]
    users = UserRepository(db, clock)
    _, new = await users.register(10, "en", 1000)
    assert new
    await users.set_subscribed(10, False)
    await users.mark_blocked(10)
    user, new = await users.register(10, "ru", 999)
    assert not new and user.subscribed and not user.blocked
    assert user.language == "en" and user.paper_balance == 1000  # kept from the first registration


async def test_a_balance_read_from_the_account_moves_the_equity_marks_by_the_cash_flow(db: SqlDatabase, clock) -> None:  # type: ignore[no-untyped-def]
    users = UserRepository(db, clock)
    await users.register(1, "en", 10_000.0)
    await users.mark_equity(1, 10_500.0, "2024-03-01")  # peak and day's opening 10 500
    # 4 000 withdrawn: booked 10 000, the account says 6 000 -> flow -4 000, marks 6 500
    assert await users.record_balance(1, 6_000.0) == pytest.approx(-4_000.0)
    assert await users.balance(1) == pytest.approx(6_000.0)
    assert await users.mark_equity(1, 6_000.0, "2024-03-01") == (pytest.approx(6_500.0), pytest.approx(6_500.0))
    await users.reset_marks(1)  # a new account: the next mark starts them afresh
    assert await users.mark_equity(1, 900.0, "2024-03-01") == (pytest.approx(900.0), pytest.approx(900.0))
