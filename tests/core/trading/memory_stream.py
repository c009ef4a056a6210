"""An in-memory OrderStream over the fake Binance: it emits what the fake exchange's state
shows (each order whose status or fill changed since the account's last update), at no
request weight, with the faults a user-data stream has: it fails (and what happens while it
is down is never sent), it stays silent, it repeats or reorders what it sends."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from core.errors import ExchangeUnavailable
from core.models import OrderResult, OrderStatus
from tests.fakes.fake_exchange import FakeBinance

_STATUS = {
    "NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
}

State = tuple[str, Decimal]


def result_of(order: Any) -> OrderResult:
    """The order as an execution report says it (normalised as fetch_order does)."""
    filled = float(order.executed_qty)
    fees = [f for f in order.fills]
    currency = fees[0]["commissionAsset"] if fees else None
    fee = sum(float(f["commission"]) for f in fees if f["commissionAsset"] == currency)
    return OrderResult(
        client_order_id=order.client_order_id,
        exchange_order_id=str(order.order_id),
        status=_STATUS[order.status],
        amount=float(order.orig_qty),
        filled=filled,
        average_price=float(order.quote_qty / order.executed_qty) if order.executed_qty else None,
        fee=fee,
        fee_currency=currency,
    )


class MemoryOrderStream:
    """OrderStream for the tests and the bench. `key_of` says which fake account a user's is."""

    def __init__(self, fake: FakeBinance, key_of: Callable[[int], Awaitable[str | None]]) -> None:
        self._fake = fake
        self._key_of = key_of
        self._seen: dict[int, dict[str, State]] = {}  # user -> what their stream last told
        self._wakes: dict[str, asyncio.Event] = {}
        self._failing: dict[int, tuple[Exception, int]] = {}  # user -> (error, calls left to fail)
        self._script: dict[int, deque[list[OrderResult]]] = {}
        self.silent: set[int] = set()  # users whose stream never says anything
        self.subscriptions: dict[int, int] = {}  # user -> subscriptions made
        self.sent: dict[int, list[OrderResult]] = {}  # user -> every update sent
        self.changed_at: dict[str, float] = {}  # client order id -> when the exchange last changed it
        for name in ("_place", "_trade", "_cancel"):
            self._hook(name)

    def _hook(self, name: str) -> None:
        original = getattr(self._fake, name)

        def hooked(account: Any, *args: Any) -> Any:
            out = original(account, *args)
            order = next((a for a in args if hasattr(a, "client_order_id")), None)
            if order is not None:
                self.changed_at[order.client_order_id] = time.perf_counter()
            self._wake(account.api_key)
            return out

        setattr(self._fake, name, hooked)

    def _wake(self, key: str) -> None:
        event = self._wakes.get(key)
        if event is not None:
            event.set()

    # ------------------------------------------------------------------ faults

    def fail(self, user_id: int, times: int = 1, error: Exception | None = None) -> None:
        """The next `times` calls of the user's stream fail (the one waiting now at once)."""
        self._failing[user_id] = (error or ExchangeUnavailable("stream closed by the exchange"), times)
        for event in self._wakes.values():
            event.set()

    def push(self, user_id: int, updates: list[OrderResult]) -> None:
        """Send these updates next, as they are (a repeat, an old one, an odd order)."""
        self._script.setdefault(user_id, deque()).append(updates)
        for event in self._wakes.values():
            event.set()

    # ------------------------------------------------------------------ the port

    async def open_stream(self, user_id: int) -> None:
        """Subscribe: what happened before is not sent, what happens from now on is."""
        key = await self._key_of(user_id)
        if key is None:
            raise ExchangeUnavailable("no key")
        self._check(user_id)
        self._seen[user_id] = self._state(key)
        self.subscriptions[user_id] = self.subscriptions.get(user_id, 0) + 1

    async def watch_orders(self, user_id: int) -> list[OrderResult]:
        if user_id not in self._seen:
            await self.open_stream(user_id)
        key = await self._key_of(user_id)
        assert key is not None
        wake = self._wakes.setdefault(key, asyncio.Event())
        while True:
            wake.clear()
            self._check(user_id)
            script = self._script.get(user_id)
            if script:
                return self._send(user_id, script.popleft())
            now = self._state(key)
            changed = [cid for cid, state in now.items() if self._seen[user_id].get(cid) != state]
            self._seen[user_id] = now
            if changed and user_id not in self.silent:
                orders = {o.client_order_id: o for o in self._fake.orders_of(key)}
                return self._send(user_id, [result_of(orders[cid]) for cid in changed])
            await wake.wait()

    async def close_stream(self, user_id: int) -> None:
        self._seen.pop(user_id, None)

    def _check(self, user_id: int) -> None:
        failing = self._failing.get(user_id)
        if failing is None:
            return
        error, left = failing
        if left <= 1:
            del self._failing[user_id]
        else:
            self._failing[user_id] = (error, left - 1)
        self._seen.pop(user_id, None)  # the connection is gone: what happens meanwhile is lost
        raise error

    def _send(self, user_id: int, updates: list[OrderResult]) -> list[OrderResult]:
        self.sent.setdefault(user_id, []).extend(updates)
        return updates

    def _state(self, key: str) -> dict[str, State]:
        return {o.client_order_id: (o.status, o.executed_qty) for o in self._fake.orders_of(key)}
