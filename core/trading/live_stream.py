"""Account streams: fills seen as the exchange reports them, polling as the safety net.

One watcher task per live account with open positions or working limit entries follows its
user-data stream (the `OrderStream` port). An update only says where to look: for an order
the database knows (by client order id) the position, or the limit entry, is followed at once
through the monitor's own follow,
REST being the truth, so a duplicated, reordered or stale event can neither lose nor
repeat a fill (the booking is the same transaction the poll uses). Unknown orders are
ignored.

Each watcher is supervised here: when its stream fails it is closed and opened again after
a doubling wait with jitter (`base` up to `cap` seconds), and the account counts as down
until the new subscription is up and the account has been reconciled through REST. The
admins hear of an outage once (one episode for all accounts: an exchange-wide outage is one
message, not one per account or per retry); it ends when no account is down. The monitor
polls a down account's positions at its usual pace (core/trading/live_pacing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.events import Alert
from core.models import OrderResult
from core.trading.episodes import Episodes, short_reason
from core.trading.live_ports import OrderStream

log = logging.getLogger(__name__)

OUTAGE_KEY = "account_streams"


@dataclass(frozen=True, slots=True)
class StreamConfig:
    base: float = 1.0  # the first wait before a failed stream is opened again
    cap: float = 60.0  # the longest wait
    healthy_after: float = 60.0  # a stream up this long starts its backoff afresh
    refresh_seconds: float = 5.0  # how often the accounts to watch are read again
    close_timeout: float = 0.5  # each stream's close, when an account goes or the bot stops
    # Binance's WebSocket API takes 300 connection attempts per 5 minutes per IP: new
    # subscriptions (and re-subscriptions) are paced to this many a second, all accounts
    # together; an account waiting for its turn is polled meanwhile.
    connects_per_second: float = 1.0


class StreamTarget(Protocol):
    """What the watchers act on (core/trading/live_pacing.py implements it over the monitor)."""

    async def accounts(self) -> set[int]:
        """The users whose accounts need watching now."""
        ...

    async def reconcile(self, user_id: int) -> None:
        """Follow every working limit entry and open position of the user through REST, now."""
        ...

    async def updated(self, user_id: int, results: Sequence[OrderResult]) -> None:
        """Act on the user's order updates."""
        ...


