"""Replay protection and rate limits of the dashboard API (in memory, per process).

Why one-time nonces issued by the server, not a record of used (hash, request): Telegram
signs initData once per opening of the Mini App, so every request of a session carries the
same hash. A record of (hash, request) cannot tell a replayed request from a second
legitimate one (pause, resume, pause again), and it would have to outlive restarts. A
nonce the client chooses itself proves nothing either: whoever replays picks a new one.
So a mutating request must carry a nonce the server issued to that signed session
(`GET /api/nonce`): single use, bound to the user and the initData hash, valid a few
minutes. A copied request is refused the second time; nothing issued before a restart is
accepted after it (the store is empty), so no persistence is needed. What it cannot stop
is someone holding the initData itself: that is a bearer credential for its lifetime
(one day), as with every Mini App back end.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

NONCE_TTL_SECONDS = 300.0
MAX_NONCES_PER_USER = 16


class NonceStore:
    """One-time nonces bound to (user id, initData hash)."""

    def __init__(
        self,
        ttl: float = NONCE_TTL_SECONDS,
        per_user: int = MAX_NONCES_PER_USER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._per_user = per_user
        self._now = monotonic
        self._issued: dict[int, OrderedDict[str, tuple[str, float]]] = {}

    def issue(self, user_id: int, init_hash: str) -> str:
        nonce = secrets.token_urlsafe(18)
        mine = self._issued.setdefault(user_id, OrderedDict())
        self._forget_expired(mine)
        while len(mine) >= self._per_user:
            mine.popitem(last=False)  # the oldest unused one goes first
        mine[nonce] = (init_hash, self._now() + self._ttl)
        return nonce

    def consume(self, user_id: int, init_hash: str, nonce: str) -> bool:
        """True once for a nonce issued to this user and session and not yet expired."""
        mine = self._issued.get(user_id)
        if not mine or nonce not in mine:
            return False
        bound_hash, expires = mine.pop(nonce)
        if not mine:
            del self._issued[user_id]
        return secrets.compare_digest(bound_hash, init_hash) and self._now() < expires

    def _forget_expired(self, mine: OrderedDict[str, tuple[str, float]]) -> None:
        now = self._now()
        for nonce in [n for n, (_, expires) in mine.items() if expires <= now]:
            del mine[nonce]

    def outstanding(self) -> int:
        return sum(len(v) for v in self._issued.values())


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key: `rate` requests per second with bursts of `burst`."""

    def __init__(
        self, rate: float, burst: float, monotonic: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._now = monotonic
        self._max_keys = max_keys
        self._buckets: OrderedDict[object, _Bucket] = OrderedDict()

    def allow(self, key: object) -> float:
        """0 when the request may go ahead (a token is taken), else seconds to wait."""
        now = self._now()
        bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
