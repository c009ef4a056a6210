"""Trouble that repeats on every run, told once per episode.

A position the monitor cannot follow, a confirmation that cannot be resolved: every run
retries it, and every failure is counted, but the user and the admins hear of it once, when
the episode starts (a flag in the key-value store, so a restart does not repeat it). The
first success ends the episode and clears the flag.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from core.events import Alert
from core.ports import Clock, OutboxRepository, SystemRepository


class Episodes:
    def __init__(
        self, system: SystemRepository, outbox: OutboxRepository, clock: Clock, wake: Callable[[], None]
    ) -> None:
        self._system = system
        self._outbox = outbox
        self._clock = clock
        self._wake = wake
        self.failures: Counter[str] = Counter()  # consecutive failures per key, this process
        self.total = 0  # every failure counted since start
        self._clear: set[str] = set()  # keys known to have no flag stored

    async def failed(self, key: str, alerts: Sequence[Alert]) -> bool:
        """Count a failure of `key`; queue `alerts` if it starts an episode. True if it did."""
        self.failures[key] += 1
        self.total += 1
        self._clear.discard(key)
        if await self._system.get_value(f"episode:{key}"):
            return False
        await self._system.set_value(f"episode:{key}", self._clock.now().isoformat())
        await self._outbox.enqueue(list(alerts), self._clock.now())
        self._wake()
        return True

    async def succeeded(self, key: str) -> bool:
        """End `key`'s episode, if one is running. True if it was."""
        self.failures.pop(key, None)
        if key in self._clear:
            return False
        flagged = bool(await self._system.get_value(f"episode:{key}"))
        if flagged:
            await self._system.set_value(f"episode:{key}", "")
        self._clear.add(key)
        return flagged


def short_reason(exc: BaseException) -> str:
    """What went wrong, short enough for a message and without any URL's query string
    (a signed request's parameters never reach a chat)."""
    text = re.sub(r"\?\S*", "", str(exc) or type(exc).__name__)
    return text[:160]
