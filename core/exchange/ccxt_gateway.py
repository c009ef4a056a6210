"""The ccxt side of one exchange: clients, the shared limiter, error mapping, retries.

`CcxtGateway` is built once per exchange in the composition root and shared by
`CcxtExchange` (orders) and `ExchangeMarketData` (candles, prices). It owns one public ccxt
client for market data and one private client per user, built lazily from a
`CredentialsProvider`. Every call goes through `call()`: the limiter first, then ccxt, then
the mapping of ccxt's exceptions onto core.errors; only calls marked idempotent are retried,
with exponential backoff, here and nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async

from core.errors import (
    AuthenticationFailed,
    ConfigError,
    ExchangeError,
    ExchangeUnavailable,
    FinalExchangeError,
    InsufficientFunds,
    OrderRejected,
    RateLimited,
    RetryableExchangeError,
    UnknownSymbol,
)
from core.exchange.limiter import ExchangeLimiter

log = logging.getLogger(__name__)

T = TypeVar("T")
# A ccxt async client. Typed as Any: its implicit API methods (private_post_orderlist_oco,
# ...) are generated at class creation and unknown to type checkers.
Client: TypeAlias = Any


class CredentialsProvider(Protocol):
    """Where a user's API key and secret come from (the database, a vault)."""

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        """(api_key, secret), or None when the user has not connected an account."""


class MissingCredentials(AuthenticationFailed):
    """The user has no API key for this exchange: nothing was sent."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} has no API credentials for this exchange")
        self.user_id = user_id


class OrderNotFound(FinalExchangeError):
    """The exchange does not know this order (Binance -2013 / -2011)."""


class DuplicateClientOrderId(OrderRejected):
    """The exchange already has an open order with this client order id (Binance -2010)."""


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
    scheme and host of every REST URL, for a local simulator or a proxy."""

    exchange_id: str = "binance"
    sandbox: bool = False
    api_base_url: str | None = None
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


