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
* Faults: the next calls of a method fail (:meth:`FakeBotApi.fail_next`, optionally for one chat only), or
  a share of them at random (:meth:`FakeBotApi.fail_rate`); answers can be slow (:meth:`FakeBotApi.delay`,
  optionally for one chat only).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import random
import re
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partialmethod
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any

from aiohttp import web

DEFAULT_TOKEN = "123456789:AAFakeTokenForOfflineTests_abcdefghij"
METHODS = ("getMe", "getUpdates", "deleteWebhook", "setWebhook", "getWebhookInfo", "setMyCommands",
           "getMyCommands", "deleteMyCommands", "sendMessage", "sendPhoto", "editMessageText",
           "editMessageCaption", "editMessageReplyMarkup", "deleteMessage", "answerCallbackQuery",
           "getChat", "setChatMenuButton", "getChatMenuButton", "close", "logOut")
SEND_METHODS = frozenset({"sendMessage", "sendPhoto"})
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_JSON_FIELDS = {"reply_markup": "reply keyboard markup", "entities": "entities", "commands": "commands",
                "caption_entities": "entities", "allowed_updates": "allowed updates", "scope": "scope",
                "reply_parameters": "reply parameters", "link_preview_options": "link preview options",
                "menu_button": "menu button"}
_NUMBER_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "max_connections"}
_BOOL_FIELDS = {"disable_notification", "protect_content", "drop_pending_updates", "show_alert"}
_HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
              "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
              "code": "code", "pre": "pre", "a": "text_link", "tg-spoiler": "spoiler",
              "blockquote": "blockquote"}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for lengths and offsets)."""
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    """An error answer in Bot API format (raised inside method handlers)."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Upload:
    """A file received in a multipart request."""

    filename: str | None
    content: bytes
    content_type: str


@dataclass
class Call:
    """One recorded request; ``status`` is None while it is still being processed."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    time: float
    status: int | None = None
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        """True if the request was answered successfully."""
        return self.status == 200


class _Bucket:
    """Token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.stamp = rate, capacity, capacity, now

    def wait(self, now: float) -> float:
        """Refill, then return the seconds until one token is available (0 if one is)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class _HtmlEntities(HTMLParser):
    """Turns Telegram HTML into plain text + MessageEntity dicts, rejecting bad markup."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source, self.pos = source, 0  # pos: UTF-16 offset in the plain text
        self.parts: list[str] = []
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.stack.append((tag, self.pos, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise _bad("can't parse entities: Unexpected end tag")
        open_tag, start, attrs = self.stack.pop()
        if open_tag != tag:
            raise _bad(f'can\'t parse entities: Unmatched end tag, expected "</{open_tag}>", '
                       f'found "</{tag}>"')
        if self.pos > start:
            entity = {"type": _HTML_TAGS[tag], "offset": start, "length": self.pos - start}
            self.entities.append(entity | ({"url": attrs.get("href") or ""} if tag == "a" else {}))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.pos += utf16_len(data)

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        """Parse; return (plain text, entities sorted by offset)."""
        self.feed(self.source)
        self.close()
        if self.stack:
            raise _bad("can't parse entities: Can't find end tag corresponding to start tag "
                       f'"{self.stack[-1][0]}"')
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))


