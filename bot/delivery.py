"""The delivery worker: drains the outbox into Telegram, fast and in order.

- A dispatcher keeps a window of due rows in memory (most urgent first: signals, then
  trade news, oldest first) and starts one delivery per chat that may receive now, up to
  `concurrency` at a time. One chat's messages go one at a time, in order; the rate
  limiter (`bot/ratelimit.py`) spaces them and the whole process to Telegram's limits and
  serves the most urgent waiting message first, after any reply to a user.
- While trading is paused no signal is sent; a signal that expired or was answered
  meanwhile is dropped.
- RetryAfter (429) pauses every message for exactly as long as Telegram asks and retries
  that one after the pause; network errors and 5xx retry with exponential backoff (given up
  after `max_attempts`); 403 marks the user blocked and drops their queue; 400 is logged
  with the message kind and dropped, never retried.
- A signal goes as a photo (its chart) with the text as caption and the Confirm/Skip
  buttons; its chart is rendered and uploaded once, then sent by file id.

Exactly-once, as far as Telegram allows: a row is claimed (`attempt_id`, committed) just
before its Bot API call and marked sent right after Telegram accepts it. A graceful stop
lets the calls in flight finish and releases the ones still waiting, so a restart repeats
nothing. After a crash, rows still claimed are "in doubt" and are sent again: the only
duplicates possible are messages Telegram accepted in the last round trip before the
crash. An in-doubt signal the user already answered is dropped, and an in-doubt edit
re-applied is harmless ("not modified").
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import itertools
import logging
import math
import random
import time
import uuid
from collections import deque
from datetime import timedelta
from typing import Protocol

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.charts import SignalCharts
from bot.delivery_rules import deliverable, muted
from bot.delivery_sending import MessageSender
from bot.ratelimit import Bulk, LimiterClosed, TelegramRateLimiter, retry_seconds
from core.events import Event, SignalIssued, from_payload
from core.logcontext import log_context
from core.ports import Clock, SystemRepository, UserRepository
from db.outbox import OutboxItem, OutboxRepository

log = logging.getLogger(__name__)

_RATE_WINDOW = 60.0  # seconds over which /status shows the delivery rate


class DeliveryObserver(Protocol):
    """Where the worker reports what it did (the metrics)."""

    def delivered(self, kind: str, latency_seconds: float | None) -> None: ...

    def failed(self, kind: str, reason: str) -> None: ...

    def requeued_in_doubt(self, count: int) -> None: ...


class Outcome(enum.Enum):
    SENT = "sent"
    DROPPED = "dropped"  # done without sending: stale, blocked, refused
    RETRY = "retry"  # back in the queue with a not_before
    RELEASED = "released"  # not attempted (paused, stopping): back in the queue as it was


class DeliveryWorker:
    def __init__(
        self,
        bot: ExtBot[Bulk],
        outbox: OutboxRepository,
        users: UserRepository,
        system: SystemRepository,
        limiter: TelegramRateLimiter,
        charts: SignalCharts,
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
    ) -> None:
        self._bot = bot
        self._outbox = outbox
        self._users = users
        self._system = system
        self._limiter = limiter
        self._sender = MessageSender(bot, charts)
        self._observer = observer
        self._clock = clock  # wall clock: retry times, latency
        self._market_clock = market_clock  # the market's clock: signal expiry
        self._concurrency = concurrency
        self._window_size = window
        self._idle_poll = idle_poll
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_attempts = max_attempts
        self._stop_timeout = stop_timeout
        self._keep_delivered = keep_delivered.total_seconds()
        self._window: list[OutboxItem] = []
        self._window_full = False
        self._inflight: dict[int, asyncio.Task[Outcome]] = {}
        self._reload = True
        self._paused = False
        self._timers: list[float] = []  # monotonic times at which retries fall due
        self._changed = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._run_id = uuid.uuid4().hex[:12]
        self._attempt_ids = itertools.count(1)
        self._recent: deque[float] = deque()  # monotonic times of recent deliveries
        self.sent = 0
        self.failed = 0
        self.in_doubt = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> asyncio.Task[None]:
        """Run the worker in a task it owns."""
        self._task = asyncio.create_task(self.run(), name="delivery-worker")
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

    def abort(self) -> None:
        """Stop at once, as a crash would: sends in flight are left in doubt."""
        for task in (*self._inflight.values(), *([self._task] if self._task else [])):
            task.cancel()

    def wake(self) -> None:
        """Tell the worker there is something new (called after outbox writes)."""
        self._reload = True
        self._changed.set()

    def sent_per_second(self) -> float:
        """Deliveries per second over the last minute."""
        self._forget_old_deliveries()
        return len(self._recent) / _RATE_WINDOW

    def _forget_old_deliveries(self) -> None:
        horizon = time.monotonic() - _RATE_WINDOW
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()

    # ------------------------------------------------------------------ dispatcher
    async def run(self) -> None:
        requeued = await self._outbox.requeue_in_doubt()
        if requeued:
            self.in_doubt += requeued
            self._observer.requeued_in_doubt(requeued)
            log.warning(
                "%d message(s) were being sent when the last run stopped: sending them again "
                "(Telegram may have had them already)",
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
        self._paused = await self._system.is_paused()
        held = (SignalIssued.kind,) if self._paused else ()
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
            task = asyncio.create_task(self._deliver(item), name=f"deliver-{item.id}")
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

    # ------------------------------------------------------------------ one message
    async def _deliver(self, item: OutboxItem) -> Outcome:
        event = from_payload(item.kind, item.payload)
        context = {"user_id": item.user_id, "outbox_id": item.id, "kind": item.kind}
        context |= {"user_signal_id": item.payload.get("user_signal_id"), "symbol": item.payload.get("symbol")}
        with log_context(signal_id=item.signal_id, **context):
            try:
                return await self._attempt(item, event)
            except Exception as exc:  # the worker's boundary: one bad row must not stop the others
                log.exception("delivering %s message %s failed unexpectedly", item.kind, item.id)
                return await self._retry(item, f"unexpected: {exc!r}")

    async def _attempt(self, item: OutboxItem, event: Event) -> Outcome:
        if item.blocked:
            await self._drop(item, "blocked", "user blocked the bot")
            return Outcome.DROPPED
        if isinstance(event, SignalIssued):
            if self._paused:
                return Outcome.RELEASED
            if not deliverable(item, event) or event.expires_at <= self._market_clock.now():
                await self._drop(item, "stale", f"stale: {item.signal_state}")
                return Outcome.DROPPED
        if muted(item, event):  # the user turned these messages off in /settings
            await self._outbox.mark_sent(item, None, "muted", self._clock.now())
            return Outcome.SENT
        if not await self._outbox.claim(item, f"{self._run_id}-{next(self._attempt_ids)}"):
            return Outcome.DROPPED  # resolved meanwhile (e.g. the user blocked us)
        try:
            message_id, delivered_as = await self._sender.send(item, event)
        except LimiterClosed:
            await self._outbox.release(item)
            return Outcome.RELEASED
        except RetryAfter as exc:  # the limiter already paused everything for this long
            delay = retry_seconds(exc)
            await self._outbox.retry_later(
                item, self._clock.now() + timedelta(seconds=delay), f"retry after {delay:g}s", rate_limited=True
            )
            self._timers = sorted([*self._timers, time.monotonic() + delay])
            return Outcome.RETRY
        except Forbidden as exc:
            log.info("user %s blocked the bot (%s): their queue is dropped", item.user_id, exc.message)
            await self._users.mark_blocked(item.user_id)
            await self._drop(item, "forbidden", f"forbidden: {exc.message}")
            await self._outbox.fail_pending_for_user(item.user_id, "user blocked the bot")
            return Outcome.DROPPED
        except BadRequest as exc:
            log.error("telegram refused the %s message (outbox %s): %s", item.kind, item.id, exc.message)
            await self._drop(item, "bad_request", f"bad request: {exc.message}")
            return Outcome.DROPPED
        except (NetworkError, TelegramError) as exc:  # timeouts, connection errors, 5xx
            return await self._retry(item, str(exc))
        now = self._clock.now()
        await self._outbox.mark_sent(item, message_id, delivered_as, now)
        self.sent += 1
        self._recent.append(time.monotonic())
        self._forget_old_deliveries()
        latency = now.timestamp() - item.enqueued_at if item.enqueued_at is not None else None
        self._observer.delivered(item.kind, latency)
        return Outcome.SENT

    async def _retry(self, item: OutboxItem, error: str) -> Outcome:
        if item.attempts + 1 >= self._max_attempts:
            log.error("giving up on %s message %s after %d attempts: %s", item.kind, item.id, item.attempts + 1, error)
            await self._drop(item, "gave_up", f"gave up: {error}")
            return Outcome.DROPPED
        delay = min(self._backoff_cap, self._backoff_base * 2**item.attempts) * random.uniform(0.8, 1.2)
        log.warning("sending %s message %s failed (%s); retry in %.1fs", item.kind, item.id, error, delay)
        await self._outbox.retry_later(item, self._clock.now() + timedelta(seconds=delay), error, rate_limited=False)
        self._timers = sorted([*self._timers, time.monotonic() + delay])
        return Outcome.RETRY

    async def _drop(self, item: OutboxItem, reason: str, error: str) -> None:
        await self._outbox.mark_failed(item, error)
        self.failed += 1
        self._observer.failed(item.kind, reason)

    # ------------------------------------------------------------------ Bot API calls
