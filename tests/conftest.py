"""Shared fixtures: a fresh SQLite database per test, a manual clock, the trading
service wired to the paper exchange over a hand-driven market."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.exchange.paper import PaperAccounts, PaperExchange
from core.rules.exits import ManagementRules
from core.rules.fills import FillModel
from core.trading.paper import PaperPositions
from core.trading.service import TradingConfig, TradingService
from db.database import Database
from db.outbox import OutboxRepository
from db.postgres import PostgresDatabase
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.system import SystemRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository
from tests.fakes.market import FakeMarketData
from tests.postgres import PostgresServer

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def db(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[SqlDatabase]:
    """SQLite; ATRA_TEST_DATABASE=postgresql runs every test that takes it on PostgreSQL
    instead (tests/db runs on both always)."""
    database: SqlDatabase = Database(tmp_path / "atra.sqlite3")
    if os.environ.get("ATRA_TEST_DATABASE") == "postgresql":
        database = PostgresDatabase(await request.getfixturevalue("postgres").empty_database())
    await database.connect()
    yield database
    await database.close()


@dataclasses.dataclass
class World:
    """Everything a trading-service test touches."""

    db: SqlDatabase
    clock: ManualClock
    market: FakeMarketData
    exchange: PaperExchange
    users: UserRepository
    system: SystemRepository
    signals: SignalRepository
    orders: OrderRepository
    positions: PositionRepository
    outbox: OutboxRepository
    trading: TradingService


def make_world(
    db: SqlDatabase, clock: ManualClock, *, fee_pct: float = 0.1, slippage_pct: float = 0.0, balance: float = 10_000.0
) -> World:
    market = FakeMarketData({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    users = UserRepository(db, clock)
    system = SystemRepository(db, clock)
    signals = SignalRepository(db)
    orders = OrderRepository(db, clock)
    positions = PositionRepository(db, clock)
    outbox = OutboxRepository(db)
    fills = FillModel(fee_rate=fee_pct / 100, slippage_pct=slippage_pct)
    exchange = PaperExchange(market, clock, PaperAccounts(users, positions).free_balance, fills, "USDT")
    trading = TradingService(
        config=TradingConfig(
            timeframe="1h",
            paper_balance=balance,
            signal_ttl_seconds=3600,
            admin_ids=frozenset({1}),
        ),
        clock=clock,
        market_data=market,
        exchange=exchange,
        users=users,
        system=system,
        signals=signals,
        orders=orders,
        positions=positions,
        outbox=outbox,
        manager=PaperPositions(
            clock=clock,
            exchange=exchange,
            orders=orders,
            positions=positions,
            rules=ManagementRules(trail_atr_multiplier=0.0),
            market_data=market,
        ),
    )
    return World(db, clock, market, exchange, users, system, signals, orders, positions, outbox, trading)


@pytest.fixture
def world(db: SqlDatabase, clock: ManualClock) -> World:
    return make_world(db, clock)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (tests/postgres.py). Skipped, with the reason,
    only where the binaries are missing and not in CI (CI=true), which must run these tests."""
    url = os.environ.get("ATRA_TEST_POSTGRES_URL")
    if url:
        yield PostgresServer(url)
        return
    try:
        server = PostgresServer.start()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL server for the PostgreSQL tests: {exc}")
    yield server
    server.stop()
