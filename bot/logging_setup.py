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


class RedactSecrets(logging.Filter):
    """Replace known secrets, and anything shaped like a bot token, with '***'."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _BOT_URL_TOKEN.sub("bot***", text)
        return _TOKEN.sub("***", text)

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
