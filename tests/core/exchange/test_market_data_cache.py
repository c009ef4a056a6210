"""Market data over the fake Binance: a burst of asks for the same price or candles makes
one request; closed candles are reused until the next candle closes, never after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import ManualClock
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings, RetryPolicy
from core.exchange.ccxt_market_data import ExchangeMarketData
from core.exchange.limiter import ExchangeBudgets, ExchangeLimiter
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.loopback import loopback_session

AT = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
clock_now = [AT]  # the fake exchange's market clock, moved by the tests


class Keys:
    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        return None


@pytest.fixture
async def setup() -> AsyncIterator[tuple[FakeBinance, CcxtGateway]]:
    fake = FakeBinance(market_clock=lambda: clock_now[0].timestamp())
    await fake.start()
    session = loopback_session()
    gateway = CcxtGateway(
        CcxtSettings(api_base_url=fake.base_url, retry=RetryPolicy(attempts=1)),
        Keys(),
        ExchangeLimiter(ExchangeBudgets.binance_spot()),
        session=session,
    )
    yield fake, gateway
    await gateway.close()
    await session.close()
    await fake.stop()


async def test_a_burst_of_price_asks_is_one_request_and_a_price_lives_one_second(
    setup: tuple[FakeBinance, CcxtGateway],
) -> None:
    fake, gateway = setup
    now = [100.0]
    data = ExchangeMarketData(gateway, ["BTC/USDT"], price_max_age=1.0, monotonic=lambda: now[0])
    prices = await asyncio.gather(*(data.last_price("BTC/USDT") for _ in range(20)))
    assert prices == [60_000.0] * 20 and len(fake.requests_to("GET", "/api/v3/ticker/24hr")) == 1
    fake.set_price("BTCUSDT", 61_000)
    assert await data.last_price("BTC/USDT") == 60_000.0  # still fresh
    now[0] += 1.5
    assert await data.last_price("BTC/USDT") == 61_000.0
    assert len(fake.requests_to("GET", "/api/v3/ticker/24hr")) == 2


async def test_closed_candles_are_reused_until_the_next_candle_closes(setup: tuple[FakeBinance, CcxtGateway]) -> None:
    fake, gateway = setup
    clock = ManualClock(AT)
    clock_now[0] = AT
    data = ExchangeMarketData(gateway, ["BTC/USDT"], clock=clock)
    frames = await asyncio.gather(*(data.candles("BTC/USDT", "1h", 24) for _ in range(10)))
    assert len(fake.requests_to("GET", "/api/v3/klines")) == 1
    assert all(f.index[-1] == datetime(2024, 5, 1, 9, 0, tzinfo=UTC) for f in frames)
    clock.advance(timedelta(minutes=29))  # 10:59: the 10:00 candle is still forming
    assert (await data.candles("BTC/USDT", "1h", 24)).index[-1] == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert len(fake.requests_to("GET", "/api/v3/klines")) == 1
    clock.advance(timedelta(minutes=1))  # 11:00: it has closed
    clock_now[0] = clock.now()
    assert (await data.candles("BTC/USDT", "1h", 24)).index[-1] == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert len(fake.requests_to("GET", "/api/v3/klines")) == 2


async def test_an_incomplete_answer_is_not_kept(setup: tuple[FakeBinance, CcxtGateway]) -> None:
    fake, gateway = setup
    clock = ManualClock(AT)
    clock_now[0] = AT - timedelta(hours=2)  # the exchange has not got the 09:00 candle yet
    data = ExchangeMarketData(gateway, ["BTC/USDT"], clock=clock)
    await data.candles("BTC/USDT", "1h", 24)
    await data.candles("BTC/USDT", "1h", 24)
    assert len(fake.requests_to("GET", "/api/v3/klines")) == 2


async def test_closed_candles_are_judged_by_the_exchanges_clock_not_a_fast_local_one(
    setup: tuple[FakeBinance, CcxtGateway],
) -> None:
    fake, gateway = setup
    fake.time_offset = -3.0  # the exchange's clock is 3 s behind ours (ours is 3 s fast)
    clock = ManualClock(datetime(2024, 5, 1, 11, 0, 2, tzinfo=UTC))  # our clock: the 10:00 candle closed 2 s ago
    clock_now[0] = clock.now() - timedelta(seconds=3)  # the exchange's: 10:59:59, the 10:00 candle still forming
    data = ExchangeMarketData(gateway, ["BTC/USDT"], clock=clock)
    frame = await data.candles("BTC/USDT", "1h", 24)
    assert frame.index[-1] == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)  # the forming candle is not taken as closed
    clock.advance(timedelta(seconds=5))  # the exchange's 11:00:02: now it has closed
    clock_now[0] = clock.now() - timedelta(seconds=3)
    assert (await data.candles("BTC/USDT", "1h", 24)).index[-1] == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


async def test_precision_is_the_exchanges_tick_and_lot(setup: tuple[FakeBinance, CcxtGateway]) -> None:
    """exchangeInfo's PRICE_FILTER.tickSize and LOT_SIZE.stepSize, as the real ccxt parses them."""
    _, gateway = setup
    data = ExchangeMarketData(gateway, ["BTC/USDT", "ETH/USDT"])
    await data.load()
    btc, eth = data.precision("BTC/USDT"), data.precision("ETH/USDT")
    assert btc is not None and (btc.tick, btc.lot) == (Decimal("0.01"), Decimal("0.00001"))
    assert eth is not None and (eth.tick, eth.lot) == (Decimal("0.01"), Decimal("0.0001"))
    assert data.precision("DOGE/USDT") is None
