"""One rate limiter per exchange, shared by every call the process makes to it.

Exchanges count two kinds of budget: request weight per IP (Binance spot: 6000 per
minute) and orders per account (Binance spot: 50 per 10 s and 160,000 per day). Every
call, whichever user it is for, goes through `ExchangeLimiter.request`.

Each budget is a leaky bucket (aiolimiter) sized so that no window of the budget's length,
wherever it starts, ever holds more than `(1 - headroom)` of the limit: a bucket of
capacity C draining at r per second admits at most C + r * T in any span T. That keeps the
process under the exchange's counters whether they use fixed or sliding windows and
whatever their alignment with our clock; the headroom absorbs network jitter (a request
admitted earlier may arrive later than one admitted after it). A rate cut slows the drain.

On a 429/418 (or the exchange's own rate-limit error) the limiter pauses every call until
Retry-After has passed, cuts its rate to 80% and then recovers 5 points per quiet minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

_EPSILON = 1e-9
# Smallest burst capacity: one common call goes in one piece; heavier ones are sliced.
_MIN_BURST_WEIGHT = 4.0  # a fetch_order on Binance
_MIN_BURST_ORDERS = 1.0


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit` units in any `window` seconds."""

    limit: float
    window: float

    def scaled(self, time_factor: float) -> Budget:
        """The same rate over a window `time_factor` times as long (for short benches)."""
        return Budget(self.limit * time_factor, self.window * time_factor)


@dataclass(frozen=True, slots=True)
class ExchangeBudgets:
    """The exchange's published limits and how much of them this process may use."""

    ip_weight: Budget
    account_orders: tuple[Budget, ...]
    headroom: float = 0.1  # never plan to use this share: latency jitter, other tools on the key
    burst_fraction: float = 0.1  # share of the usable budget that may leave at once

    def __post_init__(self) -> None:
        if not 0.0 <= self.headroom < 1.0 or not 0.0 < self.burst_fraction < 1.0:
            raise ValueError("headroom must be in [0, 1) and burst_fraction in (0, 1)")

    @classmethod
    def binance_spot(cls) -> ExchangeBudgets:
        """Binance spot: 6000 weight/min per IP; 50 orders/10 s and 160,000/day per account."""
        return cls(ip_weight=Budget(6000, 60.0), account_orders=(Budget(50, 10.0), Budget(160_000, 86_400.0)))

    def scaled(self, time_factor: float) -> ExchangeBudgets:
        """Every window multiplied by `time_factor`, every rate kept."""
        return ExchangeBudgets(
            ip_weight=self.ip_weight.scaled(time_factor),
            account_orders=tuple(b.scaled(time_factor) for b in self.account_orders),
            headroom=self.headroom,
            burst_fraction=self.burst_fraction,
        )


@dataclass(frozen=True, slots=True)
class RateControl:
    """How the limiter reacts to the exchange saying "too many requests"."""

    cut_to: float = 0.8  # multiply the rate by this on each rate-limit answer
    floor: float = 0.2  # never go slower than this share of the budget
    recover_step: float = 0.05  # add this share back ...
    recover_every: float = 60.0  # ... per this many quiet seconds
    default_retry_after: float = 1.0  # pause when the exchange gives no Retry-After
    cut_cooldown: float = 1.0  # answers to requests already in flight count as one cut


@dataclass(frozen=True, slots=True)
class LimiterUsage:
    """Figures for metrics. Weight and orders are counted over the budget's own window."""

    used_weight: float
    weight_limit: float
    orders_in_window: int  # the busiest account, over the first order budget's window
    orders_limit: float
    rate_factor: float
    paused_for: float
    rate_limited_count: int
    server_used_weight: int | None  # the exchange's own figure (X-MBX-USED-WEIGHT-1M)
    server_order_count: int | None  # the last X-MBX-ORDER-COUNT-10S seen


