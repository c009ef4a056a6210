"""One-time nonces and the token buckets of the dashboard API."""

from __future__ import annotations

from webapp.guard import NonceStore, RateLimiter


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_nonce_works_once_for_its_user_and_session_only() -> None:
    store = NonceStore(ttl=60, monotonic=Ticks())
    nonce = store.issue(7, "hash-a")
    assert not store.consume(8, "hash-a", nonce)  # another user
    assert not store.consume(7, "hash-b", nonce)  # the same user, another signed session: used up
    other = store.issue(7, "hash-a")
    assert store.consume(7, "hash-a", other)
    assert not store.consume(7, "hash-a", other)  # replayed
    assert not store.consume(7, "hash-a", "made-up")
    assert store.outstanding() == 0


def test_a_nonce_expires() -> None:
    ticks = Ticks()
    store = NonceStore(ttl=60, monotonic=ticks)
    nonce = store.issue(7, "h")
    ticks.now += 61
    assert not store.consume(7, "h", nonce)


def test_unused_nonces_are_capped_per_user_oldest_first() -> None:
    store = NonceStore(ttl=60, per_user=3, monotonic=Ticks())
    first, *rest = [store.issue(7, "h") for _ in range(4)]
    assert store.outstanding() == 3
    assert not store.consume(7, "h", first)
    assert all(store.consume(7, "h", n) for n in rest)


def test_a_fresh_store_knows_no_nonce_from_before_a_restart() -> None:
    nonce = NonceStore().issue(7, "h")
    assert not NonceStore().consume(7, "h", nonce)


def test_token_bucket_bursts_then_waits_and_refills() -> None:
    ticks = Ticks()
    limiter = RateLimiter(rate=2.0, burst=3.0, monotonic=ticks)
    assert [limiter.allow("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.allow("u") == 0.5  # one token at 2 per second
    assert limiter.allow("other") == 0.0  # buckets are per key
    ticks.now += 0.5
    assert limiter.allow("u") == 0.0
    assert limiter.allow("u") > 0.0
