"""Fills from account streams over the wire (issue 12): the bot's real LivePositions and
TradingService, the real ccxt.pro client (core/exchange/ccxt_stream.py) over a WebSocket to
the fake Binance on 127.0.0.1, which sends an executionReport for every change of an order.
No monitor run books what the stream reports; what it loses REST finds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.exchange.ccxt_stream import CcxtOrderStream
from core.models import ExitReason, PositionStatus
from core.trading.execution import entry_client_order_id
from tests.core.trading.live_world import (
    ADMIN,
    ALICE,
    BOB,
    BOB_KEY,
    BOB_SECRET,
    KEY,
    LiveWorld,
    confirm,
    eventually,
    join,
    monitor,
    resting,
    world_streams,
)
from tests.core.trading.test_live_streams import (
    FAST,
    SWEEP,
    Streamed,
    _true,
    agrees,
    opened,
    position_where,
    take_limit,
    up,
)


@pytest.fixture
async def wired(live: LiveWorld) -> AsyncIterator[Streamed]:
    stream = CcxtOrderStream(live.gateway, live.exchange.valued_fee)
    streams = world_streams(live, stream, SWEEP, FAST)
    task = asyncio.create_task(streams.run())
    yield Streamed(live, stream, streams)  # type: ignore[arg-type]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stream.close()


async def protected_again(live: LiveWorld, position_id: int) -> None:
    """Wait until the rest after TP1 rests under its new list: TP1 is saved before the stop
    is moved (cancel, then place), so a check of the books in between sees it in flight."""
    legs = {f"atra-p{position_id}-b2-sl", f"atra-p{position_id}-b2-tp"}
    await eventually(lambda: _true(set(resting(live)) == legs))


async def test_a_tp1_fill_is_booked_protected_and_told_from_the_executionreport(wired: Streamed) -> None:
    live = wired.world
    p = (await confirm(live)).position
    await up(wired)
    live.set_price("BTC/USDT", 61_800)
    after = await position_where(live, p.id, lambda q: q.tp1_done and q.stop_price == 60_000)
    assert after.realized_pnl == pytest.approx(0.0208 * 1_800)  # type: ignore[attr-defined]
    await eventually(lambda: _true(set(resting(live)) == {f"atra-p{p.id}-b2-sl", f"atra-p{p.id}-b2-tp"}))
    assert await live.kinds(ALICE) == ["signal", "filled", "tp1"]
    await agrees(live)


async def test_a_stop_fill_closes_the_position_from_the_executionreport(wired: Streamed) -> None:
    live = wired.world
    p = (await confirm(live)).position
    await up(wired)
    live.set_price("BTC/USDT", 58_700)
    closed = await position_where(live, p.id, lambda q: q.status is PositionStatus.CLOSED)
    assert closed.exit_reason is ExitReason.STOP_LOSS  # type: ignore[attr-defined]
    assert closed.realized_pnl == pytest.approx((58_700 - 60_000) * (0.0208 + 0.02081))  # type: ignore[attr-defined]
    assert (await live.kinds(ALICE)).count("closed") == 1
    await agrees(live)


async def test_a_fill_while_the_connection_drops_is_booked_once_after_the_reconnect(wired: Streamed) -> None:
    live = wired.world
    p = (await confirm(live)).position
    await up(wired)
    live.fake.ws_silence(KEY)  # the executionReports of the fill never leave...
    live.set_price("BTC/USDT", 61_800)
    live.fake.ws_disconnect(KEY)  # ...and the connection drops
    live.fake.ws_silence(KEY, False)
    after = await position_where(live, p.id, lambda q: q.tp1_done)  # the reconcile after the reconnect
    assert after.realized_pnl == pytest.approx(0.0208 * 1_800)  # type: ignore[attr-defined]
    await protected_again(live, p.id)
    await eventually(lambda: _true(live.fake.subscribed(KEY) == 1))
    assert (await live.kinds(ALICE)).count("tp1") == 1
    down = [a for a in await live.alerts(ADMIN) if a.key == "account_stream_down_admin"]
    assert len(down) == 1
    await agrees(live)


async def test_reports_out_of_order_and_twice_book_the_fill_once(wired: Streamed) -> None:
    live = wired.world
    p = (await confirm(live)).position
    await up(wired)
    live.fake.ws_duplicate(KEY, 10)  # every report twice...
    live.fake.ws_hold(KEY)
    live.set_price("BTC/USDT", 61_800)
    live.fake.ws_release(KEY)  # ...and in reverse order
    after = await position_where(live, p.id, lambda q: q.tp1_done)
    await protected_again(live, p.id)
    await agrees(live)
    again = await live.positions.get(p.id)
    assert again is not None and again.realized_pnl == pytest.approx(after.realized_pnl)  # type: ignore[attr-defined]
    assert again.realized_pnl == pytest.approx(0.0208 * 1_800)
    assert (await live.kinds(ALICE)).count("tp1") == 1


async def test_a_silent_stream_is_caught_by_the_sweep(wired: Streamed) -> None:
    live = wired.world
    p = (await confirm(live)).position
    await up(wired)
    await monitor(live)
    live.fake.ws_silence(KEY)
    live.set_price("BTC/USDT", 61_800)
    assert await monitor(live) == 0  # the stream is up and said nothing
    live.clock.advance(timedelta(seconds=SWEEP))
    assert await monitor(live) == 1  # the sweep: the price came near TP1, REST is read
    after = await live.positions.get(p.id)
    assert after is not None and after.tp1_done
    assert (await live.kinds(ALICE)).count("tp1") == 1
    await agrees(live)


async def test_a_refused_stream_leaves_the_other_accounts_and_the_monitor_working(wired: Streamed) -> None:
    live = wired.world
    await join(live, BOB, BOB_KEY, BOB_SECRET)

    async def refuse_bob() -> None:  # Bob's key is refused on the WebSocket API, every time
        while True:
            live.fake.ws_refuse(BOB_KEY)
            await asyncio.sleep(0.002)

    refusing = asyncio.create_task(refuse_bob())
    try:
        await _bob_polled_alice_streamed(wired)
    finally:
        refusing.cancel()


async def _bob_polled_alice_streamed(wired: Streamed) -> None:
    live = wired.world
    bob = (await confirm(live, BOB)).position
    a = (await confirm(live, ALICE, symbol="ETH/USDT", entry=3_000, stop=2_940, tp1=3_090, tp2=3_150, atr=30)).position
    await up(wired, ALICE)
    live.set_price("ETH/USDT", 3_090)  # Alice's TP1, from her stream
    await position_where(live, a.id, lambda q: q.tp1_done)
    assert wired.streams.healthy_since(BOB) is None
    live.set_price("BTC/USDT", 61_800)  # Bob's, from the monitor
    await monitor(live)
    after = await live.positions.get(bob.id)
    assert after is not None and after.tp1_done
    assert wired.streams.failures >= 2 and wired.streams.healthy_since(BOB) is None  # still refused, still retried
    down = [a for a in await live.alerts(ADMIN) if a.key == "account_stream_down_admin"]
    assert len(down) == 1 and down[0].params["user"] == BOB  # once per outage


async def test_a_limit_entrys_fill_is_opened_and_protected_from_its_executionreport(wired: Streamed) -> None:
    live = wired.world
    row_id = await take_limit(live)
    await up(wired)  # watched for the working limit alone
    live.set_price("BTC/USDT", 59_950)  # the exchange fills the limit at 60,000 and reports it
    position = await opened(live)  # no monitor run
    assert position.entry_price == 60_000.0 and position.user_signal_id == row_id  # type: ignore[attr-defined]
    assert live.fake.client_id_count(KEY, entry_client_order_id(row_id)) == 1
    assert (await live.kinds(ALICE)).count("filled") == 1
    await agrees(live)