class FakeBotApi:
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
        self._global_bucket: _Bucket | None = None
        self._chat_bucket: Callable[[], _Bucket] | None = None
        self._chat_buckets: dict[Any, _Bucket] = {}
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
               per_chat_burst: int = 3) -> None:
        """Enforce send rate limits (module docstring); ``None`` switches a bucket off."""
        now = self._clock()
        self._global_bucket = (_Bucket(global_per_second, global_per_second, now)
                               if global_per_second else None)
        self._chat_buckets = {}
        self._chat_bucket = ((lambda: _Bucket(per_chat_per_second, per_chat_burst, self._clock()))
                             if per_chat_per_second else None)

    def delay(self, method: str, seconds: float, chat_id: int | str | None = None) -> None:
        """Answer later calls of ``method`` (to ``chat_id``, if given) only after ``seconds``
        (0 removes the delay)."""
        self._delays[(self._canon(method), chat_id)] = seconds

    # ------------------------------------------------------------------ injection
    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is assigned unless it has one: Telegram sending
        an update again); returns the update id."""
        update = {**update, "update_id": update.get("update_id") or next(self._ids)}
        self._updates.append(update)
        self._event.set()
        return update["update_id"]

    def inject_message(self, user_id: int, text: str, language_code: str = "en",
                       first_name: str | None = None, username: str | None = None) -> int:
        """Queue a private-chat text message from a user; returns the update id.

        A text starting with "/" gets a ``bot_command`` entity over its first word
        (``/cmd`` or ``/cmd@botname``).
        """
        user = self._user(user_id, first_name, username, language_code)
        self._next_msg_id[user_id] += 1
        message = {"message_id": self._next_msg_id[user_id], "from": user,
                   "chat": self._chat(user_id), "date": int(time.time()), "text": text}
        if text.startswith("/"):
            length = utf16_len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.incoming[user_id][message["message_id"]] = message
        return self.inject_update({"message": message})

    def inject_group_message(self, user_id: int, group_id: int, text: str) -> int:
        """Queue a text message from a user in a group chat (``group_id`` < 0)."""
        self._next_msg_id[group_id] += 1
        message = {"message_id": self._next_msg_id[group_id], "from": self._user(user_id),
                   "chat": {"id": group_id, "type": "group", "title": f"Group{group_id}"},
                   "date": int(time.time()), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(text.split()[0])}]
        self.incoming[group_id][message["message_id"]] = message
        return self.inject_update({"message": message})

    def inject_callback(self, user_id: int, data: str, message_id: int | None = None,
                        chat_id: int | None = None, strict: bool = True) -> str:
        """Queue a button press; returns the callback query id.

        Its ``message`` is the bot's stored message ``message_id`` in ``chat_id`` (default: the
        user's chat), or the bot's latest message there if ``message_id`` is None. With
        ``strict``, ``data`` must be the callback_data of a button of that message.
        """
        chat_id = user_id if chat_id is None else chat_id
        stored = self._store.get(chat_id, {})
        message_id = max(stored, default=None) if message_id is None else message_id
        query: dict[str, Any] = {"id": str(4_382_000_000_000_000_000 + next(self._ids)),
                                 "from": self._user(user_id), "chat_instance": f"-{chat_id}",
                                 "data": data}
        if message_id is not None:
            if message_id not in stored:
                raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
            query["message"] = copy.deepcopy(stored[message_id])
            rows = query["message"].get("reply_markup", {}).get("inline_keyboard", [])
            if strict and data not in [button.get("callback_data") for r in rows for button in r]:
                raise ValueError(f"no button with callback_data {data!r} in message {message_id}")
        self._callbacks[query["id"]] = False
        self.inject_update({"callback_query": query})
        return query["id"]

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

    def _user(self, user_id: int, first_name: str | None = None, username: str | None = None,
              language_code: str | None = None) -> dict[str, Any]:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                "first_name": f"User{user_id}"})
        given = {"first_name": first_name, "username": username, "language_code": language_code}
        user.update({key: value for key, value in given.items() if value is not None})
        return dict(user)

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if not isinstance(chat_id, int):
            raise _bad("chat not found")
        user = self._users.get(chat_id, {"first_name": f"User{chat_id}"})
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]} | (
            {"username": user["username"]} if "username" in user else {})

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = self._lower.get(request.match_info["method"].lower())
        if method is None:
            return self._error(404, "Not Found: method not found")
        try:
            params = await self._read_params(request)
        except ApiError as err:
            return self._error(err.status, err.description)
        call = Call(method, params, params.get("chat_id"), self._clock())
        self.calls.append(call)
        try:
            await asyncio.sleep(self._delays.get((method, call.chat_id), self._delays.get((method, None), 0)))
            self._inject_fault(method, call.chat_id)
            buckets = self._check_send(call.chat_id) if method in SEND_METHODS else []
            if method == "getUpdates":
                result = await self._api_getUpdates(params)
            else:  # methods without a handler (close, logOut) just succeed
                result = getattr(self, f"_api_{method}", lambda _: True)(params)
        except ApiError as err:
            call.status, call.description = err.status, err.description
            self.count_429 += 1 if err.status == 429 else 0
            return self._error(err.status, err.description, err.retry_after)
        for bucket in buckets:  # only successful sends use up rate-limit tokens
            bucket.tokens -= 1
        call.status, call.result = 200, result
        self.total_sends += 1 if method in SEND_METHODS else 0
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.content_type == "application/json" and request.can_read_body:
            try:
                params.update(await request.json())
            except (ValueError, TypeError):
                raise _bad("can't parse JSON request") from None
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    uploads[key] = Upload(value.filename, value.file.read(), value.content_type)
                else:
                    params[key] = value
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = uploads.pop(value.removeprefix("attach://"), value)
        return {key: self._decode(key, value) for key, value in (params | uploads).items()}

    @staticmethod
    def _decode(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key in _JSON_FIELDS:
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(f"can't parse {_JSON_FIELDS[key]} JSON object") from None
        if key in _NUMBER_FIELDS:
            for cast in (int, float):
                try:
                    return cast(value)
                except ValueError:
                    pass
        return value.lower() in ("true", "1") if key in _BOOL_FIELDS else value

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

    def _check_send(self, chat_id: Any) -> list[_Bucket]:
        """403 for blocked chats; 429 if a bucket is empty; else the buckets to charge."""
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        now = self._clock()
        buckets: list[_Bucket] = []
        global_wait = chat_wait = 0.0
        if self._global_bucket:
            buckets.append(self._global_bucket)
            global_wait = self._global_bucket.wait(now)
        if self._chat_bucket:
            bucket = self._chat_buckets.setdefault(chat_id, self._chat_bucket())
            buckets.append(bucket)
            chat_wait = bucket.wait(now)
        if (wait := max(global_wait, chat_wait)) > 0:
            if chat_wait >= global_wait:
                self.count_429_chat += 1
                self.limited_chats.append(chat_id)
            else:
                self.count_429_global += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        return buckets

    # ------------------------------------------------------------- validation
    @staticmethod
    def _text(params: dict[str, Any], key: str, limit: int) -> tuple[str, list[Any] | None]:
        """Parse ``params[key]`` (text or caption) per parse_mode; validate emptiness/length."""
        text = params.get(key)
        entities = params.get("entities" if key == "text" else "caption_entities") or None
        mode = str(params.get("parse_mode") or "").lower()
        if isinstance(text, str) and mode == "html":
            text, entities = _HtmlEntities(text).result()
        if not isinstance(text, str) or not text.strip():
            if key == "text":
                raise _bad("message text is empty")
            return "", None
        if utf16_len(text) > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return text, entities or None

    @staticmethod
    def _markup(markup: Any) -> dict[str, Any] | None:
        """Validate a reply_markup; return it if it is an inline keyboard (the echoed kind)."""
        if markup is not None and not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = (markup or {}).get("inline_keyboard")
        if rows is None:
            return None
        for button in (b for row in rows if isinstance(row, list) for b in row):
            data = button.get("callback_data") if isinstance(button, dict) else None
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
            if isinstance(button, dict) and "web_app" in button:
                FakeBotApi._web_app(button["web_app"])
        return markup

    @staticmethod
    def _web_app(info: Any) -> None:
        """Telegram opens Mini Apps over HTTPS only."""
        if not isinstance(info, dict) or not str(info.get("url", "")).startswith("https://"):
            raise _bad("BUTTON_URL_INVALID")

    def _new_message(self, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        chat_id: Any = params.get("chat_id")
        if chat_id in (None, ""):
            raise _bad("chat_id is empty")
        chat = self._chat(chat_id)
        self._next_msg_id[chat_id] += 1
        message_id = self._next_msg_id[chat_id]
        message = {"message_id": message_id, "from": dict(self.bot_user), "chat": chat,
                   "date": int(time.time())}
        message.update({key: value for key, value in fields.items() if value})
        self._store[chat_id][message_id] = message
        return copy.deepcopy(message)

    def _target(self, params: dict[str, Any], action: str = "edit") -> dict[str, Any]:
        if "message_id" not in params:
            raise _bad("message identifier is not specified")
        found = self._store.get(params.get("chat_id"), {}).get(params["message_id"])
        if found is None:
            raise _bad(f"message to {action} not found")
        return found

    def _edit(self, params: dict[str, Any], kind: str | None) -> dict[str, Any]:
        """editMessageText/Caption (``kind`` "text"/"caption") or ReplyMarkup (None)."""
        message = self._target(params)
        new: dict[str, Any] = {"reply_markup": self._markup(params.get("reply_markup"))}
        if kind == "text" and "text" not in message:
            raise _bad("there is no text in the message to edit")
        if kind == "caption" and "photo" not in message:
            raise _bad("there is no caption in the message to edit")
        if kind:
            value, entities = self._text(params, kind, 4096 if kind == "text" else 1024)
            new |= {kind: value, "entities" if kind == "text" else "caption_entities": entities}
        if all((message.get(key) or None) == (value or None) for key, value in new.items()):
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        for key, value in new.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    # ---------------------------------------------------------------- methods
    def _api_getMe(self, params: dict[str, Any]) -> Any:
        return dict(self.bot_user)

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        if self._webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset:  # confirms every update before ``offset``; negative: keep the last -offset
            self._updates = (self._updates[offset:] if offset < 0 else
                             [u for u in self._updates if u["update_id"] >= offset])
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = asyncio.get_running_loop().time() + max(float(params.get("timeout") or 0), 0)
        while not self._updates and not self._closing:
            self._event.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._event.wait()
            except TimeoutError:
                break
        return copy.deepcopy(self._updates[:limit])

    def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self._webhook_url = str(params.get("url") or "")
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": self._webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands: Any = params.get("commands")
        for command in commands if isinstance(commands, list) else [None]:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    def _api_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    def _api_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        text, entities = self._text(params, "text", 4096)
        markup = self._markup(params.get("reply_markup"))
        return self._new_message(params, text=text, entities=entities, reply_markup=markup)

    def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        photo = params.get("photo")
        caption, entities = self._text(params, "caption", 1024)
        markup = self._markup(params.get("reply_markup"))
        if isinstance(photo, Upload):
            file_id = f"AgACAgIAAxkBAAI{next(self._ids):06d}FakePhoto"
            self.files[file_id] = photo.content
        elif isinstance(photo, str) and (photo in self.files or photo.startswith("http")):
            file_id = photo
        else:
            raise _bad("wrong file identifier/HTTP URL specified" if photo
                       else "there is no photo in the request")
        size = {"file_id": file_id, "file_unique_id": f"AQAD{file_id[-16:]}", "width": 320,
                "height": 320, "file_size": len(self.files.get(file_id, b""))}
        return self._new_message(params, photo=[size], caption=caption,
                                 caption_entities=entities, reply_markup=markup)

    _api_editMessageText = partialmethod(_edit, kind="text")
    _api_editMessageCaption = partialmethod(_edit, kind="caption")
    _api_editMessageReplyMarkup = partialmethod(_edit, kind=None)

    def _api_deleteMessage(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if message_id in self.incoming.get(chat_id, {}):  # bots may delete what users sent them
            del self.incoming[chat_id][message_id]
            self.deleted_incoming.append((chat_id, message_id))
            return True
        message = self._target(params, "delete")
        del self._store[message["chat"]["id"]][message["message_id"]]
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        if self._callbacks.get(query_id, True):  # unknown or already answered
            raise _bad(QUERY_TOO_OLD.removeprefix("Bad Request: "))
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        self.answers[query_id] = params
        return True

    def _api_setChatMenuButton(self, params: dict[str, Any]) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise _bad("can't parse menu button JSON object")
        if button["type"] == "web_app":
            if not str(button.get("text") or "").strip():
                raise _bad("menu button text is empty")
            self._web_app(button.get("web_app"))
        self.menu_buttons[params.get("chat_id")] = button
        return True

    def _api_getChatMenuButton(self, params: dict[str, Any]) -> Any:
        return self.menu_buttons.get(params.get("chat_id"), {"type": "default"})

    def _api_getChat(self, params: dict[str, Any]) -> Any:
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), True)  # fields PTB 22.8 requires in ChatFullInfo
        return self._chat(params.get("chat_id")) | {"accent_color_id": 0, "max_reaction_count": 11,
                                                     "accepted_gift_types": gifts}
