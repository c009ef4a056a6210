"""The soak: many users confirming at once through the LIVE trading service, the real ccxt
client and the fake Binance on 127.0.0.1, with faults drawn at random all along: answers
lost after the exchange took the order (timeouts, 5xx, 503 -1007 with a late execution),
5xx before it did, 429 with Retry-After, slow tickers; midway one user revokes their key
and one symbol is delisted. The monitor runs all the while, then the prices move through
targets and stops, then the exchange answers again and the monitor settles what it can.

`run_soak` returns what happened; tests/core/trading/soak_checks.py says whether it holds:
one entry order at most per confirmed intent, every filled quantity protected or flagged,
the monitor never failing, the database agreeing with the exchange. Budgets are Binance's
with every window scaled to 1 s and every rate kept (as bench/bench_live_confirmations.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet

from core.clock import SystemClock
from core.errors import ExchangeError, UserError
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings, RetryPolicy
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
from tests.fakes.fake_exchange import DEFAULT_SYMBOLS, FakeBinance, FakeBudgets, Fault, SymbolSpec
from tests.fakes.loopback import loopback_session

WINDOW = 1.0
WEIGHT_LIMIT = 100  # 6000 per 60 s
ORDERS_LIMIT = 5  # 50 per 10 s
SYMBOLS = (
    *DEFAULT_SYMBOLS,
    SymbolSpec("BNBUSDT", "BNB", "USDT", "0.01", "0.001", "0.001", "90000", "5", "600"),
    SymbolSpec("SOLUSDT", "SOL", "USDT", "0.01", "0.001", "0.001", "90000", "5", "150"),
)
DELISTED = "SOLUSDT"
RECV_WINDOW_MS = 1000
SETTLE = 1.3  # the receive window and a margin: "not found" is final after it


@dataclass(frozen=True, slots=True)
class SoakConfig:
    users: int = 50
    seed: int = 7
    fault_rate: float = 0.05  # the chance of each kind of fault on an order, a list, a lookup
    spread: float = 3.0  # seconds over which the confirmations are pressed
    revoked_user: int = 7  # revokes their key once 40 % of the confirmations are pressed
    monitor_pause: float = 0.5  # between monitor runs (30 s, scaled)
    weight_limit: int = WEIGHT_LIMIT  # request weight per 1 s window (Binance: 6000/60 s = 100/s)


@dataclass(slots=True)
class SoakRun:
    """What happened: the rig to inspect and the figures gathered on the way."""

    fake: FakeBinance
    db: Database
    trading: TradingService
    rows: list[UserSignal]
    dust: dict[str, Decimal]  # symbol (exchange id) -> the least notional that can be an order
    revoked_key: str
    outcomes: Counter[str] = field(default_factory=Counter)  # confirmation outcomes
    monitor_runs: list[float] = field(default_factory=list)  # seconds each run took
    monitor_errors: list[str] = field(default_factory=list)
    runs_during_burst: int = 0
    burst: float = 0.0  # seconds from the first press to the last answer
    elapsed: float = 0.0


class MonitorLoop:
    """The monitor job: run after run, timed; an exception is recorded (it must not happen)."""

    def __init__(self, trading: TradingService, run: SoakRun, pause: float) -> None:
        self._trading, self._run, self._pause = trading, run, pause
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="soak-monitor")

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await self.once()
            try:
                await asyncio.wait_for(self._stop.wait(), self._pause)
            except TimeoutError:
                continue

    async def once(self) -> None:
        started = time.monotonic()
        try:
            await self._trading.monitor()
        except Exception as exc:  # recorded: the soak fails on it
            self._run.monitor_errors.append(f"{type(exc).__name__}: {exc}")
        self._run.monitor_runs.append(time.monotonic() - started)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


def _budgets(weight: int) -> tuple[FakeBudgets, ExchangeBudgets]:
    fake = FakeBudgets(weight_limit=weight, weight_window=WINDOW, orders_limit=ORDERS_LIMIT, orders_window=WINDOW)
    ours = ExchangeBudgets(
        ip_weight=Budget(weight, WINDOW), account_orders=(Budget(ORDERS_LIMIT, WINDOW), Budget(160_000, 86_400))
    )
    return fake, ours


def _service(db: Database, gateway: CcxtGateway, market: ExchangeMarketData, keys: CredentialStore) -> TradingService:
    clock = SystemClock()
    exchange = CcxtExchange(gateway, lookup=RetryPolicy(attempts=4, first_delay=0.05), settle_margin=SETTLE - 1.0)
    users, system, orders = UserRepository(db, clock), SystemRepository(db, clock), OrderRepository(db, clock)
    positions, outbox = PositionRepository(db, clock), OutboxRepository(db)
    manager = LivePositions(
        config=LiveConfig(admin_ids=frozenset({1}), settle_seconds=SETTLE),
        clock=clock,
        exchange=exchange,
        keys=keys,
        users=users,
        orders=orders,
        positions=positions,
        outbox=outbox,
        system=system,
        rules=ManagementRules(),
    )
    return TradingService(
        config=TradingConfig("1h", 50_000.0, 3600, frozenset({1}), audit_seconds=10.0),  # 10 min, scaled
        clock=clock,
        market_data=market,
        exchange=exchange,
        users=users,
        system=system,
        signals=SignalRepository(db),
        orders=orders,
        positions=positions,
        outbox=outbox,
        manager=manager,
    )


async def _publish(
    trading: TradingService,
    market: ExchangeMarketData,
    keys: CredentialStore,
    fake: FakeBinance,
    db: Database,
    users: int,
) -> list[UserSignal]:
    """Every user with a funded account and a key; one long signal per symbol to all."""
    await market.load()
    await SystemRepository(db, SystemClock()).save_limits(  # the admin's /setlimit
        Limits(max_open_positions=len(SYMBOLS), max_correlation=1.0, risk_per_trade_pct=0.4), 0, "max_open_positions"
    )
    for user in range(1, users + 1):
        fake.add_account(f"key-{user}", f"secret-{user}", {"USDT": "50000"})
        await trading.register(user, "en")
        await keys.save(user, f"key-{user}", f"secret-{user}")
    rows: list[UserSignal] = []
    for spec in SYMBOLS:
        symbol = f"{spec.base}/{spec.quote}"
        price = await market.last_price(symbol)
        levels = SignalLevels(Side.LONG, price, price * 0.98, price * 1.03, price * 1.05)
        draft = SignalDraft(symbol, "1h", levels, datetime.now(UTC), source="manual", atr=price * 0.01)
        rows += await trading.publish(draft) or []
    return rows


def _chaos(fake: FakeBinance, rate: float) -> None:
    for fault in (Fault.STALL_AFTER_ACCEPT, Fault.ERROR_5XX, Fault.ERROR_5XX_AFTER_ACCEPT, Fault.ACCEPT_LATE):
        fake.chaos(fault, rate)
    fake.chaos(Fault.RATE_LIMIT, rate / 10)  # each 429 cuts the whole process to 80 %: a few are plenty
    for fault in (Fault.ERROR_5XX, Fault.ERROR_5XX_AFTER_ACCEPT):
        fake.chaos(fault, rate, path="/api/v3/orderList/oco")
    fake.chaos(Fault.RATE_LIMIT, rate / 10, path="/api/v3/orderList/oco")
    fake.chaos(Fault.ERROR_5XX, rate, method="GET")
    fake.chaos(Fault.ERROR_5XX, rate, method="GET", path="/api/v3/openOrders")
    fake.slow("GET", "/api/v3/ticker/24hr", 0.2)


async def _press_all(run: SoakRun, config: SoakConfig, rng: random.Random) -> None:
    """Every row confirmed by its user at a random moment of `spread`; once 40 % of the
    presses are answered a user revokes their key, once 60 % are, a symbol is delisted."""
    order = list(run.rows)
    rng.shuffle(order)
    delays = sorted(rng.uniform(0, config.spread) for _ in order)
    answered = 0

    async def press(row: UserSignal, delay: float) -> None:
        nonlocal answered
        await asyncio.sleep(delay)
        try:
            await run.trading.confirm(row.id, row.user_id)
            run.outcomes["filled"] += 1
        except UserError as exc:
            run.outcomes[exc.key] += 1
        except ExchangeError as exc:  # what the bot's handler answers "exchange unavailable" to
            run.outcomes[type(exc).__name__] += 1
        answered += 1
        if answered == int(len(order) * 0.4):
            run.fake.revoke(run.revoked_key)
        if answered == int(len(order) * 0.6):
            run.fake.delist(DELISTED)

    await asyncio.gather(*(press(row, delay) for row, delay in zip(order, delays, strict=True)))


def _move_prices(fake: FakeBinance) -> None:
    """BTC through TP1, ETH through the stop: the resting lists fill on the exchange."""
    fake.set_price("BTCUSDT", Decimal("60000") * Decimal("1.031"))
    fake.set_price("ETHUSDT", Decimal("3000") * Decimal("0.979"))


async def run_soak(config: SoakConfig, folder: Path) -> SoakRun:
    """The whole scenario; the caller checks the result, then closes `run.db`."""
    fake_budgets, budgets = _budgets(config.weight_limit)
    fake = FakeBinance(budgets=fake_budgets, symbols=SYMBOLS, stall_seconds=1.0)
    fake.rng = random.Random(config.seed)
    await fake.start()
    db = Database(folder / "soak.sqlite3")
    await db.connect()
    session = loopback_session()
    keys = CredentialStore(db, SystemClock(), make_cipher(Fernet.generate_key().decode()), "binance")
    settings = CcxtSettings(
        api_base_url=fake.base_url, timeout_ms=400, recv_window_ms=RECV_WINDOW_MS, retry=RetryPolicy(3, 0.05)
    )
    gateway = CcxtGateway(settings, keys, ExchangeLimiter(budgets), session=session)
    market = ExchangeMarketData(gateway, [f"{s.base}/{s.quote}" for s in SYMBOLS], SystemClock())
    trading = _service(db, gateway, market, keys)
    try:
        return await _scenario(config, fake, db, trading, market, keys)
    except BaseException:
        await db.close()
        raise
    finally:
        await gateway.close()
        await session.close()
        await fake.stop()


async def _scenario(
    config: SoakConfig,
    fake: FakeBinance,
    db: Database,
    trading: TradingService,
    market: ExchangeMarketData,
    keys: CredentialStore,
) -> SoakRun:
    rows = await _publish(trading, market, keys, fake, db, config.users)
    dust = {s.symbol: Decimal(s.min_notional) for s in SYMBOLS}
    run = SoakRun(fake, db, trading, rows, dust, f"key-{config.revoked_user}")
    loop = MonitorLoop(trading, run, config.monitor_pause)
    await asyncio.sleep(2 * WINDOW)  # the set-up's weight leaves the exchange's window
    started = time.monotonic()
    _chaos(fake, config.fault_rate)
    loop.start()
    await _press_all(run, config, random.Random(config.seed))
    run.burst = time.monotonic() - started
    run.runs_during_burst = len(run.monitor_runs)
    _move_prices(fake)
    await asyncio.sleep(2.0)  # the monitor books the fills, faults and all
    fake.clear_faults()  # the exchange answers again
    fake.slow("GET", "/api/v3/ticker/24hr", 0.0)
    await loop.stop()
    await fake.settled()
    await asyncio.sleep(SETTLE)  # every request still in flight has arrived or can no longer
    for _ in range(3):
        await loop.once()
    run.elapsed = time.monotonic() - started
    return run
