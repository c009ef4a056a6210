"""Live trading across restarts: the process killed between a send and its record, fills and
cancels made while the bot was down, the receive window of orders in flight waited out.

Real ccxt against the fake Binance on 127.0.0.1; every test ends with the exchange and the
database agreeing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from core.clock import ManualClock
from core.models import ExitReason, OrderRequest, OrderStatus, OrderType, PositionStatus, SignalState
from tests.core.trading.live_world import (
    ADMIN,
    ALICE,
    KEY,
    Killed,
    LiveWorld,
    Start,
    assert_agrees,
    confirm,
    long_draft,
    resting,
)


async def _kill_and_restart(
    live: LiveWorld, start: Start, kill_on: Callable[[str], bool], action: Awaitable[Any]
) -> LiveWorld:
    live.orders.kill_on = kill_on  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await action
    await live.close()
    restarted = start()
    await restarted.trading.recover()
    return restarted


async def test_killed_between_the_entry_send_and_its_record_then_restarted(live: LiveWorld, start: Start) -> None:
    rows = await live.trading.publish(long_draft())
    assert rows is not None
    restarted = await _kill_and_restart(
        live, start, lambda cid: cid.endswith("-entry"), live.trading.confirm(rows[0].id, ALICE)
    )
    (position,) = await restarted.positions.open_positions(ALICE)
    assert position.quantity == pytest.approx(0.04166 - 0.00004166)
    assert live.fake.client_id_count(KEY, f"atra-us{rows[0].id}-entry") == 1
    assert len(resting(restarted)) == 4  # protected after the restart
    assert (await restarted.signals.get_user_signal(rows[0].id)).state is SignalState.EXECUTED  # type: ignore[union-attr]
    await assert_agrees(restarted)


async def test_killed_between_sending_a_list_and_recording_it_then_restarted(live: LiveWorld, start: Start) -> None:
    rows = await live.trading.publish(long_draft())
    assert rows is not None
    restarted = await _kill_and_restart(
        live, start, lambda cid: cid.endswith("-b1-sl"), live.trading.confirm(rows[0].id, ALICE)
    )
    (position,) = await restarted.positions.open_positions(ALICE)
    assert len(live.fake.requests_to("POST", "/api/v3/orderList/oco")) == 2  # nothing sent twice
    assert set(resting(restarted)) == {
        f"atra-p{position.id}-a1-sl",
        f"atra-p{position.id}-a1-tp",
        f"atra-p{position.id}-b1-sl",
        f"atra-p{position.id}-b1-tp",
    }
    await assert_agrees(restarted)


async def test_a_stop_filled_while_the_bot_was_down_is_booked_at_start(live: LiveWorld, start: Start) -> None:
    p = (await confirm(live)).position
    await live.close()
    live.set_price("BTC/USDT", 58_000)
    restarted = start()
    assert await restarted.trading.recover() >= 1
    closed = await restarted.positions.get(p.id)
    assert closed is not None and closed.status is PositionStatus.CLOSED and closed.exit_reason is ExitReason.STOP_LOSS
    await assert_agrees(restarted)


async def test_protection_gone_while_the_bot_was_down_is_placed_again_at_start(live: LiveWorld, start: Start) -> None:
    p = (await confirm(live)).position
    await live.close()
    live.fake.cancel_externally(KEY, f"atra-p{p.id}-a1-tp")
    live.fake.cancel_externally(KEY, f"atra-p{p.id}-b1-tp")
    restarted = start()
    await restarted.trading.recover()
    assert set(resting(restarted)) == {
        f"atra-p{p.id}-a2-sl",
        f"atra-p{p.id}-a2-tp",
        f"atra-p{p.id}-b2-sl",
        f"atra-p{p.id}-b2-tp",
    }
    assert [a.key for a in await restarted.alerts(ADMIN)] == ["protection_vanished_admin"] * 2
    await assert_agrees(restarted)


async def test_start_waits_out_the_receive_window_of_an_order_being_sent(start: Start, clock: ManualClock) -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    world = start(settle_seconds=6.0, sleep=sleep)
    await world.trading.register(ALICE, "en")
    await world.orders.begin(OrderRequest("in-flight", ALICE, "BTC/USDT", "buy", OrderType.MARKET, 0.001))
    clock.advance(timedelta(seconds=2))  # the process died 2 s ago, right after storing the intent
    await world.trading.recover()
    assert waited == [pytest.approx(4.0)]  # the rest of the window: it could still arrive until then
    row = await world.orders.get("in-flight")
    assert row is not None and row.status is OrderStatus.SUBMITTING  # an entry without its row: not ours to guess
