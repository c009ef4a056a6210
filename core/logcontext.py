"""Context for log records: who and what a line is about (user, signal, symbol, order).

Fields bound here ride along on every log record made in the same asyncio task (a
ContextVar: each task has its own copy), so a handler or a delivery binds the user once
and every line below it, core's included, says which user it was about. The logging
handler's filter copies them onto the record (`bot/logging_setup.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

#: The fields the JSON log lines carry when they are known.
FIELDS = ("user_id", "signal_id", "user_signal_id", "symbol", "order_id", "kind", "outbox_id", "update_id")

_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar("atra_log_context", default=MappingProxyType({}))


def current() -> Mapping[str, object]:
    """The fields bound in this task."""
    return _CONTEXT.get()


def bind(**fields: object) -> None:
    """Add fields for the rest of this task (None values are ignored)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields for the duration of the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)
