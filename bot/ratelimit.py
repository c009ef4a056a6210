"""Telegram's flood limits in one place: the rate limiter of every Bot API call the bot makes.

Telegram lets a bot send about 30 messages a second in all and about one a second to one
chat (a short burst tolerated); past that it answers 429 with `retry_after`. PTB's own
AIORateLimiter has no priorities, so a fan-out would queue a user's reply behind a thousand
signals, and it pauses every chat for a 429 that was about one. This limiter:

- spaces every message-carrying call (any call with a `chat_id`: sends, edits, deletes) at
  least 1/`messages_per_second` apart, process-wide;
- paces each chat on its own schedule, one message per `chat_interval` on average: replies
  to a user may go `chat_burst` back to back, the delivery worker's never. A chat's calls
  go in the order they asked, so a fan-out message to a busy chat waits behind the few
  replies already promised to it (the intake bounds how many: `bot/intake.py`), never
  behind the whole flood;
- serves waiting calls by priority: replies to users (handlers, no `rate_limit_args`) first,
  then the delivery worker's in outbox order (its `Bulk` args: priority, then outbox id);
- has two overall lanes: the free one (`messages_per_second`, 30/s) and the paid one
  (`paid_messages_per_second`, 1,000/s) for worker calls sent with Telegram's
  `allow_paid_broadcast` (`Bulk.paid`; bot/delivery/paid.py keeps their Stars budget). Each
  lane has its own schedule and its own bot-wide 429 pause; per-chat pacing applies to both;
- on 429 holds the chat the call was for, for exactly the `retry_after` asked, when that
  chat had other messages lately (Telegram's per-chat limit); a 429 for a chat that had
  none cannot be about that chat, so it is the bot's overall limit and every call waits.
  A reply is then tried again after the wait; a worker call gets the RetryAfter back so
  the worker reschedules it;
- retries a reply (and a button's answer) on a 5xx or a network error, a few times with
  doubling waits: a command's answer is not lost to a passing Telegram fault. A worker call
  gets the error back: the outbox has its own retry and in-doubt rules;
- gives message calls a read timeout that fits Telegram's real latency (`send_read_timeout`;
  PTB's 5 s default cut slow answers short and made the worker send again);
- lets other calls without a chat (getMe, setMyCommands ...) through at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

#: Priority of calls without `rate_limit_args`: replies to a user's command or press.
INTERACTIVE = -1
#: Chatless calls that answer a user (retried like replies).
_ANSWERS = frozenset({"answerCallbackQuery"})


@dataclass(frozen=True, slots=True)
class Bulk:
    """`rate_limit_args` of a delivery-worker call: its outbox priority and row id, and
    what to do once the call's turn has come, just before it goes out (the worker marks
    the row "being sent" there, so a row waiting for its turn is never in doubt)."""

    priority: int
    order: int
    on_turn: Callable[[], Coroutine[Any, Any, bool]] | None = None
    paid: bool = False  # sent with allow_paid_broadcast: the paid lane


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    messages_per_second: float = 30.0
    paid_messages_per_second: float = 1000.0  # the paid lane (allow_paid_broadcast)
    chat_interval: float = 1.0  # seconds between two messages to one chat, on average
    chat_burst: int = 2  # replies that may go back to back in one chat (worker messages: 1)
    max_retries: int = 3  # extra tries of an interactive call after a 429, 5xx or network error
    retry_base: float = 0.5  # seconds before the first retry of a reply after a 5xx; doubles
    send_read_timeout: float = 30.0  # seconds to wait for Telegram's answer to a message call
    chat_memory: float = 60.0  # a 429 for a chat with a message this recent is that chat's own


class LimiterClosed(Exception):
    """The limiter stopped before this call was sent: it was not sent."""


class TurnDeclined(Exception):
    """The worker's `on_turn` said no (the row was resolved meanwhile): nothing was sent."""


def retry_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(slots=True)
class _Chat:
    """One chat's schedule: `tat` is when the next message would be on time (GCRA)."""

    tat: float = 0.0
    held_until: float = 0.0  # a 429 for this chat: nothing goes before
    last_sent: float = -1e18  # any message
    last_sent_before: float = -1e18  # the one before it
    last_bulk: float = -1e18  # the worker's last message


_Waiter = tuple[tuple[int, int], int, "asyncio.Future[None]"]