class _Window:
    """Units acquired over the last `window` seconds, for reporting only."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._events: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def add(self, now: float, amount: float) -> None:
        self._events.append((now, amount))
        self._total += amount

    def total(self, now: float) -> float:
        while self._events and self._events[0][0] <= now - self._window:
            self._total -= self._events.popleft()[1]
        return max(self._total, 0.0)


class _ScalableLimiter(AsyncLimiter):
    """An AsyncLimiter whose drain rate can be scaled after construction.

    aiolimiter 1.2 (pinned: PTB's rate-limiter extra needs < 1.3) drains at
    `_rate_per_sec`; settle the level at the old rate, change it, re-arm the waiters.
    """

    __slots__ = ("_base_rate",)

    def __init__(self, max_rate: float, time_period: float) -> None:
        super().__init__(max_rate, time_period)
        self._base_rate = self._rate_per_sec

    def scale(self, factor: float) -> None:
        self._leak()
        self._rate_per_sec = self._base_rate * factor
        self._wake_next()


class _Bucket:
    """A budget as a leaky bucket.

    The burst capacity is at least `min_capacity`, so a common request is taken in one
    piece; a larger one is taken in slices, one such request at a time, so that waiting
    requests cannot pile up part-payments and then leave together.
    """

    def __init__(self, budget: Budget, headroom: float, burst_fraction: float, min_capacity: float) -> None:
        usable = budget.limit * (1.0 - headroom)
        self.capacity = max(usable * burst_fraction, min(min_capacity, usable / 2))
        rate = (usable - self.capacity) / budget.window  # capacity + rate * window == usable
        self._limiter = _ScalableLimiter(self.capacity, self.capacity / rate)
        self._factor = 1.0
        self._slicing = asyncio.Lock()

    async def take(self, amount: float, factor: float) -> None:
        if factor != self._factor:
            self._limiter.scale(factor)
            self._factor = factor
        if amount <= self.capacity:
            await self._limiter.acquire(amount)
            return
        async with self._slicing:
            while amount > _EPSILON:
                piece = min(amount, self.capacity)
                await self._limiter.acquire(piece)
                amount -= piece


@dataclass(slots=True)
class _Account:
    buckets: list[_Bucket]
    orders: _Window
    paused_until: float = 0.0


@dataclass(slots=True)
class _State:
    factor: float = 1.0
    factor_changed_at: float = 0.0
    last_cut_at: float | None = None
    paused_until: float = 0.0
    rate_limited: int = 0
    server_used_weight: int | None = None
    server_order_count: int | None = None
    accounts: dict[int, _Account] = field(default_factory=dict)


class ExchangeLimiter:
    """Governs every call to one exchange: per-IP weight, per-account order counts.

    `clock` (monotonic seconds) and `sleep` drive pauses, the rate factor and the usage
    figures, so tests can replace them; the buckets themselves run on the event loop's time.
    `wall_clock` (epoch seconds) places the exchange's fixed windows, which turn on the
    minute (or 10 s, or day) of its own clock.
    """

    def __init__(
        self,
        budgets: ExchangeBudgets,
        control: RateControl | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.budgets = budgets
        self.control = control or RateControl()
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._ip = _Bucket(budgets.ip_weight, budgets.headroom, budgets.burst_fraction, _MIN_BURST_WEIGHT)
        self._weight = _Window(budgets.ip_weight.window)
        self._state = _State(factor_changed_at=clock())

    @asynccontextmanager
    async def request(
        self, weight: float = 1.0, account: int | None = None, is_order: bool = False, orders: int = 1
    ) -> AsyncIterator[None]:
        """Wait until the call may go out, then let the body send it.

        `account` names whose order budget an order uses (the user id); `orders` is how
        many orders the call places (an OCO places two).
        """
        if is_order and account is None:
            raise ValueError("an order must name its account")
        acct = self._account(account) if is_order and account is not None else None
        await self._wait_pause(account)
        factor = self.rate_factor
        if acct is not None:
            for bucket in acct.buckets:
                await bucket.take(orders, factor)
        await self._ip.take(weight, factor)
        await self._wait_pause(account)  # a 429 may have arrived while we queued
        now = self._clock()
        self._weight.add(now, weight)
        if acct is not None:
            acct.orders.add(now, orders)
        yield

    def on_rate_limited(self, retry_after: float | None, account: int | None = None) -> None:
        """Record a 429/418: pause every call until Retry-After and cut the rate.

        With `account` (the exchange refused that account's order count, Binance -1015)
        only that account is paused and nothing is cut: another tool trading on the same
        key must not slow every other user down.
        """
        now = self._clock()
        state = self._state
        state.rate_limited += 1
        pause = retry_after if retry_after is not None else self.control.default_retry_after
        if account is not None:
            acct = self._account(account)
            acct.paused_until = max(acct.paused_until, now + pause)
            return
        state.paused_until = max(state.paused_until, now + pause)
        if state.last_cut_at is not None and now - state.last_cut_at < self.control.cut_cooldown:
            return
        state.factor = max(self.control.floor, self._recovered(now) * self.control.cut_to)
        state.factor_changed_at = now
        state.last_cut_at = now

    def observe_server_usage(
        self, used_weight: int | None, order_count: int | None, account: int | None = None
    ) -> None:
        """Take in the exchange's own counters (response headers).

        They are kept for the metrics and used as a backstop: when the exchange counts
        the current window as nearly full (someone else shares the IP, or requests let go
        earlier arrived bunched up), hold calls until that window turns.
        """
        b = self.budgets
        if used_weight is not None:
            self._state.server_used_weight = used_weight
            if used_weight >= b.ip_weight.limit * (1.0 - b.headroom / 2):
                self._hold_until_window_turns(b.ip_weight.window, None)
        if order_count is not None:
            self._state.server_order_count = order_count
            first = b.account_orders[0] if b.account_orders else None
            if account is not None and first is not None and order_count >= first.limit * (1.0 - b.headroom / 2):
                self._hold_until_window_turns(first.window, account)

    def _hold_until_window_turns(self, window: float, account: int | None) -> None:
        remaining = window - self._wall_clock() % window + min(1.0, 0.05 * window)  # margin: clock skew
        until = self._clock() + remaining
        if account is None:
            self._state.paused_until = max(self._state.paused_until, until)
        else:
            acct = self._account(account)
            acct.paused_until = max(acct.paused_until, until)

    @property
    def rate_factor(self) -> float:
        """Share of the budgets currently used: 1.0, or less after a rate-limit answer."""
        return self._recovered(self._clock())

    def paused_for(self, account: int | None = None) -> float:
        """Seconds before a call (for `account`) may go out because of a pause."""
        now = self._clock()
        until = self._state.paused_until
        if account is not None and account in self._state.accounts:
            until = max(until, self._state.accounts[account].paused_until)
        return max(0.0, until - now)

    def usage(self) -> LimiterUsage:
        """Current figures for metrics."""
        now = self._clock()
        busiest = max((int(a.orders.total(now)) for a in self._state.accounts.values()), default=0)
        return LimiterUsage(
            used_weight=self._weight.total(now),
            weight_limit=self.budgets.ip_weight.limit,
            orders_in_window=busiest,
            orders_limit=self.budgets.account_orders[0].limit if self.budgets.account_orders else 0.0,
            rate_factor=self._recovered(now),
            paused_for=self.paused_for(),
            rate_limited_count=self._state.rate_limited,
            server_used_weight=self._state.server_used_weight,
            server_order_count=self._state.server_order_count,
        )

    def orders_in_window(self, account: int) -> int:
        """Orders this account placed over the first order budget's window."""
        acct = self._state.accounts.get(account)
        return int(acct.orders.total(self._clock())) if acct else 0

    def _recovered(self, now: float) -> float:
        state = self._state
        if state.factor >= 1.0:
            return 1.0
        steps = int((now - state.factor_changed_at) // self.control.recover_every)
        if steps > 0:
            state.factor = min(1.0, state.factor + steps * self.control.recover_step)
            state.factor_changed_at += steps * self.control.recover_every
        return state.factor

    async def _wait_pause(self, account: int | None) -> None:
        while (remaining := self.paused_for(account)) > 0:
            await self._sleep(remaining)

    def _account(self, account: int) -> _Account:
        acct = self._state.accounts.get(account)
        if acct is None:
            b = self.budgets
            buckets = [_Bucket(budget, b.headroom, b.burst_fraction, _MIN_BURST_ORDERS) for budget in b.account_orders]
            window = b.account_orders[0].window if b.account_orders else 1.0
            acct = self._state.accounts[account] = _Account(buckets=buckets, orders=_Window(window))
        return acct
