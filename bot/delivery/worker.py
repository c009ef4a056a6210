"""The delivery worker: drains the outbox into Telegram, fast and in order.

A dispatcher keeps a window of due rows in memory (most urgent first: signals, then trade
news, oldest first) and starts one delivery per chat that may receive now, up to
`concurrency` at a time. One chat's messages go one at a time, in order; the rate limiter
(`bot/ratelimit.py`) spaces them per chat and for the whole process, and holds only the
chat a 429 was about. What one try of one row does is `bot/delivery/attempt.py`.

Exactly-once, as far as Telegram allows: a row is claimed (committed) when its turn at the
limiter has come, just before its Bot API call, and marked sent right after Telegram
accepts it. A graceful stop lets the calls in flight finish and releases the ones still
waiting, so a restart repeats nothing. After a crash, rows still claimed are "in doubt"
and are sent again: the only duplicates possible are messages Telegram accepted in the
last round trip before the crash. An in-doubt signal the user already answered is dropped,
and an in-doubt edit re-applied is harmless ("not modified").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from datetime import timedelta

from telegram.ext import ExtBot

from bot.charts import SignalCharts
from bot.delivery.attempt import DeliveryObserver, MessageAttempt, Outcome, RetryPolicy
from bot.delivery.paid import PaidBudget
from bot.delivery.sending import MessageSender
from bot.figures import Figures
from bot.ratelimit import Bulk, TelegramRateLimiter
from bot.supervise import WorkerAlert, supervise
from core.events import SignalIssued, SignalPosted
from core.ports import Clock, SystemRepository, UserRepository
from core.rules.exits import ManagementRules
from db.outbox import OutboxItem, OutboxRepository

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        bot: ExtBot[Bulk],
        outbox: OutboxRepository,
        users: UserRepository,
        system: SystemRepository,
        limiter: TelegramRateLimiter,
        charts: SignalCharts,
        figures: Figures,
        exits: ManagementRules,
        observer: DeliveryObserver,
        clock: Clock,
        market_clock: Clock,
        *,
        concurrency: int = 16,
        window: int = 500,
        idle_poll: float = 1.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        max_attempts: int = 30,
        stop_timeout: float = 5.0,
        keep_delivered: timedelta = timedelta(days=7),
        restart_base: float = 1.0,
        paid: PaidBudget | None = None,
    ) -> None:
        """`paid`: the paid lane's budget (paid broadcasts on); the worker then keeps 32
        deliveries in flight (64 and 128 measured slower: the HTTP client's pool work grows)."""
        if paid is not None:
            concurrency = max(concurrency, 32)
        self._outbox = outbox
        self._system = system
        self._limiter = limiter
        self._clock = clock
        self._concurrency = concurrency
        self._window_size = window
        self._idle_poll = idle_poll
        self._stop_timeout = stop_timeout
        self._keep_delivered = keep_delivered.total_seconds()
        self._restart_base = restart_base  # first wait before a dead worker is restarted; doubles
        self._attempt = MessageAttempt(
            MessageSender(bot, charts, figures, exits),
            outbox,
            users,
            observer,
            clock,
            market_clock,
            RetryPolicy(backoff_base, backoff_cap, max_attempts),
            self._retry_in,
            paid,
        )
        self._window: list[OutboxItem] = []
        self._window_full = False
        self._inflight: dict[int, asyncio.Task[Outcome]] = {}
        self._reload = True
        self._timers: list[float] = []  # monotonic times at which retries fall due
        self._changed = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ figures
    @property
    def sent(self) -> int:
        return self._attempt.counts.sent

    @property
    def failed(self) -> int:
        return self._attempt.counts.failed

    @property
    def in_doubt(self) -> int:
        """Messages re-sent while Telegram may already have had them."""
        return self._attempt.counts.in_doubt

    @property
    def paid(self) -> PaidBudget | None:
        """The paid lane's budget (None: paid broadcasts off)."""
        return self._attempt.paid

    async def outbox_depth(self) -> int:
        """Messages waiting in the outbox."""
        return await self._outbox.depth()

    def sent_per_second(self) -> float:
        """Deliveries per second over the last minute."""
        return self._attempt.counts.per_second()

    # ------------------------------------------------------------------ lifecycle
    def start(self, alert: WorkerAlert | None = None) -> asyncio.Task[None]:
        """Run the worker in a task it owns, supervised: restarted with doubling waits when
        it dies, the admins told once per episode through `alert` (bot/supervise.py)."""
        self._stopping = False
        self._limiter.open_bulk()
        self._task = asyncio.create_task(
            supervise("delivery", self.run, alert=alert, stopping=lambda: self._stopping, base=self._restart_base),
            name="delivery-worker",
        )
        return self._task

    async def stop(self) -> None:
        """Stop gracefully: no new sends, waiting ones released unsent, sends in flight
        finished (up to `stop_timeout`; any still hanging then are cancelled, in doubt)."""
        self._stopping = True
        self._limiter.close_bulk()
        self._changed.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._attempt.paid is not None:
            await self._attempt.paid.settle()

    def abort(self) -> None:
        """Stop at once, as a crash would: sends in flight are left in doubt."""
        for task in (*self._inflight.values(), *([self._task] if self._task else [])):
            task.cancel()

    def wake(self) -> None:
        """Tell the worker there is something new (called after outbox writes)."""
        self._reload = True
        self._changed.set()

    # ------------------------------------------------------------------ dispatcher
    async def run(self) -> None:
        requeued = await self._outbox.requeue_in_doubt()
        if requeued:
            log.warning(
                "%d message(s) were being sent when the last run stopped: sending them again "
                "unless answered meanwhile (Telegram may have had them already)",
                requeued,
            )
        next_reload = next_purge = 0.0
        try:
            while not self._stopping:
                self._changed.clear()
                now = time.monotonic()
                if now >= next_purge:  # sent and dropped rows are kept a week for inquiries
                    await self._outbox.purge_delivered(self._clock.now().timestamp() - self._keep_delivered)
                    next_purge = now + 3600
                if self._reload or now >= next_reload or self._due_timer(now) or self._exhausted():
                    await self._load()
                    next_reload = now + self._idle_poll
                wake_at = min(self._dispatch(time.monotonic()), next_reload, *self._timers[:1])
                timeout = wake_at - time.monotonic()
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel (3.11)
                            await self._changed.wait()
        finally:
            await self._finish_inflight()

    def _retry_in(self, seconds: float) -> None:
        self._timers = sorted([*self._timers, time.monotonic() + seconds])

    def _due_timer(self, now: float) -> bool:
        due = False
        while self._timers and self._timers[0] <= now:
            self._timers.pop(0)
            due = True
        return due

    def _exhausted(self) -> bool:
        """The window ran dry but the last load was cut at the window size."""
        return self._window_full and not self._window and len(self._inflight) < self._concurrency

    async def _load(self) -> None:
        self._reload = False
        paused = await self._system.is_paused()
        self._attempt.paused = paused
        held = (SignalIssued.kind, SignalPosted.kind) if paused else ()
        self._window = await self._outbox.due(self._clock.now(), self._window_size, skip_kinds=held, per_chat=3)
        self._window_full = len(self._window) >= self._window_size

    def _dispatch(self, now: float) -> float:
        """Start a delivery for each chat that may receive now; return when to look again."""
        wake_at = math.inf
        seen: set[int] = set()
        waiting = []
        for item in self._window:
            chat = item.user_id
            if chat in seen or chat in self._inflight or len(self._inflight) >= self._concurrency:
                seen.add(chat)
                waiting.append(item)
                continue
            seen.add(chat)
            ready = self._limiter.chat_ready_at(chat)
            if ready > now:
                wake_at = min(wake_at, ready)
                waiting.append(item)
                continue
            task = asyncio.create_task(self._attempt.deliver(item), name=f"deliver-{item.id}")
            self._inflight[chat] = task
            task.add_done_callback(functools.partial(self._finished, item))
        self._window = waiting
        return wake_at

    def _finished(self, item: OutboxItem, task: asyncio.Task[Outcome]) -> None:
        self._inflight.pop(item.user_id, None)
        self._changed.set()
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("delivery of %s message %s crashed", item.kind, item.id, exc_info=error)
        if task.cancelled() or error is not None or task.result() is not Outcome.SENT:
            # The rest of this chat's queue waits behind this row: reload it from the database.
            self._window = [queued for queued in self._window if queued.user_id != item.user_id]
        else:  # a reload while it was in flight may have put it back in the window
            self._window = [queued for queued in self._window if queued.id != item.id]

    async def _finish_inflight(self) -> None:
        if not self._inflight:
            return
        tasks = list(self._inflight.values())
        _, hanging = await asyncio.wait(tasks, timeout=self._stop_timeout)
        for task in hanging:
            task.cancel()
        if hanging:
            await asyncio.wait(hanging)
            log.warning("%d send(s) still in flight at stop: left in doubt", len(hanging))
