"""The ccxt adapter with the real ccxt binance client against the fake exchange on 127.0.0.1.

No test can reach the internet: every ccxt client gets a session whose resolver knows only
loopback names and whose trace hook refuses any host but 127.0.0.1, and every URL in
`urls['api']` is checked to point at the fake.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    OrderRejected,
    RateLimited,
    UnknownSymbol,
)
from core.exchange.ccxt_exchange import CcxtExchange, OrderOutcomeUnknown
from core.exchange.ccxt_gateway import (
    CcxtGateway,
    CcxtSettings,
    MissingCredentials,
    RetryPolicy,
    rewrite_api_urls,
)
from core.exchange.ccxt_market_data import ExchangeMarketData
from core.exchange.limiter import Budget, ExchangeBudgets, ExchangeLimiter, RateControl
from core.models import OrderRequest, OrderStatus, OrderType
from tests.fakes.fake_exchange import FakeBinance, FakeBudgets, Fault
from tests.fakes.loopback import loopback_session

USER, OTHER, NOBODY = 1, 2, 3
KEY, SECRET = "key-1", "secret-1"


# ---------------------------------------------------------------------------- helpers


async def eventually(predicate: Callable[[], bool], within: float = 5.0, interval: float = 0.005) -> None:
    """Poll `predicate` until it holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def api_urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from api_urls(item)
    elif isinstance(value, str):
        yield value


class Credentials:
    def __init__(self, keys: dict[int, tuple[str, str]]) -> None:
        self.keys = keys

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        return self.keys.get(user_id)


