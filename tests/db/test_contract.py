"""The guarantees the rest of ATRA relies on, on both backends: a claim succeeds once even
between two instances, a candle is published once, a transaction is all or nothing (a
failure or a cancellation leaves nothing), ids are 64-bit, errors look the same."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.events import Alert
from core.models import (
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    Side,
    SignalDraft,
    SignalLevels,
    SignalState,
)
from core.ports import Allocation
from db.outbox import OutboxRepository
from db.signals import SignalRepository
from db.sql import IntegrityError, SqlDatabase
from db.system import SystemRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository
from tests.conftest import T0
from tests.db.conftest import Reopen

HOUR = timedelta(hours=1)


def draft(source: str = "engine") -> SignalDraft:
    return SignalDraft("BTC/USDT", "1h", SignalLevels(Side.LONG, 100, 90, 110, 120), T0, source=source)


def notice(row) -> Alert:  # type: ignore[no-untyped-def]
    return Alert(row.user_id, "signal", {"row": row.id})


async def publish_to(db: SqlDatabase, clock: ManualClock, user_ids: list[int], source: str = "engine"):  # type: ignore[no-untyped-def]
    users = UserRepository(db, clock)
    for user in user_ids:
        await users.register(user, "en", 1000)
    return await SignalRepository(db).publish(
        draft(source), [Allocation(u, 1.0) for u in user_ids], T0, T0 + HOUR, notice
    )


async def test_two_instances_confirm_a_signal_once(reopen: Reopen, clock: ManualClock) -> None:
    first, second = reopen(), reopen()
    await first.connect()
    await second.connect()
    (row,) = await publish_to(first, clock, [10]) or []
    claims = await asyncio.gather(
        *(
            SignalRepository(db).transition(row.id, 10, SignalState.PENDING, SignalState.CONFIRMED, T0)
            for db in (first, second) * 10
        )
    )
    assert claims.count(True) == 1
    assert (await SignalRepository(second).get_user_signal(row.id)).state is SignalState.CONFIRMED  # type: ignore[union-attr]
    await first.close()
    await second.close()


async def test_two_instances_claim_an_outbox_row_once(reopen: Reopen) -> None:
    first, second = reopen(), reopen()
    await first.connect()
    await second.connect()
    await OutboxRepository(first).enqueue([Alert(10, "x")], T0)
    (item,) = await OutboxRepository(second).due(T0, 10)
    claims = await asyncio.gather(
        *(OutboxRepository(db).claim(item, f"run-{n}") for n, db in enumerate((first, second) * 10))
    )
    assert claims.count(True) == 1
    assert await OutboxRepository(first).due(T0, 10) == []  # in flight: not due for anyone
    await first.close()
    await second.close()


async def test_an_engine_candle_is_published_once_and_a_manual_signal_every_time(
    db: SqlDatabase, clock: ManualClock
) -> None:
    assert await publish_to(db, clock, [10, 11])
    assert await publish_to(db, clock, [10, 11]) is None
    assert await SignalRepository(db).count_signals() == 1
    assert await OutboxRepository(db).depth() == 2
    assert await publish_to(db, clock, [10], source="manual")
    assert await publish_to(db, clock, [10], source="manual")
    assert await SignalRepository(db).count_signals() == 3


async def test_a_large_fan_out_gives_every_user_their_own_row_and_message(db: SqlDatabase, clock: ManualClock) -> None:
    user_ids = [5_000_000_000 + n for n in range(700)]  # above 2**32 as Telegram ids can be; > one statement's rows
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO users (id, paper_balance, created_at, updated_at) VALUES (?, 1000, 'a', 'a')",
            [(u,) for u in user_ids],
        )
    rows = await SignalRepository(db).publish(draft(), [Allocation(u, 1.0) for u in user_ids], T0, T0 + HOUR, notice)
    assert rows is not None and [r.user_id for r in rows] == user_ids
    assert len({r.id for r in rows}) == 700
    for row in rows[:3] + rows[-3:]:
        stored = await SignalRepository(db).get_user_signal(row.id)
        assert stored is not None and stored.user_id == row.user_id and stored.state is SignalState.PENDING
    items = await OutboxRepository(db).due(T0, 2000)
    assert sorted((i.user_id, i.payload["params"]["row"]) for i in items) == sorted((r.user_id, r.id) for r in rows)


async def test_an_order_id_is_stored_once_and_then_answered_with_its_record(
    db: SqlDatabase, clock: ManualClock
) -> None:
    await UserRepository(db, clock).register(10, "en", 1000)
    orders = OrderRepository(db, clock)
    request = OrderRequest("atra-us1-entry", 10, "BTC/USDT", "buy", OrderType.MARKET, 0.5)
    assert await orders.begin(request) is None
    again = await orders.begin(request)
    assert again is not None and again.status is OrderStatus.SUBMITTING and again.filled == 0
    await orders.record(OrderResult("atra-us1-entry", "X-7", OrderStatus.FILLED, 0.5, 0.5, 101.0, 0.05, "USDT"))
    known = await orders.begin(request)
    assert known is not None and known.status is OrderStatus.FILLED and known.exchange_order_id == "X-7"
    assert [o.client_order_id for o in await orders.unresolved()] == []


def a_position(user_id: int, user_signal_id: int) -> Position:
    return Position(
        0, user_id, user_signal_id, "BTC/USDT", Side.LONG, 100.0, 1.0, 1.0, 90.0, 90.0, 110.0, 120.0, False,
        100.0, 100.0, 2.0, 0.0, 0.1, PositionStatus.OPEN, T0,
    )  # fmt: skip


async def test_a_failed_position_transaction_leaves_nothing_behind(db: SqlDatabase, clock: ManualClock) -> None:
    (row,) = await publish_to(db, clock, [10]) or []
    signals, positions = SignalRepository(db), PositionRepository(db, clock)
    assert await signals.transition(row.id, 10, SignalState.PENDING, SignalState.CONFIRMED, T0)
    depth = await OutboxRepository(db).depth()

    def broken(position: Position) -> list[Alert]:
        raise RuntimeError("event building failed")

    with pytest.raises(RuntimeError):
        await positions.open(a_position(10, row.id), "atra-us1-entry", 0.1, broken)
    assert await positions.count_open() == 0
    assert await UserRepository(db, clock).balance(10) == 1000
    assert (await signals.get_user_signal(row.id)).state is SignalState.CONFIRMED  # type: ignore[union-attr]
    assert await OutboxRepository(db).depth() == depth
    opened = await positions.open(a_position(10, row.id), "atra-us1-entry", 0.1, lambda p: [Alert(10, "filled")])
    assert opened.id > 0 and await positions.count_open(10) == 1
    assert await UserRepository(db, clock).balance(10) == pytest.approx(999.9)
    assert (await signals.get_user_signal(row.id)).state is SignalState.EXECUTED  # type: ignore[union-attr]


async def test_a_cancelled_transaction_commits_nothing_and_blocks_no_one(db: SqlDatabase, clock: ManualClock) -> None:
    inside, never = asyncio.Event(), asyncio.Event()

    async def write_then_hang() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('tx', '1', 'x')")
            inside.set()
            await never.wait()  # e.g. a shutdown cancels the task here

    task = asyncio.create_task(write_then_hang())
    await inside.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    system = SystemRepository(db, clock)
    await system.set_value("after", "1")
    assert await system.get_value("tx") is None and await system.get_value("after") == "1"


async def test_a_constraint_violation_is_the_same_error_on_both_and_rolls_back(
    db: SqlDatabase, clock: ManualClock
) -> None:
    await UserRepository(db, clock).register(10, "en", 1000)
    with pytest.raises(IntegrityError):  # no signal 999
        await db.execute(
            "INSERT INTO user_signals (signal_id, user_id, quantity, state, created_at, expires_at, updated_at)"
            " VALUES (999, 10, 1.0, 'pending', 'a', 'b', 'c')"
        )
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute("UPDATE users SET language = 'ru' WHERE id = 10")
            await conn.execute(
                "INSERT INTO users (id, language, paper_balance, created_at, updated_at) VALUES (10, 'de', 1, 'a', 'b')"
            )
    user = await UserRepository(db, clock).get(10)
    assert user is not None and user.language == "en"


async def test_equity_marks_keep_the_peak_and_the_day_opening(db: SqlDatabase, clock: ManualClock) -> None:
    users = UserRepository(db, clock)
    await users.register(10, "en", 1000)
    assert await users.mark_equity(10, 1000.0, "2024-03-01") == (1000.0, 1000.0)  # first look: both
    assert await users.mark_equity(10, 1200.0, "2024-03-01") == (1200.0, 1000.0)  # a new peak, same day
    assert await users.mark_equity(10, 900.0, "2024-03-02") == (1200.0, 900.0)  # a new day opens at 900
    assert await users.mark_equity(10, 950.0, "2024-03-02") == (1200.0, 900.0)
    with pytest.raises(LookupError):
        await users.mark_equity(11, 1.0, "2024-03-02")


async def test_counts_and_closed_history(db: SqlDatabase, clock: ManualClock) -> None:
    users = UserRepository(db, clock)
    for user in (10, 11, 12):
        await users.register(user, "en", 1000)
    await users.set_subscribed(11, False)
    await users.mark_blocked(12)
    assert await users.counts() == (3, 1)
    positions = PositionRepository(db, clock)
    for n in range(3):
        position = await positions.open(a_position(10, None), f"x{n}", 0.0, lambda p: [])  # type: ignore[arg-type]
        position.status, position.closed_at = PositionStatus.CLOSED, T0 + n * HOUR
        await positions.save(position, 0.0, lambda balance: [])
    assert [p.closed_at for p in await positions.closed_positions(10)] == [T0 + 2 * HOUR, T0 + HOUR, T0]
    assert [p.closed_at for p in await positions.closed_positions(10, limit=2)] == [T0 + 2 * HOUR, T0 + HOUR]
