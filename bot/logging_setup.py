"""Logging: text or JSON lines, with context fields and secrets redacted from every record.

httpx logs each request URL at INFO, and Bot API URLs contain the bot token: the
redaction filter sits on the handler, so it covers every library's records.

`LOG_FORMAT=json` writes one JSON object per line: `timestamp` (UTC ISO 8601), `level`,
`logger`, `message`, then whichever context fields are known (`user_id`, `signal_id`,
`user_signal_id`, `symbol`, `order_id`, `kind`, `outbox_id`, `update_id`; see
`core/logcontext.py`), and `exc` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from core.logcontext import FIELDS, current

_BOT_URL_TOKEN = re.compile(r"bot\d{3,20}:[A-Za-z0-9_-]{20,}")
_TOKEN = re.compile(r"\b\d{3,20}:[A-Za-z0-9_-]{30,}\b")
# /connect EXCHANGE API_KEY API_SECRET as Telegram parses it: the command at the start of a
# message's text, in any case (/Connect, /CONNECT), optionally addressed (/connect@SomeBot),
# ended by whitespace or the end of the text. PTB's debug records show the text quoted (repr
# or JSON, with escapes such as \n): the arguments run to the closing quote. Anywhere else
# (our own messages) the command stands after a space or at the start: they run to the end
# of the line (of the record, when a new line follows the command). "/connection.py" in a
# traceback is not the command and stays as it is.
_COMMAND = r"/connect(?:@[A-Za-z0-9_]{1,64})?"
_QUOTED_CONNECT = re.compile(
    rf"""(?P<open>['"])(?P<command>\s*{_COMMAND})(?P<args>(?:\s|\\+[ntr])(?:\\.|(?!(?P=open))[^\\])*)(?=(?P=open))""",
    re.IGNORECASE,
)
_BARE_CONNECT = re.compile(
    rf"(?P<command>(?:^|(?<=\s)){_COMMAND})(?P<args>[ \t]+[^\n]*|\n[\s\S]*)", re.IGNORECASE | re.MULTILINE
)
# The loggers that write whole updates at DEBUG (the message text included).
UPDATE_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application", "telegram.ext.Updater")


def is_connect_command(text: str | None) -> bool:
    """Whether a message's text is the /connect command (API keys inside), however spelt."""
    return bool(text) and re.match(rf"{_COMMAND}(?:\s|$)", text, re.IGNORECASE) is not None  # type: ignore[arg-type]


def redact_connect(text: str) -> str:
    """Hide the arguments of a /connect command (an API key and secret), however it is spelt."""
    if "/connect" not in text.lower():
        return text
    text = _QUOTED_CONNECT.sub(lambda m: f"{m['open']}{m['command']} ***", text)
    return _BARE_CONNECT.sub(lambda m: f"{m['command']} ***", text)


class RedactConnect(logging.Filter):
    """Drop the key and secret of /connect commands from a record. Put on the loggers that
    write updates, so that every handler (and pytest's caplog) sees the redacted record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/connect" in message.lower():
            record.msg, record.args = redact_connect(message), None
        return True


def keep_secrets_out_of_logs() -> None:
    """Whatever LOG_LEVEL says: /connect arguments are redacted from the records of the
    loggers that write updates, and ccxt never logs at DEBUG (its debug records carry the
    signed requests' headers, the API key among them). Idempotent."""
    for name in UPDATE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactConnect) for f in logger.filters):
            logger.addFilter(RedactConnect())
    logging.getLogger("ccxt").setLevel(logging.INFO)


class RedactSecrets(logging.Filter):
    """Replace known secrets, and anything shaped like a bot token, with '***'."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _BOT_URL_TOKEN.sub("bot***", text)
        return redact_connect(_TOKEN.sub("***", text))

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key in FIELDS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class AddContext(logging.Filter):
    """Copy the task's bound context fields onto the record (an explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_handler(fmt: str, secrets: Iterable[str]) -> logging.Handler:
    """A stderr handler that adds context, redacts secrets and formats as `fmt`."""
    handler = logging.StreamHandler()
    handler.addFilter(AddContext())  # first: context values are redacted too
    handler.addFilter(RedactSecrets(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure_logging(level: str, fmt: str, secrets: Iterable[str]) -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler(fmt, secrets)]
    root.setLevel(level)
    # Request lines are noise at INFO (and carry the token, redacted above anyway).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
