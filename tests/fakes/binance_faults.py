"""The fake Binance's faults: queued for the next requests (`inject`), drawn at random
(`chaos`), slow answers, late executions, revoked keys (a mixin of FakeBinance)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque

from tests.fakes.binance_model import ApiError, FakeAccount, Fault, FaultSpec, Route, now_ms


class FaultsApi:
    """Faults as a test or a soak injects them."""

    _faults: dict[tuple[str, str], deque[FaultSpec]]
    _chaos: dict[tuple[str, str], list[tuple[FaultSpec, float]]]
    _slow: dict[tuple[str, str], float]
    _late: list[asyncio.Future[None]]
    _release: asyncio.Event
    rng: random.Random
    revoked: set[str]
    faults_met: Counter[str]
    late_refused: int
    stall_seconds: float

    def inject(
        self,
        fault: Fault,
        *,
        method: str = "POST",
        path: str = "/api/v3/order",
        times: int = 1,
        retry_after: int = 1,
        status: int = 503,
        delay: float = 0.5,
    ) -> None:
        """Queue `fault` for the next `times` requests to (method, path); `delay`: how late
        an ACCEPT_LATE request is executed."""
        queue = self._faults.setdefault((method, path), deque())
        queue.extend(FaultSpec(fault, retry_after, status, delay) for _ in range(times))

    def slow(self, method: str, path: str, seconds: float) -> None:
        """Answer every request to (method, path) `seconds` late (0: on time again)."""
        self._slow[(method, path)] = seconds

    def chaos(self, fault: Fault, probability: float, *, method: str = "POST", path: str = "/api/v3/order") -> None:
        """From now on each request to (method, path) meets `fault` with `probability` (drawn
        from `rng`, after any queued fault), until `clear_faults`."""
        spec = FaultSpec(fault, 1, 503, 0.4)
        self._chaos.setdefault((method, path), []).append((spec, probability))

    def revoke(self, api_key: str) -> None:
        """The user revokes the key on the exchange: every signed call with it answers -2015."""
        self.revoked.add(api_key)

    def clear_faults(self) -> None:
        """Drop every queued fault and every chance of one."""
        self._faults.clear()
        self._chaos.clear()

    def _execute_late(self, route: Route, account: FakeAccount | None, params: dict[str, str], delay: float) -> None:
        """Run the request `delay` seconds from now, as a backend that received it would:
        refused if by then its timestamp is older than its recvWindow."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def run() -> None:
            age = now_ms() - int(params.get("timestamp", "0"))
            try:
                if age > int(params.get("recvWindow", "5000")):
                    self.late_refused += 1
                    return
                route.handler(account, params)
            except ApiError:
                self.late_refused += 1
            finally:
                done.set_result(None)

        asyncio.get_running_loop().call_later(delay, run)
        self._late.append(done)

    async def settled(self) -> None:
        """Wait until every request accepted late has been executed (or refused)."""
        await asyncio.gather(*self._late)

    def _next_fault(self, method: str, path: str) -> FaultSpec | None:
        queue = self._faults.get((method, path))
        spec = queue.popleft() if queue else self._draw(method, path)
        if spec is not None:
            self.faults_met[spec.fault.value] += 1
        return spec

    def _draw(self, method: str, path: str) -> FaultSpec | None:
        draw = self.rng.random()
        for spec, probability in self._chaos.get((method, path), ()):
            if draw < probability:
                return spec
            draw -= probability
        return None

    async def _stall(self) -> None:
        try:
            await asyncio.wait_for(self._release.wait(), self.stall_seconds)
        except TimeoutError:
            return
