"""Fills from account streams, polling as the safety net (issue 12): the real trading
service and ccxt client on the fake Binance, an in-memory stream that sends what the fake
exchange's state shows. No monitor run is needed for a fill the stream reports; what the
stream misses (an outage, silence) REST finds: at the reconnect, or on the slow sweep."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.models import ExitReason, OrderStatus, PositionStatus, SignalState
from core.trading.execution import entry_client_order_id
from core.trading.live_stream import AccountStreams, StreamConfig
from tests.core.trading.live_world import (
    ADMIN,
    ALICE,
    BOB,
    BOB_KEY,
    BOB_SECRET,
    KEY,
    LiveWorld,
    assert_agrees,
    confirm,
    eventually,
    join,
    long_draft,
    monitor,
    resting,
    world_streams,
)
from tests.core.trading.memory_stream import MemoryOrderStream, result_of

FAST = StreamConfig(base=0.01, cap=0.05, refresh_seconds=0.01, healthy_after=3600.0, connects_per_second=1000.0)
SWEEP = 300.0


@dataclasses.dataclass
class Streamed:
    world: LiveWorld
    stream: MemoryOrderStream
    streams: AccountStreams


@pytest.fixture
async def streamed(live: LiveWorld) -> AsyncIterator[Streamed]:
    async def key_of(user_id: int) -> str | None:
        creds = await live.keys.credentials(user_id)
        return creds[0] if creds else None

    stream = MemoryOrderStream(live.fake, key_of)
    streams = world_streams(live, stream, SWEEP, FAST)
    task = asyncio.create_task(streams.run())
    yield Streamed(live, stream, streams)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert streams.watched() == set()  # stopping ends every watcher


async def up(s: Streamed, user_id: int = ALICE) -> None:
    """The user's stream is subscribed and the account reconciled."""
    await eventually(lambda: _true(s.streams.healthy_since(user_id) is not None))


async def _true(value: bool) -> bool:
    return value


async def agrees(live: LiveWorld) -> None:
    """Once what is being done is done (a stop being moved), the exchange and the database
    agree (checked until they do, then once more for the message if they never do)."""

    async def agreeing() -> bool:
        try:
            await assert_agrees(live)
        except AssertionError:
            return False
        return True

    for _ in range(200):
        if await agreeing():
            break
        await asyncio.sleep(0.01)
    await assert_agrees(live)


async def position_where(world: LiveWorld, position_id: int, check: object) -> object:
    async def look() -> object:
        p = await world.positions.get(position_id)
        return p if p is not None and check(p) else None  # type: ignore[operator]

    return await eventually(look)


async def test_a_tp1_fill_is_booked_protected_and_told_from_the_stream_without_a_monitor_run(
    streamed: Streamed,
) -> None:
    live = streamed.world
    p = (await confirm(live)).position
    await up(streamed)
    live.set_price("BTC/USDT", 61_800)  # TP1's LIMIT_MAKER fills; its stop expires
    after = await position_where(live, p.id, lambda q: q.tp1_done and q.stop_price == 60_000)
    assert after.status is PositionStatus.OPEN  # type: ignore[attr-defined]
    await eventually(lambda: _true(set(resting(live)) == {f"atra-p{p.id}-b2-sl", f"atra-p{p.id}-b2-tp"}))
    assert float(resting(live)[f"atra-p{p.id}-b2-sl"].stop_price) == 60_000  # protected at break-even
    assert await live.kinds(ALICE) == ["signal", "filled", "tp1"]  # told once
    await agrees(live)


async def test_a_stop_fill_closes_the_position_from_the_stream(streamed: Streamed) -> None:
    live = streamed.world
    p = (await confirm(live)).position
    await up(streamed)
    live.set_price("BTC/USDT", 58_700)  # both STOP_LOSS legs fire
    closed = await position_where(live, p.id, lambda q: q.status is PositionStatus.CLOSED)
    assert closed.exit_reason is ExitReason.STOP_LOSS  # type: ignore[attr-defined]
    assert closed.realized_pnl == pytest.approx((58_700 - 60_000) * (0.0208 + 0.02081))  # type: ignore[attr-defined]
    assert (await live.kinds(ALICE)).count("closed") == 1
    await eventually(lambda: _true(streamed.streams.watched() == set()))  # no open position: no watcher
    await agrees(live)


