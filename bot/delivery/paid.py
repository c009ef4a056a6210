"""The paid lane's budget: Telegram's paid broadcasts (`allow_paid_broadcast`) let a bot send
up to 1,000 messages a second instead of 30, for 0.1 Star a message paid from its balance.

`PAID_BROADCAST_STARS_PER_DAY` caps what direct signal pushes may spend per UTC day: each
paid send is counted in the database *before* it goes (db/broadcast.py), so a restart keeps
the day's count and a crash can only over-count a send that never happened; a send certainly
not made (refused, 429, the limiter closed) is un-counted. When the day's budget is spent,
pushes go through the free lane (30/s) until the next UTC day. Telegram charges a paid
broadcast per message sent with the flag; counting every one at 0.1 Star is the bound the
budget keeps (Telegram may charge less when the bot stays under its free rate).

To spare a database commit per message, paid messages are counted `BLOCK` at a time while the
day's budget has room for a whole block (one by one after that): a graceful stop gives back
what the block did not use (`settle`); a crash can leave at most `BLOCK - 1` messages (1.9
Stars) counted but never sent. Never more than the budget is counted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.ports import Clock
from db.broadcast import PaidBroadcastRepository

#: Tenths of a Star a paid message costs.
TENTHS_PER_MESSAGE = 1
#: Paid messages counted in one database write while the day's budget has room for them.
BLOCK = 20


@dataclass(frozen=True, slots=True)
class PaidSpend:
    day: str  # UTC date
    stars: float  # spent that day
    budget: int  # Stars a day


class PaidBudget:
    def __init__(self, repository: PaidBroadcastRepository, stars_per_day: int, clock: Clock) -> None:
        self._repository = repository
        self._stars_per_day = stars_per_day
        self._limit = stars_per_day * 10 // TENTHS_PER_MESSAGE  # paid messages a day
        self._clock = clock  # wall clock: the UTC day
        self._spent_day: str | None = None  # the day the budget ran out (no query until the next)
        self._block_day: str | None = None  # the day of the messages counted ahead
        self._block_left = 0  # messages counted ahead, not used yet
        self._lock = asyncio.Lock()
        self.paid = 0  # paid sends counted by this process
        self.fell_back = 0  # pushes sent on the free lane because the budget was spent

    def _today(self) -> str:
        return self._clock.now().date().isoformat()

    async def take(self) -> str | None:
        """Count one paid message now: the day it counts on, or None (the budget is spent:
        send it on the free lane)."""
        async with self._lock:  # one count ahead at a time, shared by the deliveries in flight
            day = self._today()
            if self._block_day != day:  # what was counted ahead for another day stays counted
                self._block_day, self._block_left = day, 0
            if self._block_left > 0:
                self._block_left -= 1
            elif self._spent_day != day and await self._repository.reserve(day, self._limit, BLOCK):
                self._block_left = BLOCK - 1
            elif self._spent_day == day or not await self._repository.reserve(day, self._limit):
                self._spent_day = day
                self.fell_back += 1
                return None
            self.paid += 1
            return day

    async def settle(self) -> None:
        """Give back the messages counted ahead and not used (at a stop)."""
        async with self._lock:
            if self._block_day is not None and self._block_left > 0:
                await self._repository.release(self._block_day, self._block_left)
                self._block_left = 0

    async def give_back(self, day: str) -> None:
        """The message counted on `day` was certainly not sent."""
        await self._repository.release(day)
        self.paid -= 1
        if self._spent_day == day:
            self._spent_day = None

    async def today(self) -> PaidSpend:
        day = self._today()
        spent = await self._repository.spent(day) - (self._block_left if self._block_day == day else 0)
        return PaidSpend(day, spent * TENTHS_PER_MESSAGE / 10, self._stars_per_day)