class RecordingSleep:
    """asyncio.sleep that remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(seconds)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def order(
    cid: str,
    type_: OrderType = OrderType.MARKET,
    amount: float = 0.001,
    side: str = "buy",
    user: int = USER,
    symbol: str = "BTC/USDT",
    **kw: Any,
) -> OrderRequest:
    return OrderRequest(cid, user, symbol, side, type_, amount, **kw)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance(stall_seconds=3.0)
    await server.start()
    server.add_account(KEY, SECRET, {"USDT": "10000", "BTC": "0"})
    server.add_account("key-2", "secret-2", {"USDT": "10000", "BTC": "1"})
    yield server
    await server.stop()


Build = Callable[..., Awaitable[tuple[CcxtExchange, CcxtGateway]]]


@pytest.fixture
async def build(fake: FakeBinance) -> AsyncIterator[Build]:
    session = loopback_session()
    made: list[CcxtGateway] = []

    async def make(
        keys: dict[int, tuple[str, str]] | None = None,
        timeout_ms: int = 2000,
        limiter: ExchangeLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sandbox: bool = False,
    ) -> tuple[CcxtExchange, CcxtGateway]:
        settings = CcxtSettings(
            api_base_url=fake.base_url,
            sandbox=sandbox,
            timeout_ms=timeout_ms,
            recv_window_ms=1000,
            retry=retry or RetryPolicy(attempts=3, first_delay=0.01, factor=2.0),
        )
        gateway = CcxtGateway(
            settings,
            Credentials(keys if keys is not None else {USER: (KEY, SECRET), OTHER: ("key-2", "secret-2")}),
            limiter or ExchangeLimiter(ExchangeBudgets.binance_spot(), sleep=sleep),
            session=session,
            sleep=sleep,
        )
        for url in api_urls(gateway.public.urls["api"]):
            assert url.startswith(fake.base_url + "/"), url
        made.append(gateway)
        exchange = CcxtExchange(
            gateway, lookup=RetryPolicy(attempts=4, first_delay=0.02), settle_margin=0.2, sleep=sleep
        )
        return exchange, gateway

    yield make
    for gateway in made:
        await gateway.close()
    await session.close()


def posts(fake: FakeBinance) -> list[Any]:
    return fake.requests_to("POST", "/api/v3/order")


# ------------------------------------------------------------------------ URL rewrite


def test_rewrite_replaces_scheme_and_host_of_every_url_and_keeps_paths() -> None:
    urls = {"public": "https://api.binance.com/api/v3", "nested": {"x": "https://fapi.binance.com/fapi/v1"}}
    rewritten = rewrite_api_urls(urls, "http://127.0.0.1:8080/proxy/")
    assert rewritten == {
        "public": "http://127.0.0.1:8080/proxy/api/v3",
        "nested": {"x": "http://127.0.0.1:8080/proxy/fapi/v1"},
    }


@pytest.mark.parametrize("sandbox", [False, True])
async def test_every_client_url_points_at_the_fake(build: Build, fake: FakeBinance, sandbox: bool) -> None:
    exchange, gateway = await build(sandbox=sandbox)
    await exchange.fetch_balance(USER, "USDT")
    private = await gateway.private_client(USER)
    for client in (gateway.public, private):
        urls = list(api_urls(client.urls["api"]))
        assert len(urls) > 10 and all(u.startswith(fake.base_url + "/") for u in urls)
    assert gateway.public.isSandboxModeEnabled is sandbox


async def test_the_test_session_refuses_to_leave_loopback() -> None:
    session = loopback_session()
    settings = CcxtSettings(retry=RetryPolicy(attempts=1))  # no api_base_url: binance.com
    gateway = CcxtGateway(settings, Credentials({}), ExchangeLimiter(ExchangeBudgets.binance_spot()), session)
    try:
        with pytest.raises(AssertionError, match="refusing to reach https://api.binance.com"):
            await gateway.markets()
    finally:
        await gateway.close()
        await session.close()


async def test_ccxt_calls_only_endpoints_the_fake_serves(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    await exchange.fetch_balance(USER, "USDT")
    await exchange.create_order(order("only-served", price=60000))
    assert fake.unexpected == []
    paths = {r.path for r in fake.requests}
    assert not any("/sapi/" in p or "/fapi/" in p or "/dapi/" in p for p in paths)


# -------------------------------------------------------------------------- signing


async def test_market_order_is_signed_filled_and_carries_its_fee(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    result = await exchange.create_order(order("entry-1", amount=0.0012345, price=60000))
    assert result.status is OrderStatus.FILLED
    assert result.filled == pytest.approx(0.00123)  # truncated to the 0.00001 lot step
    assert result.average_price == pytest.approx(60000)
    assert result.fee == pytest.approx(0.00123 * 0.001) and result.fee_currency == "BTC"
    sent = posts(fake)[0].params
    assert (
        sent["newClientOrderId"] == "entry-1" and sent["type"] == "MARKET" and sent["quantity"] == "0.00123"
    )
    assert "quoteOrderQty" not in sent
    balance = await exchange.fetch_balance(USER, "USDT")
    assert balance.free == pytest.approx(10000 - 0.00123 * 60000)


async def test_wrong_secret_is_authentication_failed(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build(keys={USER: (KEY, "not-the-secret")})
    with pytest.raises(AuthenticationFailed):
        await exchange.create_order(order("bad-sig", price=60000))
    assert fake.orders_of(KEY) == [] and [r.status for r in posts(fake)] == [400]


async def test_unknown_api_key_is_authentication_failed(build: Build) -> None:
    exchange, _ = await build(keys={USER: ("no-such-key", SECRET)})
    with pytest.raises(AuthenticationFailed):
        await exchange.fetch_balance(USER, "USDT")


async def test_invalid_key_after_success_is_still_authentication_failed(
    build: Build, fake: FakeBinance
) -> None:
    exchange, _ = await build()
    await exchange.fetch_balance(USER, "USDT")  # ccxt now maps -2015 to DDoSProtection
    fake.inject(Fault.INVALID_KEY, method="GET", path="/api/v3/account")
    with pytest.raises(AuthenticationFailed):
        await exchange.fetch_balance(USER, "USDT")


async def test_user_without_credentials_gets_a_clear_error(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    with pytest.raises(MissingCredentials, match=f"user {NOBODY}"):
        await exchange.create_order(order("nobody", user=NOBODY, price=60000))
    assert posts(fake) == []


# ----------------------------------------------------------------- refused before send


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (order("tiny", amount=0.000001, price=60000), "lot step"),
        (order("small", amount=0.00005, price=60000), "notional"),  # 3 USDT < 5 USDT
        (order("limit-no-price", OrderType.LIMIT), "needs a price"),
        (order("stop-no-trigger", OrderType.STOP_MARKET, side="sell"), "stop_price"),
    ],
)
async def test_order_outside_the_market_rules_is_refused_before_sending(
    build: Build, fake: FakeBinance, request_: OrderRequest, reason: str
) -> None:
    exchange, _ = await build()
    with pytest.raises(OrderRejected, match=reason):
        await exchange.create_order(request_)
    assert posts(fake) == [] and fake.orders_of(KEY) == []


async def test_unknown_symbol(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    with pytest.raises(UnknownSymbol):
        await exchange.create_order(order("doge", symbol="DOGE/USDT", price=0.1, amount=100))
    assert posts(fake) == []


# ------------------------------------------------------------------ lost answers


async def test_timeout_after_accept_gives_exactly_one_order_and_its_fill(
    build: Build, fake: FakeBinance
) -> None:
    exchange, _ = await build(timeout_ms=300)
    fake.inject(Fault.STALL_AFTER_ACCEPT)
    result = await exchange.create_order(order("slow-1", price=60000))
    assert result.status is OrderStatus.FILLED and result.filled == pytest.approx(0.001)
    assert result.fee == pytest.approx(0.000001) and result.fee_currency == "BTC"  # from its trades
    assert len(posts(fake)) == 1 and fake.client_id_count(KEY, "slow-1") == 1
    assert len(fake.orders_of(KEY)) == 1


async def test_5xx_after_accept_is_looked_up_not_resent(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    fake.inject(Fault.ERROR_5XX_AFTER_ACCEPT, status=502)
    result = await exchange.create_order(order("bad-gw", price=60000))
    assert result.status is OrderStatus.FILLED
    assert len(posts(fake)) == 1 and fake.client_id_count(KEY, "bad-gw") == 1


async def test_5xx_before_accept_returns_unknown_and_nothing_was_placed(
    build: Build, fake: FakeBinance
) -> None:
    exchange, _ = await build()
    fake.inject(Fault.ERROR_5XX, status=503)
    result = await exchange.create_order(order("lost", price=60000))
    assert result.status is OrderStatus.UNKNOWN and result.filled == 0
    assert len(posts(fake)) == 1 and fake.orders_of(KEY) == []
    assert len(fake.requests_to("GET", "/api/v3/order")) >= 2  # looked up until recvWindow had passed


async def test_failing_lookups_raise_outcome_unknown_then_fetch_order_resolves(
    build: Build, fake: FakeBinance
) -> None:
    exchange, _ = await build(timeout_ms=300)
    fake.inject(Fault.STALL_AFTER_ACCEPT)
    fake.inject(Fault.ERROR_5XX, method="GET", path="/api/v3/order", times=50)
    with pytest.raises(OrderOutcomeUnknown):
        await exchange.create_order(order("dark", price=60000))
    assert len(posts(fake)) == 1 and fake.client_id_count(KEY, "dark") == 1
    fake.clear_faults()  # the exchange recovers
    resolved = await exchange.fetch_order(order("dark"))
    assert resolved is not None and resolved.status is OrderStatus.FILLED


async def test_duplicate_client_order_id_returns_the_existing_order(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    first = await exchange.create_order(order("dup", OrderType.LIMIT, price=50000))
    again = await exchange.create_order(order("dup", OrderType.LIMIT, price=50000))
    assert first.status is OrderStatus.OPEN and again.exchange_order_id == first.exchange_order_id
    assert fake.client_id_count(KEY, "dup") == 1 and len(posts(fake)) == 2


# --------------------------------------------------------------------- rate limits


async def test_429_pauses_the_limiter_for_retry_after_and_cuts_the_rate(
    build: Build, fake: FakeBinance
) -> None:
    sleep = RecordingSleep()
    limiter = ExchangeLimiter(ExchangeBudgets.binance_spot(), sleep=sleep)
    exchange, _ = await build(limiter=limiter, sleep=sleep)
    await exchange.fetch_balance(USER, "USDT")
    fake.inject(Fault.RATE_LIMIT, method="GET", path="/api/v3/account", retry_after=1)
    balance = await exchange.fetch_balance(USER, "USDT")  # idempotent: retried after the pause
    assert balance.free == pytest.approx(10000)
    assert fake.rate_limited_count == 1 and limiter.usage().rate_limited_count == 1
    assert limiter.rate_factor == pytest.approx(0.8)
    assert any(0.5 < s <= 1.0 for s in sleep.calls), sleep.calls  # the limiter waited out Retry-After
    codes = [r.status for r in fake.requests_to("GET", "/api/v3/account")]
    assert codes == [200, 429, 200]


async def test_429_on_create_order_is_raised_and_not_resent(build: Build, fake: FakeBinance) -> None:
    exchange, gateway = await build()
    fake.inject(Fault.RATE_LIMIT, retry_after=2)
    with pytest.raises(RateLimited) as caught:
        await exchange.create_order(order("too-fast", price=60000))
    assert caught.value.retry_after == 2
    assert len(posts(fake)) == 1 and fake.orders_of(KEY) == []
    assert gateway.limiter.paused_for() > 1.0


async def test_an_account_over_its_order_count_is_paused_alone(build: Build, fake: FakeBinance) -> None:
    fake.budgets = FakeBudgets(orders_limit=1, orders_window=1000.0)  # someone else used this key
    exchange, gateway = await build()
    await exchange.create_order(order("first", price=60000))
    with pytest.raises(RateLimited):
        await exchange.create_order(order("second", price=60000))
    assert fake.orders_of(KEY)[-1].client_order_id == "first" and fake.rate_limited_count == 1
    assert gateway.limiter.paused_for(USER) > 1 and gateway.limiter.paused_for(OTHER) == 0
    assert gateway.limiter.rate_factor == 1.0
    placed = await exchange.create_order(order("other-user", user=OTHER, side="sell", price=60000))
    assert placed.status is OrderStatus.FILLED


async def test_burst_within_budgets_earns_no_429(build: Build, fake: FakeBinance) -> None:
    fake.budgets = FakeBudgets(weight_limit=100, weight_window=1.0, orders_limit=5, orders_window=1.0)
    budgets = ExchangeBudgets(ip_weight=Budget(100, 1.0), account_orders=(Budget(5, 1.0),))
    exchange, _ = await build(limiter=ExchangeLimiter(budgets))
    await exchange.fetch_balance(USER, "USDT")
    await exchange.fetch_balance(OTHER, "USDT")
    requests = [order(f"burst-{u}-{i}", user=u, price=60000) for u in (USER, OTHER) for i in range(6)]
    results = await asyncio.gather(*(exchange.create_order(r) for r in requests))
    assert all(r.status is OrderStatus.FILLED for r in results)
    assert fake.rate_limited_count == 0 and len(posts(fake)) == 12
    assert max(fake.order_windows(KEY).values()) <= 5


# ------------------------------------------------------------------ refusals by the exchange


async def test_insufficient_balance_is_insufficient_funds(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    with pytest.raises(InsufficientFunds):
        await exchange.create_order(order("whale", amount=1.0, price=60000))  # 60,000 USDT > 10,000
    fake.inject(Fault.INSUFFICIENT_BALANCE)
    with pytest.raises(InsufficientFunds):
        await exchange.create_order(order("injected", price=60000))
    assert fake.orders_of(KEY) == [] and len(posts(fake)) == 2


# --------------------------------------------------------------- lookups and cancels


async def test_fetch_order_of_an_unknown_client_id_is_none(build: Build) -> None:
    exchange, _ = await build()
    assert await exchange.fetch_order(order("never-sent")) is None


async def test_cancel_is_idempotent_and_releases_funds(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    placed = await exchange.create_order(order("rest", OrderType.LIMIT, amount=0.01, price=50000))
    assert placed.status is OrderStatus.OPEN
    assert (await exchange.fetch_balance(USER, "USDT")).free == pytest.approx(9500)
    cancelled = await exchange.cancel_order(order("rest", OrderType.LIMIT, amount=0.01, price=50000))
    again = await exchange.cancel_order(order("rest", OrderType.LIMIT, amount=0.01, price=50000))
    assert cancelled.status is OrderStatus.CANCELED and again.status is OrderStatus.CANCELED
    assert (await exchange.fetch_balance(USER, "USDT")).free == pytest.approx(10000)
    assert (
        await exchange.cancel_order(order("ghost", OrderType.LIMIT, price=50000))
    ).status is OrderStatus.UNKNOWN


# ------------------------------------------------------------------- protective orders


async def test_stop_market_becomes_stop_loss_and_spot_cannot_lock_twice(
    build: Build, fake: FakeBinance
) -> None:
    exchange, _ = await build()
    stop = await exchange.create_order(
        order("sl-1", OrderType.STOP_MARKET, side="sell", amount=1.0, user=OTHER, stop_price=55000.004)
    )
    assert stop.status is OrderStatus.OPEN
    sent = posts(fake)[0].params
    assert sent["type"] == "STOP_LOSS" and sent["stopPrice"] == "55000" and "price" not in sent
    with pytest.raises(InsufficientFunds):  # the whole 1 BTC is locked by the stop
        await exchange.create_order(
            order("tp-1", OrderType.TAKE_PROFIT, side="sell", amount=1.0, user=OTHER, price=70000)
        )


async def test_oco_protects_one_quantity_with_both_legs(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    stop = order("sl-2", OrderType.STOP_MARKET, side="sell", amount=0.5, user=OTHER, stop_price=55000)
    take = order("tp-2", OrderType.TAKE_PROFIT, side="sell", amount=0.5, user=OTHER, price=70000)
    pair = await exchange.create_protective_oco(stop, take)
    assert pair.stop.status is OrderStatus.OPEN and pair.take_profit.status is OrderStatus.OPEN
    legs = {o.client_order_id: o for o in fake.orders_of("key-2")}
    assert legs["sl-2"].type == "STOP_LOSS" and legs["tp-2"].type == "LIMIT_MAKER"
    assert legs["sl-2"].order_list_id == legs["tp-2"].order_list_id >= 0
    assert (await exchange.fetch_balance(OTHER, "BTC")).free == pytest.approx(0.5)  # locked once
    found = await exchange.fetch_order(take)
    assert found is not None and found.exchange_order_id == pair.take_profit.exchange_order_id
    await exchange.cancel_order(stop)  # cancels the list
    assert {o.status for o in fake.orders_of("key-2")} == {"CANCELED"}
    assert (await exchange.fetch_balance(OTHER, "BTC")).free == pytest.approx(1.0)


async def test_oco_with_levels_on_the_wrong_side_is_refused_before_sending(
    build: Build, fake: FakeBinance
) -> None:
    exchange, _ = await build()
    stop = order("sl-3", OrderType.STOP_MARKET, side="sell", amount=0.5, user=OTHER, stop_price=65000)
    take = order("tp-3", OrderType.TAKE_PROFIT, side="sell", amount=0.5, user=OTHER, price=70000)
    with pytest.raises(OrderRejected, match="not between"):  # the price (60000) is below the stop
        await exchange.create_protective_oco(stop, take)
    assert fake.requests_to("POST", "/api/v3/orderList/oco") == []


# ---------------------------------------------------------------------- market data


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_candles_are_closed_only_with_utc_index_and_float_columns(
    build: Build, fake: FakeBinance
) -> None:
    at = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    fake.market_clock = at.timestamp
    _, gateway = await build()
    data = ExchangeMarketData(gateway, ["BTC/USDT", "DOGE/USDT"], clock=FixedClock(at))
    assert await data.load() == ["BTC/USDT"] and list(data.symbols()) == ["BTC/USDT"]
    frame = await data.candles("BTC/USDT", "1h", 24)
    assert len(frame) == 24
    assert frame.index[-1] == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)  # 10:00 is still forming
    assert str(frame.index.tz) == "UTC" and frame.index.name == "timestamp"
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(str(t) == "float64" for t in frame.dtypes)
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert fake.requests_to("GET", "/api/v3/klines")[0].params["limit"] == "25"
    with pytest.raises(UnknownSymbol):
        await data.candles("DOGE/USDT", "1h", 5)


async def test_last_price(build: Build, fake: FakeBinance) -> None:
    _, gateway = await build()
    fake.set_price("ETHUSDT", "3123.45")
    assert await ExchangeMarketData(gateway, ["ETH/USDT"]).last_price("ETH/USDT") == pytest.approx(3123.45)


# --------------------------------------------------------------------------- limiter


def _limiter(clock: FakeClock, **control: float) -> ExchangeLimiter:
    budgets = ExchangeBudgets(ip_weight=Budget(6000, 60.0), account_orders=(Budget(50, 10.0),))
    return ExchangeLimiter(budgets, RateControl(**control), clock=clock, sleep=clock.sleep)


def test_rate_is_cut_to_80_percent_and_recovers_5_points_per_quiet_minute() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.on_rate_limited(retry_after=2.0)
    assert limiter.rate_factor == pytest.approx(0.8) and limiter.paused_for() == pytest.approx(2.0)
    clock.now += 59
    assert limiter.rate_factor == pytest.approx(0.8)
    clock.now += 1
    assert limiter.rate_factor == pytest.approx(0.85)
    clock.now += 60 * 10
    assert limiter.rate_factor == pytest.approx(1.0)


def test_answers_to_requests_in_flight_cut_once_and_repeated_429s_keep_cutting() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(5):
        limiter.on_rate_limited(retry_after=1.0)
    assert limiter.rate_factor == pytest.approx(0.8) and limiter.usage().rate_limited_count == 5
    clock.now += 2
    limiter.on_rate_limited(retry_after=1.0)
    assert limiter.rate_factor == pytest.approx(0.64)
    for _ in range(20):
        clock.now += 2
        limiter.on_rate_limited(retry_after=1.0)
    assert limiter.rate_factor == pytest.approx(0.2)  # the floor


async def test_a_pause_holds_every_call_until_retry_after() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.on_rate_limited(retry_after=3.0)
    start = clock.now
    async with limiter.request(weight=1):
        assert clock.now - start == pytest.approx(3.0)


async def test_an_account_level_pause_does_not_hold_other_accounts() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.on_rate_limited(retry_after=5.0, account=USER)
    assert limiter.rate_factor == 1.0 and limiter.paused_for() == 0
    start = clock.now
    async with limiter.request(weight=1, account=OTHER, is_order=True):
        assert clock.now == start
    async with limiter.request(weight=1, account=USER, is_order=True):
        assert clock.now - start == pytest.approx(5.0)


def test_exchange_counters_near_the_limit_hold_calls_until_their_window_turns() -> None:
    clock = FakeClock()
    budgets = ExchangeBudgets(ip_weight=Budget(6000, 60.0), account_orders=(Budget(50, 10.0),))
    limiter = ExchangeLimiter(budgets, clock=clock, sleep=clock.sleep, wall_clock=lambda: 120.25)
    limiter.observe_server_usage(used_weight=5000, order_count=40, account=USER)
    assert limiter.paused_for(USER) == 0
    limiter.observe_server_usage(used_weight=None, order_count=48, account=USER)  # >= 95% of 50
    assert limiter.paused_for(USER) == pytest.approx(10 - 0.25 + 0.5) and limiter.paused_for(OTHER) == 0
    limiter.observe_server_usage(used_weight=5800, order_count=None)  # >= 95% of 6000
    assert limiter.paused_for() == pytest.approx(60 - 0.25 + 1.0)
    assert limiter.usage().server_used_weight == 5800 and limiter.usage().server_order_count == 48


async def test_usage_figures_count_weight_and_orders_over_their_windows() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(3):
        async with limiter.request(weight=4, account=USER, is_order=True):
            pass
    async with limiter.request(weight=20):
        pass
    limiter.observe_server_usage(used_weight=33, order_count=3)
    usage = limiter.usage()
    assert (usage.used_weight, usage.orders_in_window, usage.server_used_weight) == (32, 3, 33)
    clock.now += 11
    assert limiter.orders_in_window(USER) == 0 and limiter.usage().used_weight == 32
    clock.now += 50
    assert limiter.usage().used_weight == 0


async def test_order_budget_admits_a_burst_then_makes_the_rest_wait() -> None:
    # 10 orders per 1 s, no headroom, half of it as burst: 5 at once, then 5 per second.
    budgets = ExchangeBudgets(
        ip_weight=Budget(1000, 1.0), account_orders=(Budget(10, 1.0),), headroom=0.0, burst_fraction=0.5
    )
    limiter = ExchangeLimiter(budgets)
    done: list[int] = []

    async def send(i: int, account: int = USER) -> None:
        async with limiter.request(weight=1, account=account, is_order=True):
            done.append(i)

    tasks = [asyncio.create_task(send(i)) for i in range(7)]
    await eventually(lambda: len(done) >= 5)
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(done) == 5  # the sixth waits ~0.2 s for the bucket to drain
    await eventually(lambda: len(done) == 7)
    await asyncio.gather(*tasks)
    other = asyncio.create_task(send(99, OTHER))  # another account has its own order budget
    for _ in range(5):
        await asyncio.sleep(0)
    assert 99 in done
    await other


async def test_an_order_must_name_its_account() -> None:
    limiter = ExchangeLimiter(ExchangeBudgets.binance_spot())
    with pytest.raises(ValueError):
        async with limiter.request(weight=1, is_order=True):
            pass
