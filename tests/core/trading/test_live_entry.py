"""The entry of a live trade under faults: one order per confirmed intent, whatever the
limiter held, whatever the exchange answered, and every filled quantity in a position.

Real ccxt against the fake Binance on 127.0.0.1; the exchange and the database agree at the
end of every test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.errors import ExchangeUnavailable, UserError
from core.exchange.limiter import ExchangeBudgets, ExchangeLimiter
from core.models import OrderStatus, SignalState
from tests.conftest import T0
from tests.core.trading.live_world import (
    ALICE,
    KEY,
    SECRET,
    Killed,
    LiveWorld,
    Start,
    assert_agrees,
    confirm,
    eventually,
    long_draft,
    monitor,
    resting,
)
from tests.fakes.fake_exchange import Fault

ENTRY = "/api/v3/order"


# -------------------------------------------------------------- 1. the receive window


async def test_an_entry_held_by_the_limiter_is_timed_from_when_it_left_and_never_sent_twice(live: LiveWorld) -> None:
    await live.exchange.fetch_balance(ALICE, "USDT")  # a running process: markets and Alice's client are ready
    # Another call has just met a 429 with Retry-After 2 s: every call waits, the entry too,
    # longer than the receive window (1 s + 0.2 s margin in these tests).
    live.gateway.limiter.on_rate_limited(2.0)
    # The exchange answers the entry 503 -1007 at once and its backend executes it 0.4 s later:
    # the first lookups do not find it.
    live.fake.inject(Fault.ACCEPT_LATE, delay=0.4)
    execution = await confirm(live)
    await live.fake.settled()
    assert execution.order.status is OrderStatus.FILLED
    cid = execution.order.client_order_id
    assert live.fake.client_id_count(KEY, cid) == 1
    assert len(live.fake.requests_to("POST", ENTRY)) == 1
    assert len(resting(live)) == 4  # and it is protected
    await assert_agrees(live)


async def test_the_moment_an_entry_left_is_stored_and_a_restart_waits_from_it(start: Start, clock: ManualClock) -> None:
    waited: list[float] = []

    async def record_wait(seconds: float) -> None:
        waited.append(seconds)

    async def pass_time(seconds: float) -> None:  # the limiter's pauses move the process's clock
        clock.advance(timedelta(seconds=seconds))

    limiter = ExchangeLimiter(ExchangeBudgets.binance_spot(), clock=lambda: clock.now().timestamp(), sleep=pass_time)
    live = start(limiter=limiter)
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    rows = await live.trading.publish(long_draft())
    assert rows is not None
    await live.exchange.fetch_balance(ALICE, "USDT")  # a running process: markets and Alice's client are ready
    limiter.on_rate_limited(5.0)  # the entry waits 5 s in the limiter, then leaves
    live.orders.kill_on = lambda cid: cid.endswith("-entry")  # type: ignore[method-assign]
    with pytest.raises(Killed):  # ... and the process dies before it records the answer
        await live.trading.confirm(rows[0].id, ALICE)
    await live.close()
    restarted = start(settle_seconds=6.0, sleep=record_wait)
    await restarted.trading.recover()
    # It left 5 s after it was stored: it could arrive until 6 s after it LEFT, not after it was stored.
    assert waited == [pytest.approx(6.0)]
    (position,) = await restarted.positions.open_positions(ALICE)
    assert len(restarted.fake.requests_to("POST", ENTRY)) == 1
    await assert_agrees(restarted)


async def test_an_entry_the_exchange_never_received_is_not_sent_again(live: LiveWorld) -> None:
    live.fake.inject(Fault.ERROR_5XX, status=503)  # refused before it was processed
    with pytest.raises(UserError) as refused:
        await confirm(live)
    assert refused.value.key == "entry_not_placed"
    assert len(live.fake.requests_to("POST", ENTRY)) == 1 and live.fake.orders_of(KEY) == []
    (row,) = await live.db.fetchall("SELECT state FROM user_signals")
    assert row["state"] == SignalState.REJECTED.value
    await assert_agrees(live)


async def test_an_entry_refused_by_a_rate_limit_is_not_sent_again(live: LiveWorld) -> None:
    live.fake.inject(Fault.RATE_LIMIT, retry_after=1)
    with pytest.raises(UserError) as refused:
        await confirm(live)
    assert refused.value.key == "entry_not_placed"
    assert [r.status for r in live.fake.requests_to("POST", ENTRY)] == [429]
    assert live.gateway.limiter.rate_factor == pytest.approx(0.8)
    (row,) = await live.db.fetchall("SELECT status FROM orders")
    assert row["status"] == "rejected"
    await assert_agrees(live)


# -------------------------------------------------- 2. one owner per position at a time


async def test_the_monitor_leaves_a_position_being_protected_to_the_confirmation(live: LiveWorld) -> None:
    live.fake.slow("GET", "/api/v3/ticker/24hr", 0.2)  # each fresh price takes a 200 ms round trip
    confirmation = asyncio.create_task(confirm(live))
    await eventually(lambda: live.positions.open_positions(ALICE))  # stored; its lists are being placed
    await monitor(live)
    p = (await confirmation).position
    await monitor(live)  # and a later run finds it covered
    assert set(resting(live)) == {f"atra-p{p.id}-{slot}1-{leg}" for slot in "ab" for leg in ("sl", "tp")}
    assert len(live.fake.requests_to("POST", "/api/v3/orderList/oco")) == 2
    assert [a.key for a in await live.alerts()] == []  # no false "protection failed"
    await assert_agrees(live)


# ------------------------------------------- 3. a market entry that could only partly fill


async def test_a_partly_filled_expired_entry_opens_the_position_for_what_filled(live: LiveWorld) -> None:
    live.fake.thin_book("BTCUSDT", "0.03")  # the book holds 0.03 of the 0.04166 asked; the rest expires
    execution = await confirm(live)
    p = execution.position
    assert execution.order.filled == pytest.approx(0.03)
    assert p.quantity == pytest.approx(0.03 - 0.00003)  # less the buyer's fee, paid in BTC (0.1 %)
    legs = resting(live)
    # 0.02997 / 2 = 0.014985 -> 0.01498 at TP1 (lot 0.00001); the rest 0.01499 at TP2
    assert float(legs[f"atra-p{p.id}-a1-sl"].orig_qty) == pytest.approx(0.01498)
    assert float(legs[f"atra-p{p.id}-b1-sl"].orig_qty) == pytest.approx(0.01499)
    (row,) = await live.db.fetchall("SELECT state FROM user_signals")
    assert row["state"] == SignalState.EXECUTED.value
    await assert_agrees(live)


# ------------------------------------------ 4. nothing that can fail between fill and row


async def test_market_data_failing_after_the_fill_does_not_keep_the_position_from_its_row(
    live: LiveWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(symbol: str, timeframe: str, limit: int) -> None:
        raise ExchangeUnavailable("klines: 503")

    monkeypatch.setattr(live.market, "candles", unavailable)  # no open position: the checks need none
    execution = await confirm(live)
    p = execution.position
    assert (await live.positions.get(p.id)) is not None and len(resting(live)) == 4
    # the monitor applies candles from the one the fill happened in (12:00 UTC, the clock's hour)
    assert p.last_candle_at == T0 - timedelta(hours=1)
    await assert_agrees(live)


async def test_an_entry_whose_lookups_are_refused_is_left_unresolved_never_taken_for_rejected(
    start: Start,
) -> None:
    live = start(timeout_ms=300)
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    live.fake.inject(Fault.STALL_AFTER_ACCEPT)  # taken, the answer lost ...
    live.fake.inject(Fault.INVALID_KEY, method="GET", path=ENTRY, times=12)  # ... and the lookups refused (-2015)
    with pytest.raises(UserError) as unconfirmed:
        await confirm(live)
    assert unconfirmed.value.key == "entry_unconfirmed"  # not "rejected": it may well have filled
    (order,) = await live.db.fetchall("SELECT status FROM orders")
    assert order["status"] == OrderStatus.SUBMITTING.value
    await monitor(live)  # the lookup is refused again: flagged, told once
    assert sorted(a.key for a in await live.alerts()) == ["confirm_unresolved", "confirm_unresolved_admin"]
    live.fake.clear_faults()
    await monitor(live)  # it filled: the position is opened and protected
    assert len(await live.positions.open_positions(ALICE)) == 1 and len(resting(live)) == 4
    assert len(live.fake.requests_to("POST", ENTRY)) == 1
    await assert_agrees(live)
