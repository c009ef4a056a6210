"""Limit entries in the signal repository, on both backends: the claim and the record are one
transaction that succeeds once, a working entry is never a stuck confirmation, and it stops
working when its row leaves `confirmed`."""

from __future__ import annotations

import asyncio

from core.clock import ManualClock
from core.models import SignalState
from db.signals import SignalRepository
from tests.conftest import T0
from tests.db.conftest import Reopen
from tests.db.test_contract import HOUR, publish_to


async def test_a_limit_is_claimed_once_between_two_instances_with_its_record(
    reopen: Reopen, clock: ManualClock
) -> None:
    first, second = reopen(), reopen()
    await first.connect()
    await second.connect()
    (row,) = await publish_to(first, clock, [10]) or []
    claims = await asyncio.gather(
        *(SignalRepository(db).place_limit(row.id, 10, 100.0, 2.5, T0) for db in (first, second) * 5)
    )
    assert claims.count(True) == 1
    signals = SignalRepository(second)
    (entry,) = await signals.working_limits(10)
    assert (entry.row.id, entry.price, entry.quantity, entry.placed_at) == (row.id, 100.0, 2.5, T0)
    assert entry.row.state is SignalState.CONFIRMED and entry.row.levels.entry == 100
    assert await signals.stuck_confirmed() == []  # working, not interrupted
    assert await signals.working_limits(11) == []
    await signals.transition(row.id, 10, SignalState.CONFIRMED, SignalState.EXPIRED, T0 + HOUR, "limit_expired")
    assert await signals.working_limits() == []
    kept = await signals.limit_entry(row.id)
    assert kept is not None and kept.row.state is SignalState.EXPIRED and kept.row.reason == "limit_expired"
    await first.close()
    await second.close()


async def test_a_limit_is_refused_for_an_expired_or_foreign_row_and_leaves_nothing(
    reopen: Reopen, clock: ManualClock
) -> None:
    db = reopen()
    await db.connect()
    (row,) = await publish_to(db, clock, [10]) or []
    signals = SignalRepository(db)
    assert not await signals.place_limit(row.id, 11, 100.0, 1.0, T0)  # not the user's
    assert not await signals.place_limit(row.id, 10, 100.0, 1.0, T0 + HOUR)  # expired
    assert await signals.limit_entry(row.id) is None
    assert (await signals.get_user_signal(row.id)).state is SignalState.PENDING  # type: ignore[union-attr]
    await signals.transition(row.id, 10, SignalState.PENDING, SignalState.CONFIRMED, T0)  # a market confirm
    assert [r.id for r in await signals.stuck_confirmed()] == [row.id]
    await db.close()
