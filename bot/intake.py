"""What comes in: every update kept before Telegram is told it arrived, handled again after
a crash, and one user's flood bounded.

- **Kept before acknowledged.** PTB's Updater puts each fetched update in the update queue
  and only then asks for the next batch with an offset that tells Telegram the earlier
  ones arrived. `InboxQueue.put` stores the update in the inbox (db/inbox.py) first, so a
  process killed between fetching and handling loses nothing: at start, `Intake.recover`
  queues every update not marked done. An update is marked done when its handling ends
  (or when it is dropped on purpose). A crash during handling therefore handles that
  update again after the restart: the handlers are safe to repeat (Confirm, Skip and Close
  claim their row once; /start, /setlimit, /pause end in the same state) except an admin's
  /signal, which is not repeated after a restart: the admin is told to send it again.
  Telegram may also send an update again when the process died before acknowledging it: it
  is recognised by its id and not handled twice. When the database refuses the write or is
  too busy to take it within a second (another process holds the write lock, disk full),
  the update is handled without being kept, and the inbox tries again ten seconds later:
  answering beats remembering. A /connect message is never kept (it carries API keys in
  clear): after a crash the user sends it again.
- **One user cannot stall everyone.** At most `per_user` of one user's updates are handled
  at a time (a handler waiting for its reply's turn in the chat counts). The excess is
  dropped and marked done, with one "slow down" reply per episode (a pressed button gets it
  as the answer, so no button spins). The rate limiter paces what is sent to each chat, so
  what one user asks for costs the others one message a second at most.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor, ExtBot

from bot.i18n import language_for, t
from bot.logging_setup import is_connect_command
from core.ports import UserRepository
from db.inbox import InboxRepository

log = logging.getLogger(__name__)

#: How long the inbox stops trying after the database refused a write.
_RETRY_STORE_AFTER = 10.0
_PURGE_EVERY = 3600.0
_KEEP_DONE = 2 * 86_400.0
#: Commands not handled again after a restart (each time they run, they do something new).
NOT_REPEATED = frozenset({"signal"})


class InboxQueue(asyncio.Queue):  # type: ignore[type-arg]
    """The update queue shared by PTB's Updater and Application: an update is stored
    before it is queued (and so before the next getUpdates acknowledges it)."""

    def __init__(self, intake: Intake) -> None:
        super().__init__()
        self._intake = intake

    async def put(self, item: object) -> None:
        if isinstance(item, Update) and not await self._intake.keep(item):
            return  # Telegram sent it again: it was handled, or is queued already
        await super().put(item)


class Intake:
    def __init__(self, inbox: InboxRepository, *, per_user: int = 3, max_concurrent: int = 256) -> None:
        self._inbox = inbox
        self.per_user = per_user
        self.queue = InboxQueue(self)
        self.processor = IntakeProcessor(self, max_concurrent)
        self._kept: set[int] = set()  # stored, not done yet
        self._replayed: set[int] = set()
        self._store_again_at = 0.0
        self._next_purge = 0.0
        self._bot: ExtBot[Any] | None = None
        self._users: UserRepository | None = None
        self._inflight: Counter[int] = Counter()
        self._warned: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0  # updates dropped as a flood's excess

    async def recover(self, bot: ExtBot[Any], users: UserRepository) -> int:
        """At start: queue the updates a previous run received and never finished."""
        self._bot, self._users = bot, users
        pending = await self._inbox.not_done()
        for update_id, payload in pending:
            update = Update.de_json(json.loads(payload), bot)
            self._kept.add(update_id)
            self._replayed.add(update_id)
            await asyncio.Queue.put(self.queue, update)
        if pending:
            log.warning("%d update(s) received before the last stop were not handled: handling them now", len(pending))
        return len(pending)

    def not_repeated(self, update: Update) -> bool:
        """Received by an earlier run and one of the commands not handled twice."""
        if update.update_id not in self._replayed or update.effective_message is None:
            return False
        words = (update.effective_message.text or "").split()
        return bool(words) and words[0].startswith("/") and words[0][1:].split("@")[0].lower() in NOT_REPEATED

    async def tell_not_repeated(self, update: Update) -> None:
        chat, user = update.effective_chat, update.effective_user
        if chat is not None and user is not None and self._bot is not None:
            language = await self._language(user.id, update)
            self._spawn(self._bot.send_message(chat.id, t(language, "not_repeated_after_restart")))

    # ------------------------------------------------------------------ inbox
    async def keep(self, update: Update) -> bool:
        """Store the update; False if it was stored before (a repeat from Telegram)."""
        now = time.monotonic()
        message = update.effective_message
        if now < self._store_again_at or (message is not None and is_connect_command(message.text)):
            return True  # /connect carries API keys: never kept in clear (after a crash it is sent again)
        try:
            new = await self._inbox.store(update.update_id, json.dumps(update.to_dict(), separators=(",", ":")))
            if new is not None and now >= self._next_purge:
                self._next_purge = now + _PURGE_EVERY
                await self._inbox.purge(time.time() - _KEEP_DONE)
        except sqlite3.OperationalError as exc:  # disk full, read-only
            new, reason = None, str(exc)
        else:
            reason = "the database is busy"
        if new is None:  # another process holds the write lock, or this one's writes queue up
            self._store_again_at = now + _RETRY_STORE_AFTER
            log.warning("could not keep update %s in the inbox (%s): handling it anyway", update.update_id, reason)
            return True
        if new:
            self._kept.add(update.update_id)
        return new

    async def finished(self, update_id: int) -> None:
        if update_id not in self._kept:
            return
        self._kept.discard(update_id)
        try:
            marked = await self._inbox.done(update_id)
        except sqlite3.OperationalError:  # disk full, read-only
            marked = False
        if not marked:
            log.warning("could not mark update %s done (database busy): a restart may handle it again", update_id)

    # ------------------------------------------------------------------ per-user bound
    def admit(self, user_id: int) -> bool:
        if self._inflight[user_id] >= self.per_user:
            return False
        self._inflight[user_id] += 1
        return True

    def release(self, user_id: int) -> None:
        self._inflight[user_id] -= 1
        if self._inflight[user_id] <= 0:
            del self._inflight[user_id]
            self._warned.discard(user_id)  # the flood is over: the next one gets a warning again

    async def refuse(self, update: Update, user_id: int) -> None:
        """The user is over the bound: drop the update, say "slow down" once."""
        self.dropped += 1
        query = update.callback_query
        if query is None and user_id in self._warned:
            return
        language = await self._language(user_id, update)
        text = t(language, "slow_down")
        if query is not None:  # every press is answered, the bound or not
            self._spawn(query.answer(text[:200]))
            return
        self._warned.add(user_id)
        log.info("user %s sends faster than they can be answered: dropping the excess", user_id)
        chat = update.effective_chat
        if chat is not None and self._bot is not None:
            self._spawn(self._bot.send_message(chat.id, text))

    async def _language(self, user_id: int, update: Update) -> str:
        code = update.effective_user.language_code if update.effective_user else None
        try:
            stored = await self._users.get(user_id) if self._users is not None else None
        except sqlite3.Error:
            stored = None
        return stored.language if stored is not None else language_for(code)

    def _spawn(self, call: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await call
            except TelegramError as exc:
                log.warning("could not tell a user to slow down: %s", exc)

        task = asyncio.create_task(run(), name="intake-slow-down")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class IntakeProcessor(BaseUpdateProcessor):
    """PTB's concurrent update processor with the per-user bound and the done marks."""

    def __init__(self, intake: Intake, max_concurrent: int) -> None:
        super().__init__(max_concurrent)
        self._intake = intake

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        user = update.effective_user
        if self._intake.not_repeated(update):
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            await self._intake.tell_not_repeated(update)
        elif user is None:
            await coroutine
        elif not self._intake.admit(user.id):
            if asyncio.iscoroutine(coroutine):
                coroutine.close()  # never started: nothing to undo
            await self._intake.refuse(update, user.id)
        else:
            try:
                await coroutine  # PTB hands a handler's error to the error handler: this returns
            finally:
                self._intake.release(user.id)
        # Not reached when cancelled (a stop past its deadline): handled again after the restart.
        await self._intake.finished(update.update_id)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""
