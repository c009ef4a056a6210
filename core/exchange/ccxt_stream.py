"""The OrderStream port (core.trading.live_ports) on ccxt.pro: each account's user-data stream.

One ccxt.pro client per account (the user's keys, the gateway's options and URLs; its spot
WebSocket API URL replaced by EXCHANGE_WS_API_URL), built on first use. On Binance spot it
subscribes with `userDataStream.subscribe.signature` (signed, no listenKey) and receives an
`executionReport` for every change of every order of the account, all symbols.

What ccxt.pro does not give, and this adapter adds:

- every update, in the order received. ccxt's `watch_orders()` resolves only a waiting
  call, and keeps one entry per order: an update that arrives while nobody waits is handed
  over only with the next one, and two updates of one order in a row collapse. The client
  here records each executionReport as ccxt handles it; `watch_orders(user_id)` returns
  those recorded since the last call (at once if there are some), each parsed by ccxt's own
  `parse_ws_order` and normalised by ccxt_orders.to_result like fetch_order's answer.
  Duplicates and stale updates are passed on as received: deduplication is the caller's.
- fees as REST books them: the commission of each trade (executionReport `n`/`N` with trade
  id `t`) is kept per order, once per trade id; an update's fee is the sum over the trades
  up to it. When trades were missed (a reconnect), they are read from REST
  (fetch_order_trades, as CcxtExchange does for an order without fills). A fee paid in a
  third currency (BNB) is valued in the quote by `fee_valuer` (CcxtExchange.valued_fee).
- a disconnect is never silent: ccxt reconnects and resubscribes quietly on the next watch,
  so when the connection an earlier watch used has gone, the next `watch_orders` raises
  ExchangeUnavailable first (the caller reconciles through REST), and the one after that
  reconnects.
- errors as core.errors: ccxt's exceptions through ccxt_errors.map_error (a refused
  signature -> AuthenticationFailed; a dropped connection -> ExchangeUnavailable).

Built in the composition root next to the exchange, on the same gateway:

    stream = CcxtOrderStream(gateway, exchange.valued_fee)
    ...
    await stream.close()  # before gateway.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt

from core.errors import ConfigError, ExchangeError
from core.exchange.ccxt_errors import ResponseNote, map_error
from core.exchange.ccxt_gateway import CcxtGateway, Client
from core.exchange.ccxt_orders import sum_fees, to_result
from core.models import OrderRequest, OrderResult, OrderType

log = logging.getLogger(__name__)

Fee = tuple[float, str | None] | None
FeeValuer = Callable[[Fee, OrderRequest], Awaitable[Fee]]
ORDERS_KEPT = 1000  # orders whose trades are remembered per account (as ccxt's ordersLimit)


def _streaming_class(exchange_id: str) -> Any:
    """ccxt.pro's class for the exchange, recording each order update it handles."""
    import ccxt.pro  # its ~100 modules load only when a stream is used

    base = getattr(ccxt.pro, exchange_id, None)
    if not isinstance(base, type):
        raise ConfigError(f"EXCHANGE: ccxt.pro has no streams for {exchange_id!r}")

    class Streaming(base):  # type: ignore[misc, valid-type]
        def __init__(self, config: Any = None) -> None:
            super().__init__(config or {})
            self.atra_updates: deque[dict[str, Any]] = deque()  # CcxtOrderStream puts its own

        def handle_order_update(self, client, message):  # type: ignore[no-untyped-def]
            handled = super().handle_order_update(client, message)
            if isinstance(message, dict) and message.get("e") == "executionReport":
                self.atra_updates.append(dict(message))
            return handled

        def handle_event_stream_terminated(self, client, message):  # type: ignore[no-untyped-def]
            # ccxt forgets the subscription but leaves every watch waiting: drop the connection
            super().handle_event_stream_terminated(client, message)
            client.on_error(ccxt.NetworkError(f"{self.id} stream: the exchange ended the subscription"))

        def handle_message(self, client, message):  # type: ignore[no-untyped-def]
            try:
                return super().handle_message(client, message)
            except Exception as exc:  # noqa: BLE001 - ccxt's receive loop would stop for good, every watch hanging
                log.warning("%s stream: an update ccxt could not handle (%r); reconnecting", self.id, exc)
                client.on_error(ccxt.NetworkError(f"{self.id} stream: an update ccxt could not handle: {exc!r}"))
                return None

    Streaming.__name__ = f"Streaming_{exchange_id}"
    return Streaming


