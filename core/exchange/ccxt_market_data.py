"""The `MarketData` port on the exchange's public API, through the shared gateway/limiter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from core.errors import ExchangeUnavailable
from core.exchange.ccxt_gateway import CcxtGateway
from core.ports import Clock

log = logging.getLogger(__name__)

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
    """

    def __init__(self, gateway: CcxtGateway, symbols: Sequence[str], clock: Clock | None = None) -> None:
        self._gw = gateway
        self._configured = list(dict.fromkeys(symbols))
        self._clock = clock or SystemClock()
        self._symbols: list[str] | None = None

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

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        """The last `limit` CLOSED candles (the forming one is dropped): DatetimeIndex of
        UTC open times named `timestamp`; float columns open, high, low, close, volume."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        await self._gw.market(symbol)  # UnknownSymbol for a symbol the exchange lacks
        client = self._gw.public
        step_ms = client.parse_timeframe(timeframe) * 1000
        fetch = min(limit + 1, MAX_CANDLES_PER_CALL)
        rows = await self._gw.call(
            lambda c: c.fetch_ohlcv(symbol, timeframe, None, fetch),
            weight=self._gw.profile.ohlcv,
            idempotent=True,
        )
        now_ms = self._clock.now().timestamp() * 1000
        closed = [row for row in rows if row[0] + step_ms <= now_ms]
        frame = pd.DataFrame([row[:6] for row in closed[-limit:]], columns=["timestamp", *COLUMNS])
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True), name="timestamp")
        return frame.astype(float)

    async def last_price(self, symbol: str) -> float:
        """The latest traded price."""
        await self._gw.market(symbol)
        ticker = await self._gw.call(lambda c: c.fetch_ticker(symbol), weight=self._gw.profile.ticker, idempotent=True)
        if ticker.get("last") is None:
            raise ExchangeUnavailable(f"{self._gw.exchange_id} returned no last price for {symbol}")
        return float(ticker["last"])
