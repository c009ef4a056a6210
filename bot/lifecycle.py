"""One run of `python -m bot`, start to stop, every way out bounded in time.

- **Start.** Telegram unreachable: one line, then again with doubling waits (2 s up to a
  minute) until it answers or a stop signal comes; the bot on a server comes up when the
  network does. A token Telegram refuses ends the start at once. Then the runtime starts
  (database, market data, exchange, metrics); a start that cannot succeed says why in one
  line (`StartRefused`), never with a traceback.
- **Run.** Until SIGTERM or SIGINT. A polling error (the network dropped) is one line.
- **Stop.** The first SIGTERM or SIGINT starts a graceful stop; later ones are noted and
  ignored: make forwards its SIGTERM to the bot and a process-group kill sends one more, and
  a second signal must not abort the stop half-way (that left the database's thread running
  and the process hanging). Each step of the stop has its share of `grace` seconds (the
  updater, the handlers and jobs, the delivery worker and metrics, the Telegram client, the
  database); a step that does not finish in its share (a database that does not answer, a
  send that hangs) is abandoned and the next one runs, and `abandoned` tells the caller to
  end the process at once rather than wait for a stuck thread. A watchdog thread ends it
  anyway `hard_deadline` seconds after the first signal, whatever the event loop is doing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.context import BotApplication
from core.errors import ConfigError, ExchangeError
from db.sql import DatabaseUnavailable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StartRefused(Exception):
    """The bot cannot start; `code` is the process exit code, the message says why."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def explain_start_failure(
    error: BaseException, describe: Callable[[str], str], exchange: str = "the exchange"
) -> StartRefused | None:
    """One line for each way the start fails; None for an error that is a bug (re-raised)."""
    if isinstance(error, StartRefused):
        return error
    if isinstance(error, ConfigError):
        return StartRefused(str(error), 2)
    if isinstance(error, InvalidToken):
        return StartRefused("Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)", 2)
    if isinstance(error, ExchangeError):
        return StartRefused(f"exchange {exchange} is unreachable or refused ({describe(str(error))})", 1)
    if isinstance(error, DatabaseUnavailable):
        return StartRefused(describe(str(error)), 1)
    if isinstance(error, sqlite3.DatabaseError):
        return StartRefused(f"DATABASE_PATH cannot be used ({error})", 1)
    if isinstance(error, OSError):  # a port in use, an address that cannot be listened on
        return StartRefused(f"cannot listen or open a file ({describe(str(error))})", 1)
    return None


class Lifecycle:
    def __init__(
        self,
        app: BotApplication,
        *,
        api_description: str,
        describe: Callable[[str], str] = str,
        exchange: str = "the exchange",
        grace: float = 7.5,
        close_grace: float = 1.5,
        hard_deadline: float = 9.5,
        retry_cap: float = 60.0,
    ) -> None:
        self._app = app
        self._api = api_description  # the Bot API address, secrets redacted
        self._describe = describe  # redacts secrets from error texts
        self._exchange = exchange
        self._grace = grace
        self._close_grace = close_grace
        self._hard_deadline = hard_deadline
        self._retry_cap = retry_cap
        self._stop = asyncio.Event()
        self._signals = 0
        self._post_init_began = False
        self.abandoned = False  # a stop step did not finish in time: end the process now

    async def run(self) -> int:
        """Start, run until a stop signal, stop. The exit code."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        code = 0
        try:
            if await self._until_stopped(self._start()):
                await self._stop.wait()
        except Exception as exc:  # the start's boundary: one line for what is known, else raise
            refused = explain_start_failure(exc, self._describe, self._exchange)
            if refused is None:
                raise
            print(f"ATRA cannot start: {refused}", file=sys.stderr)
            code = refused.code
        finally:
            await self._shut_down()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        return code

    def request_stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ start
    async def _start(self) -> None:
        app = self._app
        await self._initialize()
        assert app.updater is not None
        self._post_init_began = True
        if app.post_init is not None:
            await app.post_init(app)
        await app.updater.start_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
            drop_pending_updates=False,
            bootstrap_retries=-1,  # the network may drop between getMe and the first poll
            error_callback=self._polling_failed,
        )
        await app.start()

    async def _initialize(self) -> None:
        """getMe until Telegram answers: one line per failure, doubling waits."""
        wait = 2.0
        while True:
            try:
                await self._app.initialize()
                return
            except InvalidToken:
                raise
            except NetworkError as exc:  # unreachable, timed out, 5xx
                log.warning(
                    "the Telegram Bot API at %s is unreachable (%s): trying again in %.0f s",
                    self._api,
                    self._describe(exc.message),
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(self._retry_cap, wait * 2)

    def _polling_failed(self, error: TelegramError) -> None:
        log.warning("getting updates from Telegram failed (%s): trying again", self._describe(error.message))

    async def _until_stopped(self, step: Coroutine[Any, Any, None]) -> bool:
        """Run `step` unless a stop signal comes first (then cancel it). True if it finished."""
        task = asyncio.ensure_future(step)
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if task.done():
            task.result()  # its error, if it failed
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # stopping: how it ended no longer matters
        return False

    # ------------------------------------------------------------------ stop
    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("%s: stopping", signal.Signals(sig).name)
            self._stop.set()
            watchdog = threading.Timer(self._hard_deadline, _force_exit, args=(self._hard_deadline,))
            watchdog.daemon = True
            watchdog.start()
        else:
            log.info("%s again: already stopping", signal.Signals(sig).name)

    async def _shut_down(self) -> None:
        """PTB's stop sequence, each step within its share of the time: a step that hangs
        (a job or a handler stuck on the database) is abandoned and the next one runs, so
        the delivery worker is stopped and the database closed whatever happened before."""
        app = self._app
        steps: list[tuple[str, float, Callable[[], Awaitable[Any]]]] = []
        if app.updater is not None and app.updater.running:
            steps.append(("updater", 1.0, app.updater.stop))
        if app.running:
            steps.append(("application", 2.5, app.stop))  # handlers and jobs finish
        if self._post_init_began and app.post_stop is not None:
            steps.append(("runtime", 2.0, lambda: app.post_stop(app)))  # type: ignore[misc]  # delivery, metrics
        steps.append(("telegram client", 0.5, app.shutdown))
        if app.post_shutdown is not None:
            steps.append(("database", self._close_grace, lambda: app.post_shutdown(app)))  # type: ignore[misc]
        scale = min(1.0, self._grace / sum(seconds for _, seconds, _ in steps))
        for name, seconds, step in steps:
            await self._bounded(name, step, seconds * scale)

    async def _bounded(self, name: str, step: Callable[[], Awaitable[Any]], seconds: float) -> bool:
        """Run one stop step for at most `seconds`; False when it had to be abandoned."""
        try:
            async with asyncio.timeout(max(seconds, 0.01)):
                await step()
        except TimeoutError:
            log.error("stopping: the %s did not stop in time, abandoned", name)
            self.abandoned = True
            return False
        except Exception as exc:  # the stop's boundary: one step's failure must not skip the others
            log.error("stopping: the %s failed (%s)", name, self._describe(str(exc)) or type(exc).__name__)
        return True


def _force_exit(seconds: float) -> None:
    """The watchdog: the stop took too long, whatever held it up."""
    sys.stderr.write(f"ATRA did not stop within {seconds:g} s of the signal: exiting now\n")
    sys.stderr.flush()
    os._exit(1)