class AccountStreams:
    """The account watchers: started and stopped as accounts come and go, supervised."""

    def __init__(
        self,
        stream: OrderStream,
        target: StreamTarget,
        episodes: Episodes,
        admin_ids: frozenset[int],
        config: StreamConfig = StreamConfig(),
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._stream = stream
        self._target = target
        self._episodes = episodes
        self._admin_ids = admin_ids
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._watchers: dict[int, asyncio.Task[None]] = {}
        self._healthy: dict[int, float] = {}  # user -> since when the stream is up and reconciled
        self._down: dict[int, str] = {}  # user -> why their stream is down, during an outage
        self._next_connect = 0.0  # time.monotonic() of the next connection attempt allowed
        self.failures = 0  # stream failures since start (every retry counted)

    # ------------------------------------------------------------------ what others ask

    def healthy_since(self, user_id: int) -> float | None:
        """When the user's stream came up (and the account was reconciled), if it is up."""
        return self._healthy.get(user_id)

    def watched(self) -> set[int]:
        return set(self._watchers)

    # ------------------------------------------------------------------ the accounts

    async def run(self) -> None:
        """Keep one watcher per account that needs one, until cancelled (or `stop`)."""
        try:
            while True:
                await self.refresh()
                await self._sleep(self._config.refresh_seconds)
        finally:
            await self.stop()

    async def refresh(self) -> None:
        """Start a watcher for each account that needs one; stop those no longer needed."""
        wanted = await self._target.accounts()
        for user_id in sorted(wanted - set(self._watchers)):
            self._watchers[user_id] = asyncio.create_task(self._watch(user_id), name=f"stream-{user_id}")
        for user_id in sorted(set(self._watchers) - wanted):
            await self._end(user_id)
        for user_id, task in list(self._watchers.items()):
            if task.done():  # it ended (a bug: it never returns); the next refresh starts it again
                log.error("the stream watcher of user %s ended: %r", user_id, task.exception())
                del self._watchers[user_id]
        if not self._down and self._episodes.failures.get(OUTAGE_KEY):
            await self._episodes.succeeded(OUTAGE_KEY)

    async def stop(self) -> None:
        """Stop every watcher and close its stream (all at once, each close bounded in time)."""
        await asyncio.gather(*(self._end(user_id) for user_id in list(self._watchers)))

    async def _end(self, user_id: int) -> None:
        task = self._watchers.pop(user_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._healthy.pop(user_id, None)
        self._down.pop(user_id, None)
        await self._close(user_id)

    async def _close(self, user_id: int) -> None:
        try:
            await asyncio.wait_for(self._stream.close_stream(user_id), self._config.close_timeout)
        except (TimeoutError, OSError) as exc:
            log.warning("the stream of user %s did not close cleanly: %r", user_id, exc)

    # ------------------------------------------------------------------ one account

    async def _watch(self, user_id: int) -> None:
        """Follow the user's stream for good: reopen it whenever it fails."""
        failures = 0
        while True:
            started = self._clock()
            try:
                await self._session(user_id)
            except Exception as exc:  # the watcher's boundary: the stream failed, it is opened again
                self._healthy.pop(user_id, None)
                if self._clock() - started >= self._config.healthy_after:
                    failures = 0  # it had been up for a while: a new run of retries
                failures += 1
                await self._outage(user_id, exc, failures)
                await self._close(user_id)
                await self._sleep(self._wait(failures))

    def _wait(self, failures: int) -> float:
        """Doubling waits up to the cap, each taken at random in its upper half (so that
        accounts that failed together do not all come back in the same instant)."""
        full = min(self._config.cap, self._config.base * 2 ** (failures - 1))
        return full * (0.5 + 0.5 * self._jitter())

    async def _session(self, user_id: int) -> None:
        """Subscribe, reconcile the account through REST, then act on every update (those
        that came during the reconcile are kept by the stream, and acted on after it)."""
        await self._turn()
        await self._stream.open_stream(user_id)
        since = self._clock()
        await self._target.reconcile(user_id)  # what happened before the subscription
        self._healthy[user_id] = since
        await self._back(user_id)
        while True:
            await self._target.updated(user_id, await self._stream.watch_orders(user_id))

    async def _turn(self) -> None:
        """Wait for this connection attempt's turn (see `connects_per_second`)."""
        now = time.monotonic()
        at = max(now, self._next_connect)
        self._next_connect = at + 1.0 / self._config.connects_per_second
        if at > now:
            await self._sleep(at - now)

    async def _outage(self, user_id: int, exc: Exception, failures: int) -> None:
        self.failures += 1
        reason = short_reason(exc)
        first = user_id not in self._down
        self._down[user_id] = reason
        log.log(
            logging.WARNING if first else logging.INFO,
            "the stream of user %s failed (%d in a row): %s; their positions are polled until it is back",
            user_id,
            failures,
            reason,
        )
        params = {"user": user_id, "reason": reason, "down": len(self._down)}
        alerts = [Alert(admin, "account_stream_down_admin", params) for admin in sorted(self._admin_ids)]
        try:
            await self._episodes.failed(OUTAGE_KEY, alerts)  # told once per outage, every retry counted
        except Exception as exc:  # telling must not stop the retries (the database may be what failed)
            log.error("could not record the stream outage of user %s: %r", user_id, exc)

    async def _back(self, user_id: int) -> None:
        if self._down.pop(user_id, None) is not None:
            log.info("the stream of user %s is back", user_id)
        if not self._down:
            await self._episodes.succeeded(OUTAGE_KEY)
