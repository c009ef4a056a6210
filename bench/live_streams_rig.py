"""The rig of bench/bench_live_streams.py: the live trading service over the fake Binance,
accounts each holding one protected position per symbol, and the account streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from core.exchange.ccxt_stream import CcxtOrderStream
from core.exchange.limiter import Budget, ExchangeBudgets, ExchangeLimiter
from core.models import Limits, OrderResult
from core.trading.live_ports import OrderStream
from core.trading.live_stream import AccountStreams, StreamConfig
from db.database import Database
from tests.conftest import T0
from tests.core.trading.live_world import LiveWorld, long_draft, start_process, world_streams
from tests.core.trading.memory_stream import MemoryOrderStream
from tests.fakes.fake_exchange import DEFAULT_SYMBOLS, FakeBinance, FakeBudgets, SymbolSpec
from tests.fakes.loopback import loopback_session
from tests.fakes.market import FakeMarketData

KEYS = "bench-key-{}"
SYMBOLS = (
    *DEFAULT_SYMBOLS,
    SymbolSpec("BNBUSDT", "BNB", "USDT", "0.01", "0.001", "0.001", "90000", "5", "600"),
    SymbolSpec("SOLUSDT", "SOL", "USDT", "0.01", "0.001", "0.001", "90000", "5", "150"),
    SymbolSpec("LTCUSDT", "LTC", "USDT", "0.01", "0.001", "0.001", "90000", "5", "80"),
)
#: The bot paces new subscriptions at 1 a second (Binance: 300 per 5 minutes); the bench,
#: which measures the steady state, lets 200 accounts come up in 10 s.
CONNECTS_PER_SECOND = 20.0
UNLIMITED = ExchangeBudgets(
    ip_weight=Budget(10**9, 60.0), account_orders=(Budget(10**6, 10.0), Budget(10**9, 86_400.0))
)


@dataclass
class Rig:
    world: LiveWorld
    stream: OrderStream
    streams: AccountStreams
    db: Database
    session: Any
    pushed: dict[str, float]  # client order id -> when the exchange last sent (or changed) it
    booked: dict[str, float] = field(default_factory=dict)  # client order id -> when its fill was booked
    task: asyncio.Task[None] = field(init=False)

    async def idle(self) -> None:
        """Until nothing is being sent and the exchange has had no request for a moment."""
        quiet = 0
        seen = len(self.world.fake.requests)
        while quiet < 3:
            await asyncio.sleep(0.02)
            busy = await self.world.db.fetchall("SELECT 1 FROM orders WHERE status = 'submitting' LIMIT 1")
            now = len(self.world.fake.requests)
            quiet = 0 if busy or now != seen else quiet + 1
            seen = now

    async def close(self) -> None:
        if hasattr(self, "task"):
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if isinstance(self.stream, CcxtOrderStream):
            await self.stream.close()
        await self.world.close()
        await self.session.close()
        await self.db.close()
        await self.world.fake.stop()


async def key_of_user(user_id: int) -> str | None:
    return KEYS.format(user_id)


async def build_rig(folder: Path, accounts: int, sweep: float, kind: str = "memory") -> Rig:
    fake = FakeBinance(budgets=FakeBudgets(enforce=False), symbols=SYMBOLS)
    await fake.start()
    db = Database(folder / "bench.sqlite3")
    await db.connect()
    session = loopback_session(limit=0)  # 200 WebSockets held open, and the REST calls besides
    clock = ManualClock(T0)
    market = FakeMarketData({f"{s.base}/{s.quote}": float(s.price) for s in SYMBOLS})
    world = start_process(db, clock, fake, market, session, limiter=ExchangeLimiter(UNLIMITED), timeout_ms=30_000)
    await open_positions(world, accounts)
    stream: OrderStream
    if kind == "memory":
        memory = MemoryOrderStream(fake, key_of_user)
        stream, pushed = memory, memory.changed_at
    else:  # the ccxt.pro client, one WebSocket per account to the fake's WebSocket API
        stream, pushed = CcxtOrderStream(world.gateway, world.exchange.valued_fee), _hook_pushes(fake)
    config = StreamConfig(refresh_seconds=1.0, connects_per_second=CONNECTS_PER_SECOND)
    streams = world_streams(world, stream, sweep, config)
    rig = Rig(world, stream, streams, db, session, pushed)
    _hook_bookings(rig)
    return rig


async def open_positions(world: LiveWorld, accounts: int) -> None:
    """Every account funded, registered, keyed; one long signal per symbol, confirmed by all."""
    await world.system.save_limits(
        Limits(max_open_positions=len(SYMBOLS), max_correlation=1.0, risk_per_trade_pct=0.4), 0, "max_open_positions"
    )
    for user in range(1, accounts + 1):
        world.fake.add_account(KEYS.format(user), f"bench-secret-{user}", {"USDT": "20000"})
        await world.trading.register(user, "en")
        await world.keys.save(user, KEYS.format(user), f"bench-secret-{user}")
    gate = asyncio.Semaphore(32)

    async def confirm(row_id: int, user_id: int) -> None:
        async with gate:
            await world.trading.confirm(row_id, user_id)

    for spec in SYMBOLS:
        price = float(spec.price)
        draft = long_draft(
            f"{spec.base}/{spec.quote}", price, price * 0.98, price * 1.03, price * 1.05, atr=price * 0.01
        )
        rows = await world.trading.publish(draft) or []
        await asyncio.gather(*(confirm(r.id, r.user_id) for r in rows))
    for spec in SYMBOLS:  # the market rises 1 %: a stop moved to break-even after TP1 rests under it
        world.set_price(f"{spec.base}/{spec.quote}", float(spec.price) * 1.01)


def _hook_pushes(fake: FakeBinance) -> dict[str, float]:
    """Note when the fake sends each order's update down the WebSocket."""
    pushed: dict[str, float] = {}
    original = fake._ws_send

    def send(api_key: str, update: Any) -> None:
        original(api_key, update)
        now = time.perf_counter()
        for event in update:
            if event.get("e") == "executionReport":
                pushed[event["c"] if event.get("X") != "CANCELED" else event.get("C", event["c"])] = now

    fake._ws_send = send  # type: ignore[method-assign]
    return pushed


def _hook_bookings(rig: Rig) -> None:
    """Note when each fill's booking transaction returns."""
    positions = rig.world.positions
    original = positions.save

    async def save(position: Any, delta: float, events: Any, results: Sequence[OrderResult] = ()) -> float:
        balance = await original(position, delta, events, results)
        now = time.perf_counter()
        for result in results:
            if result.filled > 0:
                rig.booked.setdefault(result.client_order_id, now)
        return balance

    positions.save = save  # type: ignore[method-assign]