async def test_a_fill_during_a_disconnect_is_booked_once_at_the_reconnect(streamed: Streamed) -> None:
    live = streamed.world
    p = (await confirm(live)).position
    await up(streamed)
    first = streamed.stream.subscriptions[ALICE]
    streamed.stream.fail(ALICE, times=3)  # the connection drops, and the first retries fail too
    live.set_price("BTC/USDT", 61_800)  # the fill happens while nobody listens
    after = await position_where(live, p.id, lambda q: q.tp1_done)
    assert streamed.stream.subscriptions[ALICE] > first  # found by the reconcile after the reconnect
    assert not [r for r in streamed.stream.sent.get(ALICE, []) if r.status is OrderStatus.FILLED]  # not by an event
    assert after.realized_pnl == pytest.approx(0.0208 * 1_800)  # type: ignore[attr-defined]
    await eventually(lambda: _true(f"atra-p{p.id}-b2-sl" in resting(live)))
    assert (await live.kinds(ALICE)).count("tp1") == 1
    down = [a for a in await live.alerts(ADMIN) if a.key == "account_stream_down_admin"]
    assert len(down) == 1 and down[0].params["user"] == ALICE  # once per outage, not per retry
    await agrees(live)


async def test_updates_out_of_order_and_repeated_book_the_fill_once(streamed: Streamed) -> None:
    live = streamed.world
    p = (await confirm(live)).position
    await up(streamed)
    streamed.stream.silent.add(ALICE)  # what the stream would have said is sent below, shuffled
    live.set_price("BTC/USDT", 61_800)
    order = next(o for o in live.fake.orders_of(KEY) if o.client_order_id == f"atra-p{p.id}-a1-tp")
    filled = result_of(order)
    stale = dataclasses.replace(filled, status=OrderStatus.OPEN, filled=0.0, average_price=None, fee=0.0)
    streamed.stream.push(ALICE, [filled, stale])  # the NEW report arrives after the FILLED one
    after = await position_where(live, p.id, lambda q: q.tp1_done)
    streamed.stream.push(ALICE, [stale])  # an old report, late
    streamed.stream.push(ALICE, [filled, filled])  # and the fill again, twice
    await eventually(lambda: _true(not streamed.stream._script.get(ALICE)))
    await live.trading.follow_now(p.id)  # whatever was still being followed has finished
    again = await live.positions.get(p.id)
    assert again is not None and again.realized_pnl == pytest.approx(after.realized_pnl)  # type: ignore[attr-defined]
    assert again.realized_pnl == pytest.approx(0.0208 * 1_800)
    assert (await live.kinds(ALICE)).count("tp1") == 1
    await agrees(live)


async def test_a_silent_stream_is_caught_by_the_sweep_not_by_every_monitor_run(streamed: Streamed) -> None:
    live = streamed.world
    p = (await confirm(live)).position
    await up(streamed)
    await monitor(live)  # followed once with the stream up: from now on it is the stream's
    streamed.stream.silent.add(ALICE)
    live.set_price("BTC/USDT", 61_800)
    before = len(live.fake.requests)
    assert await monitor(live) == 0  # the stream is up and said nothing: the run leaves it alone
    assert len(live.fake.requests) == before  # not a single request
    live.clock.advance(timedelta(seconds=SWEEP))
    assert await monitor(live) == 1  # the sweep: REST is the truth
    after = await live.positions.get(p.id)
    assert after is not None and after.tp1_done and after.realized_pnl == pytest.approx(0.0208 * 1_800)
    assert (await live.kinds(ALICE)).count("tp1") == 1
    await agrees(live)


async def test_a_stream_that_keeps_failing_leaves_the_others_and_the_monitor_working(streamed: Streamed) -> None:
    live = streamed.world
    await join(live, BOB, BOB_KEY, BOB_SECRET)
    streamed.stream.fail(BOB, times=10_000)
    bob = (await confirm(live, BOB)).position
    a = (await confirm(live, ALICE, symbol="ETH/USDT", entry=3_000, stop=2_940, tp1=3_090, tp2=3_150, atr=30)).position
    await up(streamed, ALICE)
    live.set_price("ETH/USDT", 3_090)  # Alice's TP1: her stream books it
    await position_where(live, a.id, lambda q: q.tp1_done)
    assert streamed.streams.healthy_since(BOB) is None
    live.set_price("BTC/USDT", 61_800)  # Bob's TP1: his stream is down, the monitor polls him
    await monitor(live)
    after = await live.positions.get(bob.id)
    assert after is not None and after.tp1_done
    assert streamed.streams.failures >= 2  # it kept failing, and kept being retried
    down = [a for a in await live.alerts(ADMIN) if a.key == "account_stream_down_admin"]
    assert len(down) == 1 and down[0].params["user"] == BOB


