"""Live limit entries: real ccxt against the fake Binance on 127.0.0.1. The order rests under
the row's deterministic id, a send whose answer was lost is never doubled, its fill is
protected like a market fill, expiry cancels it (keeping a part filled), and a restart in
the middle keeps following it. The exchange and the database agree at the end of each test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import UserError
from core.models import OrderStatus, SignalState
from core.trading.execution import entry_client_order_id
from core.trading.limit_entry import LimitOutcome
from tests.core.trading.live_world import (
    ALICE,
    KEY,
    SECRET,
    LiveWorld,
    Start,
    assert_agrees,
    long_draft,
    monitor,
    resting,
)
from tests.fakes.fake_exchange import Fault

ENTRY = "/api/v3/order"


async def place(live: LiveWorld, price: float = 60_300.0) -> LimitOutcome | UserError:
    """Alice takes a long signal (entry 60,000, stop 58,800) with a limit, the price at `price`."""
    live.set_price("BTC/USDT", price)
    rows = await live.trading.publish(long_draft())
    assert rows is not None
    try:
        return await live.trading.place_limit(rows[0].id, ALICE)
    except UserError as exc:
        return exc


async def test_a_limit_rests_under_the_rows_id_fills_once_reached_and_is_protected(live: LiveWorld) -> None:
    outcome = await place(live)
    assert isinstance(outcome, LimitOutcome) and outcome.execution is None
    cid = entry_client_order_id(outcome.entry.row.id)
    (order,) = resting(live).values()
    assert order.client_order_id == cid and order.type == "LIMIT" and float(order.price) == 60_000.0
    assert float(order.orig_qty) == pytest.approx(outcome.entry.quantity, rel=1e-3)  # to the lot step
    # sized for the entry: at most 1 % of 10,000 to the stop (the 25 % position cap makes it 2,500 / 60,000)
    assert outcome.entry.quantity * (60_000.0 - 58_800.0) <= 100.0 + 1e-9
    assert outcome.entry.quantity == pytest.approx(2_500.0 / 60_000.0, rel=1e-3)
    assert await monitor(live) == 0  # not reached: it rests
    live.set_price("BTC/USDT", 59_950.0)  # traded through: the exchange fills it at its price
    assert await monitor(live) >= 1
    (position,) = await live.positions.open_positions(ALICE)
    assert position.entry_price == 60_000.0 and position.user_signal_id == outcome.entry.row.id
    assert len(resting(live)) == 4  # two OCO lists (stop + TP1, stop + TP2), as for a market entry
    assert live.fake.client_id_count(KEY, cid) == 1
    assert (await live.signals.get_user_signal(outcome.entry.row.id)).state is SignalState.EXECUTED  # type: ignore[union-attr]
    await assert_agrees(live)


async def test_a_limit_whose_answer_was_lost_is_looked_up_never_sent_twice(start: Start) -> None:
    live = start(timeout_ms=300)
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    live.fake.inject(Fault.STALL_AFTER_ACCEPT)  # the exchange takes it; the answer never comes ...
    live.fake.inject(Fault.INVALID_KEY, method="GET", path=ENTRY, times=12)  # ... and the lookups are refused
    refused = await place(live)
    assert isinstance(refused, UserError) and refused.key == "entry_unconfirmed"
    (stored,) = await live.db.fetchall("SELECT status FROM orders")
    assert stored["status"] == OrderStatus.SUBMITTING.value  # it may well rest: never taken for not placed
    await monitor(live)  # the lookup is refused again: left as it is
    live.fake.clear_faults()
    await monitor(live)  # looked up: it rests; nothing is sent again
    await monitor(live)
    (order,) = resting(live).values()
    assert live.fake.client_id_count(KEY, order.client_order_id) == 1
    assert len(live.fake.requests_to("POST", ENTRY)) == 1
    live.set_price("BTC/USDT", 59_900.0)
    await monitor(live)
    assert len(await live.positions.open_positions(ALICE)) == 1 and len(resting(live)) == 4
    assert len(live.fake.requests_to("POST", ENTRY)) == 1  # the OCO lists go to /orderList
    await assert_agrees(live)


async def test_a_limit_answered_late_is_found_by_its_lookup_and_rests_once(start: Start) -> None:
    live = start(timeout_ms=300)
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    live.fake.inject(Fault.STALL_AFTER_ACCEPT)  # taken, the answer lost: the lookup finds it at once
    outcome = await place(live)
    assert isinstance(outcome, LimitOutcome) and outcome.execution is None
    (order,) = resting(live).values()
    assert live.fake.client_id_count(KEY, order.client_order_id) == 1
    assert len(live.fake.requests_to("POST", ENTRY)) == 1
    await assert_agrees(live)


async def test_a_rate_limited_limit_is_not_placed_and_never_sent_later(live: LiveWorld) -> None:
    live.fake.inject(Fault.RATE_LIMIT)
    refused = await place(live)
    assert isinstance(refused, UserError) and refused.key == "entry_not_placed"
    await monitor(live)
    assert resting(live) == {} and len(live.fake.requests_to("POST", ENTRY)) == 1
    rows = await live.db.fetchall("SELECT state FROM user_signals")
    assert [r["state"] for r in rows] == ["rejected"]


async def test_expiry_cancels_a_limit_on_the_exchange_and_tells_the_user(live: LiveWorld) -> None:
    outcome = await place(live)
    assert isinstance(outcome, LimitOutcome)
    live.clock.advance(timedelta(hours=1))
    await monitor(live)
    assert resting(live) == {}
    (order,) = live.fake.orders_of(KEY)
    assert order.status == "CANCELED"
    row = await live.signals.get_user_signal(outcome.entry.row.id)
    assert row is not None and row.state is SignalState.EXPIRED
    assert [a.key for a in await live.alerts(ALICE)] == ["limit_expired"]
    await assert_agrees(live)


async def test_a_part_filled_by_expiry_is_kept_and_protected_and_the_rest_cancelled(live: LiveWorld) -> None:
    outcome = await place(live)
    assert isinstance(outcome, LimitOutcome)
    cid = entry_client_order_id(outcome.entry.row.id)
    live.fake.fill_partially(KEY, cid, "0.02")
    await monitor(live)  # still working: a part filled, the rest rests
    assert await live.positions.open_positions(ALICE) == []
    live.clock.advance(timedelta(hours=1))
    await monitor(live)
    (position,) = await live.positions.open_positions(ALICE)
    assert position.initial_quantity == pytest.approx(0.02, rel=1e-3)  # less a fee paid in the coin, if any
    stored = await live.orders.stored(cid)
    assert stored is not None and stored.result.status is OrderStatus.CANCELED and stored.result.filled == 0.02
    assert len(resting(live)) >= 2  # the part filled is protected (stop + target)
    assert "limit_expired_partly" in [a.key for a in await live.alerts(ALICE)]
    await assert_agrees(live)


async def test_a_restart_in_the_middle_keeps_following_the_limit(start: Start) -> None:
    first = start()
    await first.trading.register(ALICE, "en")
    await first.keys.save(ALICE, KEY, SECRET)
    outcome = await place(first)
    assert isinstance(outcome, LimitOutcome)
    await first.close()
    second = start()  # a new process over the same database and exchange
    await second.trading.recover()
    assert [e.row.id for e in await second.trading.working_limits(ALICE)] == [outcome.entry.row.id]
    assert len(resting(second)) == 1  # not cancelled, not taken for an interrupted confirm
    second.set_price("BTC/USDT", 59_990.0)
    await monitor(second)
    (position,) = await second.positions.open_positions(ALICE)
    assert position.entry_price == 60_000.0 and len(resting(second)) == 4
    await assert_agrees(second)


async def test_the_user_cancels_a_resting_limit(live: LiveWorld) -> None:
    outcome = await place(live)
    assert isinstance(outcome, LimitOutcome)
    ended = await live.trading.cancel_limit(outcome.entry.row.id, ALICE)
    assert ended.ended and ended.execution is None and resting(live) == {}
    row = await live.signals.get_user_signal(outcome.entry.row.id)
    assert row is not None and row.state is SignalState.SKIPPED
    await assert_agrees(live)


async def test_a_cancel_after_a_partial_fill_keeps_that_part_protected(live: LiveWorld) -> None:
    outcome = await place(live)
    assert isinstance(outcome, LimitOutcome)
    live.fake.fill_partially(KEY, entry_client_order_id(outcome.entry.row.id), "0.01")
    ended = await live.trading.cancel_limit(outcome.entry.row.id, ALICE)
    assert ended.execution is not None
    assert ended.execution.position.initial_quantity == pytest.approx(0.01, rel=1e-3)
    assert len(resting(live)) >= 2  # its stop and target rest; the entry's rest is cancelled
    assert "limit_cancelled_partly" in [a.key for a in await live.alerts(ALICE)]
    await assert_agrees(live)
