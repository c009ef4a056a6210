"""A live trading service over SQLite and the real ccxt client against the fake Binance on
127.0.0.1: what the live tests and the live benchmark drive."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.clock import ManualClock
from core.events import Alert
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings, RetryPolicy
from core.exchange.limiter import ExchangeBudgets, ExchangeLimiter
from core.models import OrderResult, OrderStatus, Side, SignalDraft, SignalLevels, StoredOrder
from core.rules.exits import ManagementRules
from core.trading.live import LiveConfig, LivePositions
from core.trading.live_follow import follow_streams
from core.trading.live_ports import OrderStream
from core.trading.live_stream import AccountStreams, StreamConfig
from core.trading.service import TradingConfig, TradingService
from db.credentials import CredentialStore, make_cipher
from db.database import Database
from db.outbox import OutboxRepository
from db.signals import SignalRepository
from db.system import SystemRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.market import FakeMarketData, candles_frame

ADMIN = 1
ALICE, BOB = 1001, 1002
KEY, SECRET = "alice-api-key-0001", "alice-secret-0001"
BOB_KEY, BOB_SECRET = "bob-api-key-0002", "bob-secret-0002"
HOUR = timedelta(hours=1)

_STATUS = {
    "NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.CANCELED,
}


class Killed(BaseException):
    """The process dies here (nothing catches a BaseException on the way up)."""


class KillableOrders(OrderRepository):
    """The order repository of a process that dies right before it records `kill_on`."""

    kill_on: Callable[[str], bool] = staticmethod(lambda _cid: False)  # type: ignore[assignment]

    async def record(self, result: OrderResult) -> None:
        if self.kill_on(result.client_order_id):
            raise Killed(result.client_order_id)
        await super().record(result)


@dataclasses.dataclass
class LiveWorld:
    """One running process: its gateway and services over a database that outlives it."""

    db: Database
    clock: ManualClock
    fake: FakeBinance
    market: FakeMarketData
    session: Any
    keys: CredentialStore
    gateway: CcxtGateway
    exchange: CcxtExchange
    users: UserRepository
    system: SystemRepository
    signals: SignalRepository
    orders: KillableOrders
    positions: PositionRepository
    outbox: OutboxRepository
    manager: LivePositions = dataclasses.field(init=False)
    trading: TradingService = dataclasses.field(init=False)

    def set_price(self, symbol: str, price: float) -> None:
        """Move the market on the exchange (resting orders fill) and in the price feed."""
        self.fake.set_price(symbol.replace("/", ""), price)
        self.market.prices[symbol] = price

    def add_candles(self, symbol: str, rows: Iterable[tuple[float, float, float, float]]) -> None:
        """Time passes: one hour per row, and each row becomes a candle that has just closed
        (after the ones there are)."""
        rows = list(rows)
        self.clock.advance(len(rows) * HOUR)
        existing = self.market.frames.get(symbol)
        start = self.clock.now() - len(rows) * HOUR
        if existing is not None and len(existing):
            start = max(start, existing.index[-1].to_pydatetime() + HOUR)
        price = self.market.prices[symbol]
        self.market.add_candles(symbol, candles_frame(start, rows, HOUR))
        self.market.prices[symbol] = price  # the feed's price stays the exchange's

    async def stored(self, position_id: int) -> dict[str, StoredOrder]:
        return {o.request.client_order_id: o for o in await self.orders.for_position(position_id)}

    async def alerts(self, user_id: int | None = None) -> list[Alert]:
        items = await self.outbox.due(self.clock.now() + timedelta(days=1), 1000)
        out = []
        for item in items:
            if item.kind == "alert" and (user_id is None or item.user_id == user_id):
                out.append(Alert(user_id=item.user_id, key=item.payload["key"], params=item.payload["params"]))
        return out

    async def kinds(self, user_id: int) -> list[str]:
        items = await self.outbox.due(self.clock.now() + timedelta(days=1), 1000)
        return [i.kind if i.kind != "alert" else f"alert:{i.payload['key']}" for i in items if i.user_id == user_id]

    async def close(self) -> None:
        await self.gateway.close()


ENCRYPTION_KEY = Fernet.generate_key().decode()


def start_process(
    db: Database,
    clock: ManualClock,
    fake: FakeBinance,
    market: FakeMarketData,
    session: Any,
    *,
    budgets: ExchangeBudgets | None = None,
    limiter: ExchangeLimiter | None = None,
    settle_seconds: float = 0.0,
    timeout_ms: int = 2000,
    rules: ManagementRules | None = None,
    max_entry_drift_r: float = 0.25,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> LiveWorld:
    """Build everything a live process builds at start, over an existing database."""
    orders = KillableOrders(db, clock)
    keys = CredentialStore(db, clock, make_cipher(ENCRYPTION_KEY), "binance")
    gateway = CcxtGateway(
        CcxtSettings(
            api_base_url=fake.base_url,
            ws_api_url=fake.ws_url,
            timeout_ms=timeout_ms,
            recv_window_ms=1000,
            retry=RetryPolicy(attempts=3, first_delay=0.01, factor=2.0),
        ),
        keys,
        limiter or ExchangeLimiter(budgets or ExchangeBudgets.binance_spot()),
        session=session,
    )
    exchange = CcxtExchange(gateway, lookup=RetryPolicy(attempts=4, first_delay=0.02), settle_margin=0.2)
    world = LiveWorld(
        db=db,
        clock=clock,
        fake=fake,
        market=market,
        session=session,
        keys=keys,
        gateway=gateway,
        exchange=exchange,
        users=UserRepository(db, clock),
        system=SystemRepository(db, clock),
        signals=SignalRepository(db),
        orders=orders,
        positions=PositionRepository(db, clock),
        outbox=OutboxRepository(db),
    )
    world.manager = _manager(world, settle_seconds, rules or ManagementRules(trail_atr_multiplier=2.0), sleep)
    world.trading = _trading(world, max_entry_drift_r)
    return world


def _manager(
    world: LiveWorld, settle_seconds: float, rules: ManagementRules, sleep: Callable[[float], Awaitable[None]]
) -> LivePositions:
    return LivePositions(
        config=LiveConfig(admin_ids=frozenset({ADMIN}), settle_seconds=settle_seconds),
        clock=world.clock,
        exchange=world.exchange,
        keys=world.keys,
        users=world.users,
        orders=world.orders,
        positions=world.positions,
        outbox=world.outbox,
        system=world.system,
        rules=rules,
        sleep=sleep,
        monotonic=lambda: world.clock.now().timestamp(),
    )


def _trading(world: LiveWorld, drift_r: float) -> TradingService:
    return TradingService(
        config=TradingConfig(
            timeframe="1h",
            paper_balance=10_000.0,
            signal_ttl_seconds=3600,
            max_entry_drift_r=drift_r,
            admin_ids=frozenset({ADMIN}),
        ),
        clock=world.clock,
        market_data=world.market,
        exchange=world.exchange,
        users=world.users,
        system=world.system,
        signals=world.signals,
        orders=world.orders,
        positions=world.positions,
        outbox=world.outbox,
        manager=world.manager,
    )


def long_draft(
    symbol: str = "BTC/USDT",
    entry: float = 60_000.0,
    stop: float = 58_800.0,
    tp1: float = 61_800.0,
    tp2: float = 63_000.0,
    atr: float = 600.0,
    side: Side = Side.LONG,
    candle_hour: int = 0,
) -> SignalDraft:
    from tests.conftest import T0

    return SignalDraft(
        symbol=symbol,
        timeframe="1h",
        levels=SignalLevels(side, entry, stop, tp1, tp2),
        candle_time=T0 - HOUR + candle_hour * HOUR,
        atr=atr,
        source="manual",
    )


Start = Callable[..., LiveWorld]


async def join(world: LiveWorld, user_id: int, key: str, secret: str, usdt: str = "10000") -> None:
    """A user with an account on the exchange, registered and connected."""
    if key not in world.fake.accounts:
        world.fake.add_account(key, secret, {"USDT": usdt})
    await world.trading.register(user_id, "en")
    await world.keys.save(user_id, key, secret)


async def confirm(world: LiveWorld, user_id: int = ALICE, **draft: Any) -> Any:
    """Publish a long signal (`long_draft(**draft)`) and confirm the user's row."""
    rows = await world.trading.publish(long_draft(**draft))
    assert rows is not None
    row = next(r for r in rows if r.user_id == user_id)
    return await world.trading.confirm(row.id, user_id)


