"""How the adapter reaches one exchange: the settings, what it knows of the exchange's REST
API beyond ccxt (weights, headers, error codes), and the retry schedule of idempotent calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: `attempts` tries in all, waiting first_delay, *factor, ..."""

    attempts: int = 4
    first_delay: float = 0.25
    factor: float = 2.0
    max_delay: float = 4.0

    def delays(self) -> list[float]:
        """The waits between consecutive attempts (attempts - 1 of them)."""
        return [min(self.max_delay, self.first_delay * self.factor**i) for i in range(max(0, self.attempts - 1))]


@dataclass(frozen=True, slots=True)
class ExchangeProfile:
    """What the adapter needs to know about one exchange's REST API beyond ccxt."""

    ccxt_options: Mapping[str, Any]
    # Request weight per call, as the exchange counts it.
    load_markets: int = 21  # exchangeInfo 20 + time 1
    ohlcv: int = 2
    ticker: int = 2
    balance: int = 20
    open_orders: int = 6  # with a symbol
    create_order: int = 1
    fetch_order: int = 4
    cancel_order: int = 1
    order_trades: int = 20
    create_oco: int = 1
    used_weight_header: str = "x-mbx-used-weight-1m"
    order_count_header: str = "x-mbx-order-count-10s"
    account_rate_limit_codes: frozenset[int] = frozenset({-1015})  # order-count limits: one account
    auth_error_codes: frozenset[int] = frozenset({-2014, -2015, -1022})
    duplicate_order_message: str = "Duplicate order sent"
    supports_oco: bool = True

    @classmethod
    def binance_spot(cls, recv_window_ms: int = 5000, adjust_for_time_difference: bool = True) -> ExchangeProfile:
        """Binance spot. The options keep ccxt on the spot API:

        - fetchMarkets.types=['spot']: no fapi/dapi exchangeInfo calls on load_markets;
        - fetchMargins=False: no sapi margin/allPairs + isolated/allPairs calls;
        - fetchCurrencies=False: no sapi capital/config/getall (signed, weight 10) call;
        - adjustForTimeDifference: one GET /api/v3/time on load_markets, copied to every
          private client, so a skewed local clock does not earn -1021;
        - recvWindow: a late request is refused by the exchange after this many ms,
          which is what makes "not found after recvWindow" a definite answer.
        """
        return cls(
            ccxt_options={
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
                "adjustForTimeDifference": adjust_for_time_difference,
                "recvWindow": recv_window_ms,
            }
        )


@dataclass(frozen=True, slots=True)
class CcxtSettings:
    """How to reach the exchange. `api_base_url` (EXCHANGE_API_BASE_URL) replaces the
    scheme and host of every REST URL, for a local simulator or a proxy; `ws_api_url`
    (EXCHANGE_WS_API_URL) replaces the spot WebSocket API URL the account streams use."""

    exchange_id: str = "binance"
    sandbox: bool = False
    api_base_url: str | None = None
    ws_api_url: str | None = None
    timeout_ms: int = 10_000
    recv_window_ms: int = 5_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    profile: ExchangeProfile | None = None  # None: Binance spot with recv_window_ms

    def resolved_profile(self) -> ExchangeProfile:
        return self.profile or ExchangeProfile.binance_spot(self.recv_window_ms)


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """`urls` (ccxt's `urls['api']`: a string or nested dicts) with the scheme and host of
    every http(s) URL replaced by `base_url`'s; a path in `base_url` is prefixed."""
    base = urlsplit(base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ConfigError(f"EXCHANGE_API_BASE_URL must look like http://host:port, got {base_url!r}")
    prefix = base.path.rstrip("/")

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: fix(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fix(item) for item in value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            return urlunsplit((base.scheme, base.netloc, prefix + parts.path, parts.query, parts.fragment))
        return value

    return fix(urls)


def rewrite_ws_api_url(urls: Any, ws_api_url: str) -> Any:
    """`urls` (a ccxt.pro client's `urls['api']`) with its spot WebSocket API URL (Binance:
    urls['api']['ws']['ws-api']['spot']) replaced by `ws_api_url`."""
    parts = urlsplit(ws_api_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"EXCHANGE_WS_API_URL must look like wss://host:port/path, got {ws_api_url!r}")
    ws = urls.get("ws") if isinstance(urls, dict) else None
    ws_api = ws.get("ws-api") if isinstance(ws, dict) else None
    if not isinstance(ws, dict) or not isinstance(ws_api, dict) or "spot" not in ws_api:
        raise ConfigError("EXCHANGE_WS_API_URL: this exchange has no spot WebSocket API URL to replace")
    return {**urls, "ws": {**ws, "ws-api": {**ws_api, "spot": ws_api_url}}}
