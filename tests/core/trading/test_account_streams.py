"""The account watchers on their own (core/trading/live_stream.py): a stream that fails is
opened again after doubling waits with jitter, the admins hear of an outage once, new
subscriptions are paced, and accounts come and go. A scripted stream, a recording target."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.clock import ManualClock
from core.errors import ExchangeUnavailable
from core.models import OrderResult, OrderStatus
from core.trading.episodes import Episodes
from core.trading.live_stream import AccountStreams, StreamConfig
from db.database import Database
from db.outbox import OutboxRepository
from db.system import SystemRepository
from tests.core.trading.live_world import eventually


class Script:
    """An OrderStream whose subscriptions fail `fails[user]` times, then stay up."""

    def __init__(self, fails: dict[int, int]) -> None:
        self.fails = fails
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.queues: dict[int, asyncio.Queue[list[OrderResult]]] = {}

    async def open_stream(self, user_id: int) -> None:
        self.opened.append(user_id)
        if self.fails.get(user_id, 0) > 0:
            self.fails[user_id] -= 1
            raise ExchangeUnavailable("refused")

    def push(self, user_id: int, results: list[OrderResult]) -> None:
        self.queues.setdefault(user_id, asyncio.Queue()).put_nowait(results)

    async def watch_orders(self, user_id: int) -> list[OrderResult]:
        return await self.queues.setdefault(user_id, asyncio.Queue()).get()

    async def close_stream(self, user_id: int) -> None:
        self.closed.append(user_id)


class Target:
    def __init__(self, users: set[int]) -> None:
        self.users = users
        self.reconciled: list[int] = []
        self.updates: list[tuple[int, str]] = []

    async def accounts(self) -> set[int]:
        return set(self.users)

    async def reconcile(self, user_id: int) -> None:
        self.reconciled.append(user_id)

    async def updated(self, user_id: int, results: Sequence[OrderResult]) -> None:
        self.updates += [(user_id, r.client_order_id) for r in results]


def update(cid: str) -> list[OrderResult]:
    return [OrderResult(cid, "1", OrderStatus.FILLED, 1.0, 1.0, 10.0)]


async def make(
    db: Database, clock: ManualClock, stream: Script, target: Target, config: StreamConfig, slept: list[float]
) -> tuple[AccountStreams, OutboxRepository]:
    outbox = OutboxRepository(db)
    episodes = Episodes(SystemRepository(db, clock), outbox, clock, lambda: None)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    streams = AccountStreams(stream, target, episodes, frozenset({1}), config, sleep=sleep, jitter=lambda: 1.0)
    return streams, outbox


async def test_a_failing_stream_backs_off_doubling_to_the_cap_and_is_told_once(
    db: Database, clock: ManualClock
) -> None:
    stream, target, slept = Script({7: 6}), Target({7}), []
    config = StreamConfig(base=1.0, cap=8.0, connects_per_second=1e9)
    streams, outbox = await make(db, clock, stream, target, config, slept)
    await streams.refresh()
    await eventually(lambda: _true(streams.healthy_since(7) is not None))
    assert [s for s in slept if s >= 1.0] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # jitter 1.0: the full wait
    assert target.reconciled == [7]  # once, after the subscription that held
    assert stream.closed == [7] * 6  # each failed stream closed before the next try
    alerts = await outbox.due(clock.now(), 100)
    assert [(a.user_id, a.payload["key"]) for a in alerts] == [(1, "account_stream_down_admin")]
    stream.push(7, update("atra-p1-a1-tp"))
    await eventually(lambda: _true(target.updates == [(7, "atra-p1-a1-tp")]))
    await streams.stop()
    assert streams.watched() == set()


async def test_jitter_spreads_the_waits_over_their_upper_half(db: Database, clock: ManualClock) -> None:
    streams, _ = await make(db, clock, Script({}), Target(set()), StreamConfig(base=2.0, cap=60.0), [])
    streams._jitter = lambda: 0.0  # type: ignore[method-assign]
    assert streams._wait(3) == 4.0  # 2 x 2^2 = 8, at the low end of [4, 8]
    streams._jitter = lambda: 0.5  # type: ignore[method-assign]
    assert streams._wait(10) == 45.0  # capped at 60: [30, 60], half way


async def test_new_subscriptions_are_paced(db: Database, clock: ManualClock) -> None:
    stream, target, slept = Script({}), Target({1, 2, 3}), []
    streams, _ = await make(db, clock, stream, target, StreamConfig(connects_per_second=10.0), slept)
    await streams.refresh()
    await eventually(lambda: _true(len(target.reconciled) == 3))
    waits = sorted(s for s in slept if s > 0)
    assert len(waits) == 2 and 0.05 < waits[0] <= 0.1 and 0.15 < waits[1] <= 0.2  # 0.1 s apart
    await streams.stop()


async def test_accounts_come_and_go_and_one_failing_leaves_the_others(db: Database, clock: ManualClock) -> None:
    stream, target, slept = Script({2: 10_000}), Target({1, 2}), []
    streams, _ = await make(db, clock, stream, target, StreamConfig(base=0.001, connects_per_second=1e9), slept)
    await streams.refresh()
    await eventually(lambda: _true(streams.healthy_since(1) is not None))
    await eventually(lambda: _true(stream.opened.count(2) > 3))  # retried and retried
    stream.push(1, update("atra-p5-b1-sl"))
    await eventually(lambda: _true(target.updates == [(1, "atra-p5-b1-sl")]))
    target.users = {2, 3}  # account 1's last position closed; account 3 opened one
    await streams.refresh()
    assert streams.watched() == {2, 3} and 1 in stream.closed and streams.healthy_since(1) is None
    await eventually(lambda: _true(streams.healthy_since(3) is not None))
    assert streams.healthy_since(2) is None
    await streams.stop()
    assert streams.watched() == set()


async def _true(value: bool) -> bool:
    return value
