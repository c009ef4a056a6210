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
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeAlias, TypeVar

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async

from core.errors import ConfigError, RateLimited, RetryableExchangeError, UnknownSymbol
from core.exchange.ccxt_config import (
    CcxtSettings,
    ExchangeProfile,
    RetryPolicy,
    rewrite_api_urls,
    rewrite_ws_api_url,
)
from core.exchange.ccxt_errors import (
    RESPONSE,
    DuplicateClientOrderId,
    MissingCredentials,
    OrderNotFound,
    ResponseNote,
    map_error,
)
from core.exchange.limiter import ExchangeLimiter

__all__ = [
    "CcxtGateway",
    "CcxtSettings",
    "CredentialsProvider",
    "DuplicateClientOrderId",
    "ExchangeProfile",
    "MissingCredentials",
    "OrderNotFound",
    "RetryPolicy",
    "rewrite_api_urls",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
# A ccxt async client. Typed as Any: its implicit API methods (private_post_orderlist_oco,
# ...) are generated at class creation and unknown to type checkers.
Client: TypeAlias = Any


class CredentialsProvider(Protocol):
    """Where a user's API key and secret come from (the database, a vault)."""

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        """(api_key, secret), or None when the user has not connected an account."""


def _recording_class(exchange_id: str) -> Any:
    base = getattr(ccxt_async, exchange_id, None)
    if not isinstance(base, type) or not issubclass(base, ccxt_async.Exchange):
        raise ConfigError(f"EXCHANGE: ccxt has no exchange {exchange_id!r}")

    class Recording(base):  # type: ignore[misc, valid-type]
        def on_rest_response(  # type: ignore[no-untyped-def]
            self, code, reason, url, method, response_headers, response_body, request_headers, request_body
        ):
            note = RESPONSE.get()
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

    def exchange_offset_ms(self) -> float:
        """How far the local clock runs ahead of the exchange's, in whole seconds as ms
        (measured by ccxt on load_markets, adjustForTimeDifference; what is below a second is
        the measurement's own latency): the exchange's time is local minus this."""
        return round(float(self.public.options.get("timeDifference") or 0.0) / 1000.0) * 1000.0

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

    async def stream_client(self, user_id: int, client_class: type) -> Client:
        """A new client of `client_class` (a ccxt.pro class, for the user's account stream)
        with the user's keys and the same options and URLs as the REST clients, its WebSocket
        API URL replaced when `ws_api_url` is set. The caller closes it."""
        creds = await self._credentials.credentials(user_id)
        if creds is None:
            raise MissingCredentials(user_id)
        await self.markets()
        client = await asyncio.to_thread(self._new_client, *creds, client_class=client_class)
        client.set_markets_from_exchange(self.public)
        client.options["timeDifference"] = self.public.options.get("timeDifference", 0)
        return client

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
        on_admitted: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """Run `operation(client)` through the limiter with errors mapped to core.errors.

        `user_id` None uses the public client. Idempotent calls are retried on
        RetryableExchangeError with exponential backoff; others are tried once.
        `on_admitted` is awaited once the limiter lets the call go, right before it is sent.
        """
        client = self.public if user_id is None else await self.private_client(user_id)
        delays = self.settings.retry.delays() if idempotent else []
        for attempt, delay in enumerate([*delays, None], start=1):
            try:
                return await self._once(client, operation, weight, user_id, orders, on_admitted)
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
        on_admitted: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        note = ResponseNote()
        token = RESPONSE.set(note)
        try:
            async with self.limiter.request(weight=weight, account=user_id, is_order=orders > 0, orders=orders):
                if on_admitted is not None:  # the request leaves now: the moment its receive window starts
                    await on_admitted()
                return await operation(client)
        except ccxt.BaseError as exc:
            error = map_error(exc, note, self.profile)
            if isinstance(error, RateLimited):
                account_level = note.error_code() in self.profile.account_rate_limit_codes
                self.limiter.on_rate_limited(error.retry_after, account=user_id if account_level else None)
            raise error from exc
        finally:
            RESPONSE.reset(token)
            self.limiter.observe_server_usage(
                note.header_int(self.profile.used_weight_header),
                note.header_int(self.profile.order_count_header),
                account=user_id,
            )

    def _new_client(self, api_key: str | None = None, secret: str | None = None, client_class: Any = None) -> Client:
        config: dict[str, Any] = {
            "enableRateLimit": False,  # ExchangeLimiter governs all clients together
            "timeout": self.settings.timeout_ms,
            "options": dict(self.profile.ccxt_options),
        }
        if api_key is not None:
            config["apiKey"], config["secret"] = api_key, secret
        if self._session is not None:
            config["session"] = self._session
        client = (client_class or self._class)(config)
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
        if client_class is not None and self.settings.ws_api_url:
            client.urls["api"] = rewrite_ws_api_url(client.urls["api"], self.settings.ws_api_url)
        return client
