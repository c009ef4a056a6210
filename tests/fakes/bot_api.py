"""A fake Telegram Bot API server on 127.0.0.1 for offline tests with the real PTB client.

    async with FakeBotApi() as fake:
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()

Wire format, as PTB 22.8's ``HTTPXRequest`` sends it: every call is a POST to ``{base_url}{token}/{method}``,
form-urlencoded, or multipart/form-data when files are uploaded (a file is the part named after its
parameter, e.g. ``photo``, or ``attach://<name>``). Strings are sent raw, every other value (ints, bools,
``reply_markup`` dicts, lists) ``json.dumps``-ed; a call without parameters (``getMe``) has an empty
``application/octet-stream`` body. JSON bodies and query strings are accepted too; values are decoded by
parameter name, as Telegram does.

Models and approximations:

* Lengths (4096 text, 1024 caption) count UTF-16 code units after entity parsing, as Telegram does.
  ``parse_mode="HTML"`` becomes plain text + entities; unsupported or unbalanced tags are rejected. Other
  parse modes are not parsed (text kept verbatim); URLs/mentions in the bot's text are not auto-detected.
* Any integer chat id is accepted and is a private chat. As on Telegram, an edit without ``reply_markup``
  removes the inline keyboard, and only inline keyboards are echoed in returned messages.
* Rate limits (off until :meth:`FakeBotApi.limits`) are token buckets charged by each successful ``send*``
  call: a global one (capacity and refill ``global_per_second``) and one per chat (capacity
  ``per_chat_burst``, refill ``per_chat_per_second``). A send finding a bucket empty gets 429 with
  ``retry_after`` = ceil(seconds until a token is free), at least 1. As on Telegram, the answer does not
  say which limit it was; the fake counts them apart (``count_429_chat``, ``count_429_global``, and
  ``limited_chats`` for the per-chat ones). Blocks also apply to ``send*`` only.
* Paid broadcasts: a send with ``allow_paid_broadcast=true`` is charged to a second overall bucket
  (``paid_per_second``, 1,000/s by default) instead of the free one; the per-chat bucket still applies.
  Each call records its ``lane`` ("paid" or "free"); every successful paid send costs 0.1 Star
  (``stars_spent``, ``paid_sends``); 429s of the paid lane are counted in ``count_429_paid``.
* Faults: the next calls of a method fail (:meth:`FakeBotApi.fail_next`, optionally for one chat only), or
  a share of them at random (:meth:`FakeBotApi.fail_rate`); answers can be slow (:meth:`FakeBotApi.delay`,
  optionally for one chat only).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import math
import random
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes.bot_api_methods import BotApiMethods
from tests.fakes.bot_api_wire import (
    DEFAULT_TOKEN,
    METHODS,
    NOT_MODIFIED,
    PAID_MESSAGE_TENTHS,
    QUERY_TOO_OLD,
    SEND_METHODS,
    ApiError,
    Bucket,
    Call,
    Upload,
    bad,
    decode,
    utf16_len,
)

__all__ = [
    "DEFAULT_TOKEN",
    "METHODS",
    "NOT_MODIFIED",
    "QUERY_TOO_OLD",
    "SEND_METHODS",
    "ApiError",
    "Call",
    "FakeBotApi",
    "Upload",
    "utf16_len",
]


def error_response(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


class FakeBotApi(BotApiMethods):
    """In-process fake of the Telegram Bot API (see the module docstring)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "atra_test_bot",
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Create the fake (not started); ``clock`` drives rate limits and ``Call.time``."""
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":")[0]), "is_bot": True, "first_name": "ATRA", "username": bot_username,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[Call] = []
        self.answers: dict[str, dict[str, Any]] = {}  # answerCallbackQuery params by query id
        self.files: dict[str, bytes] = {}  # uploaded bytes by file_id
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (scope, lang) -> list
        self.menu_buttons: dict[Any, dict[str, Any]] = {}  # chat id (None: the default) -> menu button
        self.total_sends = 0
        self.count_429 = 0
        self.count_429_chat = 0  # per-chat limit
        self.count_429_global = 0  # the bot's overall limit
        self.limited_chats: list[Any] = []  # the chat of each per-chat 429, in order
        self.count_429_paid = 0  # the paid lane's overall limit
        self.paid_sends = 0  # successful sends with allow_paid_broadcast
        self.port = 0
        self._clock = clock
        self._lower = {m.lower(): m for m in METHODS}
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._next_msg_id: defaultdict[Any, int] = defaultdict(int)
        self._store: defaultdict[Any, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.incoming: defaultdict[Any, dict[int, dict[str, Any]]] = defaultdict(dict)  # users' messages
        self.deleted_incoming: list[tuple[Any, int]] = []  # (chat id, message id) the bot deleted
        self._users: dict[int, dict[str, Any]] = {}
        self._callbacks: dict[str, bool] = {}  # query id -> answered?
        self._blocked: set[int | str] = set()
        self._faults: defaultdict[str, list[list[Any]]] = defaultdict(list)
        self._fault_rates: dict[str, tuple[float, int, random.Random]] = {}
        self._delays: dict[tuple[str, Any], float] = {}
        self._global_bucket: Bucket | None = None
        self._paid_bucket: Bucket | None = None
        self._chat_bucket: Callable[[], Bucket] | None = None
        self._chat_buckets: dict[Any, Bucket] = {}
        self._webhook_url = ""
        self._event = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder.base_url()`` / ``Bot(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder.base_file_url()`` (downloads are not served)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self, port: int = 0) -> None:
        """Bind `port` (default: a free one) on 127.0.0.1 and start serving."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port, self._closing, self._event = sock.getsockname()[1], False, asyncio.Event()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Release pending long polls and shut the server down."""
        self._closing = True
        self._event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------- fault injection
    def block(self, chat_id: int | str, blocked: bool = True) -> None:
        """Sends to ``chat_id`` get 403 "Forbidden: bot was blocked by the user" (or not)."""
        (self._blocked.add if blocked else self._blocked.discard)(chat_id)

    def fail_next(self, method: str, status: int = 500, description: str | None = None,
                  retry_after: int | None = None, count: int = 1, chat_id: int | str | None = None) -> None:
        """Make the next ``count`` calls of ``method`` (to ``chat_id``, if given) fail with
        ``status``/``description``.

        ``description`` defaults to Telegram's text for the status; 429 gets "Too Many
        Requests: retry after N" with ``retry_after`` defaulting to 1. Faults queue in order.
        """
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or HTTPStatus(status).phrase
        self._faults[self._canon(method)].append([status, description, retry_after, count, chat_id])

    def fail_rate(self, method: str, rate: float, status: int = 502, seed: int = 0) -> None:
        """Make a share ``rate`` (0..1) of later calls of ``method`` fail with ``status``, at
        random (seeded); 0 switches it off."""
        if rate <= 0:
            self._fault_rates.pop(self._canon(method), None)
        else:
            self._fault_rates[self._canon(method)] = (rate, status, random.Random(seed))

    def limits(self, global_per_second: float | None = 30, per_chat_per_second: float | None = 1,
               per_chat_burst: int = 3, paid_per_second: float | None = 1000) -> None:
        """Enforce send rate limits (module docstring); ``None`` switches a bucket off."""
        now = self._clock()
        self._paid_bucket = Bucket(paid_per_second, paid_per_second, now) if paid_per_second else None
        self._global_bucket = (Bucket(global_per_second, global_per_second, now)
                               if global_per_second else None)
        self._chat_buckets = {}
        self._chat_bucket = ((lambda: Bucket(per_chat_per_second, per_chat_burst, self._clock()))
                             if per_chat_per_second else None)

    def delay(self, method: str, seconds: float, chat_id: int | str | None = None) -> None:
        """Answer later calls of ``method`` (to ``chat_id``, if given) only after ``seconds``
        (0 removes the delay)."""
        self._delays[(self._canon(method), chat_id)] = seconds

    # ----------------------------------------------------------------- inspection
    def sent(self, chat_id: int | str | None = None, method: str | None = None) -> list[Call]:
        """Successful calls of ``method`` (default: the ``send*`` methods), optionally by chat."""
        methods = {self._canon(method)} if method else SEND_METHODS
        return [c for c in self.calls if c.ok and c.method in methods
                and (chat_id is None or c.chat_id == chat_id)]

    def messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """Copies of the bot's current (edited, not deleted) messages in a chat, oldest first."""
        return [copy.deepcopy(m) for _, m in sorted(self._store.get(chat_id, {}).items())]

    def last_text(self, chat_id: int | str) -> str | None:
        """Current text (or caption) of the bot's latest stored message in a chat."""
        msgs = self.messages(chat_id)
        return (msgs[-1].get("text") or msgs[-1].get("caption")) if msgs else None

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    async def wait_for(self, predicate_or_method: Callable[[], Any] | str,
                       timeout: float = 5.0,  # noqa: ASYNC109 - the test-facing API asks for it
                       *, count: int = 1, chat_id: int | str | None = None) -> Any:
        """Poll every 5 ms until a predicate returns something truthy (returned), or, given a
        method name, until ``count`` successful calls of it (to ``chat_id``) were made (the
        latest is returned). Raises TimeoutError after ``timeout`` seconds."""
        def check() -> Any:
            if callable(predicate_or_method):
                return predicate_or_method()
            done = self.sent(chat_id, predicate_or_method)
            return done[-1] if len(done) >= count else None

        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := check()):
            if asyncio.get_running_loop().time() > deadline:
                recent = [(c.method, c.chat_id, c.status) for c in self.calls[-10:]]
                raise TimeoutError(f"wait_for({predicate_or_method!r}) timed out after "
                                   f"{timeout}s; recent calls: {recent}")
            await asyncio.sleep(0.005)
        return result

    # ------------------------------------------------------------------ plumbing
    def _canon(self, method: str) -> str:
        return self._lower.get(method.lower(), method)



    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return error_response(401, "Unauthorized")
        method = self._lower.get(request.match_info["method"].lower())
        if method is None:
            return error_response(404, "Not Found: method not found")
        try:
            params = await self._read_params(request)
        except ApiError as err:
            return error_response(err.status, err.description)
        call = Call(method, params, params.get("chat_id"), self._clock())
        self.calls.append(call)
        try:
            await asyncio.sleep(self._delays.get((method, call.chat_id), self._delays.get((method, None), 0)))
            self._inject_fault(method, call.chat_id)
            if method in SEND_METHODS:
                call.lane = "paid" if params.get("allow_paid_broadcast") is True else "free"
            buckets = self._check_send(call.chat_id, call.lane == "paid") if method in SEND_METHODS else []
            if method == "getUpdates":
                result = await self._api_getUpdates(params)
            else:  # methods without a handler (close, logOut) just succeed
                result = getattr(self, f"_api_{method}", lambda _: True)(params)
        except ApiError as err:
            call.status, call.description = err.status, err.description
            self.count_429 += 1 if err.status == 429 else 0
            return error_response(err.status, err.description, err.retry_after)
        for bucket in buckets:  # only successful sends use up rate-limit tokens
            bucket.tokens -= 1
        call.status, call.result = 200, result
        self.total_sends += 1 if method in SEND_METHODS else 0
        self.paid_sends += 1 if call.lane == "paid" else 0
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.content_type == "application/json" and request.can_read_body:
            try:
                params.update(await request.json())
            except (ValueError, TypeError):
                raise bad("can't parse JSON request") from None
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    uploads[key] = Upload(value.filename, value.file.read(), value.content_type)
                else:
                    params[key] = value
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = uploads.pop(value.removeprefix("attach://"), value)
        return {key: decode(key, value) for key, value in (params | uploads).items()}


    def _inject_fault(self, method: str, chat_id: Any) -> None:
        faults = self._faults.get(method, [])
        fault = next((f for f in faults if f[4] is None or f[4] == chat_id), None)
        if fault is not None:
            fault[3] -= 1
            if fault[3] <= 0:
                faults.remove(fault)
            raise ApiError(fault[0], fault[1], fault[2])
        if method in self._fault_rates:
            rate, status, rng = self._fault_rates[method]
            if rng.random() < rate:
                raise ApiError(status, HTTPStatus(status).phrase)

    @property
    def stars_spent(self) -> float:
        """Stars the paid sends cost (0.1 each)."""
        return self.paid_sends * PAID_MESSAGE_TENTHS / 10

    def _check_send(self, chat_id: Any, paid: bool = False) -> list[Bucket]:
        """403 for blocked chats; 429 if a bucket is empty; else the buckets to charge."""
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        now = self._clock()
        buckets: list[Bucket] = []
        global_wait = chat_wait = 0.0
        overall = self._paid_bucket if paid else self._global_bucket
        if overall:
            buckets.append(overall)
            global_wait = overall.wait(now)
        if self._chat_bucket:
            bucket = self._chat_buckets.setdefault(chat_id, self._chat_bucket())
            buckets.append(bucket)
            chat_wait = bucket.wait(now)
        if (wait := max(global_wait, chat_wait)) > 0:
            if chat_wait >= global_wait:
                self.count_429_chat += 1
                self.limited_chats.append(chat_id)
            elif paid:
                self.count_429_paid += 1
            else:
                self.count_429_global += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        return buckets
