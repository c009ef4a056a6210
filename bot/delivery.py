"""The delivery worker: drains the outbox into Telegram.

- Messages for one chat go one at a time, in order, at most one per `per_chat_interval`;
  different chats go in parallel (bounded), and PTB's AIORateLimiter keeps the whole
  process under Telegram's overall limit.
- Signals go before routine messages (the outbox orders by priority). While trading is
  paused no signal is sent; a signal that expired or was answered meanwhile is dropped.
- RetryAfter (429) waits exactly as long as Telegram asks; network errors and 5xx retry
  with backoff; 403 marks the user blocked and drops their queue; other 400s are logged
  with the message kind and not retried.
- A row is marked sent only after Telegram accepted it. A crash in between can repeat
  that one message after a restart (at-least-once); nothing is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.i18n import DEFAULT_LANGUAGE
from bot.render import event_text, signal_keyboard
from core.events import OrderFilled, SignalIssued, from_payload
from core.models import SignalState
from core.ports import Clock, SignalRepository, SystemRepository, UserRepository
from db.outbox import OutboxItem, OutboxRepository

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


class DeliveryWorker:
    def __init__(
        self,
        bot: Bot,
        outbox: OutboxRepository,
        users: UserRepository,
        signals: SignalRepository,
        system: SystemRepository,
        clock: Clock,
        market_clock: Clock,
        *,
        concurrency: int = 32,
        batch: int = 200,
        per_chat_interval: float = 1.0,
        idle_poll: float = 1.0,
    ) -> None:
        self._bot = bot
        self._outbox = outbox
        self._users = users
        self._signals = signals
        self._system = system
        self._clock = clock  # wall clock: retry times
        self._market_clock = market_clock  # the market's clock: signal expiry
        self._semaphore = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._per_chat_interval = per_chat_interval
        self._idle_poll = idle_poll
        self._wakeup = asyncio.Event()
        self._last_sent: dict[int, float] = {}
        self._resume_at = 0.0  # monotonic time before which nothing is sent (429)
        self.sent = 0
        self.failed = 0
        self.rate_limited = 0

    def wake(self) -> None:
        """Tell the worker there is something new (called after outbox writes)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Drain forever; cancelled on shutdown."""
        while True:
            delivered = await self.drain_once()
            if delivered == 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._idle_poll)

    async def drain_once(self) -> int:
        """Deliver one batch of due messages; return how many were handled."""
        # While paused, signals are held back (and dropped at /resume if stale by then).
        held = (SignalIssued.kind,) if await self._system.is_paused() else ()
        items = await self._outbox.due(self._clock.now(), self._batch, skip_kinds=held)
        if not items:
            return 0
        by_chat: dict[int, list[OutboxItem]] = {}
        for item in items:
            by_chat.setdefault(item.user_id, []).append(item)
        await asyncio.gather(*(self._deliver_chat(chat, queue) for chat, queue in by_chat.items()))
        return sum(len(q) for q in by_chat.values())

    async def _deliver_chat(self, chat_id: int, items: Sequence[OutboxItem]) -> None:
        async with self._semaphore:
            for item in items:
                if not await self._deliver(item):
                    break  # keep this chat's order: the rest waits for the next round

    async def _pace(self, chat_id: int) -> None:
        """Wait out a flood pause Telegram asked for, then this chat's interval."""
        while (wait := self._resume_at - time.monotonic()) > 0:  # noqa: ASYNC110 - a deadline, not a flag
            await asyncio.sleep(wait)
        last = self._last_sent.get(chat_id)
        if last is not None:
            wait = self._per_chat_interval - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)

    async def _deliver(self, item: OutboxItem) -> bool:
        """Send one item. True when the item is done (sent or dropped)."""
        user = await self._users.get(item.user_id)
        if user is not None and user.blocked:
            await self._outbox.mark_failed(item, "user blocked the bot")
            return True
        language = user.language if user else DEFAULT_LANGUAGE
        event = from_payload(item.kind, item.payload)
        try:
            if isinstance(event, SignalIssued) and not await self._still_pending(event):
                await self._outbox.mark_failed(item, "stale: no longer pending")
                return True
            await self._pace(item.user_id)
            message = await self._send(item.user_id, language, event)
        except RetryAfter as exc:
            self.rate_limited += 1
            delay = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(seconds=exc.retry_after)
            log.warning("telegram asks to wait %s before sending to %s", delay, item.user_id)
            self._resume_at = max(self._resume_at, time.monotonic() + delay.total_seconds())
            await self._outbox.retry_later(item, self._clock.now() + delay, f"retry after {delay}")
            return False
        except Forbidden as exc:
            log.info("user %s blocked the bot: %s", item.user_id, exc.message)
            await self._users.mark_blocked(item.user_id)
            await self._outbox.mark_failed(item, f"forbidden: {exc.message}")
            await self._outbox.fail_pending_for_user(item.user_id, "user blocked the bot")
            self.failed += 1
            return True
        except BadRequest as exc:
            log.error("telegram refused a %s message for %s: %s", item.kind, item.user_id, exc.message)
            await self._outbox.mark_failed(item, f"bad request: {exc.message}")
            self.failed += 1
            return True
        except (NetworkError, TelegramError) as exc:  # timeouts and 5xx: retry with backoff
            if item.attempts + 1 >= MAX_ATTEMPTS:
                log.error("giving up on %s message %s after %d attempts: %s", item.kind, item.id, MAX_ATTEMPTS, exc)
                await self._outbox.mark_failed(item, f"gave up: {exc}")
                self.failed += 1
                return True
            backoff = timedelta(seconds=min(300, 2**item.attempts))
            log.warning("sending %s message %s failed (%s); retry in %s", item.kind, item.id, exc, backoff)
            await self._outbox.retry_later(item, self._clock.now() + backoff, str(exc))
            return False
        self._last_sent[item.user_id] = time.monotonic()
        await self._outbox.mark_sent(
            item, message.message_id if isinstance(message, Message) else None, self._clock.now()
        )
        self.sent += 1
        return True

    async def _still_pending(self, event: SignalIssued) -> bool:
        row = await self._signals.get_user_signal(event.user_signal_id)
        return row is not None and row.state is SignalState.PENDING and row.expires_at > self._market_clock.now()

    async def _send(self, chat_id: int, language: str, event: object) -> Message | bool:
        if isinstance(event, SignalIssued):
            return await self._bot.send_message(
                chat_id, event_text(language, event), reply_markup=signal_keyboard(language, event.user_signal_id)
            )
        text = event_text(language, event)  # type: ignore[arg-type]
        if isinstance(event, OrderFilled) and event.user_signal_id is not None:
            row = await self._signals.get_user_signal(event.user_signal_id)
            if row is not None and row.message_id is not None:
                try:  # show the fill in the signal's own message, buttons gone
                    return await self._bot.edit_message_text(
                        text, chat_id=chat_id, message_id=row.message_id, reply_markup=None
                    )
                except BadRequest as exc:
                    log.info("could not edit signal message %s (%s): sending the fill anew", row.message_id, exc)
        return await self._bot.send_message(chat_id, text)