@dataclass(slots=True)
class _ResponseNote:
    """The HTTP answer to one gateway call, captured for Retry-After and usage headers."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def header_int(self, name: str) -> int | None:
        value = self.header(name)
        return int(value) if value is not None and value.strip().isdigit() else None

    def retry_after(self) -> float | None:
        value = self.header("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:  # an HTTP date: rare enough to fall back to the default pause
            return None

    def error_code(self) -> int | None:
        try:
            payload = json.loads(self.body) if self.body else None
        except ValueError:
            return None
        code = payload.get("code") if isinstance(payload, dict) else None
        return code if isinstance(code, int) else None


# The current call's note. A context variable, because one ccxt client serves many
# concurrent calls and `last_response_headers` would mix them up.
_RESPONSE: ContextVar[_ResponseNote | None] = ContextVar("atra_ccxt_response", default=None)


def _recording_class(exchange_id: str) -> Any:
    base = getattr(ccxt_async, exchange_id, None)
    if not isinstance(base, type) or not issubclass(base, ccxt_async.Exchange):
        raise ConfigError(f"EXCHANGE: ccxt has no exchange {exchange_id!r}")

    class Recording(base):  # type: ignore[misc, valid-type]
        def on_rest_response(  # type: ignore[no-untyped-def]
            self, code, reason, url, method, response_headers, response_body, request_headers, request_body
        ):
            note = _RESPONSE.get()
            if note is not None:
                note.status = int(code)
                note.headers = {str(k).lower(): str(v) for k, v in (response_headers or {}).items()}
                note.body = response_body or ""
            return super().on_rest_response(
                code, reason, url, method, response_headers, response_body, request_headers, request_body
            )

    Recording.__name__ = f"Recording_{exchange_id}"
    return Recording


class CcxtGateway:
    """One exchange through ccxt: a public client, a private client per user, one limiter.

    `session`, when given, is used by every ccxt client (one connection pool) and is left
    open by `close()`; tests pass one that can only reach 127.0.0.1.
    """

    def __init__(
        self,
        settings: CcxtSettings,
        credentials: CredentialsProvider,
        limiter: ExchangeLimiter,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.profile = settings.resolved_profile()
        self.limiter = limiter
        self._credentials = credentials
        self._session = session
        self._sleep = sleep
        self._class = _recording_class(settings.exchange_id)
        self._ssl_context: ssl.SSLContext | None = None
        self.public = self._new_client()
        self._private: dict[int, Client] = {}
        self._user_locks: dict[int, asyncio.Lock] = {}
        self._markets_lock = asyncio.Lock()

    @property
    def exchange_id(self) -> str:
        return self.settings.exchange_id

    async def markets(self) -> Mapping[str, Any]:
        """The exchange's markets, loaded once through the limiter."""
        if not self.public.markets:
            async with self._markets_lock:
                if not self.public.markets:
                    await self.call(lambda c: c.load_markets(), weight=self.profile.load_markets, idempotent=True)
        return self.public.markets

    async def market(self, symbol: str) -> dict[str, Any]:
        """One market (ccxt structure); UnknownSymbol if the exchange does not list it."""
        markets = await self.markets()
        if symbol not in markets:
            raise UnknownSymbol(f"{self.exchange_id} does not list {symbol}")
        return markets[symbol]

    async def private_client(self, user_id: int) -> Client:
        """The user's signed client, built on first use; MissingCredentials without keys."""
        client = self._private.get(user_id)
        if client is not None:
            return client
        lock = self._user_locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            if user_id in self._private:  # built while we waited for the lock
                return self._private[user_id]
            creds = await self._credentials.credentials(user_id)
            if creds is None:
                raise MissingCredentials(user_id)
            await self.markets()
            # ccxt's constructor costs several ms of CPU: keep it off the event loop, where
            # it would delay requests the limiter has already let go
            built = await asyncio.to_thread(self._new_client, *creds)
            built.set_markets_from_exchange(self.public)
            built.options["timeDifference"] = self.public.options.get("timeDifference", 0)
            self._private[user_id] = built
            return built

    async def call_with_keys(
        self, api_key: str, secret: str, operation: Callable[[Client], Awaitable[T]], *, weight: float
    ) -> T:
        """Run one idempotent call with keys that are not stored (yet): a client of their
        own, through the shared limiter and the error mapping, closed right after."""
        await self.markets()
        client = await asyncio.to_thread(self._new_client, api_key, secret)
        client.set_markets_from_exchange(self.public)
        client.options["timeDifference"] = self.public.options.get("timeDifference", 0)
        try:
            return await self._once(client, operation, weight, None, 0)
        finally:
            await client.close()

    async def forget_user(self, user_id: int) -> None:
        """Drop a user's client (their keys changed); the next call reads them again."""
        client = self._private.pop(user_id, None)
        if client is not None:
            await client.close()

    async def call(
        self,
        operation: Callable[[Client], Awaitable[T]],
        *,
        weight: float,
        user_id: int | None = None,
        orders: int = 0,
        idempotent: bool = False,
    ) -> T:
        """Run `operation(client)` through the limiter with errors mapped to core.errors.

        `user_id` None uses the public client. Idempotent calls are retried on
        RetryableExchangeError with exponential backoff; others are tried once.
        """
        client = self.public if user_id is None else await self.private_client(user_id)
        delays = self.settings.retry.delays() if idempotent else []
        for attempt, delay in enumerate([*delays, None], start=1):
            try:
                return await self._once(client, operation, weight, user_id, orders)
            except RetryableExchangeError as exc:
                if delay is None:
                    raise
                log.info("exchange call failed (attempt %d), retrying in %.2fs: %s", attempt, delay, exc)
                await self._sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def close(self) -> None:
        """Close every ccxt client (not an injected session)."""
        clients = [self.public, *self._private.values()]
        self._private.clear()
        await asyncio.gather(*(c.close() for c in clients))

    async def _once(
        self,
        client: Client,
        operation: Callable[[Client], Awaitable[T]],
        weight: float,
        user_id: int | None,
        orders: int,
    ) -> T:
        note = _ResponseNote()
        token = _RESPONSE.set(note)
        try:
            async with self.limiter.request(weight=weight, account=user_id, is_order=orders > 0, orders=orders):
                return await operation(client)
        except ccxt.BaseError as exc:
            error = self.map_error(exc, note)
            if isinstance(error, RateLimited):
                account_level = note.error_code() in self.profile.account_rate_limit_codes
                self.limiter.on_rate_limited(error.retry_after, account=user_id if account_level else None)
            raise error from exc
        finally:
            _RESPONSE.reset(token)
            self.limiter.observe_server_usage(
                note.header_int(self.profile.used_weight_header),
                note.header_int(self.profile.order_count_header),
                account=user_id,
            )

    def map_error(self, exc: ccxt.BaseError, note: _ResponseNote) -> ExchangeError:
        """ccxt's exception as one of the project's, keeping ccxt's text."""
        text = f"{type(exc).__name__}: {exc}"
        code = note.error_code()
        if code in self.profile.auth_error_codes or isinstance(exc, ccxt.AuthenticationError):
            # ccxt raises DDoSProtection for -2015 once a client has authenticated before
            return AuthenticationFailed(text)
        if isinstance(exc, ccxt.DDoSProtection) or note.status in (418, 429):
            return RateLimited(text, retry_after=note.retry_after())
        if isinstance(exc, (ccxt.NetworkError, ccxt.OperationFailed)):
            return ExchangeUnavailable(text)
        if isinstance(exc, ccxt.InsufficientFunds):
            return InsufficientFunds(text)
        if isinstance(exc, ccxt.BadSymbol):
            return UnknownSymbol(text)
        if isinstance(exc, ccxt.OrderNotFound):
            return OrderNotFound(text)
        if isinstance(exc, ccxt.InvalidOrder) and self.profile.duplicate_order_message in str(exc):
            return DuplicateClientOrderId(text)
        if isinstance(
            exc,
            (
                ccxt.InvalidOrder,
                ccxt.BadRequest,
                ccxt.OperationRejected,
                ccxt.NotSupported,
                ccxt.ArgumentsRequired,
            ),
        ):
            return OrderRejected(text)
        # An unclassified answer: treat as transient, so an order's fate is looked up.
        return ExchangeUnavailable(text)

    def _new_client(self, api_key: str | None = None, secret: str | None = None) -> Client:
        config: dict[str, Any] = {
            "enableRateLimit": False,  # ExchangeLimiter governs all clients together
            "timeout": self.settings.timeout_ms,
            "options": dict(self.profile.ccxt_options),
        }
        if api_key is not None:
            config["apiKey"], config["secret"] = api_key, secret
        if self._session is not None:
            config["session"] = self._session
        client = self._class(config)
        # ccxt builds an SSL context per client on its first request (~15 ms of CPU with
        # the event loop blocked, which would delay requests already admitted): share one.
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=client.cafile)
        client.ssl_context = self._ssl_context
        if self._session is not None:
            client.timeout_on_exit = 0  # ccxt waits this long for its own connector to close
        if self.settings.sandbox:
            client.set_sandbox_mode(True)
        if self.settings.api_base_url:
            client.urls["api"] = rewrite_api_urls(client.urls["api"], self.settings.api_base_url)
        return client