@dataclass(slots=True)
class _Lane:
    """One overall rate: its send slots, granted to the best-keyed waiter, and its pause."""

    interval: float
    next_slot: float = 0.0
    paused_until: float = 0.0
    waiters: list[_Waiter] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None


class TelegramRateLimiter(BaseRateLimiter[Bulk]):
    def __init__(self, limits: TelegramLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or TelegramLimits()
        self._free = _Lane(1.0 / self.limits.messages_per_second)
        self._paid = _Lane(1.0 / self.limits.paid_messages_per_second)
        self._clock = clock
        self._seq = itertools.count()
        self._chats: dict[int | str, _Chat] = {}
        self._bulk_closed = False
        self._listeners: list[Callable[[float], None]] = []
        self.rate_limited = 0  # 429 answers seen
        self.chat_holds = 0  # of which attributed to one chat

    # ------------------------------------------------------------------ PTB interface
    async def initialize(self) -> None:
        self._bulk_closed = False

    async def shutdown(self) -> None:
        self._fail_waiters(lambda key: True)
        for lane in (self._free, self._paid):
            if lane.pump is not None:
                lane.pump.cancel()
                lane.pump = None

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
            if endpoint not in _ANSWERS:
                return await callback(*args, **kwargs)
            return await self._with_retries(lambda: callback(*args, **kwargs), None, endpoint)
        if not isinstance(kwargs.get("read_timeout"), int | float):
            kwargs = {**kwargs, "read_timeout": self.limits.send_read_timeout}
        bulk = rate_limit_args
        key = (bulk.priority, bulk.order) if bulk is not None else (INTERACTIVE, next(self._seq))
        lane = self._paid if bulk is not None and bulk.paid else self._free

        async def attempt() -> bool | dict[str, Any] | list[dict[str, Any]]:
            await self._chat_turn(chat_id, bulk is not None)
            await self._slot(key, lane)
            if bulk is not None and bulk.on_turn is not None and not await bulk.on_turn():
                raise TurnDeclined()
            self._sent(chat_id, bulk is not None)
            return await callback(*args, **kwargs)

        if bulk is not None:
            try:
                return await attempt()
            except RetryAfter as exc:
                self._on_429(chat_id, retry_seconds(exc), lane)
                raise
        return await self._with_retries(attempt, chat_id, endpoint)

    async def _with_retries(
        self,
        call: Callable[[], Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        chat_id: int | str | None,
        endpoint: str,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """An interactive call: again after a 429's wait, or after a 5xx / network error
        with doubling waits, up to `max_retries` more times."""
        for retry in itertools.count():
            try:
                return await call()
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                self._on_429(chat_id, seconds)
                if retry >= self.limits.max_retries:
                    raise
                if chat_id is None:
                    await asyncio.sleep(seconds)
            except BadRequest:
                raise
            except NetworkError as exc:  # 5xx, timeouts, connection errors
                if retry >= self.limits.max_retries:
                    raise
                wait = self.limits.retry_base * 2**retry
                log.warning("%s failed (%s): trying again in %.1fs", endpoint, exc.message, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ for the worker
    def chat_ready_at(self, chat_id: int | str) -> float:
        """Monotonic time from which the worker may start its next message to `chat_id`
        (one per `chat_interval`, none while the chat is held); -1 for a chat never seen."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return -1.0
        return max(chat.held_until, chat.last_bulk + self.limits.chat_interval)

    def chat_held_for(self, chat_id: int | str) -> float:
        """Seconds left of a 429 hold on `chat_id` (0 when not held)."""
        chat = self._chats.get(chat_id)
        return max(0.0, chat.held_until - self._clock()) if chat else 0.0

    @property
    def paused_for(self) -> float:
        """Seconds left of a bot-wide pause Telegram asked for (0 when not paused)."""
        return max(0.0, self._free.paused_until - self._clock())

    def on_rate_limited(self, listener: Callable[[float], None]) -> None:
        """Call `listener(retry_after_seconds)` on every 429 (metrics)."""
        self._listeners.append(listener)

    def on_retry_after(self, seconds: float, paid: bool = False) -> None:
        """Pause every call of a lane for `seconds` from now (a 429 about the bot's overall
        rate, or the paid lane's)."""
        self._count_429(seconds)
        lane = self._paid if paid else self._free
        lane.paused_until = max(lane.paused_until, self._clock() + seconds)
        log.warning("telegram asked to wait %.1fs: every %s message waits", seconds, "paid" if paid else "free")

    def hold_chat(self, chat_id: int | str, seconds: float) -> None:
        """Hold one chat for `seconds` from now (a 429 about that chat); others go on."""
        self._count_429(seconds)
        self.chat_holds += 1
        chat = self._chat(chat_id)
        chat.held_until = max(chat.held_until, self._clock() + seconds)
        log.warning("telegram asked to wait %.1fs for chat %s: that chat waits", seconds, chat_id)

    def open_bulk(self) -> None:
        """Take worker calls again (the worker started anew)."""
        self._bulk_closed = False

    def close_bulk(self) -> None:
        """Refuse worker calls from now on, and release the waiting ones with LimiterClosed
        (they were never sent). Replies still go. Used when the worker stops."""
        self._bulk_closed = True
        self._fail_waiters(lambda key: key[0] != INTERACTIVE)

    # ------------------------------------------------------------------ internals
    def _count_429(self, seconds: float) -> None:
        self.rate_limited += 1
        for listener in self._listeners:
            listener(seconds)

    def _on_429(self, chat_id: int | str | None, seconds: float, lane: _Lane | None = None) -> None:
        """Whose limit was it? A chat that had another message lately: that chat's; else
        the lane's overall one."""
        lane = lane or self._free
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is not None and chat.last_sent_before > self._clock() - self.limits.chat_memory:
            self.hold_chat(chat_id, seconds)  # type: ignore[arg-type]
        else:
            self.on_retry_after(seconds, paid=lane is self._paid)
            if chat_id is not None:
                self._chat(chat_id).held_until = lane.paused_until

    def _chat(self, chat_id: int | str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) > 100_000:  # forget chats whose schedule is long over
                horizon = self._clock() - self.limits.chat_memory
                self._chats = {c: s for c, s in self._chats.items() if s.last_sent > horizon or s.tat > horizon}
            chat = self._chats[chat_id] = _Chat()
        return chat

    async def _chat_turn(self, chat_id: int | str, bulk: bool) -> None:
        """Reserve this call's place on the chat's schedule, then wait for it (and for any
        hold that comes meanwhile)."""
        if bulk and self._bulk_closed:
            raise LimiterClosed()
        chat = self._chat(chat_id)
        interval = self.limits.chat_interval
        tolerance = 0.0 if bulk else (self.limits.chat_burst - 1) * interval
        now = self._clock()
        at = max(now, chat.tat - tolerance)
        chat.tat = max(chat.tat, at) + interval
        # A 429 may hold the chat while this call waits: look again when the wait is over.
        while (wait := max(at, chat.held_until) - self._clock()) > 0:  # noqa: ASYNC110 - a deadline, not an event
            await asyncio.sleep(wait)
        if bulk and self._bulk_closed:
            raise LimiterClosed()

    def _sent(self, chat_id: int | str, bulk: bool) -> None:
        chat = self._chat(chat_id)
        now = self._clock()
        chat.last_sent_before = chat.last_sent
        chat.last_sent = now
        if bulk:
            chat.last_bulk = now

    async def _slot(self, key: tuple[int, int], lane: _Lane) -> None:
        """Wait for a send slot of `lane`: the best-keyed waiter gets each one."""
        if self._bulk_closed and key[0] != INTERACTIVE:
            raise LimiterClosed()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(lane.waiters, (key, next(self._seq), future))
        if lane.pump is None:
            lane.pump = asyncio.create_task(self._run_pump(lane), name="telegram-rate-limiter")
        await future  # cancelled with the caller: the pump skips it

    async def _run_pump(self, lane: _Lane) -> None:
        while lane.waiters:
            now = self._clock()
            start = max(lane.next_slot, lane.paused_until)
            if start > now:
                await asyncio.sleep(start - now)
                continue
            _, _, future = heapq.heappop(lane.waiters)
            if future.done():
                continue
            future.set_result(None)
            # Keep the average at the rate: a grant that came late does not push the
            # schedule back by more than one interval (at most two calls back to back).
            lane.next_slot = max(lane.next_slot, now - lane.interval) + lane.interval
        lane.pump = None

    def _fail_waiters(self, which: Callable[[tuple[int, int]], bool]) -> None:
        for lane in (self._free, self._paid):
            kept = []
            for waiter in lane.waiters:
                key, _, future = waiter
                if which(key):
                    if not future.done():
                        future.set_exception(LimiterClosed())
                else:
                    kept.append(waiter)
            heapq.heapify(kept)
            lane.waiters = kept
