"""Account streams through the real ccxt.pro binance client over a real WebSocket to the fake
Binance on 127.0.0.1 (tests/fakes/binance_ws.py): order updates normalised like fetch_order's
answer, fees, disconnects, refusals, duplicates, updates out of order, a silent stream.

Expected values are worked out by hand from the orders placed: the fake fills at 60 000 USDT
(or the order's own price) and charges 0.1 % commission, in the coin bought or the USDT got.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from core.errors import AuthenticationFailed, ConfigError, ExchangeUnavailable
from core.exchange.ccxt_config import rewrite_ws_api_url
from core.exchange.ccxt_errors import MissingCredentials
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings, RetryPolicy
from core.exchange.ccxt_stream import CcxtOrderStream, _streaming_class
from core.exchange.limiter import ExchangeBudgets, ExchangeLimiter
from core.models import OrderResult, OrderStatus, OrderType
from core.trading.live_ports import OrderStream
from tests.core.exchange.ccxt_world import KEY, NOBODY, OTHER, SECRET, USER, Credentials, eventually, order
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.loopback import loopback_session

Parts = tuple[CcxtExchange, CcxtOrderStream]
MakeParts = Callable[..., Awaitable[Parts]]


@pytest.fixture
async def parts(fake: FakeBinance) -> AsyncIterator[MakeParts]:
    session = loopback_session()
    made: list[tuple[CcxtGateway, CcxtOrderStream]] = []

    async def make(keys: dict[int, tuple[str, str]] | None = None) -> Parts:
        settings = CcxtSettings(
            api_base_url=fake.base_url,
            ws_api_url=fake.ws_url,
            timeout_ms=2000,
            recv_window_ms=1000,
            retry=RetryPolicy(attempts=2, first_delay=0.01),
        )
        gateway = CcxtGateway(
            settings,
            Credentials(keys if keys is not None else {USER: (KEY, SECRET), OTHER: ("key-2", "secret-2")}),
            ExchangeLimiter(ExchangeBudgets.binance_spot()),
            session=session,
        )
        exchange = CcxtExchange(gateway)
        stream = CcxtOrderStream(gateway, exchange.valued_fee)
        made.append((gateway, stream))
        return exchange, stream

    yield make
    for gateway, stream in made:
        await stream.close()
        await gateway.close()
    await session.close()


async def collect(stream: CcxtOrderStream, user: int, count: int, within: float = 3.0) -> list[OrderResult]:
    """Watch until `count` updates have come (more may come in the last batch)."""
    got: list[OrderResult] = []
    async with asyncio.timeout(within):
        while len(got) < count:
            got.extend(await stream.watch_orders(user))
    return got


def test_the_adapter_is_an_order_stream() -> None:
    assert isinstance(CcxtOrderStream.watch_orders, Callable)  # type: ignore[arg-type]
    stream: OrderStream = CcxtOrderStream.__new__(CcxtOrderStream)  # mypy checks the port's shape
    assert hasattr(stream, "close_stream")


async def test_a_market_fill_arrives_normalised_like_fetch_order(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    assert fake.subscribed(KEY) == 1
    placed = await exchange.create_order(order("m-1", amount=0.002, price=60000))
    new, filled = await collect(stream, USER, 2)
    assert (new.client_order_id, new.status, new.filled, new.fee) == ("m-1", OrderStatus.OPEN, 0.0, 0.0)
    # 0.002 BTC bought at 60 000; commission 0.1 % of 0.002 BTC = 0.000002 BTC
    assert filled.status is OrderStatus.FILLED and filled.amount == pytest.approx(0.002)
    assert filled.filled == pytest.approx(0.002) and filled.average_price == pytest.approx(60000.0)
    assert filled.fee == pytest.approx(0.000002) and filled.fee_currency == "BTC"
    assert filled.exchange_order_id == placed.exchange_order_id == new.exchange_order_id
    assert fake.requests_to("GET", "/api/v3/myTrades") == []  # the fee came from the stream
    assert filled == await exchange.fetch_order(order("m-1", amount=0.002))  # the same normalisation as REST


async def test_a_fee_paid_in_bnb_is_valued_in_the_quote_like_rest(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    fake.pay_fees_in_bnb(KEY, "1", "600")
    await stream.open_stream(USER)
    await exchange.create_order(order("bnb-1", amount=0.002, price=60000))
    filled = (await collect(stream, USER, 2))[-1]
    # 120 USDT traded: 0.1 % less 25 % = 0.09 USDT, paid as 0.00015 BNB at 600, booked in USDT
    assert filled.fee == pytest.approx(0.09) and filled.fee_currency == "USDT"
    assert filled == await exchange.fetch_order(order("bnb-1", amount=0.002))


async def test_partial_then_full_fill_of_a_resting_order(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    await exchange.create_order(order("l-1", OrderType.LIMIT, amount=0.002, price=59000))
    fake.fill_partially(KEY, "l-1", "0.0005")
    fake.set_price("BTCUSDT", "58000")  # reaches the limit: the rest fills at 59 000
    new, part, full = await collect(stream, USER, 3)
    assert new.status is OrderStatus.OPEN and new.filled == 0.0
    assert part.status is OrderStatus.OPEN and part.filled == pytest.approx(0.0005)
    assert part.fee == pytest.approx(0.0000005) and part.fee_currency == "BTC"  # 0.1 % of 0.0005
    assert full.status is OrderStatus.FILLED and full.filled == pytest.approx(0.002)
    assert full.average_price == pytest.approx(59000.0)
    assert full.fee == pytest.approx(0.000002)  # both trades: 0.0000005 + 0.0000015
    assert full == await exchange.fetch_order(order("l-1", amount=0.002))


async def test_a_cancel_arrives_under_the_orders_own_client_id(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    request = order("c-1", OrderType.LIMIT, amount=0.001, price=55000)
    await exchange.create_order(request)
    await exchange.cancel_order(request)
    new, canceled = await collect(stream, USER, 2)
    assert new.status is OrderStatus.OPEN
    assert canceled.client_order_id == "c-1" and canceled.status is OrderStatus.CANCELED
    assert canceled.filled == 0.0 and canceled.fee == 0.0
    sent = [u[0] for u in fake.ws_updates[KEY]]
    assert sent[-1]["x"] == "CANCELED" and sent[-1]["C"] == "c-1" and sent[-1]["c"] != "c-1"


async def test_an_oco_take_profit_fill_and_the_stop_leg_expiring(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(OTHER)
    stop = order("s-1", OrderType.STOP_MARKET, amount=0.01, side="sell", user=OTHER, stop_price=58000)
    take = order("t-1", OrderType.TAKE_PROFIT, amount=0.01, side="sell", user=OTHER, price=62000)
    await exchange.create_protective_oco(stop, take, current_price=60000)
    fake.set_price("BTCUSDT", "62000")
    got = await collect(stream, OTHER, 4)
    last = {r.client_order_id: r for r in got}
    assert sorted(r.client_order_id for r in got[:2]) == ["s-1", "t-1"]
    assert all(r.status is OrderStatus.OPEN for r in got[:2])
    assert last["s-1"].status is OrderStatus.CANCELED and last["s-1"].filled == 0.0  # EXPIRED with its list
    tp = last["t-1"]
    # 0.01 BTC sold at 62 000 = 620 USDT; commission 0.1 % = 0.62 USDT
    assert tp.status is OrderStatus.FILLED and tp.filled == pytest.approx(0.01)
    assert tp.average_price == pytest.approx(62000.0)
    assert tp.fee == pytest.approx(0.62) and tp.fee_currency == "USDT"


async def test_a_bad_signature_or_key_is_refused_as_authentication(parts: MakeParts, fake: FakeBinance) -> None:
    _, stream = await parts({USER: (KEY, "not-the-secret"), OTHER: ("no-such-key", "x")})
    with pytest.raises(AuthenticationFailed, match="Signature for this request is not valid"):
        await stream.watch_orders(USER)
    with pytest.raises(AuthenticationFailed, match="Invalid API-key"):
        await stream.open_stream(OTHER)
    assert [r.status for r in fake.ws_requests] == [400, 401]
    assert fake.subscribed(KEY) == 0


async def test_a_user_without_keys_has_no_stream(parts: MakeParts) -> None:
    _, stream = await parts()
    with pytest.raises(MissingCredentials):
        await stream.watch_orders(NOBODY)


async def test_a_refused_subscription_is_transient_and_the_next_watch_subscribes(
    parts: MakeParts, fake: FakeBinance
) -> None:
    exchange, stream = await parts()
    fake.ws_refuse(KEY, status=503, code=-1008, msg="Server is currently overloaded with other requests.")
    with pytest.raises(ExchangeUnavailable, match="overloaded"):
        await stream.open_stream(USER)
    await stream.open_stream(USER)
    await exchange.create_order(order("after-refusal", price=60000))
    got = await collect(stream, USER, 2)
    assert got[-1].status is OrderStatus.FILLED
    assert [r.status for r in fake.ws_requests] == [503, 200]


async def test_disconnect_mid_fill_raises_then_reconnects_and_books_missed_fees_from_rest(
    parts: MakeParts, fake: FakeBinance
) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    await exchange.create_order(order("d-1", OrderType.LIMIT, amount=0.002, price=59000))
    assert len(await collect(stream, USER, 1)) == 1
    fake.ws_drop_after(KEY, 1)
    fake.fill_partially(KEY, "d-1", "0.0005")  # sent, then the connection closes
    fake.fill_partially(KEY, "d-1", "0.0005")  # on the exchange only: nobody is connected
    (part,) = await collect(stream, USER, 1)
    assert part.filled == pytest.approx(0.0005)
    with pytest.raises(ExchangeUnavailable):
        await stream.watch_orders(USER)
    assert fake.subscribed(KEY) == 0
    watching = asyncio.create_task(collect(stream, USER, 1))  # reconnects and resubscribes
    await eventually(lambda: fake.subscribed(KEY) == 1)
    fake.set_price("BTCUSDT", "58000")  # the last 0.001 fills at 59 000
    (full,) = await watching
    assert full.status is OrderStatus.FILLED and full.filled == pytest.approx(0.002)
    assert full.fee == pytest.approx(0.000002)  # three trades, one of them read from REST
    assert len(fake.requests_to("GET", "/api/v3/myTrades")) == 1
    assert [r.method for r in fake.ws_requests] == ["userDataStream.subscribe.signature"] * 2


async def test_a_disconnect_while_nobody_watches_is_still_reported(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    fake.ws_disconnect(KEY)
    await eventually(lambda: fake.ws_open() == 0)  # the close handshake is over: ccxt saw it
    with pytest.raises(ExchangeUnavailable, match="disconnected"):
        await stream.watch_orders(USER)
    watching = asyncio.create_task(collect(stream, USER, 2))
    await eventually(lambda: fake.subscribed(KEY) == 1)
    await exchange.create_order(order("after", price=60000))
    assert (await watching)[-1].status is OrderStatus.FILLED


async def test_duplicates_and_updates_out_of_order_come_as_sent(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    fake.ws_duplicate(KEY, 1)
    fake.ws_hold(KEY)
    await exchange.create_order(order("o-1", OrderType.LIMIT, amount=0.002, price=59000))
    fake.fill_partially(KEY, "o-1", "0.0005")
    fake.set_price("BTCUSDT", "58000")
    fake.ws_release(KEY)  # FILLED (twice), then the partial fill, then NEW
    got = await collect(stream, USER, 4)
    assert [(r.status, round(r.filled, 6)) for r in got] == [
        (OrderStatus.FILLED, 0.002),
        (OrderStatus.FILLED, 0.002),
        (OrderStatus.OPEN, 0.0005),
        (OrderStatus.OPEN, 0.0),
    ]
    assert got[0] == got[1] and got[0].fee == pytest.approx(0.000002)  # its first trade came later: from REST
    assert got[2].fee == pytest.approx(0.0000005)  # only the trades up to this one
    assert len(fake.requests_to("GET", "/api/v3/myTrades")) == 1
    await exchange.create_order(order("o-2", price=60000))  # the client still works
    assert (await collect(stream, USER, 2))[-1].client_order_id == "o-2"


async def test_a_silent_stream_delivers_nothing_while_rest_shows_the_fill(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    fake.ws_silence(KEY)
    await exchange.create_order(order("quiet", price=60000))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream.watch_orders(USER), 0.3)
    found = await exchange.fetch_order(order("quiet"))
    assert found is not None and found.status is OrderStatus.FILLED
    assert len(fake.ws_updates[KEY]) == 2  # NEW and TRADE were made, not sent


async def test_close_stream_closes_the_socket_and_a_new_watch_builds_another(
    parts: MakeParts, fake: FakeBinance
) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    await stream.close_stream(USER)
    await eventually(lambda: fake.subscribed(KEY) == 0)
    watching = asyncio.create_task(collect(stream, USER, 2))
    await eventually(lambda: fake.subscribed(KEY) == 1)
    await exchange.create_order(order("again", price=60000))
    assert (await watching)[-1].status is OrderStatus.FILLED
    assert len(fake.ws_requests) == 2


def test_the_ws_api_url_rewrite_refuses_what_is_not_a_websocket_url() -> None:
    urls = {
        "ws": {"spot": "wss://stream.binance.com:9443/ws", "ws-api": {"spot": "wss://ws-api.binance.com:443/ws-api/v3"}}
    }
    assert rewrite_ws_api_url(urls, "ws://127.0.0.1:9/ws-api/v3")["ws"] == {
        "spot": "wss://stream.binance.com:9443/ws",
        "ws-api": {"spot": "ws://127.0.0.1:9/ws-api/v3"},
    }
    with pytest.raises(ConfigError, match="EXCHANGE_WS_API_URL"):
        rewrite_ws_api_url(urls, "http://127.0.0.1:9/ws-api/v3")
    with pytest.raises(ConfigError, match="no spot WebSocket API"):
        rewrite_ws_api_url({"ws": {"spot": "wss://x/ws"}}, "ws://127.0.0.1:9/ws-api/v3")


async def test_an_update_ccxt_cannot_handle_drops_the_connection_instead_of_hanging(
    parts: MakeParts, fake: FakeBinance
) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    watching = asyncio.create_task(stream.watch_orders(USER))
    garbage = {"e": "executionReport", "x": "TRADE", "s": "BTCUSDT", "S": "BUY", "i": 1, "t": 1, "l": "?", "L": "1"}
    fake.ws_push(KEY, garbage)  # ccxt raises on it
    with pytest.raises(ExchangeUnavailable, match="could not handle"):
        await asyncio.wait_for(watching, 3)  # ccxt's receive loop alone would stop: a watch waiting forever
    watching = asyncio.create_task(collect(stream, USER, 2))
    await eventually(lambda: fake.subscribed(KEY) == 1)
    await exchange.create_order(order("after-garbage", price=60000))
    assert (await watching)[-1].status is OrderStatus.FILLED


async def test_a_subscription_the_exchange_ends_is_reported_and_renewed(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, stream = await parts()
    await stream.open_stream(USER)
    watching = asyncio.create_task(stream.watch_orders(USER))
    await asyncio.sleep(0.05)
    fake.ws_terminate(KEY)  # ccxt alone would forget the subscription and leave the watch waiting
    with pytest.raises(ExchangeUnavailable, match="ended the subscription"):
        await asyncio.wait_for(watching, 3)
    watching = asyncio.create_task(collect(stream, USER, 2))
    await eventually(lambda: fake.subscribed(KEY) == 1)
    await exchange.create_order(order("renewed", price=60000))
    assert (await watching)[-1].status is OrderStatus.FILLED


async def test_close_stream_during_a_watch_ends_it_with_a_transient_error(parts: MakeParts, fake: FakeBinance) -> None:
    _, stream = await parts()
    await stream.open_stream(USER)
    watching = asyncio.create_task(stream.watch_orders(USER))
    await asyncio.sleep(0.05)
    await stream.close_stream(USER)
    with pytest.raises(ExchangeUnavailable, match="closed"):
        await asyncio.wait_for(watching, 3)


async def test_ccxt_answers_the_exchanges_pings(parts: MakeParts, fake: FakeBinance) -> None:
    fake.ws_ping_interval = 0.02  # Binance: every 20 s, and a connection without pongs is closed
    _, stream = await parts()
    await stream.open_stream(USER)
    await eventually(lambda: fake.pongs(KEY) >= 2)


async def test_the_fake_also_serves_ccxts_trade_and_balance_watches(parts: MakeParts, fake: FakeBinance) -> None:
    exchange, _ = await parts()
    gateway = exchange._gw  # the same keys and URLs the adapter uses
    client = await gateway.stream_client(USER, _streaming_class("binance"))
    try:
        trades = asyncio.create_task(client.watch_my_trades())
        balance = asyncio.create_task(client.watch_balance())
        await eventually(lambda: fake.subscribed(KEY) == 1)
        await asyncio.sleep(0.05)  # both watches wait on the one subscription
        await exchange.create_order(order("t-1", amount=0.002, price=60000))
        (trade,) = await asyncio.wait_for(trades, 3)
        held = await asyncio.wait_for(balance, 3)
    finally:
        await client.close()
    # 0.002 BTC at 60 000 = 120 USDT, 0.000002 BTC commission
    assert (trade["symbol"], trade["side"], trade["price"], trade["amount"], trade["cost"]) == (
        "BTC/USDT",
        "buy",
        60000.0,
        0.002,
        120.0,
    )
    assert trade["fee"]["cost"] == pytest.approx(0.000002) and trade["fee"]["currency"] == "BTC"
    assert held["BTC"]["free"] == pytest.approx(0.001998) and held["USDT"]["free"] == pytest.approx(9880.0)
    assert [r.method for r in fake.ws_requests] == ["userDataStream.subscribe.signature"]