async def assert_agrees(world: LiveWorld, key: str = KEY) -> None:
    """One order per client order id on the exchange, and every row as the exchange says."""
    orders = world.fake.orders_of(key)
    ids = [o.client_order_id for o in orders]
    assert len(ids) == len(set(ids)), ids
    user_id = await _user_of(world, key)
    rows = {
        r["client_order_id"]: r for r in await world.db.fetchall("SELECT * FROM orders WHERE user_id = ?", (user_id,))
    }
    for order in orders:
        row = rows.get(order.client_order_id)
        assert row is not None, f"{order.client_order_id} is on the exchange but not in the database"
        assert row["status"] == _STATUS[order.status].value, (order.client_order_id, order.status, row["status"])
        assert row["filled"] == pytest.approx(float(order.executed_qty)), order.client_order_id
    for cid, row in rows.items():
        if row["status"] in ("open", "filled", "submitting"):
            assert cid in ids, f"{cid} is {row['status']} in the database but not on the exchange"


async def _user_of(world: LiveWorld, key: str) -> int:
    for row in await world.db.fetchall("SELECT user_id FROM credentials"):
        creds = await world.keys.credentials(row["user_id"])
        if creds is not None and creds[0] == key:
            return int(row["user_id"])
    return ALICE


def resting(world: LiveWorld, key: str = KEY) -> dict[str, Any]:
    return {o.client_order_id: o for o in world.fake.open_orders(key)}


async def monitor(world: LiveWorld) -> int:
    return await world.trading.monitor()


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> Any:
    """The first truthy value of `check()`, polled until `within` seconds have passed."""
    deadline = asyncio.get_running_loop().time() + within
    while not (value := await check()):
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.005)
    return value


def world_streams(world: LiveWorld, stream: OrderStream, sweep_seconds: float, config: StreamConfig) -> AccountStreams:
    """The account streams of `world`'s trading service, as bot/assembly.py wires them,
    on the world's clock (start them with `run()`)."""
    return follow_streams(
        world.trading,
        world.manager,
        stream,
        keys=world.keys,
        orders=world.orders,
        positions=world.positions,
        sweep_seconds=sweep_seconds,
        admin_ids=frozenset({ADMIN}),
        config=config,
        monotonic=lambda: world.clock.now().timestamp(),
    )
