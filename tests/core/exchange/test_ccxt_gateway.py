"""The ccxt gateway with the real ccxt binance client against the fake exchange on
127.0.0.1: URLs, signing and keys, refusals before anything is sent, rate limits, market data.

No test can reach the internet: every ccxt client gets a session whose resolver knows only
loopback names and whose trace hook refuses any host but 127.0.0.1, and every URL in
`urls['api']` is checked to point at the fake.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from core.errors import (
    AuthenticationFailed,
    OrderRejected,
    RateLimited,
    UnknownSymbol,
)
from core.exchange.ccxt_gateway import (
    CcxtGateway,
    CcxtSettings,
    MissingCredentials,
    RetryPolicy,
    rewrite_api_urls,
)
from core.exchange.ccxt_market_data import ExchangeMarketData
from core.exchange.limiter import Budget, ExchangeBudgets, ExchangeLimiter
from core.models import OrderRequest, OrderStatus, OrderType
from tests.core.exchange.ccxt_world import (
    KEY,
    NOBODY,
    OTHER,
    SECRET,
    USER,
    Build,
    Credentials,
    RecordingSleep,
    api_urls,
    order,
    posts,
)
from tests.fakes.fake_exchange import FakeBinance, FakeBudgets, Fault
from tests.fakes.loopback import loopback_session

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
    assert sent["newClientOrderId"] == "entry-1" and sent["type"] == "MARKET" and sent["quantity"] == "0.00123"
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


async def test_invalid_key_after_success_is_still_authentication_failed(build: Build, fake: FakeBinance) -> None:
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


# --------------------------------------------------------------------- rate limits


async def test_429_pauses_the_limiter_for_retry_after_and_cuts_the_rate(build: Build, fake: FakeBinance) -> None:
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


# ---------------------------------------------------------------------- market data


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_candles_are_closed_only_with_utc_index_and_float_columns(build: Build, fake: FakeBinance) -> None:
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
