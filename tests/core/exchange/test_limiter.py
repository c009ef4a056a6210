"""The one rate limiter per exchange: rate cuts and recovery, pauses (all calls or one
account's), the exchange's own counters as a backstop, usage figures, order budgets."""

from __future__ import annotations

import asyncio

import pytest

from core.exchange.limiter import Budget, ExchangeBudgets, ExchangeLimiter, RateControl
from tests.core.exchange.ccxt_world import OTHER, USER, eventually


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def _limiter(clock: FakeClock, **control: float) -> ExchangeLimiter:
    budgets = ExchangeBudgets(ip_weight=Budget(6000, 60.0), account_orders=(Budget(50, 10.0),))
    return ExchangeLimiter(budgets, RateControl(**control), clock=clock, sleep=clock.sleep)


def test_rate_is_cut_to_80_percent_and_recovers_5_points_per_quiet_minute() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.on_rate_limited(retry_after=2.0)
    assert limiter.rate_factor == pytest.approx(0.8) and limiter.paused_for() == pytest.approx(2.0)
    clock.now += 59
    assert limiter.rate_factor == pytest.approx(0.8)
    clock.now += 1
    assert limiter.rate_factor == pytest.approx(0.85)
    clock.now += 60 * 10
    assert limiter.rate_factor == pytest.approx(1.0)


def test_answers_to_requests_in_flight_cut_once_and_repeated_429s_keep_cutting() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(5):
        limiter.on_rate_limited(retry_after=1.0)
    assert limiter.rate_factor == pytest.approx(0.8) and limiter.usage().rate_limited_count == 5
    clock.now += 2
    limiter.on_rate_limited(retry_after=1.0)
    assert limiter.rate_factor == pytest.approx(0.64)
    for _ in range(20):
        clock.now += 2
        limiter.on_rate_limited(retry_after=1.0)
    assert limiter.rate_factor == pytest.approx(0.2)  # the floor


async def test_a_pause_holds_every_call_until_retry_after() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.on_rate_limited(retry_after=3.0)
    start = clock.now
    async with limiter.request(weight=1):
        assert clock.now - start == pytest.approx(3.0)


async def test_an_account_level_pause_does_not_hold_other_accounts() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.on_rate_limited(retry_after=5.0, account=USER)
    assert limiter.rate_factor == 1.0 and limiter.paused_for() == 0
    start = clock.now
    async with limiter.request(weight=1, account=OTHER, is_order=True):
        assert clock.now == start
    async with limiter.request(weight=1, account=USER, is_order=True):
        assert clock.now - start == pytest.approx(5.0)


def test_exchange_counters_near_the_limit_hold_calls_until_their_window_turns() -> None:
    clock = FakeClock()
    budgets = ExchangeBudgets(ip_weight=Budget(6000, 60.0), account_orders=(Budget(50, 10.0),))
    limiter = ExchangeLimiter(budgets, clock=clock, sleep=clock.sleep, wall_clock=lambda: 120.25)
    limiter.observe_server_usage(used_weight=5000, order_count=40, account=USER)
    assert limiter.paused_for(USER) == 0
    limiter.observe_server_usage(used_weight=None, order_count=48, account=USER)  # >= 95% of 50
    assert limiter.paused_for(USER) == pytest.approx(10 - 0.25 + 0.5) and limiter.paused_for(OTHER) == 0
    limiter.observe_server_usage(used_weight=5800, order_count=None)  # >= 95% of 6000
    assert limiter.paused_for() == pytest.approx(60 - 0.25 + 1.0)
    assert limiter.usage().server_used_weight == 5800 and limiter.usage().server_order_count == 48


async def test_usage_figures_count_weight_and_orders_over_their_windows() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(3):
        async with limiter.request(weight=4, account=USER, is_order=True):
            pass
    async with limiter.request(weight=20):
        pass
    limiter.observe_server_usage(used_weight=33, order_count=3)
    usage = limiter.usage()
    assert (usage.used_weight, usage.orders_in_window, usage.server_used_weight) == (32, 3, 33)
    clock.now += 11
    assert limiter.orders_in_window(USER) == 0 and limiter.usage().used_weight == 32
    clock.now += 50
    assert limiter.usage().used_weight == 0


async def test_order_budget_admits_a_burst_then_makes_the_rest_wait() -> None:
    # 10 orders per 1 s, no headroom, half of it as burst: 5 at once, then 5 per second.
    budgets = ExchangeBudgets(
        ip_weight=Budget(1000, 1.0), account_orders=(Budget(10, 1.0),), headroom=0.0, burst_fraction=0.5
    )
    limiter = ExchangeLimiter(budgets)
    done: list[int] = []

    async def send(i: int, account: int = USER) -> None:
        async with limiter.request(weight=1, account=account, is_order=True):
            done.append(i)

    tasks = [asyncio.create_task(send(i)) for i in range(7)]
    await eventually(lambda: len(done) >= 5)
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(done) == 5  # the sixth waits ~0.2 s for the bucket to drain
    await eventually(lambda: len(done) == 7)
    await asyncio.gather(*tasks)
    other = asyncio.create_task(send(99, OTHER))  # another account has its own order budget
    for _ in range(5):
        await asyncio.sleep(0)
    assert 99 in done
    await other


async def test_an_order_must_name_its_account() -> None:
    limiter = ExchangeLimiter(ExchangeBudgets.binance_spot())
    with pytest.raises(ValueError):
        async with limiter.request(weight=1, is_order=True):
            pass
