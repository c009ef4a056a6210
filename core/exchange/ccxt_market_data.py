"""The `MarketData` port on the exchange's public API, through the shared gateway/limiter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import pandas as pd

from core.errors import ExchangeUnavailable
from core.exchange.ccxt_gateway import CcxtGateway
from core.ports import Clock
from core.precision import MarketPrecision, from_ccxt_market

log = logging.getLogger(__name__)
T = TypeVar("T")

COLUMNS = ["open", "high", "low", "close", "volume"]
MAX_CANDLES_PER_CALL = 1000  # Binance klines limit


class SystemClock:
    """Wall-clock UTC."""

    def now(self) -> datetime:
        return datetime.now(tz=UTC)


class ExchangeMarketData:
    """Closed candles and last prices from the exchange's public endpoints.

    Call `load()` once at start: it loads the markets and keeps the configured symbols
    the exchange lists (the others are logged and dropped).

    A burst of confirmations asks for the same few prices and candles many times: a price
    is reused for `price_max_age` seconds (concurrent asks share one request), and a set
    of closed candles until the next candle closes (closed candles do not change). What
    protects a position never reads prices from here: CcxtExchange.last_price is fresh.
    """

    def __init__(
        self,
        gateway: CcxtGateway,
        symbols: Sequence[str],
        clock: Clock | None = None,
        price_max_age: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gw = gateway
        self._configured = list(dict.fromkeys(symbols))
        self._clock = clock or SystemClock()
        self._symbols: list[str] | None = None
        self._price_max_age = price_max_age
        self._monotonic = monotonic
        self._prices: dict[str, tuple[float, float]] = {}  # symbol -> (asked at, price)
        self._candles: dict[tuple[str, str, int], tuple[float, pd.DataFrame]] = {}  # -> (valid until, frame)
        self._flights = _Flights()

    async def load(self) -> list[str]:
        """Load the markets; return the configured symbols the exchange lists."""
        markets = await self._gw.markets()
        self._symbols = [s for s in self._configured if s in markets]
        missing = [s for s in self._configured if s not in markets]
        if missing:
            log.warning("%s does not list %s; not scanning them", self._gw.exchange_id, ", ".join(missing))
        return list(self._symbols)

    def symbols(self) -> Sequence[str]:
        """The configured symbols the exchange lists. Requires `load()` first."""
        if self._symbols is None:
            raise RuntimeError("ExchangeMarketData.symbols() before load()")
        return list(self._symbols)

    def precision(self, symbol: str) -> MarketPrecision | None:
        """The exchange's tick and lot of `symbol` (from the markets `load()` read)."""
        market = (self._gw.public.markets or {}).get(symbol)
        if market is None:
            return None
        return from_ccxt_market(market, int(self._gw.public.precisionMode))

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        """The last `limit` CLOSED candles (the forming one is dropped): DatetimeIndex of
        UTC open times named `timestamp`; float columns open, high, low, close, volume."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        await self._gw.market(symbol)  # UnknownSymbol for a symbol the exchange lacks
        cached = self._candles.get((symbol, timeframe, limit))
        if cached is not None and self._exchange_now_ms() < cached[0]:
            return cached[1].copy()
        frame = await self._flights.run(
            ("candles", symbol, timeframe, limit), lambda: self._fetch_candles(symbol, timeframe, limit)
        )
        return frame.copy()

    async def _fetch_candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        step_ms = self._gw.public.parse_timeframe(timeframe) * 1000
        fetch = min(limit + 1, MAX_CANDLES_PER_CALL)
        rows = await self._gw.call(
            lambda c: c.fetch_ohlcv(symbol, timeframe, None, fetch),
            weight=self._gw.profile.ohlcv,
            idempotent=True,
        )
        now_ms = self._exchange_now_ms()
        closed = [row for row in rows if row[0] + step_ms <= now_ms]
        frame = pd.DataFrame([row[:6] for row in closed[-limit:]], columns=["timestamp", *COLUMNS])
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True), name="timestamp")
        frame = frame.astype(float)
        latest_due = now_ms // step_ms * step_ms - step_ms  # the open of the candle that closed last
        if closed and closed[-1][0] >= latest_due:  # complete: valid until the next one closes
            self._candles[(symbol, timeframe, limit)] = (latest_due + 2 * step_ms, frame)
        return frame

    def _exchange_now_ms(self) -> float:
        """Now on the exchange's clock: a candle has closed when the EXCHANGE says so (a local
        clock a few seconds fast would take the forming candle for a closed one)."""
        return self._clock.now().timestamp() * 1000 - self._gw.exchange_offset_ms()

    async def last_price(self, symbol: str) -> float:
        """The latest traded price (at most `price_max_age` seconds old)."""
        cached = self._prices.get(symbol)
        if cached is not None and self._monotonic() - cached[0] <= self._price_max_age:
            return cached[1]
        return await self._flights.run(("price", symbol), lambda: self._fetch_price(symbol))

    async def _fetch_price(self, symbol: str) -> float:
        asked = self._monotonic()
        await self._gw.market(symbol)
        ticker = await self._gw.call(lambda c: c.fetch_ticker(symbol), weight=self._gw.profile.ticker, idempotent=True)
        if ticker.get("last") is None:
            raise ExchangeUnavailable(f"{self._gw.exchange_id} returned no last price for {symbol}")
        price = float(ticker["last"])
        self._prices[symbol] = (asked, price)
        return price


class _Flights:
    """One request at a time per key: whoever asks while it runs awaits its answer."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is not None:
            return cast(T, await asyncio.shield(running))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await fetch()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: the waiters, if any, raise it themselves
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._running.pop(key, None)
