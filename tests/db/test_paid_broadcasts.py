"""The paid-broadcast spend per UTC day (db/broadcast.py) and the budget on top of it
(bot/delivery/paid.py), on both backends: counted before each send, never past the day's
budget, given back when a send was certainly not made, read back after a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery.paid import PaidBudget
from core.clock import ManualClock
from db.broadcast import PaidBroadcastRepository
from db.sql import SqlDatabase
from tests.db.conftest import Reopen


async def test_the_budget_counts_per_utc_day_and_gives_back_what_was_not_sent(db: SqlDatabase, reopen: Reopen) -> None:
    clock = ManualClock(datetime(2026, 12, 1, 23, 59, 30, tzinfo=UTC))
    budget = PaidBudget(PaidBroadcastRepository(db), 1, clock)  # 1 Star a day: 10 messages at 0.1
    days = [await budget.take() for _ in range(12)]
    assert days == ["2026-12-01"] * 10 + [None, None] and budget.fell_back == 2
    await budget.give_back("2026-12-01")  # Telegram refused one: it was not spent
    assert await budget.take() == "2026-12-01" and await budget.take() is None
    assert (await budget.today()).stars == 1.0
    clock.advance(timedelta(minutes=1))  # a new UTC day, a new budget
    assert await budget.take() == "2026-12-02"
    second = reopen()  # another process on the same database (a restart)
    await second.connect()
    try:
        again = PaidBudget(PaidBroadcastRepository(second), 1, clock)
        assert (await again.today()).stars == 0.1 and (await again.today()).budget == 1
        assert await PaidBroadcastRepository(second).spent("2026-12-01") == 10
    finally:
        await second.close()


async def test_the_count_stops_at_the_budget_and_never_goes_below_zero(db: SqlDatabase) -> None:
    repository = PaidBroadcastRepository(db)
    taken = [await repository.reserve("2026-12-01", 3) for _ in range(5)]
    assert taken == [True, True, True, False, False]
    await repository.release("2026-12-01")
    await repository.release("2026-12-01")
    await repository.release("2026-12-01")
    await repository.release("2026-12-01")  # never below zero
    assert await repository.spent("2026-12-01") == 0 and await repository.spent("2026-11-30") == 0


async def test_messages_are_counted_a_block_at_a_time_and_the_unused_part_given_back(db: SqlDatabase) -> None:
    clock = ManualClock(datetime(2026, 12, 1, 12, tzinfo=UTC))
    repository = PaidBroadcastRepository(db)
    budget = PaidBudget(repository, 5, clock)  # 5 Stars: 50 messages, two blocks of 20 then one by one
    assert [await budget.take() for _ in range(5)] == ["2026-12-01"] * 5
    assert await repository.spent("2026-12-01") == 20  # one block counted ahead ...
    assert (await budget.today()).stars == 0.5  # ... what was used is what /status shows
    assert all([await budget.take() for _ in range(45)]) and await budget.take() is None
    assert await repository.spent("2026-12-01") == 50 and budget.fell_back == 1
    other = PaidBudget(repository, 5, clock)
    await other.settle()  # nothing counted ahead: nothing given back
    assert await repository.spent("2026-12-01") == 50
    clock.advance(timedelta(days=1))
    assert await budget.take() == "2026-12-02" and await repository.spent("2026-12-02") == 20
    await budget.settle()  # a stop gives back the 19 counted ahead
    assert await repository.spent("2026-12-02") == 1 and (await budget.today()).stars == 0.1
