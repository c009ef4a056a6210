"""One outbox message, one try: what is sent, what is dropped, and what each Bot API
answer means for the row.

- A blocked user's row, or a signal that expired or was answered meanwhile, is dropped;
  while trading is paused a signal is not attempted (released as it was); a kind of message
  the user turned off in /settings is marked sent unsent (bot/delivery_rules.py).
- The row is claimed ("being sent", committed) only when its turn at the rate limiter has
  come, just before the HTTP request: a row waiting for its turn is never in doubt, so a
  crash leaves in doubt only what was really on the wire.
- 429: the limiter already held that chat (or, for the bot's overall limit, everyone); the
  row waits exactly as long as Telegram asked. 5xx and network errors: retried with
  doubling waits, given up after `max_attempts`. A timed-out send is in doubt (Telegram may
  have it): it is retried like a crash's in-doubt row, and counted when it is re-sent.
  403: the user blocked the bot, their queue is dropped. 400: logged with the kind, dropped.
- With paid broadcasts on, a direct signal push goes on the paid lane while the day's Stars
  budget lasts (counted before the send, un-counted when it was certainly not sent), on the
  free lane after (bot/delivery/paid.py). Other messages are always on the free lane.
- A channel post (channel mode) is held while trading is paused and dropped once expired.
"""

from __future__ import annotations

import enum
import itertools
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut

from bot.delivery.paid import PaidBudget
from bot.delivery.sending import MessageSender
from bot.delivery_rules import deliverable, muted
from bot.ratelimit import Bulk, LimiterClosed, TurnDeclined, retry_seconds
from core.events import Event, SignalIssued, SignalPosted, from_payload
from core.logcontext import log_context
from core.ports import Clock, UserRepository
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    max_attempts: int = 30


@dataclass(slots=True)
class DeliveryCounts:
    sent: int = 0
    failed: int = 0
    in_doubt: int = 0  # rows re-sent while Telegram may already have had them
    recent: deque[float] = field(default_factory=deque)  # monotonic times of recent deliveries

    def per_second(self) -> float:
        horizon = time.monotonic() - _RATE_WINDOW
        while self.recent and self.recent[0] < horizon:
            self.recent.popleft()
        return len(self.recent) / _RATE_WINDOW