async def test_the_sweep_reads_only_positions_the_market_came_near_and_every_one_each_hour(
    streamed: Streamed,
) -> None:
    live = streamed.world
    p = (await confirm(live)).position  # stop 58 800, TP1 61 800, TP2 63 000
    await up(streamed)
    await monitor(live)
    reads = lambda: len(live.fake.requests_to("GET", "/api/v3/openOrders"))  # noqa: E731
    before = reads()
    live.set_price("BTC/USDT", 60_500)  # nowhere near a level (0.5 % of 61 800 is 309)
    live.clock.advance(timedelta(seconds=SWEEP))
    await monitor(live)
    assert reads() == before  # nothing it rests could have filled: not read
    live.set_price("BTC/USDT", 61_500)  # within 0.5 % of TP1 (61 491 and up): it may have filled
    await monitor(live)
    live.set_price("BTC/USDT", 60_500)
    await monitor(live)
    assert reads() == before + 1  # read once, at the sweep
    live.clock.advance(timedelta(seconds=SWEEP))
    await monitor(live)
    assert reads() == before + 1  # read since, and nothing came near
    live.clock.advance(timedelta(seconds=3600))
    await monitor(live)
    assert reads() == before + 2  # an hour: read whatever the market did
    after = await live.positions.get(p.id)
    assert after is not None and not after.tp1_done


# ---------------------------------------------------------------------- limit entries (issues 11 and 12)


async def take_limit(live: LiveWorld) -> int:
    """Alice takes a long signal (entry 60,000, stop 58,800) with a limit, the price above it."""
    live.set_price("BTC/USDT", 60_300)
    rows = await live.trading.publish(long_draft())
    assert rows is not None
    outcome = await live.trading.place_limit(rows[0].id, ALICE)
    assert outcome.execution is None and set(resting(live)) == {entry_client_order_id(rows[0].id)}
    return rows[0].id


async def opened(live: LiveWorld) -> object:
    """Alice's position once it is open and its two OCO lists rest on the exchange."""

    async def look() -> object:
        listed = await live.positions.open_positions(ALICE)
        return listed[0] if listed and len(resting(live)) == 4 else None

    return await eventually(look)


async def test_an_account_whose_only_business_is_a_working_limit_is_watched(streamed: Streamed) -> None:
    live = streamed.world
    row_id = await take_limit(live)
    assert await live.positions.open_positions(ALICE) == []
    await up(streamed)  # watched, though nothing is open yet
    assert streamed.streams.watched() == {ALICE}
    await live.trading.cancel_limit(row_id, ALICE)
    await eventually(lambda: _true(streamed.streams.watched() == set()))  # nothing working: no watcher


async def test_a_limit_fill_is_opened_and_protected_from_the_stream_without_a_monitor_run(streamed: Streamed) -> None:
    live = streamed.world
    row_id = await take_limit(live)
    await up(streamed)
    live.set_price("BTC/USDT", 59_950)  # traded through: the exchange fills the limit at 60,000
    position = await opened(live)  # no monitor run: the stream's update alone
    assert position.entry_price == 60_000.0 and position.user_signal_id == row_id  # type: ignore[attr-defined]
    legs = {cid.split("-", 2)[2] for cid in resting(live)}
    assert legs == {"a1-sl", "a1-tp", "b1-sl", "b1-tp"}  # two OCO lists (a: TP1, b: TP2), each a stop and a TP
    assert any(r.client_order_id == entry_client_order_id(row_id) for r in streamed.stream.sent[ALICE])
    assert (await live.signals.get_user_signal(row_id)).state is SignalState.EXECUTED  # type: ignore[union-attr]
    assert (await live.kinds(ALICE)).count("filled") == 1
    await agrees(live)


async def test_a_limit_fill_reported_again_and_again_opens_one_position(streamed: Streamed) -> None:
    live = streamed.world
    row_id = await take_limit(live)
    await up(streamed)
    streamed.stream.silent.add(ALICE)  # what the stream would have said is sent below, repeated
    live.set_price("BTC/USDT", 59_950)
    cid = entry_client_order_id(row_id)
    filled = result_of(next(o for o in live.fake.orders_of(KEY) if o.client_order_id == cid))
    assert filled.status is OrderStatus.FILLED
    streamed.stream.push(ALICE, [filled, filled])
    streamed.stream.push(ALICE, [filled])
    await opened(live)
    await eventually(lambda: _true(not streamed.stream._script.get(ALICE)))
    await live.trading.follow_limit(row_id, ALICE)  # whatever was still being followed has finished
    assert len(await live.positions.open_positions(ALICE)) == 1
    assert len(live.fake.orders_of(KEY)) == 5  # the entry and one set of protection, never two
    assert (await live.kinds(ALICE)).count("filled") == 1
    await agrees(live)
