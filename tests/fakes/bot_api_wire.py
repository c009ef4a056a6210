"""The Bot API's wire format for the fake server (tests/fakes/bot_api.py): constants, the
recorded call, errors, token buckets, HTML entity parsing, the decoding of parameters and the
validation of texts and keyboards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

DEFAULT_TOKEN = "123456789:AAFakeTokenForOfflineTests_abcdefghij"
METHODS = ("getMe", "getUpdates", "deleteWebhook", "setWebhook", "getWebhookInfo", "setMyCommands",
           "getMyCommands", "deleteMyCommands", "sendMessage", "sendPhoto", "editMessageText",
           "editMessageCaption", "editMessageReplyMarkup", "deleteMessage", "answerCallbackQuery",
           "getChat", "setChatMenuButton", "getChatMenuButton", "close", "logOut")
SEND_METHODS = frozenset({"sendMessage", "sendPhoto"})
#: Stars a message sent with ``allow_paid_broadcast`` costs, in tenths of a Star (0.1 Star each).
PAID_MESSAGE_TENTHS = 1
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_JSON_FIELDS = {"reply_markup": "reply keyboard markup", "entities": "entities", "commands": "commands",
                "caption_entities": "entities", "allowed_updates": "allowed updates", "scope": "scope",
                "reply_parameters": "reply parameters", "link_preview_options": "link preview options",
                "menu_button": "menu button"}
_NUMBER_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "max_connections"}
_BOOL_FIELDS = {"disable_notification", "protect_content", "drop_pending_updates", "show_alert",
                "allow_paid_broadcast"}
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


def bad(description: str) -> ApiError:
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
    lane: str | None = None  # a send's rate-limit lane: "paid" (allow_paid_broadcast) or "free"

    @property
    def ok(self) -> bool:
        """True if the request was answered successfully."""
        return self.status == 200


class Bucket:
    """Token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.stamp = rate, capacity, capacity, now

    def wait(self, now: float) -> float:
        """Refill, then return the seconds until one token is available (0 if one is)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class HtmlEntities(HTMLParser):
    """Turns Telegram HTML into plain text + MessageEntity dicts, rejecting bad markup."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source, self.pos = source, 0  # pos: UTF-16 offset in the plain text
        self.parts: list[str] = []
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise bad(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.stack.append((tag, self.pos, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise bad("can't parse entities: Unexpected end tag")
        open_tag, start, attrs = self.stack.pop()
        if open_tag != tag:
            raise bad(f'can\'t parse entities: Unmatched end tag, expected "</{open_tag}>", '
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
            raise bad("can't parse entities: Can't find end tag corresponding to start tag "
                       f'"{self.stack[-1][0]}"')
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))


def parse_text(params: dict[str, Any], key: str, limit: int) -> tuple[str, list[Any] | None]:
    """Parse ``params[key]`` (text or caption) per parse_mode; validate emptiness/length."""
    text = params.get(key)
    entities = params.get("entities" if key == "text" else "caption_entities") or None
    mode = str(params.get("parse_mode") or "").lower()
    if isinstance(text, str) and mode == "html":
        text, entities = HtmlEntities(text).result()
    if not isinstance(text, str) or not text.strip():
        if key == "text":
            raise bad("message text is empty")
        return "", None
    if utf16_len(text) > limit:
        raise bad("message is too long" if key == "text" else "message caption is too long")
    return text, entities or None


def check_markup(markup: Any) -> dict[str, Any] | None:
    """Validate a reply_markup; return it if it is an inline keyboard (the echoed kind)."""
    if markup is not None and not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    rows = (markup or {}).get("inline_keyboard")
    if rows is None:
        return None
    for button in (b for row in rows if isinstance(row, list) for b in row):
        data = button.get("callback_data") if isinstance(button, dict) else None
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise bad("BUTTON_DATA_INVALID")
        if isinstance(button, dict) and "web_app" in button:
            check_web_app(button["web_app"])
    return markup


def check_web_app(info: Any) -> None:
    """Telegram opens Mini Apps over HTTPS only."""
    if not isinstance(info, dict) or not str(info.get("url", "")).startswith("https://"):
        raise bad("BUTTON_URL_INVALID")


def decode(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad(f"can't parse {_JSON_FIELDS[key]} JSON object") from None
    if key in _NUMBER_FIELDS:
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value.lower() in ("true", "1") if key in _BOOL_FIELDS else value
