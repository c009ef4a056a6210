"""The fake Binance WebSocket API on the wire, with a plain aiohttp client: the signed
subscription and its refusals, the user-data events each order change sends, and the hooks.
Signatures and expected balances are worked out here by hand."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.core.exchange.ccxt_world import eventually
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.loopback import loopback_session

KEY, SECRET = "ws-key", "ws-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    server.add_account(KEY, SECRET, {"USDT": "10000", "BTC": "1"})
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    session = loopback_session()
    yield session
    await session.close()


def signed(params: dict[str, Any], secret: str = SECRET) -> dict[str, Any]:
    query = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return {**params, "signature": hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}


def subscription(key: str = KEY, secret: str = SECRET, age_ms: int = 0) -> dict[str, Any]:
    params = {"apiKey": key, "timestamp": int(time.time() * 1000) - age_ms, "recvWindow": 5000}
    return {"id": "7", "method": "userDataStream.subscribe.signature", "params": signed(params, secret)}


async def receive(ws: aiohttp.ClientWebSocketResponse, within: float = 2.0) -> dict[str, Any]:
    message = await ws.receive(timeout=within)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def subscribed(http: aiohttp.ClientSession, fake: FakeBinance) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(fake.ws_url)
    await ws.send_json(subscription())
    answer = await receive(ws)
    assert answer["status"] == 200
    return ws


def rest_query(params: dict[str, Any]) -> str:
    """A signed REST query: the HMAC of the query as sent, appended."""
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    return f"{query}&signature={hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()}"


async def rest_order(http: aiohttp.ClientSession, fake: FakeBinance, **params: Any) -> int:
    url = f"{fake.base_url}/api/v3/order?{rest_query(params)}"
    async with http.post(url, headers={"X-MBX-APIKEY": KEY}) as response:
        return response.status


async def events(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    return [(await receive(ws))["event"] for _ in range(count)]


async def test_a_signed_subscription_is_answered_with_its_id(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    async with http.ws_connect(fake.ws_url) as ws:
        await ws.send_json(subscription())
        assert await receive(ws) == {"id": "7", "status": 200, "result": {"subscriptionId": 0}, "rateLimits": []}
        assert fake.subscribed(KEY) == 1
        await ws.send_json({"id": 8, "method": "ping", "params": {}})
        assert (await receive(ws))["result"] == {}


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        (subscription(secret="wrong"), 400, -1022),
        (subscription(key="nobody"), 401, -2015),
        (subscription(age_ms=60_000), 400, -1021),
        ({"id": 9, "method": "session.logon", "params": {}}, 400, -1),
    ],
)
async def test_refusals_carry_binances_codes(
    http: aiohttp.ClientSession, fake: FakeBinance, message: dict[str, Any], status: int, code: int
) -> None:
    async with http.ws_connect(fake.ws_url) as ws:
        await ws.send_json(message)
        answer = await receive(ws)
        assert (answer["id"], answer["status"], answer["error"]["code"]) == (message["id"], status, code)
        assert fake.subscribed(KEY) == 0
    assert fake.unexpected == (["WS session.logon"] if code == -1 else [])


async def test_a_market_fill_sends_new_trade_and_the_balances(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    async with await subscribed(http, fake) as ws:
        status = await rest_order(
            http, fake, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002", newClientOrderId="w-1"
        )
        assert status == 200
        envelope = await receive(ws)
        assert envelope["subscriptionId"] == 0
        new = envelope["event"]
        trade, position = await events(ws, 2)
    assert (new["e"], new["x"], new["X"], new["c"], new["C"], new["z"]) == (
        "executionReport",
        "NEW",
        "NEW",
        "w-1",
        "",
        "0.00000000",
    )
    assert (trade["x"], trade["X"], trade["s"], trade["S"], trade["o"], trade["g"]) == (
        "TRADE",
        "FILLED",
        "BTCUSDT",
        "BUY",
        "MARKET",
        -1,
    )
    # 0.002 BTC at 60 000 = 120 USDT; commission 0.1 % of 0.002 BTC, in BTC
    assert (trade["l"], trade["z"], trade["L"], trade["Z"], trade["Y"]) == (
        "0.00200000",
        "0.00200000",
        "60000.00000000",
        "120.00000000",
        "120.00000000",
    )
    assert (trade["n"], trade["N"], trade["i"], trade["t"] > 0) == ("0.00000200", "BTC", new["i"], True)
    assert position["e"] == "outboundAccountPosition"
    assert {b["a"]: b["f"] for b in position["B"]} == {"BTC": "1.00199800", "USDT": "9880.00000000"}


async def test_a_refused_order_sends_nothing(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    async with await subscribed(http, fake) as ws:
        status = await rest_order(http, fake, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1")
        assert status == 400  # 60 000 USDT wanted, 10 000 held
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.2)
    assert fake.ws_updates[KEY] == []


async def test_a_cancel_names_the_original_client_id(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    async with await subscribed(http, fake) as ws:
        await rest_order(
            http, fake, symbol="BTCUSDT", side="SELL", type="LIMIT", quantity="0.01", price="70000", timeInForce="GTC"
        )
        new, _ = await events(ws, 2)
        fake.cancel_externally(KEY, new["c"])
        canceled, position = await events(ws, 2)
    assert (canceled["x"], canceled["X"], canceled["C"]) == ("CANCELED", "CANCELED", new["c"])
    assert canceled["c"] != new["c"] and canceled["i"] == new["i"]
    assert {b["a"]: (b["f"], b["l"]) for b in position["B"]}["BTC"] == ("1.00000000", "0.00000000")


async def test_an_oco_sends_both_legs_and_its_list(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    async with await subscribed(http, fake) as ws:
        params = {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.01",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": "62000",
            "belowType": "STOP_LOSS",
            "belowStopPrice": "58000",
        }
        url = f"{fake.base_url}/api/v3/orderList/oco?{rest_query(params)}"
        async with http.post(url, headers={"X-MBX-APIKEY": KEY}) as response:
            listing = await response.json()
        got = [e for e in await events(ws, 5) if e["e"] != "outboundAccountPosition"]
        fake.set_price("BTCUSDT", "57000")  # the stop triggers: the limit maker leg expires
        after = [e for e in await events(ws, 4) if e["e"] == "executionReport"]
    assert [(e["e"], e.get("x"), e["g"]) for e in got] == [
        ("executionReport", "NEW", listing["orderListId"]),
        ("executionReport", "NEW", listing["orderListId"]),
        ("listStatus", None, listing["orderListId"]),
    ]
    assert [(e["o"], e["x"], e["X"]) for e in after] == [
        ("LIMIT_MAKER", "EXPIRED", "EXPIRED"),
        ("STOP_LOSS", "TRADE", "FILLED"),
    ]


async def test_hold_release_duplicate_and_drop_after(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    async with await subscribed(http, fake) as ws:
        fake.ws_hold(KEY)
        for cid in ("h-1", "h-2"):
            await rest_order(
                http,
                fake,
                symbol="BTCUSDT",
                side="SELL",
                type="LIMIT",
                quantity="0.01",
                price="70000",
                newClientOrderId=cid,
            )
        fake.ws_duplicate(KEY, 1)
        fake.ws_drop_after(KEY, 2)
        fake.ws_release(KEY, [1, 0])
        got = [e["c"] for e in await events(ws, 6) if e["e"] == "executionReport"]
        closing = await ws.receive(timeout=2)
    assert got == ["h-2", "h-2", "h-1"]
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
    assert fake.subscribed(KEY) == 0


async def test_a_silenced_stream_sends_nothing_and_a_refusal_is_used_once(
    http: aiohttp.ClientSession, fake: FakeBinance
) -> None:
    fake.ws_refuse(KEY, status=503, code=-1008, msg="Server is currently overloaded.")
    async with http.ws_connect(fake.ws_url) as ws:
        await ws.send_json(subscription())
        assert (await receive(ws))["error"]["code"] == -1008
        await ws.send_json(subscription())
        assert (await receive(ws))["status"] == 200
        fake.ws_silence(KEY)
        await rest_order(http, fake, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.2)
    assert len(fake.ws_updates[KEY]) == 2  # made, not sent


async def test_the_server_pings_and_counts_the_pongs(http: aiohttp.ClientSession, fake: FakeBinance) -> None:
    fake.ws_ping_interval = 0.02
    async with http.ws_connect(fake.ws_url) as ws:  # aiohttp answers pings by itself
        reader = asyncio.create_task(ws.receive())
        await eventually(lambda: fake.pongs() >= 2)
        reader.cancel()
    assert fake.pongs() >= 2
