"""Burst of confirmations through ONE CcxtExchange against the fake Binance on 127.0.0.1.

Run: python -m bench.bench_exchange_orders [--users 50] [--orders-per-user 4]

Budgets are Binance spot's with every window scaled to 1 s and every RATE kept:
request weight 6000/60 s -> 100/1 s per IP; orders 50/10 s -> 5/1 s per account
(160,000/day is kept as it is). The fake enforces them in fixed windows like Binance and
answers 429 when one is exceeded; the adapter's limiter must never let that happen while
still using most of the budget.

Scenario "ip": 50 users x 4 market orders = 200 orders; the IP weight budget binds.
Scenario "accounts": 10 users x 10 orders; each account's order budget binds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass

from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings
from core.exchange.limiter import Budget, ExchangeBudgets, ExchangeLimiter
from core.models import OrderRequest, OrderStatus, OrderType
from tests.fakes.fake_exchange import FakeBinance, FakeBudgets
from tests.fakes.loopback import loopback_session

WINDOW = 1.0
WEIGHT_LIMIT = 100  # 6000 per 60 s
ORDERS_LIMIT = 5  # 50 per 10 s


class Keys:
    """Every bench user's key is `key-<id>`, secret `secret-<id>`."""

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        return f"key-{user_id}", f"secret-{user_id}"


@dataclass(frozen=True, slots=True)
class Figures:
    name: str
    orders: int
    filled: int
    sent: int
    rate_limited: int
    elapsed: float
    weight_used: float  # weight sent during the burst / weight the budget allowed in that time
    weight_peak: float  # the fullest server window during the burst
    orders_used: float  # the same for the busiest account's order budget
    orders_peak: float


def _during(counts: Counter[int], start: float, end: float) -> list[int]:
    """Counts of the server's windows that overlap [start, end]."""
    return [counts[w] for w in range(int(start // WINDOW), int(end // WINDOW) + 1)]


async def run(name: str, users: int, per_user: int) -> Figures:
    fake = FakeBinance(
        budgets=FakeBudgets(
            weight_limit=WEIGHT_LIMIT, weight_window=WINDOW, orders_limit=ORDERS_LIMIT, orders_window=WINDOW
        )
    )
    base_url = await fake.start()
    for user in range(1, users + 1):
        fake.add_account(f"key-{user}", f"secret-{user}", {"USDT": "100000"})
    budgets = ExchangeBudgets(
        ip_weight=Budget(WEIGHT_LIMIT, WINDOW),
        account_orders=(Budget(ORDERS_LIMIT, WINDOW), Budget(160_000, 86_400)),
    )
    session = loopback_session()
    gateway = CcxtGateway(
        CcxtSettings(api_base_url=base_url, timeout_ms=10_000),
        Keys(),
        ExchangeLimiter(budgets),
        session=session,
    )
    exchange = CcxtExchange(gateway)
    try:
        await gateway.markets()
        await asyncio.sleep(WINDOW)  # let the load's weight leave the server's window
        requests = [
            OrderRequest(f"c-{u}-{i}", u, "BTC/USDT", "buy", OrderType.MARKET, 0.001, price=60000.0)
            for i in range(per_user)
            for u in range(1, users + 1)
        ]
        started = time.time()
        results = await asyncio.gather(*(exchange.create_order(r) for r in requests))
        ended = time.time()
    finally:
        await gateway.close()
        await session.close()
        await fake.stop()
    elapsed = ended - started
    allowed = elapsed / WINDOW
    weights = _during(fake.weight_windows, started, ended)
    busiest = max(range(1, users + 1), key=lambda u: sum(fake.order_windows(f"key-{u}").values()))
    orders = _during(fake.order_windows(f"key-{busiest}"), started, ended)
    return Figures(
        name=name,
        orders=len(requests),
        filled=sum(r.status is OrderStatus.FILLED for r in results),
        sent=len(fake.requests_to("POST", "/api/v3/order")),
        rate_limited=fake.rate_limited_count,
        elapsed=elapsed,
        weight_used=sum(weights) / (WEIGHT_LIMIT * allowed),
        weight_peak=max(weights, default=0) / WEIGHT_LIMIT,
        orders_used=sum(orders) / (ORDERS_LIMIT * allowed),
        orders_peak=max(orders, default=0) / ORDERS_LIMIT,
    )


def report(f: Figures) -> None:
    print(
        f"[{f.name}] orders {f.orders}, sent {f.sent}, filled {f.filled}, 429s {f.rate_limited}, "
        f"elapsed {f.elapsed:.2f} s"
    )
    print(
        f"  IP weight budget {WEIGHT_LIMIT}/{WINDOW:g} s: {f.weight_used:.0%} used over the burst, "
        f"fullest window {f.weight_peak:.0%}"
    )
    print(
        f"  busiest account's order budget {ORDERS_LIMIT}/{WINDOW:g} s: {f.orders_used:.0%} used over the "
        f"burst, fullest window {f.orders_peak:.0%}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--orders-per-user", type=int, default=4)
    parser.add_argument("--skip-accounts", action="store_true", help="run only the IP-bound scenario")
    args = parser.parse_args()
    report(await run("ip", args.users, args.orders_per_user))
    if not args.skip_accounts:
        report(await run("accounts", 10, 10))


if __name__ == "__main__":
    asyncio.run(main())
