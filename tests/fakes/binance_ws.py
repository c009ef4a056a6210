"""The fake Binance's WebSocket API (wss://ws-api.binance.com:443/ws-api/v3) for spot user
data, as the pinned ccxt.pro binance uses it (a mixin of FakeBinance, served at /ws-api/v3).

Requests are JSON `{"id", "method", "params"}`; answers `{"id", "status", "result"}` or
`{"id", "status", "error": {"code", "msg"}}`, both with `rateLimits`. Served methods:
`userDataStream.subscribe.signature` (params apiKey, timestamp, recvWindow, signature: HMAC-
SHA256 of the other params sorted by name, checked like a signed REST call; -2015 for an
unknown or revoked key, -1022 for a bad signature, -1021 outside recvWindow; weight 2),
`userDataStream.unsubscribe`, `ping`. Anything else answers 400 and is recorded in
`unexpected` as "WS <method>".

Once subscribed, a connection receives every change of the account's orders as
`{"subscriptionId": N, "event": {...executionReport...}}`, followed by an
outboundAccountPosition of the balances it moved (an "update": what tests/fakes/
binance_events.py builds). Changes made inside a REST request are sent when its handler
succeeds (a refused order sends nothing). The server pings every `ws_ping_interval` seconds
(Binance: 20 s) and counts the pongs.

Test hooks, per API key: `ws_disconnect` (close its connections now), `ws_drop_after`
(close after the next n updates: a disconnect mid-fill), `ws_hold` / `ws_release` (keep
updates back, then send them in another order), `ws_duplicate` (send the next updates
twice), `ws_silence` (updates happen, nothing is sent), `ws_refuse` (answer the next
subscription with an error), `ws_push` (send any event as it is), `ws_terminate` (end the
subscription with eventStreamTerminated, as Binance does when the session ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.binance_events import account_position, changed_assets, execution_report, list_status
from tests.fakes.binance_model import ApiError, FakeAccount, FakeOrder, Route, SymbolSpec, now_ms

WS_PATH = "/ws-api/v3"
SUBSCRIBE = "userDataStream.subscribe.signature"
_CLOSE = object()  # queued after the last update a connection sends before it is closed
Update = list[dict[str, Any]]


@dataclass(eq=False)
class WsConnection:
    """One client connection; `api_key` is set once its subscription is accepted."""

    ws: web.WebSocketResponse
    api_key: str | None = None
    subscription_id: int | None = None
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    pongs: int = 0
    pings_received: int = 0


@dataclass
class StreamHooks:
    silenced: bool = False
    held: list[Update] | None = None
    duplicates: int = 0
    drop_after: int | None = None
    refusal: ApiError | None = None


@dataclass(frozen=True)
class WsRequest:
    method: str
    params: dict[str, Any]
    status: int


class WsApi:
    """The WebSocket API and the user-data stream (a mixin of FakeBinance)."""

    accounts: dict[str, FakeAccount]
    specs: dict[str, SymbolSpec]
    unexpected: list[str]
    base_url: str

    def _authenticate(self, api_key: str | None, raw_query: str, body: str, params: dict[str, str]) -> FakeAccount:
        raise NotImplementedError

    def _charge(self, route: Route, account: FakeAccount | None, headers: dict[str, str]) -> None:
        raise NotImplementedError

    def _ws_init(self) -> None:
        self.ws_connections: list[WsConnection] = []
        self.ws_requests: list[WsRequest] = []
        self.ws_updates: dict[str, list[Update]] = defaultdict(list)  # every update made, sent or not
        self.ws_ping_interval: float | None = None
        self._ws_hooks: dict[str, StreamHooks] = defaultdict(StreamHooks)
        self._ws_batch: list[tuple[str, Update]] | None = None
        self._ws_tasks: set[asyncio.Task[None]] = set()
        self._next_subscription_id = 0
        self._next_cancel_id = 0

    @property
    def ws_url(self) -> str:
        """The WebSocket API's URL (EXCHANGE_WS_API_URL for the ccxt.pro client)."""
        return self.base_url.replace("http://", "ws://", 1) + WS_PATH

    # ------------------------------------------------------------------ test hooks

    def subscribed(self, api_key: str) -> int:
        """How many open connections are subscribed to this account's stream."""
        return sum(1 for c in self.ws_connections if c.api_key == api_key and not c.ws.closed)

    def ws_open(self) -> int:
        """How many connections are open (whatever they subscribed to)."""
        return sum(1 for c in self.ws_connections if not c.ws.closed)

    def ws_disconnect(self, api_key: str) -> None:
        """Close this account's connections (after what is already queued on them)."""
        for conn in self.ws_connections:
            if conn.api_key == api_key:
                conn.api_key = None
                conn.queue.put_nowait(_CLOSE)

    def ws_terminate(self, api_key: str) -> None:
        """End this account's subscriptions with `eventStreamTerminated` (the connections stay)."""
        for conn in self.ws_connections:
            if conn.api_key == api_key:
                conn.api_key = None
                conn.queue.put_nowait({"subscriptionId": conn.subscription_id, "event": _terminated()})

    def ws_drop_after(self, api_key: str, updates: int) -> None:
        """Close this account's connections right after its next `updates` updates."""
        self._ws_hooks[api_key].drop_after = updates

    def ws_hold(self, api_key: str) -> None:
        """Keep this account's updates back until `ws_release`."""
        self._ws_hooks[api_key].held = []

    def ws_release(self, api_key: str, order: Sequence[int] | None = None) -> None:
        """Send the held updates, in `order` (indexes into what was held; default: reversed)."""
        hooks = self._ws_hooks[api_key]
        held, hooks.held = hooks.held or [], None
        for index in order if order is not None else range(len(held) - 1, -1, -1):
            self._ws_send(api_key, held[index])

    def ws_push(self, api_key: str, event: dict[str, Any]) -> None:
        """Send `event` as it is (a malformed one, say) to this account's subscribers."""
        self._ws_send(api_key, [event])

    def ws_duplicate(self, api_key: str, updates: int = 1) -> None:
        """Send each of this account's next `updates` updates twice."""
        self._ws_hooks[api_key].duplicates = updates

    def ws_silence(self, api_key: str, silent: bool = True) -> None:
        """Make (or stop making) this account's stream send nothing while orders change."""
        self._ws_hooks[api_key].silenced = silent

    def ws_refuse(
        self,
        api_key: str,
        status: int = 400,
        code: int = -2015,
        msg: str = "Invalid API-key, IP, or permissions for action.",
    ) -> None:
        """Answer this account's next subscription with this error."""
        self._ws_hooks[api_key].refusal = ApiError(status, code, msg)

    def pongs(self, api_key: str | None = None) -> int:
        return sum(c.pongs for c in self.ws_connections if api_key is None or c.api_key == api_key)

    # -------------------------------------------------------- what the model calls

    def _order_event(
        self, account: FakeAccount, order: FakeOrder, exec_type: str, fill: dict[str, Any] | None = None
    ) -> None:
        """An order of `account` changed: make its update and send it (or batch it)."""
        cancel_id = None
        if exec_type == "CANCELED":
            self._next_cancel_id += 1
            cancel_id = f"cancel-{self._next_cancel_id}"
        update = [execution_report(order, exec_type, fill=fill, cancel_id=cancel_id)]
        if exec_type != "NEW" or order.type != "MARKET":  # a market order's NEW locks nothing
            update.append(account_position(account, changed_assets(self.specs.get(order.symbol), fill)))
        self._ws_emit(account.api_key, update)

    def _list_event(self, account: FakeAccount, listing: dict[str, Any]) -> None:
        self._ws_emit(account.api_key, [list_status(listing)])

    @contextlib.contextmanager
    def _ws_batched(self) -> Iterator[None]:
        """Updates made inside are sent when it exits normally, dropped if it raises."""
        if self._ws_batch is not None:  # nested: the outer batch decides
            yield
            return
        self._ws_batch = []
        try:
            yield
            batch = self._ws_batch
        finally:
            self._ws_batch = None
        for api_key, update in batch:
            self._ws_emit(api_key, update)

    def _ws_emit(self, api_key: str, update: Update) -> None:
        if self._ws_batch is not None:
            self._ws_batch.append((api_key, update))
            return
        self.ws_updates[api_key].append(update)
        hooks = self._ws_hooks[api_key]
        if hooks.silenced:
            return
        if hooks.held is not None:
            hooks.held.append(update)
            return
        self._ws_send(api_key, update)

    def _ws_send(self, api_key: str, update: Update) -> None:
        hooks = self._ws_hooks[api_key]
        copies = 1
        if hooks.duplicates > 0:
            hooks.duplicates -= 1
            copies = 2
        closing = False
        if hooks.drop_after is not None:
            hooks.drop_after -= 1
            closing = hooks.drop_after <= 0
            if closing:
                hooks.drop_after = None
        for conn in self.ws_connections:
            if conn.api_key != api_key:
                continue
            for _ in range(copies):
                for event in update:
                    conn.queue.put_nowait({"subscriptionId": conn.subscription_id, "event": event})
            if closing:
                conn.api_key = None
                conn.queue.put_nowait(_CLOSE)

    # ------------------------------------------------------------------ the socket

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, timeout=1.0)
        await ws.prepare(request)
        conn = WsConnection(ws)
        self.ws_connections.append(conn)
        sender = asyncio.create_task(self._ws_sender(conn))
        pinger = asyncio.create_task(self._ws_pinger(conn))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._ws_request(conn, message.data)
                elif message.type == WSMsgType.PING:
                    conn.pings_received += 1
                    await ws.pong(message.data)
                elif message.type == WSMsgType.PONG:
                    conn.pongs += 1
        finally:
            conn.api_key = None
            for task in (sender, pinger):
                task.cancel()
            await asyncio.gather(sender, pinger, return_exceptions=True)
        return ws

    async def _ws_sender(self, conn: WsConnection) -> None:
        while True:
            item = await conn.queue.get()
            if item is _CLOSE:
                await conn.ws.close(code=1001, message=b"going away")
                return
            await conn.ws.send_str(json.dumps(item))

    async def _ws_pinger(self, conn: WsConnection) -> None:
        while not conn.ws.closed:
            await asyncio.sleep(self.ws_ping_interval or 3600.0)
            if self.ws_ping_interval and not conn.ws.closed:
                await conn.ws.ping(b"fake")

    async def _ws_close_all(self) -> None:
        for conn in list(self.ws_connections):
            if not conn.ws.closed:
                await conn.ws.close()

    async def _ws_request(self, conn: WsConnection, data: str) -> None:
        try:
            request = json.loads(data)
        except ValueError:
            await conn.ws.send_str(json.dumps(_error(None, ApiError(400, -1, "Malformed request."))))
            return
        rid = request.get("id")
        method = str(request.get("method"))
        params = request.get("params") or {}
        try:
            if method == SUBSCRIBE:
                result: Any = self._ws_subscribe(conn, params)
            elif method == "userDataStream.unsubscribe":
                conn.api_key = None
                result = {}
            elif method == "ping":
                result = {}
            else:
                self.unexpected.append(f"WS {method}")
                raise ApiError(400, -1, "not served by the fake")
        except ApiError as err:
            self.ws_requests.append(WsRequest(method, dict(params), err.status))
            await conn.ws.send_str(json.dumps(_error(rid, err)))
            return
        self.ws_requests.append(WsRequest(method, dict(params), 200))
        await conn.ws.send_str(json.dumps({"id": rid, "status": 200, "result": result, "rateLimits": []}))

    def _ws_subscribe(self, conn: WsConnection, params: dict[str, Any]) -> dict[str, Any]:
        api_key = str(params.get("apiKey") or "")
        fields = {k: str(v) for k, v in params.items()}
        signed = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")
        raw = f"{signed}&signature={fields.get('signature', '')}" if "signature" in fields else signed
        self._charge(Route(lambda a, p: None, 2, True), None, {})
        account = self._authenticate(api_key, raw, "", fields)
        refusal = self._ws_hooks[api_key].refusal
        if refusal is not None:
            self._ws_hooks[api_key].refusal = None
            raise refusal
        conn.api_key = account.api_key
        conn.subscription_id = self._next_subscription_id
        self._next_subscription_id += 1
        return {"subscriptionId": conn.subscription_id}


def _terminated() -> dict[str, Any]:
    return {"e": "eventStreamTerminated", "E": now_ms()}


def _error(rid: Any, err: ApiError) -> dict[str, Any]:
    return {"id": rid, "status": err.status, "error": {"code": err.code, "msg": err.msg}, "rateLimits": []}