@dataclass(eq=False)
class _Stream:
    """One account's stream: its ccxt.pro client (None between a failure and the next
    watch), the updates recorded and not yet returned, the trades seen per order."""

    updates: deque[dict[str, Any]] = field(default_factory=deque)
    client: Client | None = None
    connection: Any = None  # ccxt's connection the last watch used
    parser: Client | None = None  # the last client built, which parses what it recorded
    trades: OrderedDict[tuple[str, str], dict[int, tuple[Decimal, dict[str, Any]]]] = field(default_factory=OrderedDict)


class CcxtOrderStream:
    """Account streams through ccxt.pro, sharing one `CcxtGateway` with CcxtExchange."""

    def __init__(self, gateway: CcxtGateway, fee_valuer: FeeValuer | None = None) -> None:
        self._gw = gateway
        self._value_fee = fee_valuer
        self._class: Any = None
        self._streams: dict[int, _Stream] = {}

    async def open_stream(self, user_id: int) -> None:
        """Connect and subscribe; returns once the exchange has confirmed the subscription
        (updates from then on are kept for `watch_orders`)."""
        stream = self._streams.setdefault(user_id, _Stream())
        client = await self._client(user_id, stream)
        try:
            await client.authenticate()
        except (ccxt.BaseError, KeyError) as exc:
            raise await self._failed(stream, exc) from exc
        stream.connection = self._connection(client)

    async def watch_orders(self, user_id: int) -> list[OrderResult]:
        """The order updates received since the last call, waiting for the next if there
        are none (see the module docstring)."""
        stream = self._streams.setdefault(user_id, _Stream())
        results: list[OrderResult] = []
        while not results:  # none when every update received was unreadable
            if not stream.updates:
                await self._wait(user_id, stream)
            while stream.updates:
                try:
                    results.append(await self._result(user_id, stream, stream.updates[0]))
                except ExchangeError:
                    if results:  # these are delivered; the rest is tried again next time
                        return results
                    raise
                except (ValueError, TypeError, KeyError, ArithmeticError) as exc:  # REST stays the truth
                    log.warning("user %d: an order update that cannot be read is dropped (%r)", user_id, exc)
                stream.updates.popleft()
        return results

    async def close_stream(self, user_id: int) -> None:
        """Close the user's client and forget its updates; the next watch starts afresh."""
        stream = self._streams.pop(user_id, None)
        if stream is not None and stream.client is not None:
            await stream.client.close()

    async def close(self) -> None:
        """Close every account's client."""
        for user_id in list(self._streams):
            await self.close_stream(user_id)

    # ----------------------------------------------------------------- internals

    async def _client(self, user_id: int, stream: _Stream) -> Client:
        if stream.client is None:
            if self._class is None:
                self._class = _streaming_class(self._gw.exchange_id)
            client = await self._gw.stream_client(user_id, self._class)
            if stream.client is not None:  # built twice concurrently: keep the first
                await client.close()
                return stream.client
            client.atra_updates = stream.updates
            # ccxt fills its balance cache on the first watch; a balance update (Binance sends
            # one after most order updates) arriving before that would raise in ccxt
            client.balance.setdefault("spot", {})
            stream.client = stream.parser = client
        return stream.client

    async def _failed(self, stream: _Stream, exc: BaseException) -> ExchangeError:
        """The error to raise; the client is closed, the next watch builds a new one (ccxt
        4.5.90 leaves a client whose subscription was refused waiting forever on the next)."""
        error = self._error(exc)
        client, stream.client, stream.connection = stream.client, None, None
        if client is not None:
            await client.close()
        return error

    @staticmethod
    def _url(client: Client) -> str:
        return str(client.urls["api"]["ws"]["ws-api"]["spot"])

    def _connection(self, client: Client) -> Any:
        return (client.clients or {}).get(self._url(client))

    async def _wait(self, user_id: int, stream: _Stream) -> None:
        client = stream.client
        if client is not None and stream.connection is not None and self._connection(client) is not stream.connection:
            # ccxt would reconnect quietly on this watch: say it, so that REST is read
            gone = ccxt.NetworkError(f"the {self._gw.exchange_id} stream of user {user_id} was disconnected")
            raise await self._failed(stream, gone)
        client = await self._client(user_id, stream)
        while not stream.updates:
            try:
                await client.watch_orders()
            except (ccxt.BaseError, KeyError) as exc:
                raise await self._failed(stream, exc) from exc
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # this watch was cancelled
                    raise
                # ccxt cancels the watches of a client that is closed (close_stream meanwhile)
                closed = ccxt.NetworkError(f"the {self._gw.exchange_id} stream of user {user_id} was closed")
                raise await self._failed(stream, closed) from exc
            stream.connection = self._connection(client)

    def _error(self, exc: BaseException) -> ExchangeError:
        # ccxt 4.5.90 answers a refused subscription with KeyError('spot') raised while it
        # handles the exchange's error, which is the KeyError's context
        if isinstance(exc, KeyError):
            if not isinstance(exc.__context__, ccxt.BaseError):
                raise exc
            exc = exc.__context__
        assert isinstance(exc, ccxt.BaseError)
        text = str(exc)
        body = text[text.find("{") :] if "{" in text else ""
        try:
            json.loads(body)
        except ValueError:
            body = ""
        return map_error(exc, ResponseNote(body=body), self._gw.profile)

    async def _result(self, user_id: int, stream: _Stream, raw: dict[str, Any]) -> OrderResult:
        client = stream.parser  # the client that recorded it (closed since, perhaps: parsing is pure)
        assert client is not None, "an update without the client that recorded it"
        order = client.parse_ws_order(raw)
        symbol = str(order.get("symbol"))
        key = (symbol, str(order.get("id")))
        trades = stream.trades.setdefault(key, {})
        stream.trades.move_to_end(key)
        while len(stream.trades) > ORDERS_KEPT:
            stream.trades.popitem(last=False)
        if raw.get("x") == "TRADE":
            fee = {"cost": float(raw.get("n") or 0), "currency": client.safe_currency_code(raw.get("N"))}
            trades[int(raw["t"])] = (Decimal(str(raw.get("l") or 0)), fee)
        up_to = int(raw["t"]) if raw.get("x") == "TRADE" else None
        request = OrderRequest(
            str(order.get("clientOrderId") or ""),
            user_id,
            symbol,
            str(order.get("side") or ""),
            OrderType.LIMIT,
            float(order.get("amount") or 0.0),
        )
        filled = Decimal(str(raw.get("z") or 0))
        fee_total: Fee = None
        if filled > 0:
            if _quantity(trades, up_to) < filled:  # trades missed: read them from REST
                await self._read_trades(user_id, symbol, str(order.get("id")), trades)
            fees: list[Mapping[str, Any]] = [
                f for tid, (_, f) in sorted(trades.items()) if up_to is None or tid <= up_to
            ]
            fee_total = sum_fees(fees, request.client_order_id, symbol)
            if self._value_fee is not None:
                fee_total = await self._value_fee(fee_total, request)
        return to_result(request, order, fee_total)

    async def _read_trades(
        self, user_id: int, symbol: str, order_id: str, trades: dict[int, tuple[Decimal, dict[str, Any]]]
    ) -> None:
        found = await self._gw.call(
            lambda c: c.fetch_order_trades(order_id, symbol),
            weight=self._gw.profile.order_trades,
            user_id=user_id,
            idempotent=True,
        )
        for trade in found:
            if trade.get("id") is not None and trade.get("fee") and trade["fee"].get("cost") is not None:
                trades[int(trade["id"])] = (Decimal(str(trade.get("amount") or 0)), dict(trade["fee"]))


def _quantity(trades: dict[int, tuple[Decimal, dict[str, Any]]], up_to: int | None) -> Decimal:
    return sum((qty for tid, (qty, _) in trades.items() if up_to is None or tid <= up_to), Decimal(0))
