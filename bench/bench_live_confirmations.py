"""A burst of confirmations through the LIVE trading service against the fake Binance on
127.0.0.1: every confirmation is a market entry and two OCO lists (stop + TP1, stop + TP2)
on the user's own account, all through ONE gateway and ONE limiter.

Run: python -m bench.bench_live_confirmations [--users 50] [--signals 4]

Budgets are Binance spot's with every window scaled to 1 s and every RATE kept: request
weight 6000/60 s -> 100/1 s per IP; orders 50/10 s -> 5/1 s per account (an OCO list
counts 2). The fake enforces them in fixed windows like Binance and answers 429 past them.
Each user confirms one signal per symbol (4 symbols), all users at once: 200 confirmations,
200 entries and 400 lists by default.

What each confirmation costs the IP budget: the entry (1), one fresh price for the lists
(2), two lists (1 each); prices and candles for the checks come from market data's short
cache. The per-account order budget is 5 units per confirmation.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from core.clock import SystemClock
from core.errors import UserError
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings
from core.exchange.ccxt_market_data import ExchangeMarketData
from core.exchange.limiter import Budget, ExchangeBudgets, ExchangeLimiter
from core.models import Limits, Side, SignalDraft, SignalLevels, UserSignal
from core.rules.exits import ManagementRules
from core.trading.live import LiveConfig, LivePositions
from core.trading.service import TradingConfig, TradingService
from db.credentials import CredentialStore, make_cipher
from db.database import Database
from db.outbox import OutboxRepository
from db.signals import SignalRepository
from db.system import SystemRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository
from tests.fakes.fake_exchange import DEFAULT_SYMBOLS, FakeBinance, FakeBudgets, SymbolSpec
from tests.fakes.loopback import loopback_session

WINDOW = 1.0
WEIGHT_LIMIT = 100  # 6000 per 60 s
ORDERS_LIMIT = 5  # 50 per 10 s
SYMBOLS = (
    *DEFAULT_SYMBOLS,
    SymbolSpec("BNBUSDT", "BNB", "USDT", "0.01", "0.001", "0.001", "90000", "5", "600"),
    SymbolSpec("SOLUSDT", "SOL", "USDT", "0.01", "0.001", "0.001", "90000", "5", "150"),
)


@dataclass(frozen=True, slots=True)
class Figures:
    confirmations: int
    filled: int
    refused: Counter[str]
    entries: int
    lists: int
    rate_limited: int
    elapsed: float
    weight_used: float
    weight_peak: float
    orders_used: float
    orders_peak: float
    protected: int
    calls: Counter[str]


def _during(counts: Counter[int], start: float, end: float) -> list[int]:
    return [counts[w] for w in range(int(start // WINDOW), int(end // WINDOW) + 1)]


@dataclass(frozen=True, slots=True)
class Rig:
    """The live trading service on one gateway and one limiter, over the fake Binance."""

    gateway: CcxtGateway
    keys: CredentialStore
    market: ExchangeMarketData
    system: SystemRepository
    trading: TradingService
    symbols: list[str]


def build(base_url: str, db: Database, session: aiohttp.ClientSession, signals: int) -> Rig:
    clock = SystemClock()
    keys = CredentialStore(db, clock, make_cipher(Fernet.generate_key().decode()), "binance")
    budgets = ExchangeBudgets(
        ip_weight=Budget(WEIGHT_LIMIT, WINDOW), account_orders=(Budget(ORDERS_LIMIT, WINDOW), Budget(160_000, 86_400))
    )
    gateway = CcxtGateway(
        CcxtSettings(api_base_url=base_url, timeout_ms=30_000), keys, ExchangeLimiter(budgets), session=session
    )
    exchange = CcxtExchange(gateway)
    symbols = [f"{s.base}/{s.quote}" for s in SYMBOLS][:signals]
    market = ExchangeMarketData(gateway, symbols, clock)
    users_repo, system, orders = UserRepository(db, clock), SystemRepository(db, clock), OrderRepository(db, clock)
    positions, outbox = PositionRepository(db, clock), OutboxRepository(db)
    manager = LivePositions(
        config=LiveConfig(admin_ids=frozenset()),
        clock=clock,
        exchange=exchange,
        keys=keys,
        users=users_repo,
        orders=orders,
        positions=positions,
        outbox=outbox,
        system=system,
        rules=ManagementRules(),
    )
    trading = TradingService(
        config=TradingConfig("1h", 10_000.0, 3600, frozenset()),
        clock=clock,
        market_data=market,
        exchange=exchange,
        users=users_repo,
        system=system,
        signals=SignalRepository(db),
        orders=orders,
        positions=positions,
        outbox=outbox,
        manager=manager,
    )
    return Rig(gateway, keys, market, system, trading, symbols)


async def publish_signals(rig: Rig, fake: FakeBinance, users: int, signals: int) -> list[UserSignal]:
    """Every user registered with a funded account and a key; one signal per symbol to all."""
    await rig.market.load()
    await rig.system.save_limits(
        # 0.4% risk over a 2% stop: 20% of equity per position, 4 positions, uncapped sizes
        Limits(max_open_positions=signals, max_correlation=1.0, risk_per_trade_pct=0.4),
        0,
        "max_open_positions",
    )
    for user in range(1, users + 1):
        fake.add_account(f"key-{user}", f"secret-{user}", {"USDT": "100000"})
        await rig.trading.register(user, "en")
        await rig.keys.save(user, f"key-{user}", f"secret-{user}")
    rows: list[UserSignal] = []
    for symbol in rig.symbols:
        price = await rig.market.last_price(symbol)
        levels = SignalLevels(Side.LONG, price, price * 0.98, price * 1.03, price * 1.05)
        draft = SignalDraft(symbol, "1h", levels, datetime.now(UTC), source="manual", atr=price * 0.01)
        rows += await rig.trading.publish(draft) or []
    return rows


@dataclass(frozen=True, slots=True)
class Burst:
    results: list[bool]
    refused: Counter[str]
    started: float
    ended: float
    calls: Counter[str]
    protected: int


async def confirm_all(rig: Rig, fake: FakeBinance, rows: list[UserSignal], users: int) -> Burst:
    """Every row confirmed by its user, all at once."""
    refused: Counter[str] = Counter()

    async def confirm(row_id: int, user: int) -> bool:
        try:
            await rig.trading.confirm(row_id, user)
            return True
        except UserError as exc:
            refused[exc.key] += 1
            return False

    before = len(fake.requests)
    started = time.time()
    results = await asyncio.gather(*(confirm(r.id, r.user_id) for r in rows))
    ended = time.time()
    calls = Counter(f"{r.method} {r.path}" for r in fake.requests[before:])
    protected = sum(len(fake.open_orders(f"key-{u}")) for u in range(1, users + 1)) // 4
    return Burst(list(results), refused, started, ended, calls, protected)


def figures(fake: FakeBinance, burst: Burst, confirmations: int, users: int) -> Figures:
    elapsed = burst.ended - burst.started
    allowed = elapsed / WINDOW
    weights = _during(fake.weight_windows, burst.started, burst.ended)
    busiest = max(range(1, users + 1), key=lambda u: sum(fake.order_windows(f"key-{u}").values()))
    order_counts = _during(fake.order_windows(f"key-{busiest}"), burst.started, burst.ended)
    return Figures(
        confirmations=confirmations,
        filled=sum(burst.results),
        refused=burst.refused,
        entries=len(fake.requests_to("POST", "/api/v3/order")),
        lists=len(fake.requests_to("POST", "/api/v3/orderList/oco")),
        rate_limited=fake.rate_limited_count,
        elapsed=elapsed,
        weight_used=sum(weights) / (WEIGHT_LIMIT * allowed),
        weight_peak=max(weights, default=0) / WEIGHT_LIMIT,
        orders_used=sum(order_counts) / (ORDERS_LIMIT * allowed),
        orders_peak=max(order_counts, default=0) / ORDERS_LIMIT,
        protected=burst.protected,
        calls=burst.calls,
    )


async def run(users: int, signals: int, folder: Path) -> Figures:
    fake = FakeBinance(
        budgets=FakeBudgets(
            weight_limit=WEIGHT_LIMIT, weight_window=WINDOW, orders_limit=ORDERS_LIMIT, orders_window=WINDOW
        ),
        symbols=SYMBOLS,
    )
    base_url = await fake.start()
    db = Database(folder / "bench.sqlite3")
    await db.connect()
    session = loopback_session()
    rig = build(base_url, db, session, signals)
    try:
        rows = await publish_signals(rig, fake, users, signals)
        for _ in range(2):  # the clients are built; let the set-up's weight leave the server's window
            await asyncio.sleep(WINDOW)
        burst = await confirm_all(rig, fake, rows, users)
    finally:
        await rig.gateway.close()
        await session.close()
        await db.close()
        await fake.stop()
    return figures(fake, burst, len(rows), users)


def report(f: Figures, users: int) -> None:
    print(
        f"confirmations {f.confirmations} from {users} users: filled {f.filled}, refused {dict(f.refused) or 0}; "
        f"entries sent {f.entries}, OCO lists sent {f.lists}, positions protected {f.protected}"
    )
    print("requests during the burst: " + ", ".join(f"{k} {v}" for k, v in f.calls.most_common()))
    print(f"429s {f.rate_limited}; elapsed {f.elapsed:.2f} s ({f.confirmations / f.elapsed:.1f} confirmations/s)")
    print(
        f"IP weight budget {WEIGHT_LIMIT}/{WINDOW:g} s (binds): {f.weight_used:.0%} used over the burst, "
        f"fullest window {f.weight_peak:.0%}"
    )
    print(
        f"busiest account's order budget {ORDERS_LIMIT}/{WINDOW:g} s: {f.orders_used:.0%} used over the burst, "
        f"fullest window {f.orders_peak:.0%}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--signals", type=int, default=4, choices=range(1, len(SYMBOLS) + 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report(await run(args.users, args.signals, Path(folder)), args.users)


if __name__ == "__main__":
    asyncio.run(main())