class MessageAttempt:
    """Tries one row at a time; `retry_at(seconds)` tells the dispatcher when to look again."""

    def __init__(
        self,
        sender: MessageSender,
        outbox: OutboxRepository,
        users: UserRepository,
        observer: DeliveryObserver,
        clock: Clock,
        market_clock: Clock,
        policy: RetryPolicy,
        retry_at: Callable[[float], None],
        paid: PaidBudget | None = None,
    ) -> None:
        self._sender = sender
        self._outbox = outbox
        self._users = users
        self._observer = observer
        self._clock = clock  # wall clock: retry times, latency
        self._market_clock = market_clock  # the market's clock: signal expiry
        self._policy = policy
        self._retry_at = retry_at
        self.paid = paid  # the paid lane's budget; None: paid broadcasts off
        self._run_id = uuid.uuid4().hex[:12]
        self._attempt_ids = itertools.count(1)
        self.counts = DeliveryCounts()
        self.paused = False  # trading paused: signals are not sent

    async def deliver(self, item: OutboxItem) -> Outcome:
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
        if isinstance(event, SignalIssued | SignalPosted):
            if self.paused:
                return Outcome.RELEASED
            fresh = isinstance(event, SignalPosted) or deliverable(item, event)
            if not fresh or event.expires_at <= self._market_clock.now():
                await self._drop(item, "stale", f"stale: {item.signal_state}")
                return Outcome.DROPPED
        if muted(item, event):  # the user turned these messages off in /settings
            await self._outbox.mark_sent(item, None, "muted", self._clock.now())
            return Outcome.SENT
        claim = _Claim(self, item)
        paid_day = await self.paid.take() if self.paid is not None and isinstance(event, SignalIssued) else None
        try:
            limit = Bulk(item.priority, item.id, claim, paid=paid_day is not None)
            message_id, delivered_as = await self._sender.send(item, event, limit)
        except TurnDeclined:
            await self._unpay(paid_day)
            return Outcome.DROPPED  # resolved meanwhile (e.g. the user blocked us)
        except LimiterClosed:
            await self._unpay(paid_day)
            if claim.claimed:
                await self._outbox.release(item)
            return Outcome.RELEASED
        except TelegramError as exc:
            if not isinstance(exc, TimedOut):  # a timed-out send may have gone: it stays counted
                await self._unpay(paid_day)
            return await self._refused(item, exc)
        return await self._sent(item, message_id, delivered_as)

    async def _unpay(self, day: str | None) -> None:
        if day is not None and self.paid is not None:
            await self.paid.give_back(day)

    async def _refused(self, item: OutboxItem, exc: TelegramError) -> Outcome:
        """What a Bot API error means for the row."""
        if isinstance(exc, RetryAfter):  # the limiter already held the chat (or everyone) this long
            delay = retry_seconds(exc)
            await self._outbox.retry_later(
                item, self._clock.now() + timedelta(seconds=delay), f"retry after {delay:g}s", rate_limited=True
            )
            self._retry_at(delay)
            return Outcome.RETRY
        if isinstance(exc, Forbidden):
            log.info("user %s blocked the bot (%s): their queue is dropped", item.user_id, exc.message)
            await self._users.mark_blocked(item.user_id)
            await self._drop(item, "forbidden", f"forbidden: {exc.message}")
            await self._outbox.fail_pending_for_user(item.user_id, "user blocked the bot")
            return Outcome.DROPPED
        if isinstance(exc, BadRequest):
            log.error("telegram refused the %s message (outbox %s): %s", item.kind, item.id, exc.message)
            await self._drop(item, "bad_request", f"bad request: {exc.message}")
            return Outcome.DROPPED
        if isinstance(exc, TimedOut):  # Telegram may have it: in doubt, like a crash mid-send
            return await self._retry(item, f"timed out: {exc}", in_doubt=True)
        return await self._retry(item, str(exc))  # connection errors, 5xx

    async def _sent(self, item: OutboxItem, message_id: int | None, delivered_as: str) -> Outcome:
        now = self._clock.now()
        await self._outbox.mark_sent(item, message_id, delivered_as, now)
        self.counts.sent += 1
        self.counts.recent.append(time.monotonic())
        latency = now.timestamp() - item.enqueued_at if item.enqueued_at is not None else None
        self._observer.delivered(item.kind, latency)
        return Outcome.SENT

    async def _claim(self, item: OutboxItem) -> bool:
        claimed = await self._outbox.claim(item, f"{self._run_id}-{next(self._attempt_ids)}")
        if claimed and item.in_doubt_now:  # Telegram may have it already: count what is re-sent
            self.counts.in_doubt += 1
            self._observer.requeued_in_doubt(1)
            log.warning("re-sending %s message %s, which was in doubt", item.kind, item.id)
        return claimed

    async def _retry(self, item: OutboxItem, error: str, *, in_doubt: bool = False) -> Outcome:
        policy = self._policy
        if item.attempts + 1 >= policy.max_attempts:
            log.error("giving up on %s message %s after %d attempts: %s", item.kind, item.id, item.attempts + 1, error)
            await self._drop(item, "gave_up", f"gave up: {error}")
            return Outcome.DROPPED
        delay = min(policy.backoff_cap, policy.backoff_base * 2**item.attempts) * random.uniform(0.8, 1.2)
        log.warning("sending %s message %s failed (%s); retry in %.1fs", item.kind, item.id, error, delay)
        not_before = self._clock.now() + timedelta(seconds=delay)
        await self._outbox.retry_later(item, not_before, error, rate_limited=False, in_doubt=in_doubt)
        self._retry_at(delay)
        return Outcome.RETRY

    async def _drop(self, item: OutboxItem, reason: str, error: str) -> None:
        await self._outbox.mark_failed(item, error)
        self.counts.failed += 1
        self._observer.failed(item.kind, reason)


class _Claim:
    """The row's claim, made once when the first of its Bot API calls gets its turn."""

    def __init__(self, attempt: MessageAttempt, item: OutboxItem) -> None:
        self._attempt, self._item = attempt, item
        self.claimed = False

    async def __call__(self) -> bool:
        if not self.claimed:
            self.claimed = await self._attempt._claim(self._item)  # noqa: SLF001 - its own helper
            return self.claimed
        return True
