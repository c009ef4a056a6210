"""Telegram's flood limits in one place: the rate limiter of every Bot API call the bot makes.

Telegram lets a bot send about 30 messages a second in all and about one a second to one
chat (short bursts tolerated); past that it answers 429 with `retry_after`. PTB's own
AIORateLimiter has no priorities, so a fan-out would queue a user's reply behind a thousand
signals. This limiter:

- spaces every message-carrying call (any call with a `chat_id`: sends and edits) at least
  1/`messages_per_second` apart, process-wide;
- serves waiting calls by priority: replies to users (handlers, no `rate_limit_args`) first,
  then the delivery worker's in outbox order (its `Bulk` args: priority, then outbox id);
- keeps the worker's calls at most one per `chat_interval` per chat (replies are not held
  back: Telegram tolerates a short burst in one chat);
- on 429 pauses every call for exactly the `retry_after` Telegram asked for; a reply is then
  tried once more, a worker call gets the RetryAfter back so the worker reschedules it;
- lets calls without a chat (answerCallbackQuery, getMe ...) through at once: they are not
  messages, and a pressed button must be answered at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

#: Priority of calls without `rate_limit_args`: replies to a user's command or press.
INTERACTIVE = -1


@dataclass(frozen=True, slots=True)
class Bulk:
    """`rate_limit_args` of a delivery-worker call: its outbox priority and row id."""

    priority: int
    order: int


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    messages_per_second: float = 30.0
    chat_interval: float = 1.0  # seconds between two worker messages to one chat
    max_retries: int = 1  # extra tries of an interactive call after a 429


class LimiterClosed(Exception):
    """The limiter stopped before this call was sent: it was not sent."""


def retry_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


_Waiter = tuple[tuple[int, int], int, "asyncio.Future[None]"]


class TelegramRateLimiter(BaseRateLimiter[Bulk]):
    def __init__(self, limits: TelegramLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or TelegramLimits()
        self._interval = 1.0 / self.limits.messages_per_second
        self._clock = clock
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._chat_last: dict[int | str, float] = {}
        self._bulk_closed = False
        self._listeners: list[Callable[[float], None]] = []
        self.rate_limited = 0  # 429 answers seen

    # ------------------------------------------------------------------ PTB interface
    async def initialize(self) -> None:
        self._bulk_closed = False

    async def shutdown(self) -> None:
        self._fail_waiters(lambda key: True)
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Bulk | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await callback(*args, **kwargs)
        bulk = rate_limit_args
        key = (bulk.priority, bulk.order) if bulk is not None else (INTERACTIVE, next(self._seq))
        retries = 0
        while True:
            if bulk is not None:
                await self._chat_turn(chat_id)
            await self._slot(key)
            self._chat_last[chat_id] = self._clock()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.on_retry_after(retry_seconds(exc))
                if bulk is not None or retries >= self.limits.max_retries:
                    raise
                retries += 1

    # ------------------------------------------------------------------ for the worker
    def chat_ready_at(self, chat_id: int | str) -> float:
        """Monotonic time from which a worker message to `chat_id` may go."""
        last = self._chat_last.get(chat_id)
        return -1.0 if last is None else last + self.limits.chat_interval

    @property
    def paused_for(self) -> float:
        """Seconds left of the pause Telegram asked for (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def on_rate_limited(self, listener: Callable[[float], None]) -> None:
        """Call `listener(retry_after_seconds)` on every 429 (metrics)."""
        self._listeners.append(listener)

    def on_retry_after(self, seconds: float) -> None:
        """Pause every call for `seconds` from now."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        log.warning("telegram asked to wait %.1fs: every message waits", seconds)
        for listener in self._listeners:
            listener(seconds)

    def close_bulk(self) -> None:
        """Refuse worker calls from now on, and release the waiting ones with LimiterClosed
        (they were never sent). Replies still go. Used when the worker stops."""
        self._bulk_closed = True
        self._fail_waiters(lambda key: key[0] != INTERACTIVE)

    # ------------------------------------------------------------------ internals
    async def _chat_turn(self, chat_id: int | str) -> None:
        if self._bulk_closed:
            raise LimiterClosed()
        wait = self.chat_ready_at(chat_id) - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        if len(self._chat_last) > 100_000:  # forget chats whose interval is long over
            horizon = self._clock() - self.limits.chat_interval
            self._chat_last = {c: t for c, t in self._chat_last.items() if t > horizon}

    async def _slot(self, key: tuple[int, int]) -> None:
        """Wait for a send slot: the best-keyed waiter gets each one."""
        if self._bulk_closed and key[0] != INTERACTIVE:
            raise LimiterClosed()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (key, next(self._seq), future))
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump(), name="telegram-rate-limiter")
        await future  # cancelled with the caller: the pump skips it

    async def _run_pump(self) -> None:
        while self._waiters:
            now = self._clock()
            start = max(self._next_slot, self._paused_until)
            if start > now:
                await asyncio.sleep(start - now)
                continue
            _, _, future = heapq.heappop(self._waiters)
            if future.done():
                continue
            future.set_result(None)
            # Keep the average at the rate: a grant that came late does not push the
            # schedule back by more than one interval (at most two calls back to back).
            self._next_slot = max(self._next_slot, now - self._interval) + self._interval
        self._pump = None

    def _fail_waiters(self, which: Callable[[tuple[int, int]], bool]) -> None:
        kept = []
        for waiter in self._waiters:
            key, _, future = waiter
            if which(key):
                if not future.done():
                    future.set_exception(LimiterClosed())
            else:
                kept.append(waiter)
        heapq.heapify(kept)
        self._waiters = kept
