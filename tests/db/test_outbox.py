"""The outbox on both backends: order, one chat's messages never overtaking each
other, the claim before a send, and rows left in doubt by a crash."""

from __future__ import annotations

from datetime import timedelta

from core.events import Alert, OrderFilled, StopMoved
from db.outbox import OutboxRepository
from db.sql import SqlDatabase
from tests.conftest import T0


def alert(user: int, n: int) -> Alert:
    return Alert(user_id=user, key="stop_moved", params={"n": n})


def filled(user: int) -> OrderFilled:
    return OrderFilled(user, None, 1, "BTC/USDT", "long", 1.0, 100.0, 0.1, 90.0, 110.0, 120.0)


async def test_due_is_most_urgent_first_then_oldest(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([StopMoved(1, 1, "BTC/USDT", 90.0, 95.0), alert(2, 1), filled(3)], T0)
    items = await outbox.due(T0, 10)
    assert [i.user_id for i in items] == [1, 2, 3]  # one trade priority: in the order they happened
    assert all(i.enqueued_at is not None and i.language is None and not i.blocked for i in items)


async def test_a_chat_waits_behind_its_message_in_flight_or_in_retry(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([alert(1, 1), alert(1, 2), alert(2, 1)], T0)
    first, second, other = await outbox.due(T0, 10)
    assert await outbox.claim(first, "run-1")
    assert not await outbox.claim(first, "run-2")  # claimed once
    assert [i.id for i in await outbox.due(T0, 10)] == [other.id]  # chat 1 waits for its first message
    await outbox.retry_later(first, T0 + timedelta(seconds=30), "network", rate_limited=False)
    assert [i.id for i in await outbox.due(T0, 10)] == [other.id]  # ... also while it waits for a retry
    assert [i.id for i in await outbox.due(T0 + timedelta(seconds=31), 10)] == [first.id, second.id, other.id]
    (retried, *_) = await outbox.due(T0 + timedelta(seconds=31), 10)
    assert retried.attempts == 1


async def test_a_long_queue_in_one_chat_does_not_crowd_out_the_others(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([alert(1, n) for n in range(10)] + [alert(2, 1), alert(3, 1)], T0)
    items = await outbox.due(T0, 5, per_chat=3)
    assert [i.user_id for i in items] == [1, 1, 1, 2, 3]


async def test_old_delivered_rows_are_purged(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([alert(1, 1), alert(2, 1)], T0)
    sent, pending = await outbox.due(T0, 10)
    await outbox.mark_sent(sent, 5, "text", T0)
    assert await outbox.purge_delivered(enqueued_before=(pending.enqueued_at or 0) + 1) == 1
    assert [i.id for i in await outbox.due(T0, 10)] == [pending.id]


async def test_a_429_is_not_counted_as_a_failed_attempt(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([alert(1, 1)], T0)
    (item,) = await outbox.due(T0, 10)
    await outbox.claim(item, "run-1")
    await outbox.retry_later(item, T0 + timedelta(seconds=3), "retry after 3s", rate_limited=True)
    (again,) = await outbox.due(T0 + timedelta(seconds=3), 10)
    assert again.attempts == 0
    row = await db.fetchone("SELECT rate_limited FROM outbox WHERE id = ?", (item.id,))
    assert row is not None and row[0] == 1


async def test_rows_claimed_by_a_dead_process_are_sent_again_and_counted(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([alert(1, 1), alert(2, 1), alert(3, 1)], T0)
    one, two, three = await outbox.due(T0, 10)
    for item in (one, two, three):
        assert await outbox.claim(item, "dead-run")
    await outbox.mark_sent(one, 11, "text", T0)  # recorded: done
    await outbox.release(two)  # certainly not sent: back as it was
    assert (await outbox.backlog()).in_flight == 1
    assert await outbox.requeue_in_doubt() == 1  # only `three` was in flight when it died
    due = await outbox.due(T0, 10)
    assert [(i.id, i.in_doubt) for i in due] == [(two.id, 0), (three.id, 1)]
    backlog = await outbox.backlog()
    assert backlog.depth == 2 and backlog.in_flight == 0


async def test_held_kinds_do_not_count_in_the_backlog(db: SqlDatabase) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue([alert(1, 1)], T0)
    assert (await outbox.backlog()).depth == 1
    assert (await outbox.backlog(skip_kinds=("alert",))).depth == 0
